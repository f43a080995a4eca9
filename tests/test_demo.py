"""The demo's planted cue (exact, fast) and the demo itself (slow): the toolkit must catch the model reading it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from freqlens import fourier
from freqlens.cli import main
from freqlens.data import open_dataset
from freqlens.data.synthetic import cue_positions


def test_cue_is_one_fourier_pair_per_class_of_the_given_norm() -> None:
    base = "synthetic:powerlaw?n=12&size=16&classes=3&spread=0&contrast=0.01&seed=3"
    plain = open_dataset(base, "train")
    cued = open_dataset(base + "&cue=0.2&cue_radius=5", "train")
    assert torch.equal(plain.labels, cued.labels)
    diff = (cued.images - plain.images).double()  # contrast 0.01: nothing is clipped
    assert torch.allclose(diff.flatten(2).norm(dim=2), torch.full((12, 3), 0.2, dtype=torch.float64), atol=1e-6)
    spectrum = torch.fft.fftshift(torch.fft.fft2(diff, norm="ortho"), dim=(-2, -1)).abs()
    positions = cue_positions(3, 16, 5)
    for i in range(12):
        i0, j0 = positions[int(cued.labels[i])].tolist()
        support = torch.zeros(16, 16, dtype=torch.bool)
        support[i0, j0] = support[(16 - i0) % 16, (16 - j0) % 16] = True
        assert float(spectrum[i, :, ~support].max()) < 1e-6  # all the cue's energy sits at ±k of its class
        assert abs(float(fourier.radial_distance(16, 16)[i0, j0]) - 5) <= 0.5**0.5  # both coordinates rounded
    # The classes differ only by the cue: same spectra, so the LFC below the cue radius carries no label.
    low, _ = fourier.split(cued.images.double(), 4.0)
    low_plain, _ = fourier.split(plain.images.double(), 4.0)
    assert torch.allclose(low, low_plain, atol=1e-6)


def test_cue_radius_must_fit() -> None:
    from freqlens.errors import FreqlensError

    with pytest.raises(FreqlensError, match="cue_radius"):
        open_dataset("synthetic:powerlaw?n=4&size=16&classes=2&cue=1&cue_radius=9", "train")
    with pytest.raises(FreqlensError, match="do not fit"):
        cue_positions(12, 32, 1.0)


@pytest.mark.slow
def test_demo_catches_the_planted_cue(tmp_path: Path) -> None:
    assert main(["demo", "-o", str(tmp_path), "--device", "cpu"]) == 0
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert [c["agree"] for c in summary["comparisons"]] == [True] * len(summary["comparisons"])
    assert (tmp_path / "report.html").is_file()
