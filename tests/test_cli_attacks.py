"""``freqlens attack`` and ``freqlens smooth`` in-process."""

from __future__ import annotations

import json

import pytest
import torch

from freqlens.cli import main

DATA = "synthetic:powerlaw?n=24&size=16&classes=2&spread=2"


@pytest.mark.parametrize(
    ("command", "extra", "message"),
    [
        ("smooth", ["--rho", "0,-0.1"], "--rho"),
        ("smooth", ["--eps", "0,0.03"], "--eps"),
        ("smooth", ["--eps", "a,b"], "--eps"),
        ("attack", ["--eps", "-0.1"], "--eps"),
        ("attack", ["--steps", "0"], "--steps"),
        ("attack", ["--attack", "cw"], "--attack"),
        ("attack", ["--attack", "fgsm", "--norm", "l2"], "--norm"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, command, extra, message):
    out = tmp_path / "out"
    code = main([command, "-m", str(tmp_path / "model.pt"), "--data", DATA, *extra, "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error:") and message in err and "\n" not in err
    assert not out.exists()


@pytest.fixture
def saved_models(tmp_path):
    """Two small saved CNNs (different seeds) in run-like folders."""
    from freqlens import checkpoint
    from freqlens.models import create_model

    paths = []
    for seed, name in ((0, "natural"), (1, "other")):
        torch.manual_seed(seed)
        model = create_model("small_cnn", num_classes=2, image_size=16, width=8)
        path = tmp_path / name / "model.pt"
        path.parent.mkdir()
        checkpoint.save_model(model, path)
        paths.append(path)
    return paths


def test_smooth_writes_the_table(tmp_path, saved_models, capsys):
    out = tmp_path / "t2"
    models = ["-m", str(saved_models[0]), "-m", str(saved_models[1])]
    args = ["smooth", *models, "--data", DATA, "--device", "cpu"]
    assert main([*args, "--rho", "0,1", "--eps", "0.03,0.09", "-o", str(out)]) == 0
    result = json.loads((out / "smooth.json").read_text())
    rows = {(r["model"], r["rho"]): r for r in result["table"]}
    assert set(rows) == {("natural", 0.0), ("natural", 1.0), ("other", 0.0), ("other", 1.0)}
    for row in rows.values():
        assert 0 <= row["pgd"]["0.09"] <= row["fgsm"]["0.09"] + 0.2 and row["pgd"]["0.09"] <= row["clean"]
    assert (
        rows[("natural", 1.0)]["kernel_smoothness"]["hf_fraction_mean"]
        < rows[("natural", 0.0)]["kernel_smoothness"]["hf_fraction_mean"]
    )
    assert "foolbox" in (out / "smooth.md").read_text() and "deviation_from_paper" in result
    assert "conventions" in result["provenance"]
    assert (out / "smooth.png").stat().st_size > 0 and (out / "kernels.png").stat().st_size > 0


def test_attack_writes_accuracy_and_spectrum(tmp_path, saved_models):
    out = tmp_path / "atk"
    args = ["attack", "-m", str(saved_models[0]), "--label", "nat", "--data", DATA, "--device", "cpu"]
    assert main([*args, "--eps", "0,0.05", "--steps", "3", "--band", "lfc:4", "-o", str(out)]) == 0
    result = json.loads((out / "attack.json").read_text())
    acc = result["models"]["nat"]["accuracy"]
    assert acc["0.05"] <= acc["0.0"]
    share = result["models"]["nat"]["spectrum"]["energy_fraction"]
    # the band-limited perturbation lives in |k| < 4 (bins round(|k|) <= 4) up to the clip of a few saturated pixels
    assert sum(share[5:]) < 1e-4
    assert (out / "perturbation_spectrum.png").stat().st_size > 0
