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
from collections.abc import Mapping, Sequence
from typing import Literal

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from freqlens import fourier
from freqlens.contract import AnalysisResult, register_analysis, subsample, subsample_note
from freqlens.errors import FreqlensError
from freqlens.plotting import plt

__all__ = [
    "compare_profiles",
    "datastats_analysis",
    "map_axes",
    "map_mass",
    "profile_figure",
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


def profile_figure(
    profiles: Mapping[str, Tensor],
    data: Tensor | None = None,
    data_label: str = "data",
    marks: Sequence[float] = (),
    title: str = "",
) -> Figure:
    """Radial distributions on log-log axes (Godfrey's plots): one line per model, the data's dashed in black.

    ``marks`` draws vertical lines (e.g. a high-pass cutoff). Radius 0 cannot be shown on a log axis and is left out.
    """
    if not profiles and data is None:
        raise FreqlensError("profile_figure needs at least one profile")
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    for name, p in profiles.items():
        rho = torch.arange(1, len(p))
        ax.loglog(rho.numpy(), p[1:].clamp_min(1e-30).numpy(), "o-", ms=2.5, lw=1.2, label=name)
    if data is not None:
        rho = torch.arange(1, len(data))
        ax.loglog(rho.numpy(), data[1:].clamp_min(1e-30).numpy(), "k--", lw=1.5, label=data_label)
    for m in marks:
        ax.axvline(m, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("radius |k| (cycles / image)")
    ax.set_ylabel("share of radial profile")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def map_axes(ax: Axes, values: Tensor, title: str, log: bool = True, cmap: str = "magma") -> None:
    """Draw a centred ``(H, W)`` map with frequency coordinates (ky down, kx across) and a colour bar."""
    h, w = values.shape[-2:]
    shown = values.detach().double().cpu()
    if log:
        floor = float(shown.max()) * 1e-6 if float(shown.max()) > 0 else 1e-30
        shown = shown.clamp_min(floor).log10()
    extent = (-(w // 2) - 0.5, w - w // 2 - 0.5, h - h // 2 - 0.5, -(h // 2) - 0.5)
    im = ax.imshow(shown.numpy(), cmap=cmap, extent=extent, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("kx", fontsize=7)
    ax.set_ylabel("ky", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=6)


@register_analysis(
    "datastats",
    "The data's spectrum: centred power map, radial profile and its log-log slope",
    needs_model=False,
    test_params={"n": 6},
)
def datastats_analysis(
    model: object,
    images: Tensor,
    labels: Tensor,
    *,
    standardize: bool = True,
    smooth: int = 0,
    band: float | None = None,
    fit_min: int = 2,
    fit_max: int | None = None,
    n: int | None = None,
    seed: int = 0,
) -> AnalysisResult:
    """Power spectrum ``E|FFT_ortho(z)|^2`` of ``n`` images drawn under ``seed`` (``model`` is ignored).

    Metrics: ``slope`` of the radial power profile (channels averaged) on log-log axes over ``fit_min..fit_max``
    (default up to H//2 - 2), and ``low_fraction``, the share of the non-DC power at ``|k| <= band`` (default H//4).
    """
    x, _ = subsample(images, labels, n, seed)
    power = spectrum_map(x, "power", standardize)
    h, w = power.shape[-2:]
    profile, counts = fourier.radial_profile(power.mean(dim=0))
    top = fit_max if fit_max is not None else max(min(h, w) // 2 - 2, fit_min + 1)
    slope, intercept = fourier.loglog_slope(profile, fit_min, top)
    cut = min(h, w) / 4 if band is None else band
    distance = fourier.radial_distance(h, w)
    flat = power.sum(dim=0)
    low_fraction = float(flat[(distance > 0) & (distance <= cut)].sum() / flat[distance > 0].sum())
    distribution = radial_distribution(power, smooth)

    def figure() -> Figure:
        fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.5))
        map_axes(axes[0], flat, "log10 power, channels summed")
        rho = torch.arange(1, len(profile))
        axes[1].loglog(rho.numpy(), profile[1:].numpy(), "o-", ms=3, label="data")
        fitted = torch.exp(intercept + slope * torch.log(rho.double()))
        axes[1].loglog(rho.numpy(), fitted.numpy(), "--", label=f"slope {slope:.2f}")
        axes[1].set_xlabel("radius |k| (cycles / image)")
        axes[1].set_ylabel("mean power")
        axes[1].legend(fontsize=7)
        fig.tight_layout()
        return fig

    return AnalysisResult(
        "datastats",
        metrics={"slope": slope, "low_fraction": low_fraction, "images": x.shape[0]},
        arrays={"power": power, "profile": profile, "counts": counts, "distribution": distribution},
        figures={"spectrum": figure},
        conventions={
            **fourier.conventions(),
            "power": "mean over images of |FFT_ortho(z)|^2 per channel; profile: channels averaged, mean per "
            "round(|k|) bin",
            "standardized": "z = images standardised per channel over the images" if standardize else "z = images",
            "slope_fit": f"least squares of log power on log radius over {fit_min}..{top}",
            "image_subsample": subsample_note(x.shape[0], seed),
        },
        params={
            "standardize": standardize,
            "smooth": smooth,
            "band": cut,
            "fit_range": [fit_min, top],
            "n": x.shape[0],
        },
    )
