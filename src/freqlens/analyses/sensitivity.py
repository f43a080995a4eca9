"""Fourier gradient sensitivity (Godfrey et al. ``fourier_grad_sens``; Krishnamachari et al.'s Fourier sensitivity).

For an image ``x`` and output ``f_k`` (a logit, or the loss), the sensitivity of ``f_k`` to the Fourier coefficient
``x_hat[xi]`` of the unitary DFT is ``|FFT_ortho(grad_x f_k)[xi]|``: treating the spectrum as the input and evaluating
the model at ``real(ifft2(x_hat))`` gives exactly this magnitude. So we never build a Jacobian with respect to the
spectrum: one backward pass per output (one for the loss) and one FFT per batch suffice.

Per-image maps, per channel, over the outputs ``k``:

* ``meannorm`` (Godfrey's default): ``m = sqrt(sum_k |G_k|^2)``, averaged over images; std over images.
* ``rms``: ``q = mean_k |G_k|^2``; the map is ``sqrt(mean_images q)`` and its std comes from the delta method.

Maps are centred (DC at ``(H//2, W//2)``). The model is evaluated in eval mode (batch statistics would couple images)
and every submodule's own mode is restored afterwards; parameter gradients are never accumulated.

Example:
    >>> import torch
    >>> beta = torch.randn(1, 1, 4, 4, dtype=torch.float64)
    >>> model = lambda x: (x * beta).sum(dim=(1, 2, 3)).unsqueeze(1)  # f(x) = <beta, x>
    >>> maps = fourier_sensitivity(model, torch.rand(3, 1, 4, 4, dtype=torch.float64))
    >>> expected = torch.fft.fftshift(torch.fft.fft2(beta[0], norm="ortho").abs(), dim=(-2, -1))
    >>> bool(torch.allclose(maps.mean, expected)), float(maps.std.abs().max()) < 1e-12
    (True, True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor

from freqlens import fourier
from freqlens.analyses import datastats
from freqlens.checks import check_labels, check_logits
from freqlens.contract import (
    AnalysisResult,
    Estimate,
    Metric,
    batch_slices,
    check_batch_size,
    count_correct,
    evaluating,
    placement,
    precision_name,
    register_analysis,
    subsample,
    subsample_note,
)
from freqlens.errors import FreqlensError
from freqlens.plotting import plt
from freqlens.views import View, apply_in_chunks

__all__ = [
    "METRICS",
    "TARGETS",
    "SensitivityMaps",
    "comparison_figure",
    "fourier_sensitivity",
    "gradient_power",
    "model_vs_data",
]

EXACT_LOGITS_MAX = 10  # the audit sums every logit's gradient up to this many classes; beyond, random projections
PROJECTIONS = 4  # random projections of the logits per image for the audit's sensitivity estimate
TARGETS: tuple[str, ...] = ("logits", "loss", "true_logit", "projection")
TARGET_DEFINITIONS = {
    "logits": "every logit: sum_k |FFT_ortho(grad_x f_k)|^2 (exact)",
    "loss": "the summed cross-entropy against the labels",
    "true_logit": "the logit of each image's true class",
    "projection": "random projections of the logits: mean over P Rademacher vectors v of |FFT_ortho(grad_x <v, f>)|^2, "
    "an unbiased estimate of the 'logits' power (E[v v^T] = I); unbiased for the rms metric",
}
METRICS: tuple[str, ...] = ("meannorm", "rms")


@dataclass(frozen=True)
class SensitivityMaps:
    """Mean and std (over images) of the per-channel Fourier sensitivity, centred, shape ``(C, H, W)``, float64."""

    mean: Tensor
    std: Tensor
    metric: str
    target: str
    images: int

    def summary(self) -> dict[str, Any]:
        """The parameters that define these maps (for result files)."""
        return {
            "metric": self.metric,
            "target": self.target,
            "images": self.images,
            "definition": "|FFT_ortho(grad_x f)| per channel; meannorm = L2 over outputs then mean over images; "
            "rms = sqrt(mean over images and outputs of |.|^2)",
        }


def projection_vectors(projections: int, n: int, k: int, generator: torch.Generator | None = None) -> Tensor:
    """``(P, N, K)`` Rademacher (+-1) vectors, drawn on the CPU from ``generator``: ``E[v v^T] = I`` per image."""
    if isinstance(projections, bool) or not isinstance(projections, int) or projections <= 0:
        raise FreqlensError(f"the number of projections must be a positive integer, got {projections!r}")
    return torch.randint(0, 2, (projections, n, k), generator=generator).mul_(2).sub_(1).to(torch.float32)


def gradient_power(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    labels: Tensor | None = None,
    target: str = "logits",
    projections: int = 4,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, int]:
    """Per-image ``sum_k |FFT_ortho(grad_x f_k)|^2`` for one batch: ``(N, C, H, W)`` (not centred), and the number
    of outputs ``K`` it sums over (the number of logits; 1 for the summed cross-entropy loss or the true logit).

    ``target="projection"`` estimates the logits' sum without one backward pass per logit: for ``projections``
    Rademacher vectors ``v`` (from ``generator``), ``|FFT_ortho(grad_x <v, f>)|^2`` averaged over the vectors, whose
    expectation is exactly the ``"logits"`` power (the cross terms have mean zero).

    The model must already be in the mode you want (use :func:`fourier_sensitivity` for eval mode handling).
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = check_logits(model(x), x.shape[0], labels.to(x.device) if labels is not None else None)
        if target in ("loss", "true_logit"):
            if labels is None:
                raise FreqlensError(f"target={target!r} needs labels; pass the labels or use target='logits'")
            y = labels.to(out.device)
            outputs = [
                F.cross_entropy(out, y, reduction="sum") if target == "loss" else out.gather(1, y[:, None]).sum()
            ]
        elif target == "projection":
            n, k = out.shape
            vectors = projection_vectors(projections, n, k, generator).to(out.device, out.dtype)
            outputs = [(out * v).sum() for v in vectors]
        else:
            outputs = [out[:, k].sum() for k in range(out.shape[1])]
        grads = [torch.autograd.grad(o, x, retain_graph=i < len(outputs) - 1)[0] for i, o in enumerate(outputs)]
    spectra = torch.fft.fft2(torch.stack(grads), norm="ortho")
    power = (spectra.real**2 + spectra.imag**2).sum(dim=0)
    if target == "projection":
        return power / len(outputs), out.shape[1]
    return power, out.shape[1] if target == "logits" else 1


