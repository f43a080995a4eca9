"""Kernel smoothing (HFC paper Eq. 3, check A3) and kernel smoothness statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.signal import convolve2d
from torch import nn

from freqlens.analyses.kernels import (
    find_conv,
    gradient_energy_ratio,
    high_frequency_fraction,
    kernel_grid,
    kernel_rgb_grid,
    smooth_kernels,
    smooth_model,
    smoothness,
)
from freqlens.errors import FreqlensError
from freqlens.provenance import save_figure

E9 = torch.arange(9, dtype=torch.float64).view(1, 1, 3, 3)


def test_e9_test_vector_rho_one_tenth():
    expected = torch.tensor([[1.2, 2.7, 4.2], [5.7, 7.2, 8.7], [10.2, 11.7, 13.2]], dtype=torch.float64)
    assert torch.allclose(smooth_kernels(E9, 0.1)[0, 0], expected, rtol=0, atol=1e-12)


def test_e9_test_vector_rho_one():
    expected = torch.tensor([[12, 18, 24], [30, 36, 42], [48, 54, 60]], dtype=torch.float64)
    assert torch.equal(smooth_kernels(E9, 1.0)[0, 0], expected)
    assert torch.equal(smooth_kernels(E9, 1.0, normalize=True)[0, 0], expected / 9)


def test_rho_zero_is_the_identity():
    w = torch.randn(16, 3, 3, 3)
    out = smooth_kernels(w, 0.0)
    assert torch.equal(out, w) and out.dtype == w.dtype and out.data_ptr() != w.data_ptr()


def reference(w: np.ndarray, rho: float) -> np.ndarray:
    """The official code: scipy convolve2d with boundary='symm' per (out, in) pair."""
    mask = np.full((3, 3), rho)
    mask[1, 1] = 1.0
    out = np.empty_like(w)
    for o in range(w.shape[0]):
        for i in range(w.shape[1]):
            out[o, i] = convolve2d(w[o, i], mask, boundary="symm", mode="same")
    return out


@pytest.mark.parametrize("size", [(3, 3), (5, 5), (7, 7), (2, 4), (1, 1), (4, 1)])
@pytest.mark.parametrize("rho", [0.1, 0.25, 1.0, 3.7])
def test_matches_scipy_symm_on_the_spatial_axes(size, rho):
    w = torch.randn(4, 3, *size, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    expected = torch.from_numpy(reference(w.numpy(), rho))
    assert torch.allclose(smooth_kernels(w, rho), expected, rtol=0, atol=1e-12)
    assert torch.allclose(smooth_kernels(w, rho, normalize=True), expected / (1 + 8 * rho), rtol=0, atol=1e-12)


def test_channels_are_not_mixed():
    w = torch.zeros(2, 3, 3, 3, dtype=torch.float64)
    w[1, 2, 1, 1] = 1.0  # one impulse in one (out, in) pair
    out = smooth_kernels(w, 0.5)
    assert torch.equal(
        out[1, 2], torch.tensor([[0.5, 0.5, 0.5], [0.5, 1.0, 0.5], [0.5, 0.5, 0.5]], dtype=torch.float64)
    )
    out[1, 2] = 0
    assert not out.any()


class Normalize(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.mean


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        Normalize(), nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 5), nn.Flatten()
    )


def test_smooth_model_changes_only_the_first_conv_of_a_copy():
    model = net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    smoothed = smooth_model(model, 0.25)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # input untouched
    changed = {k for k, v in smoothed.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"1.weight"}
    assert torch.allclose(smoothed[1].weight, smooth_kernels(model[1].weight, 0.25))


def test_smooth_model_on_a_named_layer():
    model = net()
    smoothed = smooth_model(model, 1.0, layer="4")
    assert torch.equal(smoothed[1].weight, model[1].weight)
    assert torch.allclose(smoothed[4].weight, smooth_kernels(model[4].weight, 1.0))
    assert find_conv(model) == ("1", model[1])


@pytest.mark.parametrize(
    ("model", "kwargs", "match"),
    [
        (nn.Sequential(nn.Flatten(), nn.Linear(12, 2), nn.Conv2d(1, 1, 3)), {}, r"'1' \(Linear\)"),
        (net(), {"layer": "2"}, "BatchNorm2d, not a Conv2d"),
        (net(), {"layer": "conv9"}, "no layer 'conv9'"),
        (net(), {"rho": -0.1}, "rho"),
        (nn.Sequential(nn.ReLU()), {}, "no layer with weights"),
    ],
)
def test_bad_smoothing_requests_are_rejected(model, kwargs, match):
    rho = kwargs.pop("rho", 0.5)
    with pytest.raises(FreqlensError, match=match):
        smooth_model(model, rho, **kwargs)


def test_high_frequency_fraction_of_analytic_kernels():
    delta = torch.zeros(1, 1, 3, 3)
    delta[0, 0, 1, 1] = 1
    ky, kx = torch.meshgrid(torch.arange(16) - 8, torch.arange(16) - 8, indexing="ij")
    outside = int(((ky**2 + kx**2) >= 16).sum())
    assert float(high_frequency_fraction(delta)) == pytest.approx(outside / 256, abs=1e-12)
    checker = torch.tensor([[1.0, -1, 1], [-1, 1, -1], [1, -1, 1]]).view(1, 1, 3, 3)
    flat = torch.ones(1, 1, 3, 3)
    assert float(high_frequency_fraction(checker)) > 0.75 > 0.25 > float(high_frequency_fraction(flat))
    assert float(high_frequency_fraction(torch.zeros(1, 1, 3, 3))) == 0.0
    assert float(gradient_energy_ratio(checker)) == pytest.approx(4.0)
    assert float(gradient_energy_ratio(flat)) == 0.0


def test_smoothing_lowers_every_statistic():
    w = torch.randn(16, 3, 3, 3, generator=torch.Generator().manual_seed(2))
    before, after = smoothness(w), smoothness(smooth_kernels(w, 1.0))
    assert set(before) == {"hf_fraction_mean", "hf_fraction_median", "hf_fraction_pooled", "gradient_energy_ratio_mean"}
    assert all(after[k] < before[k] for k in before)


def test_kernel_grid_draws_one_panel_per_model(tmp_path):
    model = net()
    fig = kernel_grid({"natural": model[1].weight, "smoothed": smooth_model(model, 1.0)[1].weight})
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 2 and titles[0].startswith("natural: ") and "\nHF fraction" in titles[0]
    assert save_figure(fig, tmp_path / "k.png").stat().st_size > 0


def test_kernel_grid_is_roughly_square_for_many_output_channels():
    """64 output channels of 3 input channels (a ResNet-18 stem) tile a near-square grid, not a 64-row strip."""
    weight = torch.randn(64, 3, 7, 7)
    tiles = kernel_grid({"conv1": weight}).axes[0].images[0].get_array()
    assert 0.5 < tiles.shape[0] / tiles.shape[1] < 2
    first = tiles[:7, :7]
    assert np.allclose(first, weight[0, 0].numpy())  # output 0, input 0 at the top left
    assert np.allclose(tiles[:7, 8:15], weight[0, 1].numpy())  # its input 1 to the right


def test_rgb_grid_needs_three_input_channels(tmp_path):
    model = net()
    fig = kernel_rgb_grid({"a": model[1].weight, "b": smooth_model(model, 0.5)[1].weight}, per_row=2)
    assert len(fig.axes) == 2 and fig.axes[0].images[0].get_array().shape == (2 * 4 - 1, 2 * 4 - 1, 3)
    save_figure(fig, tmp_path / "rgb.png")
    with pytest.raises(FreqlensError, match="3 input channels"):
        kernel_rgb_grid({"deep": model[4].weight})
