"""``freqlens train`` in-process: files, flag/file precedence, resume, one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from freqlens.checkpoint import load_model
from freqlens.cli import main

TINY = "synthetic:powerlaw?n=64&size=16&classes=2"
BASE = ["train", "--data", TINY, "--batch-size", "32", "--eval-radii", "3,6", "--device", "cpu", "--no-progress"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one thread is faster


def _run_folder(runs_root: Path) -> Path:
    (run,) = [p for p in (runs_root / "train").iterdir() if p.is_dir()]
    return run / "train"


def test_train_is_a_one_cell_run_that_continues_is_reused_and_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs_root, out = tmp_path / "runs", tmp_path / "out"
    args = [*BASE, "--epochs", "2", "--model-kwargs", '{"width": 4}', "--no-batchnorm"]
    args += ["--runs", str(runs_root), "-o", str(out)]
    assert main([*args, "--stop-after", "1"]) == 0
    printed = capsys.readouterr().out
    assert "resolved config:" in printed and 'model_kwargs      = {"width": 4, "batchnorm": false}' in printed
    assert "stopped as asked" in printed and not (out / "report.html").exists()
    run = _run_folder(runs_root)
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1
    assert main([*args, "--save", str(tmp_path / "models" / "m.pt")]) == 0  # the same command continues the run
    assert "done: 2 epochs" in capsys.readouterr().out
    for name in ("config.json", "metrics.jsonl", "checkpoint.pt", "model.pt", "curves.png"):
        assert (run / name).is_file(), name
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == [1, 2] and lines[0]["radii"] == [3.0, 6.0]
    written = json.loads((run / "config.json").read_text())
    assert written["config"]["model_kwargs"] == {"width": 4, "batchnorm": False}
    assert written["provenance"]["conventions"] and written["parameters"] > 0
    assert (tmp_path / "models" / "m.pt").read_bytes() == (run / "model.pt").read_bytes()
    model, info = load_model(run / "model.pt")
    assert info["name"] == "small_cnn" and info["epoch"] == 2 and model(torch.rand(1, 3, 16, 16)).shape == (1, 2)
    # the report shows it: one table row per epoch, read from the run's own metrics
    summary = json.loads((out / "training" / "summary.json").read_text())
    assert [row[0] for row in summary["tables"][0]["rows"]] == [1, 2] and (out / "report.html").is_file()
    assert summary["tables"][0]["rows"][1][3] == pytest.approx(lines[1]["test_acc"])
    # freqlens runs lists the trained model and the cell
    assert main(["runs", "--runs", str(runs_root), "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {row["kind"] for row in listed} == {"train", "training"}
    # the same command again reuses the run (nothing retrained); another config is another run folder
    stamp = (run / "model.pt").stat().st_mtime_ns
    assert main(args) == 0 and (run / "model.pt").stat().st_mtime_ns == stamp
    capsys.readouterr()
    assert main([*args, "--lr", "0.01"]) == 0
    assert len([p for p in (runs_root / "train").iterdir() if p.is_dir()]) == 2


def test_flags_override_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('epochs = 1\nlr = 0.3\noptimizer = "adam"\n[model_kwargs]\nwidth = 4\ndropout = 0.1\n')
    flags = ["--lr", "0.01", "--dropout", "0.2", "--set", "label_smoothing=0"]
    assert main([*BASE, "-c", str(config), *flags, "--runs", str(tmp_path / "runs"), "-o", str(tmp_path / "o")]) == 0
    written = json.loads((_run_folder(tmp_path / "runs") / "config.json").read_text())["config"]
    assert (written["epochs"], written["lr"], written["optimizer"], written["label_smoothing"]) == (
        1,
        0.01,
        "adam",
        0.0,
    )
    assert written["model_kwargs"] == {"width": 4, "dropout": 0.2}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "resnet99"], "error: unknown model 'resnet99'"),
        (["--set", "warmpu=0.1"], "error: unknown config key 'warmpu' (did you mean warmup?)"),
        (["--eval-radii", "4,30"], "error: eval_radii: radius 30.0 is beyond the spectrum of a 16x16 image"),
        (["--model-kwargs", '{"depth": 3}'], "error: model 'small_cnn' has no option depth"),
        (["--optimizer", "lbfgs"], "error: config key 'optimizer' must be one of sgd, adam, adamw"),
        (["--train-view", "lfc:x"], "error: view 'lfc:x': 'x' is not a number"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main([*BASE, "--epochs", "1", *extra, "--runs", str(tmp_path / "runs"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and "\n" not in err
    assert not list(tmp_path.rglob("*.json")) and not (tmp_path / "o").exists()  # no run folder, no report


def test_list_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--list-models"]) == 0
    out = capsys.readouterr().out
    assert "hfc_resnet32" in out and "circular_cnn" in out