def fourier_sensitivity(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    labels: Tensor | None = None,
    *,
    target: str = "logits",
    metric: str = "meannorm",
    batch_size: int = 64,
    device: torch.device | str | None = None,
    progress: bool = False,
    projections: int = 4,
    seed: int = 0,
    each_batch: Callable[[Tensor], None] | None = None,
) -> SensitivityMaps:
    """Mean and std over ``images`` of the Fourier gradient sensitivity maps (see the module docstring).

    ``images`` are ``(N, C, H, W)`` in the model's input space ([0, 1] for freqlens models), moved batch by batch to
    ``device`` (default: where the model's parameters are) in the model's parameter dtype. ``each_batch``, if given,
    is called with every batch's per-image maps (``(B, C, H, W)``, the metric's per-image quantity, centred, float64
    on the CPU), for statistics over images beyond the mean and std (Godfrey's bootstrap keeps per-image profiles).
    """
    fourier.check_images(images)
    if target not in TARGETS:
        raise FreqlensError(f"unknown target {target!r}; use one of {', '.join(TARGETS)}")
    if metric not in METRICS:
        raise FreqlensError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    if target in ("loss", "true_logit") and labels is None:
        raise FreqlensError(f"target={target!r} needs labels; pass the labels or use target='logits'")
    generator = torch.Generator().manual_seed(seed)  # the projection vectors, batch after batch
    if labels is not None:
        check_labels(labels, images.shape[0])
    check_batch_size(batch_size)
    home, dtype = placement(model, images)
    device = home if device is None else torch.device(device)
    n = images.shape[0]
    mean = torch.zeros(images.shape[1:], dtype=torch.float64, device=device)
    m2 = torch.zeros_like(mean)  # sum of squared deviations from the mean (Chan et al.'s parallel update)
    seen = 0
    outputs = 1
    with evaluating(model):
        for part in batch_slices(n, batch_size, desc="sensitivity", progress=progress):
            x = images[part].to(device=device, dtype=dtype)
            y = labels[part].to(device) if labels is not None else None
            power, outputs = gradient_power(model, x, y, target, projections, generator)
            per_image = power.sqrt() if metric == "meannorm" else power / outputs
            per_image = per_image.to(torch.float64)
            if each_batch is not None:
                each_batch(_centred(per_image))
            b = per_image.shape[0]
            batch_mean = per_image.mean(dim=0)
            delta = batch_mean - mean
            m2 += ((per_image - batch_mean) ** 2).sum(dim=0) + delta**2 * (seen * b / (seen + b))
            mean += delta * (b / (seen + b))
            seen += b
    var = m2 / n
    if metric == "meannorm":
        m, s = mean, var.sqrt()
    else:
        m = mean.sqrt()
        s = torch.where(m > 0, var.sqrt() / (2 * m.clamp(min=torch.finfo(m.dtype).tiny)), torch.zeros_like(m))
    return SensitivityMaps(_centred(m), _centred(s), metric, target, n)


