"""Feature-map spectra: exact values on planted patterns, token grids, layer choice, errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from freqlens.analyses.feature_spectra import as_grid, default_layers, feature_spectra, run_feature_spectra
from freqlens.errors import FreqlensError


class Planted(nn.Module):
    """Ignores its input and returns 1 + cos(2 pi k (x + y) / n) on every channel (plus an identity branch)."""

    def __init__(self, n: int, k: int) -> None:
        super().__init__()
        grid = torch.arange(n, dtype=torch.float64)
        pattern = 1 + torch.cos(2 * math.pi * k * (grid[:, None] + grid[None, :]) / n)
        self.register_buffer("pattern", pattern.float())
        self.maps = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.maps(self.pattern.expand(x.shape[0], 2, -1, -1))
        return feats.flatten(1)[:, :3]


def test_planted_cosine_gives_exact_relative_log_amplitudes():
    n, k = 16, 3
    spectra = feature_spectra(Planted(n, k), torch.rand(3, 1, n, n), layers=["maps"])
    curve = spectra.curves["maps"]
    # FFT of 1 + cos: n^2 at DC, n^2 / 2 at (k, k) and (-k, -k), (numerically) zero elsewhere on the diagonal
    assert curve.shape == (n // 2,) and curve[0] == 0
    assert curve[k] == pytest.approx(math.log(n * n / 2) - math.log(n * n), abs=1e-5)
    others = [i for i in range(1, n // 2) if i != k]
    assert (curve[others] < math.log(1e-3)).all()  # empty bins: float32 rounding far below the planted peak
    assert spectra.frequencies("maps").tolist() == [i / (n // 2) for i in range(n // 2)]


def test_token_grid_with_class_token_reads_like_the_map():
    maps = torch.randn(2, 5, 4, 4)
    tokens = torch.cat([torch.randn(2, 1, 5), maps.flatten(2).transpose(1, 2)], dim=1)  # (B, 1 + 16, D)
    assert torch.equal(as_grid(tokens), maps)
    assert as_grid(torch.randn(2, 7, 5)) is None and as_grid(torch.randn(2, 5)) is None


def test_pooling_is_low_pass_relative_to_a_convolution_on_noise():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.AvgPool2d(3, stride=1, padding=1), nn.Flatten())
    spectra = feature_spectra(model, torch.randn(16, 3, 16, 16), layers=["0", "1"])
    assert spectra.curves["1"][-1] < spectra.curves["0"][-1] - 1.0
    assert spectra.highest["1"].shape == (16,)


def test_default_layers_and_errors():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 2))
    assert default_layers(model, torch.rand(2, 3, 8, 8)) == ["0", "1"]  # the flattened outputs are not maps
    with pytest.raises(FreqlensError, match="no layer 'nope'"):
        feature_spectra(model, torch.rand(2, 3, 8, 8), layers=["nope"])
    with pytest.raises(FreqlensError, match="does not output a feature map"):
        feature_spectra(model, torch.rand(2, 3, 8, 8), layers=["3"])


def test_result_metrics_carry_image_noise():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten())
    result = run_feature_spectra(model, torch.rand(5, 3, 8, 8), torch.zeros(5, dtype=torch.long), layers=["0"])
    est = result.metrics["highest/0"]
    assert est.n == 5 and est.stderr > 0 and result.params["shapes"] == {"0": [4, 8, 8]}
