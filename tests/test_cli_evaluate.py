"""``freqlens evaluate``: table, JSON with provenance, both figures; exit code 2 and no files on bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from freqlens.cli import main


@pytest.fixture
def folder(tmp_path):
    """Three classes of odd, non-square 15x18 images."""
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for cls in ("ant", "bee", "cat"):
        (root / cls).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(rng.integers(0, 256, (15, 18, 3), dtype=np.uint8)).save(root / cls / f"{i}.png")
    return root


class HighPassVote(nn.Module):
    """Untrained stand-in: fixed random read-out of the image's high frequencies."""

    def __init__(self) -> None:
        super().__init__()
        self.read = nn.Linear(3 * 15 * 18, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from freqlens import fourier

        return self.read(fourier.highpass(x, 3.0).flatten(1))


def high_pass_vote() -> nn.Module:
    """The stand-in as a model source (``test_cli_evaluate:high_pass_vote``; weights seeded by the loader)."""
    return HighPassVote()


def built_for_32() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 3))


STAND_IN = ["test_cli_evaluate:high_pass_vote", "--normalize", "none"]


def test_evaluate_writes_table_json_and_both_figures(folder, tmp_path, capsys):
    out = tmp_path / "ev"
    args = ["evaluate", *STAND_IN, "--data", str(folder), "--radii", "2,4,6,9", "--examples", "3", "--batch-size", "4"]
    assert main([*args, "--device", "cpu", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "HFC-explained" in text and "original accuracy" in text and "ant" in text and "all-zero image ->" in text
    result = json.loads((out / "evaluate.json").read_text())
    assert result["radii"] == [2.0, 4.0, 6.0, 9.0] and result["images"] == 15
    assert result["example_radius"] == 6.0  # nearest 3/8 of 15
    prov = result["provenance"]
    # one default everywhere (HFC code, training curves): LFC/HFC rescaled per image, and the table says so
    assert prov["mask_inequality"] == "<" and prov["normalize"] == "per_image_max" and prov["dataset"] == "images"
    assert "LFC/HFC views: rescaled by their per-image max (rescale=per_image_max)" in text
    assert prov["environment"]["dtype"] == "float32" and prov["environment"]["device"] == "cpu"
    assert "wrong on its LFC" in prov["hfc_explained_definition"]
    assert len(result["per_class"]["lfc"]) == 4 and len(result["per_class"]["lfc"][0]) == 3
    assert (out / "accuracy_vs_radius.png").stat().st_size > 0
    assert (out / "evaluate.txt").read_text().startswith("images: 15 images")
    shown = result["hfc_explained"]["by_radius"]["6"]["count"]
    assert (out / "hfc_examples.png").exists() == (shown > 0)
    assert result["figures"][-1] == ("hfc_examples.png" if shown else "accuracy_vs_radius.png")


def test_evaluate_normalize_and_inclusive_are_recorded(folder, tmp_path):
    out = tmp_path / "ev"
    args = ["evaluate", *STAND_IN, "--data", str(folder), "--radii", "3,5", "--rescale", "none", "--inclusive"]
    assert main([*args, "--examples", "0", "--device", "cpu", "-o", str(out)]) == 0
    result = json.loads((out / "evaluate.json").read_text())
    assert result["mask"] == "|k| <= r" and result["provenance"]["mask_inequality"] == "<="
    assert result["normalize"] == "none" and "not rescaled" in (out / "evaluate.txt").read_text()
    assert "<=" in result["provenance"]["conventions"]["disk_mask"]
    assert not (out / "hfc_examples.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["m", "--radii", "0"], "radius must be a positive number"),
        (["m", "--radii", "4,40"], "beyond the spectrum"),
        (["m", "--radii", "4,x"], "neither cycles per image"),
        (["m", "--radii", "4,4"], "duplicates"),
        (["m", "--rescale", "max"], "--rescale"),
        (["m", "--examples", "-1"], "--examples"),
        (["m", "--batch-size", "0"], "--batch-size"),
        (["m", "--radii", "4,8", "--example-radius", "6"], "not in --radii"),
        (["m", "--limit", "0"], "--limit"),
        (["m", "--device", "cuda:7"] if not torch.cuda.is_available() else ["m", "--rescale", "x"], "use"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(folder, tmp_path, capsys, args, message):
    out = tmp_path / "never"
    assert main(["evaluate", *STAND_IN, *args[1:], "--data", str(folder), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err
    assert not out.exists()


def test_a_model_that_cannot_read_the_images_is_a_clear_error(folder, tmp_path, capsys):
    out = tmp_path / "never"
    spec = ["test_cli_evaluate:built_for_32", "--normalize", "none"]
    assert main(["evaluate", *spec, "--data", str(folder), "--device", "cpu", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()  # the loader's probe catches it before anything runs
    assert err.startswith("error: model test_cli_evaluate:built_for_32 cannot read images of shape (3, 15, 18)")
    assert "\n" not in err
    assert not out.exists()


def test_a_missing_checkpoint_exits_2(folder, tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["evaluate", "missing/model.pt", "--data", str(folder), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "model file missing/model.pt does not exist" in err and "\n" not in err
    assert not out.exists()


def test_a_registry_model_runs_untrained_with_a_warning(folder, tmp_path):
    out = tmp_path / "ev"
    args = ["evaluate", "small_cnn", "--data", str(folder), "--radii", "3,6", "--seed", "3", "--device", "cpu"]
    with pytest.warns(UserWarning, match=r"untrained weights \(seed 3\)"):
        assert main([*args, "-o", str(out)]) == 0
    result = json.loads((out / "evaluate.json").read_text())
    model = {k: v for k, v in result["model"].items() if k not in ("input", "memory_format")}
    assert model == {
        "source": "registry",
        "name": "small_cnn",
        "kwargs": {},
        "weights": {"tag": None},
        "pretrained": False,
        "trained": False,
        "init_seed": 3,
    }
    assert result["model"]["input"]["normalize"] == "inside the model"
    assert result["provenance"]["seed"] == 3 and len(result["lfc"]["accuracy"]) == 2


def test_an_unknown_model_name_exits_2(folder, tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["evaluate", "small_cn", "--data", str(folder), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown model 'small_cn'; did you mean small_cnn?") and "\n" not in err
    assert not out.exists()


def test_a_saved_checkpoint_is_evaluated_exactly_as_the_library_call(folder, tmp_path):
    from freqlens.analyses.hfc import evaluate_hfc
    from freqlens.checkpoint import save_model
    from freqlens.data import open_dataset
    from freqlens.models import create_model

    torch.manual_seed(1)
    model = create_model("small_cnn", num_classes=3, width=4)
    path = save_model(model, tmp_path / "model.pt", epoch=7)
    out = tmp_path / "ev"
    assert (
        main(["evaluate", str(path), "--data", str(folder), "--radii", "2,5", "--device", "cpu", "-o", str(out)]) == 0
    )
    result = json.loads((out / "evaluate.json").read_text())
    assert result["model"]["source"] == "checkpoint" and result["model"]["info"]["epoch"] == 7
    assert result["model"]["info"]["name"] == "small_cnn" and result["provenance"]["seed"] == 0
    direct = evaluate_hfc(model.eval(), open_dataset(str(folder), "test"), [2, 5], progress=False)
    assert result["hfc"]["accuracy"] == direct.accuracy("hfc").tolist()
    assert result["lfc"]["confidence"] == pytest.approx(direct.confidence("lfc").tolist(), abs=1e-6)


def test_a_checkpoint_with_too_few_classes_exits_2(folder, tmp_path, capsys):
    from freqlens.checkpoint import save_model
    from freqlens.models import create_model

    path = save_model(create_model("small_cnn", num_classes=2, width=4), tmp_path / "two.pt")
    out = tmp_path / "never"
    assert main(["evaluate", str(path), "--data", str(folder), "--device", "cpu", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: model ") and "has 2 outputs but the image set has 3 classes; map" in err
    assert not out.exists()


def test_a_reused_run_says_so(folder, tmp_path, capsys):
    args = ["evaluate", *STAND_IN, "--data", str(folder), "--radii", "2,4", "--device", "cpu", "--runs", str(tmp_path)]
    assert main([*args, "-o", str(tmp_path / "a")]) == 0
    assert "reused" not in capsys.readouterr().err
    assert main([*args, "-o", str(tmp_path / "b")]) == 0
    assert "reused the finished run" in capsys.readouterr().err