def _centred(t: Tensor) -> Tensor:
    return torch.fft.fftshift(t, dim=(-2, -1)).cpu()


def model_vs_data(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    labels: Tensor,
    *,
    view: str | View = "original",
    data_images: Tensor | None = None,
    data_spectrum: str = "amplitude",
    standardize: bool = True,
    target: str = "logits",
    metric: str = "meannorm",
    projections: int = 4,
    smooth: int = 0,
    band: float = 8.0,
    square: int | None = None,
    n: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> AnalysisResult:
    """Godfrey's model-vs-data comparison: the model's Fourier sensitivity against the data's spectrum.

    ``n`` images are drawn (:func:`freqlens.contract.subsample`) and filtered by ``view``; the sensitivity maps are
    measured on them, the data spectrum (``amplitude``: Godfrey's RMS amplitude, or ``power``; standardised per
    channel unless ``standardize=False``) on ``data_images`` (filtered by the same view; default: the same images).
    Both become radial distributions (moving average ``smooth``) and are compared. ``band``: profile mass below this
    radius; ``square``: share of the sensitivity map inside the asymmetric centred square of that half-width (default:
    the square an ``hpsquare`` view removed). A model with zero input gradient everywhere is reported ``dead``, with
    no profile to compare.
    """
    the_view = View.parse(view)
    x, y = subsample(images, labels, n, seed)
    x = apply_in_chunks(the_view, x)
    home, _ = placement(model, x)
    dev = home if device is None else torch.device(device)
    maps = fourier_sensitivity(
        model,
        x,
        y,
        target=target,
        metric=metric,
        batch_size=batch_size,
        device=dev,
        progress=progress,
        projections=projections,
        seed=seed,
    )
    data_x = x if data_images is None else apply_in_chunks(the_view, data_images)
    if data_spectrum not in ("amplitude", "power"):
        raise FreqlensError(f"unknown data spectrum {data_spectrum!r}; use amplitude or power")
    spectrum = datastats.spectrum_map(data_x, "amplitude" if data_spectrum == "amplitude" else "power", standardize)
    data_profile = datastats.radial_distribution(spectrum, smooth)
    h, w = x.shape[-2:]
    mask: Tensor | None = None
    if square is not None:
        mask = fourier.square_mask(h, w, square)
    elif the_view.kind == "hpsquare":
        assert the_view.radius is not None
        mask = fourier.square_mask(h, w, int(the_view.radius), the_view.symmetric)
    correct = count_correct(model, x, y)
    dead = not float(maps.mean.sum()) > 0
    metrics: dict[str, Metric] = {
        "accuracy": Estimate.proportion(correct, x.shape[0]),
        "data_below_band": datastats.radial_mass(data_profile, 0, band),
        "dead": dead,
    }
    arrays: dict[str, Any] = {
        "mean": maps.mean,
        "std": maps.std,
        "data_spectrum": spectrum,
        "data_profile": data_profile,
    }
    if not dead:
        profile = datastats.radial_distribution(maps.mean, smooth)
        comparison = datastats.compare_profiles(profile, data_profile)
        metrics.update({k: v for k, v in comparison.items() if k not in ("rmin", "rmax")})
        metrics["model_below_band"] = datastats.radial_mass(profile, 0, band)
        metrics["peak_radius"] = int(profile[1:].argmax()) + 1
        if mask is not None:
            metrics["model_map_in_square"] = datastats.map_mass(maps.mean, mask)
        arrays["profile"] = profile
    result = AnalysisResult(
        "sensitivity",
        metrics=metrics,
        arrays=arrays,
        conventions={
            **fourier.conventions(),
            "sensitivity": maps.summary()["definition"],
            "target": f"{target}: {TARGET_DEFINITIONS[target]}"
            + (f" ({projections} projections per image, seed {seed})" if target == "projection" else ""),
            "radial_profiles": "round(|k|) bins, channels summed, mean per radius, "
            f"moving average half-width {smooth}, normalised to sum 1",
            "data_spectrum": ("sqrt(E|FFT_ortho(z)|^2)" if data_spectrum == "amplitude" else "E|FFT_ortho(z)|^2")
            + (", z standardised per channel over the data images" if standardize else ", z the raw images"),
            "image_subsample": subsample_note(x.shape[0], seed),
            "mass_in_square": "share of the channel-summed sensitivity map inside the centred square",
            "precision": precision_name(dev, False, placement(model, x)[1]),
            "device": str(dev),
        },
        params={
            "view": str(the_view),
            "target": target,
            "metric": metric,
            "projections": projections if target == "projection" else None,
            "smooth": smooth,
            "band": band,
            "square": square,
            "n": x.shape[0],
            "seed": seed,
            "data_images": data_x.shape[0],
        },
        details={"comparison_range": [0, 0] if dead else [comparison["rmin"], comparison["rmax"]]},
    )
    if not dead:
        result.figures["sensitivity"] = lambda: comparison_figure(result)
    return result


def defaults(h: int, w: int, classes: int, device: str) -> dict[str, Any]:
    """The audit's sensitivity parameters: every logit's gradient up to :data:`EXACT_LOGITS_MAX` classes, beyond
    :data:`PROJECTIONS` random projections per image."""
    if classes <= EXACT_LOGITS_MAX:
        return {"target": "logits", "batch_size": 16}
    return {"target": "projection", "batch_size": 16, "projections": PROJECTIONS, "metric": "rms"}


register_analysis(
    "sensitivity",
    "Fourier gradient sensitivity of the model against the data's spectrum (Godfrey et al.)",
    test_params={"n": 6, "batch_size": 4},
    audit_order=2,
    images_at_224=64,
    max_images=500,
    defaults=defaults,
)(model_vs_data)


def comparison_figure(result: AnalysisResult) -> Figure:
    """Sensitivity map, data spectrum (log10, channels summed) and both radial distributions on log-log axes."""
    mean, spectrum = result.arrays["mean"], result.arrays["data_spectrum"]
    profile, data_profile = result.arrays["profile"], result.arrays["data_profile"]
    p = result.params
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    datastats.map_axes(axes[0], mean.sum(0), f"log10 sensitivity ({p['metric']}, {p['target']}), channels summed")
    datastats.map_axes(axes[1], spectrum.sum(0), "log10 data spectrum")
    for name, q, style in (("model", profile, "o-"), ("data", data_profile, "k--")):
        axes[2].loglog(torch.arange(1, len(q)).numpy(), q[1:].clamp_min(1e-30).numpy(), style, ms=3, label=name)
    axes[2].axvline(p["band"], color="grey", lw=0.8, ls=":")
    axes[2].set_xlabel("radius |k| (cycles / image)")
    axes[2].set_ylabel("share of radial profile")
    axes[2].set_title(f"Spearman {result.value('spearman'):.2f}", fontsize=8)
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    return fig
