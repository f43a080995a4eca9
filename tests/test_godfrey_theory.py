"""``godfrey-theory`` end to end on tiny data, and the ``freqlens theory`` command.

The recipe test is the theory's own check at small scale: a linear circular CNN trained to convergence lands on the
map predicted before training (the agreement claims pass and their untrained-network controls fail).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from freqlens import verdicts
from freqlens.cli import main
from freqlens.executors import InlineExecutor
from freqlens.experiments import Context
from freqlens.experiments import godfrey_theory as recipe
from freqlens.runner import reproduce

TINY = {
    "synthetic": {"size": 4, "channels": 2, "outputs": 2, "base_images": 1},
    "depths": (1, 2),
    "decays": (4.0, 1.0),
    "seeds": (0, 1),
    "evaluations": 400,
    "cifar": None,
    "spectrum_images": 40,
    "natural": "synthetic:powerlaw?n=40&alpha=2",
    "q7": {"size": 16, "images": 64, "epochs": 1, "seeds": (0, 1)},
}


def test_recipe_predicts_the_trained_map_and_reports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(recipe._SETUPS, "quick", TINY)
    ctx = Context(runs_root=tmp_path / "runs", profile="quick", progress=False)
    (outcome,) = reproduce(["godfrey-theory"], ctx, InlineExecutor(), tmp_path / "out").outcomes
    assert outcome.errors == []
    summary = json.loads((tmp_path / "out" / "godfrey-theory" / "summary.json").read_text())
    agreement = [c for c in summary["comparisons"] if c["claim"].startswith("theory:")]
    assert len(agreement) == 2
    for c in agreement:
        assert c["status"] == verdicts.AGREE, c
        assert c["control"]["status"] == verdicts.DISAGREE, c
    claims = " ".join(c["claim"] for c in summary["comparisons"])
    assert "A11: depth" in claims and "A11: decay" in claims and "Q1:" in claims
    (q7,) = [c for c in summary["comparisons"] if c["claim"].startswith("Q7:")]
    assert q7["control"]["kind"] == "untrained" and q7["estimate"]["n"] == 2  # paired over the two seeds
    assert all((tmp_path / "out" / "godfrey-theory" / f["path"]).is_file() for f in summary["figures"])
    rows = summary["tables"][0]["rows"]
    assert all(abs(row[9] - 1) < 1e-3 for row in rows)  # cost ratio 1: training balanced every network


def test_theory_command_on_a_linear_circular_cnn_and_on_a_relu_cnn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = "synthetic:powerlaw?n=32&size=8&channels=2&classes=2"
    linear = ["--model-arg", "depth=2", "--model-arg", "width=3", "--model-arg", "linear=true"]
    common = ["--data", data, "--device", "cpu", "--runs", str(tmp_path / "runs")]
    code = main(["theory", "circular_cnn", *linear, "--weight-decay", "0.5", *common, "-o", str(tmp_path / "a")])
    assert code == 0
    result = json.loads((tmp_path / "a" / "theory.json").read_text())
    assert result["details"]["linear_circular"] == "yes"
    assert result["metrics"]["gradient_check"] < 1e-5  # the exact map is the autograd sensitivity map
    assert result["metrics"]["cost_ratio"] >= 1 - 1e-9
    assert (tmp_path / "a" / "spectral.png").is_file()
    code = main(["theory", "small_cnn", *common, "-o", str(tmp_path / "b")])
    assert code == 0
    result = json.loads((tmp_path / "b" / "theory.json").read_text())
    assert result["details"]["linear_circular"].startswith("no")
    assert len(result["details"]["layers"]) >= 2
    capsys.readouterr()
    assert main(["theory", "small_cnn", *common, "--weight-decay", "-1", "-o", str(tmp_path / "c")]) == 2
    assert "--weight-decay" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
