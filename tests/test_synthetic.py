"""Synthetic power-law images: the measured spectrum has the requested slope; the spec grammar."""

from __future__ import annotations

import pytest
import torch

from freqlens import fourier
from freqlens.data import open_dataset
from freqlens.data.synthetic import from_spec, powerlaw_fields, powerlaw_images
from freqlens.errors import FreqlensError


@pytest.mark.parametrize("alpha", [1.0, 2.0, 3.0])
def test_measured_radial_power_slope_is_minus_alpha(alpha):
    fields = powerlaw_fields(400, 1, 32, 32, alpha, torch.Generator().manual_seed(0))
    profile, _ = fourier.radial_profile(fourier.power_map(fields)[0])
    slope, _ = fourier.loglog_slope(profile, 2, 14)
    assert slope == pytest.approx(-alpha, abs=0.1)  # round(|k|) bins mix radii, a small bias
    assert float(fields.var()) == pytest.approx(1.0, rel=0.03)
    assert float(profile[0]) < 1e-20  # DC removed


def test_images_keep_the_slope_and_lie_in_unit_range():
    s = open_dataset("synthetic:powerlaw?alpha=2.5&n=300&size=32&channels=3&seed=4", "train")
    assert s.images.min() >= 0 and s.images.max() <= 1 and s.images.dtype == torch.float32
    assert s.meta["clipped_fraction"] < 1e-3
    profile, _ = fourier.radial_profile(fourier.power_map(s.images.double()).mean(0))
    assert fourier.loglog_slope(profile, 2, 14)[0] == pytest.approx(-2.5, abs=0.08)


def test_class_dependent_spectra():
    s = from_spec("synthetic:powerlaw?alpha=2&spread=2&classes=2&n=400&size=16&channels=1", "train")
    assert s.meta["alphas"] == [1.0, 3.0]
    assert torch.bincount(s.labels).tolist() == [200, 200]
    slopes = []
    for cls in range(2):
        profile, _ = fourier.radial_profile(fourier.power_map(s.images[s.labels == cls].double())[0])
        slopes.append(fourier.loglog_slope(profile, 2, 6)[0])
    assert slopes[0] == pytest.approx(-1.0, abs=0.15) and slopes[1] == pytest.approx(-3.0, abs=0.15)


def test_seeds_and_splits():
    a = from_spec("synthetic:powerlaw?n=5&size=8&seed=1", "train")
    b = from_spec("synthetic:powerlaw?n=5&size=8&seed=1", "train")
    c = from_spec("synthetic:powerlaw?n=5&size=8&seed=1", "test")
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    assert from_spec("synthetic", "test").images.shape == (2000, 3, 32, 32)


@pytest.mark.parametrize(
    "spec", ["synthetic:pinknoise", "synthetic:powerlaw?beta=2", "synthetic:powerlaw?n=two", "synthetic:powerlaw?n=0"]
)
def test_bad_specs_are_rejected(spec):
    with pytest.raises(FreqlensError):
        open_dataset(spec, "train")


def test_bad_split_and_arguments():
    with pytest.raises(FreqlensError):
        from_spec("synthetic", "val")
    with pytest.raises(FreqlensError):
        powerlaw_images(n=4, size=8, contrast=0.0)
