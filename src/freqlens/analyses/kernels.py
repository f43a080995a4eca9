"""Convolution kernels: the HFC paper's kernel-smoothing defence (Eq. 3), smoothness statistics and kernel grids.

Smoothing (Wang et al. 2020, Eq. 3 and ``generateSmoothKernel`` in the official code)::

    w[i, j] <- w[i, j] + rho * sum of the 8 neighbours of (i, j) in the ORIGINAL kernel

i.e. ``scipy.signal.convolve2d(w, [[rho, rho, rho], [rho, 1, rho], [rho, rho, rho]], boundary="symm", mode="same")``
for every (out, in) pair. With a 3x3 mask, 'symm' needs one padding pixel, which is the edge value itself, so the
boundary rule is edge duplication for kernels of any size. There is no renormalisation: the kernel's DC gain grows by
up to ``1 + 8 rho`` (``normalize=True`` divides by ``1 + 8 rho`` instead). We act on the spatial axes ``(kh, kw)`` of
PyTorch's ``(out, in, kh, kw)`` weights; the official PyTorch port used TF's axis order by mistake and smoothed across
channels.

Smoothness statistic: each 2-D kernel is zero-padded to ``pad x pad`` (default 16x16), transformed with an
orthonormal FFT, and we report the fraction of its energy at radius ``|k| >= radius`` cycles per ``pad`` samples
(default 4, half the Nyquist radius 8). A smoother kernel has a smaller fraction. A second statistic is the mean
squared finite difference between horizontally and vertically adjacent weights over the mean squared weight.

Example:
    >>> w = torch.arange(9.0).view(1, 1, 3, 3)
    >>> smooth_kernels(w, 1.0)[0, 0].tolist()
    [[12.0, 18.0, 24.0], [30.0, 36.0, 42.0], [48.0, 54.0, 60.0]]
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor, nn

from freqlens import fourier
from freqlens.contract import AnalysisResult, register_analysis
from freqlens.errors import FreqlensError
from freqlens.plotting import plt

__all__ = [
    "conventions",
    "find_conv",
    "gradient_energy_ratio",
    "high_frequency_fraction",
    "kernel_grid",
    "kernel_rgb_grid",
    "kernels_analysis",
    "smooth_kernels",
    "smooth_model",
    "smoothness",
]


def _check_weight(weight: Tensor) -> None:
    if not isinstance(weight, Tensor) or weight.dim() != 4 or not weight.is_floating_point():
        shape = tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
        raise FreqlensError(f"kernels must be a float (out, in, kh, kw) tensor, got {shape}")


def smooth_kernels(weight: Tensor, rho: float, normalize: bool = False) -> Tensor:
    """Eq. 3 on the spatial axes of ``(out, in, kh, kw)`` weights; ``rho = 0`` returns an equal copy.

    Computed in float64 from the original weights (not sequentially) and cast back to the weights' dtype.
    """
    _check_weight(weight)
    if not math.isfinite(rho) or rho < 0:
        raise FreqlensError(f"rho must be a finite number >= 0, got {rho}")
    o, i, kh, kw = weight.shape
    w = weight.detach().to(torch.float64).reshape(o * i, 1, kh, kw)
    padded = F.pad(w, (1, 1, 1, 1), mode="replicate")  # == scipy 'symm' for a one-pixel border
    mask = torch.full((1, 1, 3, 3), float(rho), dtype=torch.float64, device=w.device)
    mask[0, 0, 1, 1] = 1.0
    out = F.conv2d(padded, mask)
    if normalize:
        out = out / (1 + 8 * rho)
    return out.reshape(o, i, kh, kw).to(weight.dtype)


def find_conv(model: nn.Module, layer: str | None = None) -> tuple[str, nn.Conv2d]:
    """The named ``Conv2d``: ``layer`` if given, else the model's first layer with weights (in registration order,
    which is forward order for the registry's models), which must be a ``Conv2d``."""
    named = dict(model.named_modules())
    if layer is not None:
        if layer not in named:
            convs = [n for n, m in named.items() if isinstance(m, nn.Conv2d)]
            raise FreqlensError(f"model has no layer {layer!r}; its Conv2d layers are {convs}")
        module = named[layer]
        if not isinstance(module, nn.Conv2d):
            raise FreqlensError(f"layer {layer!r} is a {type(module).__name__}, not a Conv2d; name a Conv2d layer")
        return layer, module
    for name, module in named.items():
        if any(True for _ in module.parameters(recurse=False)):
            if not isinstance(module, nn.Conv2d):
                raise FreqlensError(
                    f"the first layer with weights is {name!r} ({type(module).__name__}), not a Conv2d; "
                    "pass the name of a Conv2d layer"
                )
            return name, module
    raise FreqlensError("model has no layer with weights; kernel smoothing needs a Conv2d")


