"""Fault injection: poisoned images in a batch, Ctrl-C and SIGKILL during real `freqlens train` / `reproduce`
processes, and the state they leave behind (it must resume to identical results)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor, nn

import toy_recipe
from freqlens import fourier
from freqlens.analyses.heatmap import fourier_heatmap, loop_heatmap
from freqlens.analyses.hfc import evaluate_hfc
from freqlens.analyses.perturbations import perturbation_spectrum
from freqlens.analyses.sensitivity import fourier_sensitivity
from freqlens.attacks import robust_accuracy
from freqlens.cli import main
from freqlens.data import ImageSet, load_image_folder
from freqlens.errors import FreqlensError

# ------------------------------------------------------------------------------------------- one poisoned image


@pytest.mark.parametrize("channels", [1, 2, 3])
@pytest.mark.parametrize("poison", [1e30, -3e38, 1e-30])
def test_one_image_of_a_batch_never_moves_another(channels: int, poison: float) -> None:
    """Every image's LFC/HFC is bit-identical whatever the other images of the batch hold, and equal within rounding
    to the image filtered alone."""
    x = torch.rand(5, channels, 16, 12)
    low, high = fourier.split(x, [3, 6])
    bad = x.clone()
    bad[0, :, 2, 3] = poison
    bad_low, bad_high = fourier.split(bad, [3, 6])
    assert torch.equal(bad_low[:, 1:], low[:, 1:]) and torch.equal(bad_high[:, 1:], high[:, 1:])
    for i in range(1, 5):  # filtered alone: the same within float32 rounding (a batched FFT may vectorise over images)
        alone_low, alone_high = fourier.split(x[i : i + 1], [3, 6])
        assert torch.allclose(alone_low[:, 0], low[:, i], rtol=0, atol=1e-6)
        assert torch.allclose(alone_high[:, 0], high[:, i], rtol=0, atol=1e-6)
    gain = fourier.effective_gain(fourier.square_mask(16, 12, 3))
    assert torch.equal(fourier.apply_gain(bad, gain)[1:], fourier.apply_gain(x, gain)[1:])


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_image_is_an_error_naming_it(value: float) -> None:
    x = torch.rand(4, 3, 8, 8)
    x[2, 1, 0, 5] = value
    for call in (
        lambda: fourier.split(x, [2, 3]),
        lambda: fourier.lowpass(x, 2),
        lambda: fourier.apply_gain(x, torch.ones(8, 8)),
        lambda: fourier.power_map(x),
        lambda: fourier.rms_amplitude_map(x),
    ):
        with pytest.raises(FreqlensError, match=r"image 2 holds NaN or infinite values"):
            call()
    x[3, 0, 0, 0] = value
    with pytest.raises(FreqlensError, match=r"image 2 \(and 1 more\)"):
        fourier.split(x, 8)  # also when the disk keeps every bin of the 8x8 spectrum (no FFT at all)


# ------------------------------------------------------------------------------------------ hostile or odd images


def _png(path: Path, size: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), 128, dtype=np.uint8)).save(path)


def test_a_decompression_bomb_in_an_image_folder_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _png(tmp_path / "a" / "small.png")
    _png(tmp_path / "b" / "huge.png", size=32)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)  # 32x32 = 1024 pixels: over twice the limit, a bomb
    with pytest.raises(FreqlensError, match=r"huge.png is too large to load safely .*remove it or shrink it"):
        load_image_folder(tmp_path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # over the limit but under twice it: PIL only warns
    with pytest.raises(FreqlensError, match=r"huge.png is too large"):
        load_image_folder(tmp_path)


def test_an_empty_class_folder_is_an_error(tmp_path: Path) -> None:
    _png(tmp_path / "cat" / "1.png")
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / ".hidden").write_text("")
    with pytest.raises(FreqlensError, match=r"class folder .*dog holds no images"):
        load_image_folder(tmp_path)


class _Reshaped(nn.Module):
    """A linear classifier whose output is reshaped to ``shape`` (per image), to play a model with the wrong output."""

    def __init__(self, classes: int, shape: tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.linear = nn.Linear(3 * 8 * 8, classes)
        self.shape = shape

    def forward(self, x: Tensor) -> Tensor:
        out = self.linear(x.flatten(1))
        return out if self.shape is None else out.reshape(x.shape[0], *self.shape)


def _analyses(model: nn.Module, x: Tensor, y: Tensor) -> list[Any]:
    data = ImageSet(x, y.clamp(0, 1), ("a", "b"))
    return [
        lambda: fourier_heatmap(model, x, y, eps=1.0),
        lambda: loop_heatmap(model, x, y, eps=1.0),
        lambda: fourier_sensitivity(model, x, y, target="loss"),
        lambda: robust_accuracy(model, x, y, [0.0, 0.01], "fgsm", progress=False),
        lambda: perturbation_spectrum(model, x, y, "fgsm", 0.01, progress=False),
        lambda: evaluate_hfc(model, data, [2], progress=False),
    ]


def test_a_model_with_the_wrong_output_shape_is_a_one_line_error_in_every_analysis() -> None:
    x, y = torch.rand(6, 3, 8, 8), torch.tensor([0, 1, 2, 3, 0, 1])
    for call in _analyses(_Reshaped(4, (2, 2)), x, y):
        with pytest.raises(FreqlensError, match=r"the model returned torch.float32 \(\d+, 2, 2\) for \d+ images"):
            call()


def test_labels_outside_the_models_classes_are_a_one_line_error_in_every_analysis() -> None:
    x, y = torch.rand(6, 3, 8, 8), torch.tensor([0, 1, 2, 7, 0, 1])
    for call in _analyses(_Reshaped(4), x, y)[:-1]:  # evaluate_hfc takes its labels from a checked ImageSet
        with pytest.raises(FreqlensError, match=r"labels must lie in 0..3 for a model with 4 outputs, got 0..7"):
            call()
    with pytest.raises(FreqlensError, match=r"labels must be an int64 tensor of shape \(6,\)"):
        fourier_heatmap(_Reshaped(4), x, y.float(), eps=1.0)


# ------------------------------------------------------------------------------- Ctrl-C and SIGKILL, real processes

TESTS = Path(__file__).resolve().parent
RUN_CLI = "import sys; sys.path.insert(0, sys.argv.pop(1)); import toy_recipe; from freqlens.cli import main; "
RUN_CLI += "sys.exit(main(sys.argv[1:]))"
TRAIN = [
    "train",
    "--data",
    "synthetic:powerlaw?n=128&size=16&classes=2&spread=2",
    "--epochs",
    "4",
    "--batch-size",
    "32",
    "--model-kwargs",
    '{"width": 4}',
    "--eval-radii",
    "3",
    "--device",
    "cpu",
    "--threads",
    "1",
    "--no-progress",
]


def _start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``freqlens ARGS`` in a child process that takes SIGINT as a terminal's Ctrl-C does (even where this test runs
    in a background job, which ignores it)."""
    return subprocess.Popen(
        [sys.executable, "-c", RUN_CLI, str(TESTS), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _wait_for(condition: Any, process: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the child never reached the point to interrupt"
        time.sleep(0.05)


def _weights(path: Path) -> dict[str, Tensor]:
    return dict(torch.load(path / "checkpoint.pt", weights_only=True)["state_dict"])


@pytest.mark.usefixtures("one_thread")
def test_train_interrupted_after_an_epoch_says_so_and_resumes_bit_identically(tmp_path: Path) -> None:
    args = [*TRAIN, "--runs", str(tmp_path / "runs"), "-o", str(tmp_path / "out")]
    child = _start(args)
    metrics = tmp_path / "runs" / "train"
    _wait_for(lambda: any(m.read_text().count("\n") >= 1 for m in metrics.glob("*/train/metrics.jsonl")), child)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=120)
    (run,) = metrics.glob("*/train")
    saved = (run / "metrics.jsonl").read_text().count("\n")
    assert child.returncode == 130 and "Traceback" not in err and 1 <= saved < 4
    assert err.rstrip().splitlines()[-1] == (
        f"interrupted: epoch {saved} of 4 is saved in {run.parent}; continue with: {shlex.join(['freqlens', *args])}"
    )
    assert main([*args, "--no-progress"]) == 0
    assert main([*TRAIN, "--runs", str(tmp_path / "whole"), "-o", str(tmp_path / "o2")]) == 0
    (whole,) = (tmp_path / "whole" / "train").glob("*/train")
    assert all(torch.equal(a, b) for a, b in zip(_weights(whole).values(), _weights(run).values(), strict=True))


@pytest.mark.parametrize(
    ("sig", "executor"),
    [
        (signal.SIGINT, "inline"),
        (signal.SIGKILL, "inline"),
        pytest.param(signal.SIGINT, "pool:2", marks=pytest.mark.slow),  # spawns two workers that import torch
    ],
)
def test_reproduce_stopped_in_a_cell_says_so_and_continues_to_the_same_report(
    tmp_path: Path, sig: signal.Signals, executor: str
) -> None:
    runs_root, out = tmp_path / "runs", tmp_path / "out"
    args = ["reproduce", "toy", "--runs", str(runs_root), "--out", str(out), "--device", "cpu", "--executor", executor]
    child = _start(args, {toy_recipe.WAIT_ENV: "x1"})
    _wait_for(lambda: any(runs_root.glob(f"toy/x1-*/{toy_recipe.WAITING}")), child)
    child.send_signal(sig)
    _, err = child.communicate(timeout=120)
    assert not (out / "report.html").exists()
    (waiting,) = runs_root.glob(f"toy/x1-*/{toy_recipe.WAITING}")
    _wait_for_exit(int(waiting.read_text()))  # a pool worker running the cell is stopped too, not left behind
    if sig == signal.SIGINT:
        assert child.returncode == 130 and "Traceback" not in err
        line = err.rstrip().splitlines()[-1]
        finished = "1 of 3 cells" if executor == "inline" else "of 3 cells"  # the pool runs x0 and x2 alongside
        assert line.startswith("interrupted: 0 of 0 trained models and ") and finished in line
        assert f"are finished and kept in {runs_root}; the report is written when all are done" in line
        again = shlex.split(line.split("continue with: ")[1])
        assert again[:2] == ["freqlens", "reproduce"]
    else:
        assert child.returncode == -signal.SIGKILL
        again = ["freqlens", *args]
    assert main(again[1:]) == 0
    assert main(["reproduce", "toy", "--runs", str(tmp_path / "fresh"), "--out", str(tmp_path / "ref")]) == 0
    assert _squares(out) == _squares(tmp_path / "ref") == [0, 1, 4]
    assert (out / "report.html").is_file()


def _wait_for_exit(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        assert time.monotonic() < deadline, f"process {pid} still runs"
        time.sleep(0.05)


def _squares(out: Path) -> list[float]:
    table = json.loads((out / "toy" / "summary.json").read_text())["tables"][0]
    return [row[1] for row in table["rows"]]
