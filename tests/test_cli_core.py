"""The foundation's CLI commands: outputs, exit codes, and nothing half-written on bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import freqlens
from freqlens.cli import main


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(root / cls / f"{i}.png")
    return root


def test_decompose_writes_grid_metadata_and_dataset(folder, tmp_path):
    out = tmp_path / "out"
    code = main(
        ["decompose", "--data", str(folder), "--radii", "2,4", "--examples", "3", "--save-dataset", "-o", str(out)]
    )
    assert code == 0
    assert (out / "decompose.png").stat().st_size > 0
    meta = json.loads((out / "decompose.json").read_text())
    assert meta["radii"] == [2.0, 4.0] and "strict" in meta["conventions"]["disk_mask"]
    arrays = np.load(out / "filtered.npz")
    assert arrays["lfc_r2"].shape == (8, 3, 16, 16)
    np.testing.assert_allclose(arrays["lfc_r4"] + arrays["hfc_r4"], arrays["original"], atol=1e-6)


def test_spectrum_reports_slope_and_profile(folder, tmp_path, capsys):
    out, runs_root = tmp_path / "spec", tmp_path / "runs"
    assert main(["spectrum", "--data", str(folder), "--split", "test", "--runs", str(runs_root), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "RAPS slope" in printed and (out / "report.html").is_file()
    (run,) = runs_root.glob("audit/*/summary.json")  # a one-cell run of the datastats analysis, listed by `runs`
    cell = json.loads(run.read_text())
    assert cell["analysis"] == "datastats" and cell["metrics"]["images"] == 8 and cell["model"] == {}
    profile = np.load(run.parent / "arrays.npz")["profile"]
    assert len(profile) == 12 and f"RAPS slope {cell['metrics']['slope']:.3f}" in printed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["decompose", "--radii", "0"], "radius must be a positive number"),
        (["decompose", "--radii", "4,99"], "beyond the spectrum"),
        (["decompose", "--radii", "a,b"], "neither cycles per image"),
        (["spectrum", "--limit", "0"], "--limit must be positive"),
        (["spectrum", "--fit-max", "40"], "beyond the largest radius"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(folder, tmp_path, capsys, args, message):
    out = tmp_path / "never"
    assert main([*args, "--data", str(folder), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err
    assert not out.exists()


def test_unknown_dataset_and_command(capsys):
    assert main(["spectrum", "--data", "nope"]) == 2
    assert "unknown dataset" in capsys.readouterr().err
    assert main(["frobnicate"]) == 2


def test_version_prints_the_installed_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"freqlens {freqlens.__version__}"