def smooth_model(model: nn.Module, rho: float, layer: str | None = None, normalize: bool = False) -> nn.Module:
    """A deep copy of ``model`` whose first ``Conv2d`` (or ``layer``) has smoothed kernels; ``model`` is unchanged.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3))
        >>> smoothed = smooth_model(net, 0.5)
        >>> torch.equal(smoothed[2].weight, net[2].weight), torch.equal(smoothed[0].weight, net[0].weight)
        (True, False)
    """
    copied = copy.deepcopy(model)
    _, conv = find_conv(copied, layer)
    with torch.no_grad():
        conv.weight.copy_(smooth_kernels(conv.weight, rho, normalize))
    return copied


def _padded_power(weight: Tensor, pad: int) -> Tensor:
    _check_weight(weight)
    kh, kw = weight.shape[-2:]
    if pad < max(kh, kw):
        raise FreqlensError(f"pad {pad} is smaller than the {kh}x{kw} kernels; use pad >= {max(kh, kw)}")
    spec = torch.fft.fft2(weight.detach().to(torch.float64), s=(pad, pad), norm="ortho")
    return torch.fft.fftshift(spec.real**2 + spec.imag**2, dim=(-2, -1))


def high_frequency_fraction(weight: Tensor, pad: int = 16, radius: float = 4.0) -> Tensor:
    """Per-kernel fraction ``(out, in)`` of spectral energy at ``|k| >= radius`` after zero-padding to ``pad x pad``.

    All-zero kernels give 0. A centred unit impulse has a flat spectrum, so its fraction is the share of bins at
    ``|k| >= radius``.

    Example:
        >>> delta = torch.zeros(1, 1, 3, 3); delta[0, 0, 1, 1] = 1
        >>> round(float(high_frequency_fraction(delta)), 4)  # 256 bins, 45 of them with |k| < 4
        0.8242
    """
    power = _padded_power(weight, pad)
    outside = fourier.radial_distance(pad, pad, power.device) >= radius
    total = power.sum(dim=(-2, -1))
    high = power[..., outside].sum(dim=-1)
    return torch.where(total > 0, high / total.clamp_min(torch.finfo(total.dtype).tiny), torch.zeros_like(total))


def gradient_energy_ratio(weight: Tensor) -> Tensor:
    """Per-kernel ``mean squared neighbour difference / mean squared weight`` (horizontal and vertical pairs).

    Example:
        >>> round(float(gradient_energy_ratio(torch.ones(1, 1, 3, 3))), 6)
        0.0
    """
    _check_weight(weight)
    w = weight.detach().to(torch.float64)
    diffs = torch.cat([(w[..., 1:, :] - w[..., :-1, :]).flatten(2), (w[..., :, 1:] - w[..., :, :-1]).flatten(2)], 2)
    if diffs.shape[-1] == 0:
        raise FreqlensError("gradient_energy_ratio needs kernels larger than 1x1")
    energy = (w * w).flatten(2).mean(dim=-1)
    ratio = (diffs * diffs).mean(dim=-1) / energy.clamp_min(torch.finfo(energy.dtype).tiny)
    return torch.where(energy > 0, ratio, torch.zeros_like(ratio))


def smoothness(weight: Tensor, pad: int = 16, radius: float = 4.0) -> dict[str, float]:
    """Summary statistics of a layer's kernels (means over the ``out x in`` kernels; smaller is smoother)."""
    hf = high_frequency_fraction(weight, pad, radius)
    power = _padded_power(weight, pad)
    outside = fourier.radial_distance(pad, pad, power.device) >= radius
    return {
        "hf_fraction_mean": float(hf.mean()),
        "hf_fraction_median": float(hf.median()),
        "hf_fraction_pooled": float(power[..., outside].sum() / power.sum().clamp_min(1e-300)),
        "gradient_energy_ratio_mean": float(gradient_energy_ratio(weight).mean()),
    }


def conventions(pad: int = 16, radius: float = 4.0) -> dict[str, str]:
    """The kernel conventions a result file records."""
    return {
        "smoothing": "Eq. 3: w + rho * (sum of 8 neighbours of the original w), edge duplication (scipy 'symm'), "
        "no renormalisation unless normalize=True (then / (1 + 8 rho)); spatial axes (kh, kw) of (out, in, kh, kw)",
        "smoothing_layer": "first layer with weights (must be Conv2d) unless a layer is named",
        "hf_fraction": f"energy at |k| >= {radius:g} of |FFT_ortho|^2 of each kernel zero-padded to {pad}x{pad}",
        "gradient_energy_ratio": "mean squared horizontal/vertical neighbour difference over mean squared weight",
    }


def square_columns(count: int, tile_h: int, tile_w: int) -> int:
    """How many tiles of ``tile_h`` x ``tile_w`` to put in a row so ``count`` of them make a roughly square grid.

    Example:
        >>> square_columns(64, 8, 8), square_columns(64, 8, 24), square_columns(3, 8, 8)
        (8, 5, 2)
    """
    return max(1, min(count, math.ceil(math.sqrt(count * tile_h / tile_w))))


