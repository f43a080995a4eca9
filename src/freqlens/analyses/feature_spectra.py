"""Spectra of intermediate feature maps, layer by layer: the relative log amplitude against frequency.

The figure of Park & Kim ("How do vision transformers work?", ICLR 2022) and the CNN papers after it: for each chosen
layer, the feature maps of the images (``(B, C, H, W)`` for a convolution, or a token grid ``(B, N, D)`` reshaped to
``(B, D, h, w)``; a leading class token is dropped) are Fourier transformed over space, their log amplitude
``log(|FFT(f)| + 1e-6)`` is averaged over images and channels, and read along the half diagonal of the centred spectrum,
from the DC term to the highest frequency. Subtracting the DC value gives the *relative* log amplitude, so layers with
different scales and sizes read on one axis: frequency in units of pi (0 = DC, 1 = Nyquist). A layer that passes high
frequencies (a convolution, typically) has a curve close to 0; a low-pass layer (pooling, self-attention) falls off.

Example:
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.AvgPool2d(2), torch.nn.Flatten(),
    ...                             torch.nn.Linear(4 * 4 * 4, 2))
    >>> spectra = feature_spectra(model, torch.rand(4, 3, 8, 8), layers=["0", "1"])
    >>> [tuple(c.shape) for c in spectra.curves.values()], float(spectra.curves["0"][0])
    ([(4,), (2,)], 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from freqlens import contract, fourier
from freqlens.contract import AnalysisResult, Estimate, register_analysis, subsample_note
from freqlens.errors import FreqlensError
from freqlens.plotting import plt

EPS = 1e-6  # added to the amplitude before the log, as in Park & Kim's code
MAX_LAYERS = 16  # default layer choice: at most this many, evenly spaced through the network


@dataclass
class FeatureSpectra:
    """Relative log amplitude per layer (``curves[name]``: values at frequencies 0, 1/m, ..., (m-1)/m times pi for
    a layer of spatial size 2m), the per-image values at the highest frequency, and the layers' shapes."""

    curves: dict[str, Tensor]
    highest: dict[str, Tensor]
    shapes: dict[str, tuple[int, ...]]
    images: int

    def frequencies(self, name: str) -> Tensor:
        """The frequency axis of layer ``name`` in units of pi."""
        m = self.curves[name].shape[0]
        return torch.arange(m, dtype=torch.float64) / m


def as_grid(output: Any) -> Tensor | None:
    """A layer output as ``(B, C, H, W)`` feature maps: 4-D as is; token grids ``(B, N, D)`` with N (or N - 1, a
    class token first) a square number reshaped to ``(B, D, h, w)``; anything else ``None`` (not a spatial map)."""
    if isinstance(output, (tuple, list)) and output:
        output = output[0]
    if not isinstance(output, Tensor) or not output.is_floating_point():
        return None
    if output.dim() == 4 and min(output.shape[-2:]) >= 2:
        return output
    if output.dim() == 3:
        b, n, d = output.shape
        for skip in (0, 1):
            side = math.isqrt(n - skip)
            if side >= 2 and side * side == n - skip:
                return output[:, skip:].transpose(1, 2).reshape(b, d, side, side)
    return None


