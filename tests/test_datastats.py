"""Data statistics and model-vs-data comparison."""

from __future__ import annotations

import math

import pytest
import torch

from freqlens import fourier
from freqlens.analyses.datastats import (
    compare_profiles,
    map_mass,
    radial_distribution,
    radial_mass,
    spearman,
    spectrum_map,
)
from freqlens.data.synthetic import powerlaw_amplitude
from freqlens.errors import FreqlensError


def test_spectrum_map_chunking_and_primitives_agree():
    x = torch.rand(50, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(spectrum_map(x, "power", standardize=False, chunk=7), fourier.power_map(x))
    torch.testing.assert_close(spectrum_map(x, "amplitude", standardize=True, chunk=9), fourier.rms_amplitude_map(x))


def test_spectrum_of_filtered_noise_is_the_filter_squared():
    # White noise filtered by A has expected power A^2 at every bin (unitary FFT); 4000 images average it well.
    noise = torch.randn(4000, 1, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    amp = powerlaw_amplitude(16, 16, 2.0)
    fields = torch.fft.irfft2(torch.fft.rfft2(noise, norm="ortho") * amp, s=(16, 16), norm="ortho")
    measured = spectrum_map(fields, "power", standardize=False)[0]
    radius = fourier.radial_distance(16, 16)
    expected = torch.where(radius > 0, radius.clamp(min=1) ** -2.0, torch.zeros_like(radius))
    expected = expected / expected.mean()  # unit pixel variance
    rel = ((measured - expected).abs() / expected.clamp(min=1e-12))[expected > 0]
    assert float(rel.mean()) < 0.05


def test_radial_distribution_sums_channels_and_normalises():
    m = torch.zeros(3, 9, 9, dtype=torch.float64)
    m[0, 4, 5] = 2.0  # round(|k|) = 1 (centre at 4, 4): one of the 8 bins with |k| = 1 or sqrt(2)
    m[2, 4, 4] = 1.0  # DC
    p = radial_distribution(m)
    assert p.sum() == pytest.approx(1.0)
    assert float(p[1] / p[0]) == pytest.approx(0.25)  # mean 2/8 at radius 1 vs 1/1 at DC
    flat = radial_distribution(torch.ones(2, 16, 16), smooth=3)
    assert torch.allclose(flat, torch.full_like(flat, 1 / len(flat)))


def test_spearman_matches_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(2)
    a = torch.randint(0, 5, (40,), generator=g).double()
    b = a + torch.randint(0, 4, (40,), generator=g).double()
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a.numpy(), b.numpy()).statistic, abs=1e-12)
    assert spearman(a, -a) == pytest.approx(-1.0)


def test_compare_profiles_extremes():
    p = torch.tensor([0.0, 0.5, 0.3, 0.2])
    same = compare_profiles(p, p)
    assert same["spearman"] == pytest.approx(1.0) and same["js_divergence"] == pytest.approx(0.0, abs=1e-15)
    assert same["total_variation"] == pytest.approx(0.0) and same["cosine"] == pytest.approx(1.0)
    q = torch.tensor([0.0, 0.0, 0.0, 1.0])
    r = torch.tensor([0.0, 1.0, 0.0, 0.0])
    disjoint = compare_profiles(q, r, rmin=1)
    assert disjoint["js_divergence"] == pytest.approx(math.log(2)) and disjoint["total_variation"] == 1.0
    with pytest.raises(FreqlensError):
        compare_profiles(p, p[:3])


def test_mass_inside_a_square_and_a_band():
    flat = torch.ones(3, 32, 32)
    assert map_mass(flat, fourier.square_mask(32, 32, 8)) == pytest.approx(0.25)
    p = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    assert radial_mass(p, 1, 3) == pytest.approx(0.5)
    assert radial_mass(p, 0) == pytest.approx(1.0)
