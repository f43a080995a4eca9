"""Data frequency statistics and the model-vs-data comparison of Godfrey et al.

* :func:`spectrum_map`: a dataset's centred power map ``E|FFT_ortho(x)|^2`` or RMS amplitude map (Godfrey's
  ``empirical_power``: per-channel standardisation, then ``sqrt(E|FFT_ortho|^2)``), computed in chunks.
* :func:`radial_distribution`: any centred map (data power, sensitivity, heat map) reduced to a radial profile over
  integer radii ``round(|k|)``, channels summed, optionally smoothed, normalised to sum 1 (Godfrey's
  "distributions" mode).
* :func:`compare_profiles`: Spearman correlation, Jensen-Shannon divergence, total variation and cosine similarity of
  two radial distributions; :func:`radial_mass` and :func:`map_mass`: the share of a distribution or map inside a
  band or a centred mask (e.g. the square a high-pass filter removed).

Example:
    >>> import torch
    >>> p = radial_distribution(torch.ones(1, 8, 8))
    >>> round(float(p.sum()), 12), len(p)
    (1.0, 7)
    >>> round(spearman(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([10.0, 25.0, 20.0])), 12)
    0.5
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from freqlens import fourier
from freqlens.errors import FreqlensError

__all__ = [
    "compare_profiles",
    "map_mass",
    "radial_distribution",
    "radial_mass",
    "spearman",
    "spectrum_map",
]


def spectrum_map(
    images: Tensor,
    kind: Literal["power", "amplitude"] = "amplitude",
    standardize: bool = True,
    chunk: int = 2048,
) -> Tensor:
    """Centred per-channel spectrum of a dataset, ``(C, H, W)``, float64.

    ``kind="power"`` is ``E|FFT_ortho(z)|^2``; ``kind="amplitude"`` its square root (Godfrey's RMS amplitude map),
    where ``z`` is the images standardised per channel with the dataset's mean and std (``standardize=True``, as
    Godfrey) or the raw images.
    """
    fourier.check_images(images)
    if kind not in ("power", "amplitude"):
        raise FreqlensError(f"unknown spectrum kind {kind!r}; use power or amplitude")
    x = images.to(torch.float64)
    n = x.shape[0]
    total = torch.zeros(x.shape[1:], dtype=torch.float64, device=x.device)
    if standardize:
        mean = x.mean(dim=(0, 2, 3))
        std = x.std(dim=(0, 2, 3))
        if (std == 0).any():
            raise FreqlensError(
                "a channel is constant over the dataset, so it cannot be standardised; pass standardize=False"
            )
    for start in range(0, n, chunk):
        part = x[start : start + chunk]
        power = fourier.rms_amplitude_map(part, mean, std) ** 2 if standardize else fourier.power_map(part)
        total += power * part.shape[0]
    power = total / n
    return power if kind == "power" else power.sqrt()


def radial_distribution(values: Tensor, smooth: int = 0) -> Tensor:
    """Radial profile of a centred map ``(..., H, W)`` (leading dims such as channels summed), moving-average
    smoothed with window ``2 * smooth + 1`` (Godfrey uses 3 for CIFAR), normalised to sum 1. Shape ``(R,)``."""
    if values.dim() < 2:
        raise FreqlensError(f"need a centred map (..., H, W), got shape {tuple(values.shape)}")
    if smooth < 0:
        raise FreqlensError(f"smooth must be >= 0, got {smooth}")
    flat = values.to(torch.float64).reshape(-1, *values.shape[-2:]).sum(dim=0)
    profile, _ = fourier.radial_profile(flat)
    if smooth:
        kernel = torch.ones(1, 1, 2 * smooth + 1, dtype=torch.float64, device=profile.device)
        padded = torch.nn.functional.conv1d(profile.view(1, 1, -1), kernel, padding=smooth).flatten()
        counts = torch.nn.functional.conv1d(torch.ones_like(profile).view(1, 1, -1), kernel, padding=smooth)
        profile = padded / counts.flatten()
    total = profile.sum()
    if not torch.isfinite(total) or total <= 0:
        raise FreqlensError("the map has no positive mass, so it cannot be normalised to a distribution")
    return (profile / total).cpu()


def _ranks(v: Tensor) -> Tensor:
    """Ranks 0..n-1 with ties given their average rank."""
    order = torch.argsort(v, stable=True)
    ranks = torch.empty(v.shape[0], dtype=torch.float64)
    ranks[order] = torch.arange(v.shape[0], dtype=torch.float64)
    _, inverse = torch.unique(v, return_inverse=True)
    sums = torch.zeros(int(inverse.max()) + 1, dtype=torch.float64).index_add_(0, inverse, ranks)
    return (sums / torch.bincount(inverse).to(torch.float64))[inverse]


def spearman(a: Tensor, b: Tensor) -> float:
    """Spearman rank correlation of two 1-D tensors (average ranks for ties)."""
    a, b = a.detach().flatten().cpu().double(), b.detach().flatten().cpu().double()
    if a.shape != b.shape or a.numel() < 2:
        raise FreqlensError(f"spearman needs two equal-length vectors of length >= 2, got {a.numel()} and {b.numel()}")
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = float(ra.norm() * rb.norm())
    if denom == 0:
        raise FreqlensError("spearman is undefined when one vector is constant")
    return float((ra * rb).sum()) / denom


def compare_profiles(model: Tensor, data: Tensor, rmin: int = 1, rmax: int | None = None) -> dict[str, float]:
    """Compare a model's radial distribution with the data's over radii ``rmin..rmax`` (renormalised there).

    Returns ``spearman`` (rank correlation), ``js_divergence`` (Jensen-Shannon, natural log, in [0, ln 2]),
    ``total_variation`` (in [0, 1]) and ``cosine`` similarity.
    """
    if model.shape != data.shape or model.dim() != 1:
        raise FreqlensError(f"profiles must be 1-D and equal in length, got {tuple(model.shape)}, {tuple(data.shape)}")
    rmax = model.shape[0] - 1 if rmax is None else rmax
    if not 0 <= rmin < rmax < model.shape[0]:
        raise FreqlensError(f"radius range {rmin}..{rmax} must lie within 0..{model.shape[0] - 1}")
    p = model[rmin : rmax + 1].double().cpu()
    q = data[rmin : rmax + 1].double().cpu()
    if (p < 0).any() or (q < 0).any() or p.sum() <= 0 or q.sum() <= 0:
        raise FreqlensError("profiles must be non-negative with positive mass over the compared radii")
    p, q = p / p.sum(), q / q.sum()
    mid = (p + q) / 2

    def kl(a: Tensor, b: Tensor) -> float:
        keep = a > 0
        return float((a[keep] * (a[keep] / b[keep]).log()).sum())

    return {
        "spearman": spearman(p, q),
        "js_divergence": 0.5 * kl(p, mid) + 0.5 * kl(q, mid),
        "total_variation": float((p - q).abs().sum() / 2),
        "cosine": float((p * q).sum() / (p.norm() * q.norm())),
        "rmin": rmin,
        "rmax": rmax,
    }


def radial_mass(distribution: Tensor, inner: float = 0.0, outer: float = math.inf) -> float:
    """Share of a radial distribution (from :func:`radial_distribution`) at radii ``inner <= rho < outer``."""
    rho = torch.arange(distribution.shape[0], dtype=torch.float64)
    keep = (rho >= inner) & (rho < outer)
    return float(distribution.double().cpu()[keep].sum() / distribution.double().sum())


def map_mass(values: Tensor, mask: Tensor) -> float:
    """Share of a non-negative centred map's total (leading dims summed) inside a centred boolean mask ``(H, W)``."""
    flat = values.to(torch.float64).reshape(-1, *values.shape[-2:]).sum(dim=0)
    if mask.shape != flat.shape:
        raise FreqlensError(f"mask shape {tuple(mask.shape)} does not match the map's {tuple(flat.shape)}")
    total = flat.sum()
    if total <= 0:
        raise FreqlensError("the map has no positive mass")
    return float(flat[mask.to(flat.device)].sum() / total)
