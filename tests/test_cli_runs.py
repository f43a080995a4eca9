"""Every single-analysis command is a one-cell run of the audit recipe: indexed, reported, reused, keyed by the file."""

from __future__ import annotations

import json

import pytest
import torch

import freqlens.experiments.audit as audit_recipe
from freqlens.cli import main

DATA = "synthetic:powerlaw?n=24&classes=10&size=16&seed=3"
COMMANDS = {
    "sensitivity": (["-n", "6", "--view", "hpsquare:4"], "sensitivity.json", "sensitivity"),
    "heatmap": (["-n", "4", "--eps", "2"], "heatmap.json", "heatmap"),
    "evaluate": (["-n", "8", "--radii", "2,4,6"], "evaluate.json", "hfc"),
}


@pytest.fixture
def checkpoint(tmp_path):
    from freqlens.checkpoint import save_model
    from freqlens.models import create_model

    torch.manual_seed(0)
    return save_model(create_model("small_cnn", num_classes=10, image_size=16, width=4), tmp_path / "net" / "model.pt")


def _rows(capsys, root):
    capsys.readouterr()
    assert main(["runs", "--runs", str(root), "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_the_run_is_indexed_reported_and_reused(command, checkpoint, tmp_path, runs_root, capsys, monkeypatch):
    extra, file, analysis = COMMANDS[command]
    out = tmp_path / "out"
    args = [command, str(checkpoint), "--data", DATA, "--device", "cpu", *extra, "-o", str(out)]
    assert main(args) == 0
    first = json.loads((out / file).read_text())
    (row,) = _rows(capsys, runs_root)
    assert row["kind"] == "audit" and row["status"] == "done" and row["name"] == "net"
    assert row["config"]["analysis"] == analysis and row["config"]["model"]["sha256"] is not None
    assert first["run"].endswith(row["path"])

    # freqlens report rebuilds the command's report with its figures embedded
    (out / "report.html").unlink()
    assert main(["report", "-o", str(out)]) == 0
    html = (out / "report.html").read_text()
    figures = [f for f in json.loads((out / "audit" / "summary.json").read_text())["figures"]]
    assert figures and html.count("data:image/png;base64,") >= len(figures)

    # the same arguments reuse the finished run: the analysis is not called again
    def never(*a, **k):
        raise AssertionError("recomputed a finished run")

    monkeypatch.setattr(audit_recipe, "call_analysis", never)
    again = tmp_path / "again"
    assert main([*args[:-1], str(again)]) == 0
    second = json.loads((again / file).read_text())
    same = [k for k in first if k not in ("seconds", "provenance")]  # wall time and the writing time differ
    assert [second[k] for k in same] == [first[k] for k in same]
    assert len(_rows(capsys, runs_root)) == 1


def test_a_changed_model_file_is_a_new_run(checkpoint, tmp_path, runs_root, capsys):
    from freqlens.checkpoint import save_model
    from freqlens.models import create_model

    args = ["evaluate", str(checkpoint), "--data", DATA, "--device", "cpu", "-n", "8", "--radii", "2,4"]
    assert main([*args, "-o", str(tmp_path / "a")]) == 0
    torch.manual_seed(1)
    save_model(create_model("small_cnn", num_classes=10, image_size=16, width=4), checkpoint)
    assert main([*args, "-o", str(tmp_path / "b")]) == 0
    rows = _rows(capsys, runs_root)
    assert len(rows) == 2 and len({r["config"]["model"]["sha256"] for r in rows}) == 2
    assert all(r["status"] == "done" for r in rows)


def test_a_failing_analysis_leaves_no_output(checkpoint, tmp_path, capsys, monkeypatch):
    from freqlens.errors import FreqlensError

    def broken(*a, **k):
        raise FreqlensError("the analysis refused these images")

    monkeypatch.setattr(audit_recipe, "call_analysis", broken)
    out = tmp_path / "never"
    assert main(["heatmap", str(checkpoint), "--data", DATA, "--device", "cpu", "-n", "4", "-o", str(out)]) == 2
    assert capsys.readouterr().err.strip() == "error: the analysis refused these images"
    assert not out.exists()


@pytest.mark.parametrize(
    ("command", "extra", "file", "analysis"),
    [
        ("smooth", ["--rho", "0,1", "--eps", "0.03", "--pgd-steps", "2"], "smooth.json", "defence"),
        ("attack", ["--eps", "0,0.05", "--steps", "2"], "attack.json", "robustness"),
    ],
)
def test_each_model_is_one_run(command, extra, file, analysis, checkpoint, tmp_path, runs_root, capsys, monkeypatch):
    out = tmp_path / "out"
    models = [
        "-m",
        str(checkpoint),
        "-m",
        "small_cnn",
        "--model-arg",
        "width=4",
        "--label",
        "saved",
        "--label",
        "fresh",
    ]
    args = [command, *models, "--data", DATA, "-n", "6", "--device", "cpu", *extra, "-o", str(out)]
    assert main(args) == 0
    first = json.loads((out / file).read_text())
    rows = _rows(capsys, runs_root)
    assert sorted(r["name"] for r in rows) == ["fresh", "saved"]
    assert all(r["kind"] == "audit" and r["status"] == "done" and r["config"]["analysis"] == analysis for r in rows)
    assert sorted(first["runs"]) == ["fresh", "saved"]
    assert main(["report", "-o", str(out)]) == 0
    summary = json.loads((out / "audit" / "summary.json").read_text())
    assert len(summary["figures"]) >= 4  # two per model
    assert (out / "report.html").read_text().count("data:image/png;base64,") >= len(summary["figures"])

    monkeypatch.setattr(audit_recipe, "call_analysis", lambda *a, **k: pytest.fail("recomputed a finished run"))
    assert main([*args[:-1], str(tmp_path / "again")]) == 0
    assert json.loads((tmp_path / "again" / file).read_text())["runs"] == first["runs"]
    assert len(_rows(capsys, runs_root)) == 2