def _candidates(model: nn.Module) -> list[str]:
    """Modules whose output may be a feature map: convolutions, and the blocks of sequential containers."""
    names = []
    for parent_name, parent in model.named_modules():
        if isinstance(parent, (nn.Sequential, nn.ModuleList)):
            names += [f"{parent_name}.{n}" if parent_name else n for n, _ in parent.named_children()]
    names += [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    order = {n: i for i, (n, _) in enumerate(model.named_modules())}
    return sorted({n for n in names if n in order}, key=order.__getitem__)


def _capture(model: nn.Module, names: Sequence[str], x: Tensor) -> dict[str, Tensor | None]:
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        sample = ", ".join(list(modules)[1:8])
        raise FreqlensError(
            f"the model has no layer {missing[0]!r}; name modules as model.named_modules() does ({sample}, ...)"
        )
    found: dict[str, Tensor | None] = {}

    def hook(name: str) -> Callable[..., None]:
        def record(_module: nn.Module, _inputs: Any, output: Any) -> None:
            grid = as_grid(output)
            found[name] = None if grid is None else grid.detach()

        return record

    handles = [modules[n].register_forward_hook(hook(n)) for n in names]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return found


def default_layers(model: nn.Module, probe: Tensor, limit: int = MAX_LAYERS) -> list[str]:
    """The layers :func:`feature_spectra` reads by default: those among convolutions and sequential blocks whose
    output on ``probe`` is a spatial map or token grid, at most ``limit`` evenly spaced (first and last kept)."""
    with torch.no_grad():
        outputs = _capture(model, _candidates(model), probe)
    spatial = [n for n, v in outputs.items() if v is not None]
    if not spatial:
        raise FreqlensError("no layer of the model outputs a feature map or token grid; name the layers to read")
    if len(spatial) > limit:
        picks = sorted({round(i * (len(spatial) - 1) / (limit - 1)) for i in range(limit)})
        spatial = [spatial[i] for i in picks]
    return spatial


def _half_diagonal(log_amp: Tensor) -> Tensor:
    """``(B, H, W)`` centred maps -> ``(B, m)`` values from DC along the diagonal towards the highest frequency."""
    h, w = log_amp.shape[-2:]
    m = min(h, w) // 2
    i = torch.arange(m, device=log_amp.device)
    return log_amp[:, h // 2 + i, w // 2 + i]


def feature_spectra(
    model: nn.Module,
    images: Tensor,
    *,
    layers: Sequence[str] | None = None,
    batch_size: int = 64,
    amp: bool = False,
    progress: bool = False,
) -> FeatureSpectra:
    """Relative log amplitude of the feature maps of ``layers`` (default :func:`default_layers`) over ``images``."""
    fourier.check_images(images)
    device, dtype = contract.placement(model, images)
    sums: dict[str, Tensor] = {}
    highest: dict[str, list[Tensor]] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    with contract.evaluating(model), torch.no_grad(), contract.autocast(device, amp):
        names = list(layers) if layers is not None else default_layers(model, images[:2].to(device, dtype))
        if not names:
            raise FreqlensError("no layers to read; name at least one")
        for part in contract.batch_slices(images.shape[0], batch_size, desc="feature spectra", progress=progress):
            outputs = _capture(model, names, images[part].to(device, dtype))
            for name in names:
                grid = outputs.get(name)
                if grid is None:
                    raise FreqlensError(f"layer {name!r} does not output a feature map or token grid; pick another")
                spectrum = torch.fft.fftshift(torch.fft.fft2(grid.float()), dim=(-2, -1))
                per_image = _half_diagonal(torch.log(spectrum.abs() + EPS).mean(dim=1))
                relative = (per_image - per_image[:, :1]).double().cpu()
                sums[name] = sums.get(name, 0) + relative.sum(dim=0)
                highest.setdefault(name, []).append(relative[:, -1])
                shapes[name] = tuple(grid.shape[1:])
    n = images.shape[0]
    return FeatureSpectra({k: v / n for k, v in sums.items()}, {k: torch.cat(v) for k, v in highest.items()}, shapes, n)


def spectra_figure(spectra: FeatureSpectra, title: str = "") -> Figure:
    """Relative log amplitude against frequency, one line per layer coloured by depth (Park & Kim's Fig. 2 style)."""
    fig, ax = plt.subplots(figsize=(5, 3.4))
    names = list(spectra.curves)
    cmap = plt.get_cmap("plasma")
    for i, name in enumerate(names):
        colour = cmap(i / max(1, len(names) - 1) * 0.9)
        ax.plot(spectra.frequencies(name), spectra.curves[name], color=colour, lw=1.3, label=name)
    ax.set_xlabel("frequency (× π)")
    ax.set_ylabel("Δ log amplitude")
    ax.set_xlim(0, 1)
    ax.set_title(title or "feature-map spectra by layer (dark: early, bright: late)", fontsize=9)
    if len(names) <= 12:
        ax.legend(fontsize=6, loc="lower left", ncol=2)
    fig.tight_layout()
    return fig


def applies(model: Any, images: Any, params: Mapping[str, Any]) -> str | None:
    """Why feature spectra do not apply (None: they do): with no layers named, the model has no spatial feature
    map."""
    if params.get("layers") is None:
        default_layers(model, images.images[:2].to(next(iter(model.parameters())).device))
    return None


@register_analysis(
    "feature_spectra",
    "relative log amplitude of intermediate feature maps against frequency, per layer",
    test_params={"batch_size": 3},
    audit_order=6,
    images_at_224=64,
    max_images=500,
    defaults=lambda h, w, classes, device: {"batch_size": 16},
    applies=applies,
)
def run_feature_spectra(
    model: nn.Module,
    images: Tensor,
    labels: Tensor | None = None,
    *,
    layers: Sequence[str] | None = None,
    n: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
    amp: bool = False,
    progress: bool = False,
) -> AnalysisResult:
    """:func:`feature_spectra` on ``n`` images drawn under ``seed`` as an analysis result: per-layer curves, and the
    drop at the highest frequency (mean over images with its standard error) as metrics."""
    index = contract.subsample_indices(images.shape[0], n, seed)
    images = images if index is None else images[index]
    spectra = feature_spectra(model, images, layers=layers, batch_size=batch_size, amp=amp, progress=progress)
    device, dtype = contract.placement(model, images)
    return AnalysisResult(
        "feature_spectra",
        metrics={f"highest/{k}": Estimate.mean_of(v, method="images") for k, v in spectra.highest.items()},
        arrays={f"curve/{k}": v for k, v in spectra.curves.items()},
        figures={"feature_spectra": lambda: spectra_figure(spectra)},
        conventions={
            "definition": "log(|fft2(feature map)| + 1e-6), centred, mean over images and channels, half diagonal "
            "from DC to the highest frequency, minus its DC value (Park & Kim 2022)",
            "fft_norm": "backward (unnormalised); the relative values do not depend on it",
            "token_grids": "(B, N, D) outputs with N or N - 1 square reshaped to (B, D, h, w); a class token dropped",
            "frequency_axis": "units of pi: index i of a layer of size 2m is frequency i/m",
            "precision": contract.precision_name(device, amp, dtype),
            "image_subsample": subsample_note(spectra.images, seed),
        },
        params={
            "layers": list(spectra.curves),
            "images": spectra.images,
            "shapes": {k: list(v) for k, v in spectra.shapes.items()},
            "seed": seed,
        },
    )
