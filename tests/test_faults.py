"""Fault injection: poisoned images in a batch, Ctrl-C and SIGKILL during real `freqlens train` / `reproduce`
processes, and the state they leave behind (it must resume to identical results)."""

from __future__ import annotations

import pytest
import torch

from freqlens import fourier
from freqlens.errors import FreqlensError

# ------------------------------------------------------------------------------------------- one poisoned image


@pytest.mark.parametrize("channels", [1, 2, 3])
@pytest.mark.parametrize("poison", [1e30, -3e38, 1e-30])
def test_one_image_of_a_batch_never_moves_another(channels: int, poison: float) -> None:
    """Every image's LFC/HFC is bit-identical whatever the other images of the batch hold (and filtered alone)."""
    x = torch.rand(5, channels, 16, 12)
    low, high = fourier.split(x, [3, 6])
    bad = x.clone()
    bad[0, :, 2, 3] = poison
    bad_low, bad_high = fourier.split(bad, [3, 6])
    assert torch.equal(bad_low[:, 1:], low[:, 1:]) and torch.equal(bad_high[:, 1:], high[:, 1:])
    for i in range(1, 5):
        alone_low, alone_high = fourier.split(x[i : i + 1], [3, 6])
        assert torch.equal(alone_low[:, 0], low[:, i]) and torch.equal(alone_high[:, 0], high[:, i])
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
        fourier.split(x, 20)  # also when the disk keeps every bin (no FFT at all)
