"""The spectrum of adversarial perturbations on linear models, where the perturbation is known in closed form."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from freqlens import fourier
from freqlens.analyses.perturbations import perturbation_spectrum, spectrum_figure
from freqlens.errors import FreqlensError
from freqlens.provenance import save_figure


def cosine_model(ky: int, kx: int, size: int = 16) -> nn.Module:
    """Two-class linear model whose weight difference is a cosine at frequency (ky, kx) on every channel, phase-shifted
    by pi / 16 so that it never vanishes on the pixel grid."""
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    wave = torch.cos(2 * math.pi * (ky * y + kx * x) / size + math.pi / 16).double()
    lin = nn.Linear(3 * size * size, 2).double()
    with torch.no_grad():
        lin.weight.zero_()
        lin.weight[1] = wave.expand(3, size, size).flatten()
        lin.bias.zero_()
    return nn.Sequential(nn.Flatten(), lin)


@pytest.fixture
def batch():
    x = 0.4 + 0.2 * torch.rand(10, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    return x, torch.arange(10) % 2


def test_l2_perturbation_of_a_cosine_model_sits_at_the_cosine_radius(batch):
    x, y = batch
    s = perturbation_spectrum(
        cosine_model(3, 4),
        x,
        y,
        attack="pgd",
        eps=0.5,
        norm="l2",
        steps=3,
        step_size=0.5,
        random_start=False,
        progress=False,
    )
    share = s.energy_fraction()
    assert float(share[5]) == pytest.approx(1.0, abs=1e-12)  # |(3, 4)| = 5
    assert s.mean_l2 == pytest.approx(0.5, abs=1e-12)
    assert s.fooled == pytest.approx(1.0)  # a huge step along the decision direction flips every image


def test_parseval_for_fgsm(batch):
    x, y = batch
    s = perturbation_spectrum(cosine_model(1, 2), x, y, attack="fgsm", eps=0.03, progress=False)
    # FGSM moves every pixel by exactly eps, since the gradient never vanishes.
    assert float(s.power.sum()) * 3 == pytest.approx(0.03**2 * 3 * 256, rel=1e-10)
    assert s.mean_linf == pytest.approx(0.03)
    assert int(s.counts.sum()) == 256 and s.images == 10


def test_band_limited_attack_has_no_energy_outside_the_band(batch):
    x, y = batch
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 256, 2)).double()
    s = perturbation_spectrum(model, x, y, attack="pgd", eps=0.02, band="lfc:4", steps=3, progress=False)
    inside = fourier.disk_mask(16, 16, 4)
    assert float(s.power[~inside].sum()) < 1e-20 * float(s.power.sum())


def test_figure_and_bad_input(tmp_path, batch):
    x, y = batch
    spectra = {
        name: perturbation_spectrum(cosine_model(*k), x, y, attack="fgsm", eps=0.01, progress=False)
        for name, k in {"low": (1, 0), "high": (6, 6)}.items()
    }
    assert spectra["low"].energy_fraction()[1] > spectra["high"].energy_fraction()[1]
    assert save_figure(spectrum_figure(spectra), tmp_path / "s.png").stat().st_size > 0
    with pytest.raises(FreqlensError, match="labels"):
        perturbation_spectrum(cosine_model(1, 0), x, y[:3], progress=False)
    with pytest.raises(FreqlensError, match="batch size"):
        perturbation_spectrum(cosine_model(1, 0), x, y, batch_size=0, progress=False)
