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


def test_train_writes_the_run_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    args = [*BASE, "--epochs", "2", "--model-kwargs", '{"width": 4}', "--no-batchnorm", "-o", str(out)]
    assert main([*args, "--stop-after", "1"]) == 0
    printed = capsys.readouterr().out
    assert "resolved config:" in printed and 'model_kwargs      = {"width": 4, "batchnorm": false}' in printed
    assert main(args) == 2
    assert "already holds a training run" in capsys.readouterr().err
    assert main(["train", "-o", str(out), "--resume", "--no-progress"]) == 0  # the saved config is the base
    assert "done: 2 epochs" in capsys.readouterr().out
    assert main(["train", "-o", str(out), "--resume", "--lr", "0.5"]) == 2
    assert "another config (lr: 0.002 -> 0.5)" in capsys.readouterr().err
    for name in ("config.json", "metrics.jsonl", "checkpoint.pt", "model.pt", "curves.png"):
        assert (out / name).is_file(), name
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == [1, 2] and lines[0]["radii"] == [3.0, 6.0]
    written = json.loads((out / "config.json").read_text())
    assert written["config"]["model_kwargs"] == {"width": 4, "batchnorm": False}
    assert written["provenance"]["conventions"] and written["parameters"] > 0
    model, info = load_model(out / "model.pt")
    assert info["name"] == "small_cnn" and info["epoch"] == 2 and model(torch.rand(1, 3, 16, 16)).shape == (1, 2)


def test_flags_override_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('epochs = 1\nlr = 0.3\noptimizer = "adam"\n[model_kwargs]\nwidth = 4\ndropout = 0.1\n')
    out = tmp_path / "run"
    assert (
        main(
            [*BASE, "-c", str(config), "--lr", "0.01", "--dropout", "0.2", "--set", "label_smoothing=0", "-o", str(out)]
        )
        == 0
    )
    written = json.loads((out / "config.json").read_text())["config"]
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
    assert main([*BASE, "--epochs", "1", *extra, "-o", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and "\n" not in err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_list_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--list-models"]) == 0
    out = capsys.readouterr().out
    assert "hfc_resnet32" in out and "circular_cnn" in out