def _mosaic(weight: Tensor) -> tuple[Tensor, int]:
    """``(out, in, kh, kw)`` -> one roughly square image and its number of columns of output channels: each output
    channel is a block of its ``in`` kernels side by side (one-pixel gutters); blocks in rows, two-pixel gutters."""
    o, i, kh, kw = weight.shape
    block_w = i * (kw + 1) - 1
    cols = square_columns(o, kh + 2, block_w + 2)
    rows = -(-o // cols)
    canvas = torch.full((rows * (kh + 2) - 2, cols * (block_w + 2) - 2), float("nan"))
    w = weight.detach().float().cpu()
    for k in range(o):
        r, c = divmod(k, cols)
        top, left = r * (kh + 2), c * (block_w + 2)
        for j in range(i):
            canvas[top : top + kh, left + j * (kw + 1) : left + j * (kw + 1) + kw] = w[k, j]
    return canvas, cols


def kernel_grid(kernels: Mapping[str, Tensor], pad: int = 16, radius: float = 4.0) -> Figure:
    """Side-by-side panels of ``(out, in, kh, kw)`` kernels, one per named entry, each a roughly square grid of
    output channels (each a block of its input channels' kernels, left to right), on a symmetric diverging scale per
    panel; titles give the HF fraction."""
    if not kernels:
        raise FreqlensError("kernel_grid needs at least one set of kernels")
    n = len(kernels)
    mosaics = {name: _mosaic(weight) for name, weight in kernels.items()}
    tall = max(m.shape[0] / m.shape[1] for m, _ in mosaics.values())
    side = 4.0
    fig, axes = plt.subplots(1, n, figsize=(side * n + 0.8, min(12.0, max(2.5, side * tall)) + 0.8), squeeze=False)
    for ax, (name, weight) in zip(axes[0], kernels.items(), strict=True):
        tiles, cols = mosaics[name]
        scale = float(torch.nan_to_num(tiles).abs().max()) or 1.0
        im = ax.imshow(tiles.numpy(), cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
        hf = float(high_frequency_fraction(weight, pad, radius).mean())
        ax.set_title(f"{name}: {weight.shape[0]} output channels\nHF fraction {hf:.3f}", fontsize=8)
        ax.set_xlabel(f"{cols} output channels per row; in each, input channels 0..{weight.shape[1] - 1}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=6)
    fig.tight_layout()
    return fig


def kernel_rgb_grid(kernels: Mapping[str, Tensor], per_row: int | None = None) -> Figure:
    """Side-by-side panels of 3-input-channel kernels shown as colour tiles (the HFC paper's Fig. 7 view): each output
    channel's ``(3, kh, kw)`` kernel becomes an RGB image ``0.5 + w / (2 max|w|)`` (scale shared within a panel), so
    a smooth kernel shows as patches of similar colour; ``per_row`` tiles a row (default: a square grid)."""
    if not kernels:
        raise FreqlensError("kernel_rgb_grid needs at least one set of kernels")
    n = len(kernels)
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.6), squeeze=False)
    for ax, (name, weight) in zip(axes[0], kernels.items(), strict=True):
        o, i, kh, kw = weight.shape
        if i != 3:
            raise FreqlensError(
                f"kernel_rgb_grid needs kernels with 3 input channels, {name!r} has {i}; use kernel_grid"
            )
        w = weight.detach().float().cpu()
        w = 0.5 + w / (2 * (float(w.abs().max()) or 1.0))
        cols = min(per_row, o) if per_row else square_columns(o, kh, kw)
        rows = -(-o // cols)
        canvas = torch.ones(rows * (kh + 1) - 1, cols * (kw + 1) - 1, 3)
        for k in range(o):
            r, c = divmod(k, cols)
            canvas[r * (kh + 1) : r * (kh + 1) + kh, c * (kw + 1) : c * (kw + 1) + kw] = w[k].permute(1, 2, 0)
        ax.imshow(canvas.numpy(), interpolation="nearest")
        ax.set_title(f"{name}\nHF fraction {float(high_frequency_fraction(weight).mean()):.3f}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def applies(model: Any, images: Any, params: Mapping[str, Any]) -> str | None:
    """Why the kernel analysis does not apply (None: it does): the model has no first ``Conv2d`` (or no named one)."""
    find_conv(model, params.get("layer"))
    return None


@register_analysis(
    "kernels",
    "Smoothness statistics and the kernel grid of the first convolution (or a named Conv2d)",
    test_params={},
    audit_order=3,
    applies=applies,
)
def kernels_analysis(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    layer: str | None = None,
    pad: int = 16,
    radius: float = 4.0,
) -> AnalysisResult:
    """Statistics of one layer's kernels (properties of fixed weights: exact numbers); images are not used."""
    name, conv = find_conv(model, layer)
    weight = conv.weight.detach().cpu()
    stats = smoothness(weight, pad, radius)
    figures = {"kernels": lambda: kernel_grid({name: weight}, pad, radius)}
    if weight.shape[1] == 3:
        figures["kernels_rgb"] = lambda: kernel_rgb_grid({name: weight})
    return AnalysisResult(
        "kernels",
        metrics={**stats, "layer": name},
        arrays={"weight": weight, "hf_fraction": high_frequency_fraction(weight, pad, radius)},
        figures=figures,
        conventions=conventions(pad, radius),
        params={"layer": name, "pad": pad, "radius": radius},
    )
