"""Fourier heat map (Yin et al. 2019): error rate and loss under perturbation by each Fourier basis vector.

For each centred position ``(i, j)`` the test images are perturbed as ``clip(x + v * r * U_ij, 0, 1)`` with ``U_ij``
the unit-norm real basis image of :func:`freqlens.fourier.fourier_basis` (added to every channel) and ``r = +-1`` drawn
independently per image and channel. ``U`` at ``-k`` is the point reflection of ``U`` at ``k`` (the same frequency a
quarter period shifted), so, like gatheluck/FourierHeatmap's half spectrum, we evaluate each symmetric pair once (514
bases for 32x32 instead of Yin et al.'s 1024) with the basis of its first position in row-major order
(:func:`freqlens.fourier.symmetric_positions`) and mirror the value into the full map.

:func:`fourier_heatmap` evaluates ``B`` images x ``K`` bases as one broadcasted add and one forward pass on the model's
device. :func:`loop_heatmap` is the straightforward per-frequency loop of the public implementations (one basis at a
time, images in mini-batches), kept as the oracle for tests and the benchmark. Under the same seed both use the same
signs (drawn once, indexed by symmetric pair, image and channel), so they give the same maps.

Example:
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4))
    >>> x, y = torch.rand(6, 3, 8, 8), torch.randint(0, 4, (6,))
    >>> hm = fourier_heatmap(model, x, y, eps=2.0, seed=0)
    >>> tuple(hm.error.shape), bool(torch.equal(hm.error, loop_heatmap(model, x, y, eps=2.0, seed=0).error))
    ((8, 8), True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor
from tqdm import tqdm

from freqlens import fourier
from freqlens.analyses.heatmap_plan import HeatmapPlan, default_plan, make_plan, scatter_pairs
from freqlens.checks import check_labels, check_logits
from freqlens.contract import (
    AnalysisResult,
    Estimate,
    autocast,
    check_batch_size,
    evaluating,
    placement,
    precision_name,
    register_analysis,
    subsample,
    subsample_note,
)
from freqlens.errors import FreqlensError
from freqlens.plotting import plt

__all__ = [
    "HeatMap",
    "default_batch_size",
    "fourier_heatmap",
    "heatmap_analysis",
    "heatmap_figure",
    "heatmap_signs",
    "loop_heatmap",
    "mirror_pairs",
]


# Perturbed images per forward pass. On a CPU small batches win (activations stay in cache; 2048 was 1.7x slower than
# 256 for the small CNN); on a GPU large ones fill the device.
# Heat-map eps: Yin et al.'s L2 norms, 4 for CIFAR-10 (32x32) and 15.7 for ImageNet (224x224), joined by the power law
# eps = 4 (side / 32)^a through both (side = sqrt(H W)); our interpolation between and beyond their two sizes.
HEATMAP_EPS = {32: 4.0, 224: 15.7}
CPU_BATCH = 256
ACCELERATOR_BATCH = 4096


def default_batch_size(device: torch.device) -> int:
    """Perturbed images per forward pass when none is given: ``CPU_BATCH`` on a CPU, else ``ACCELERATOR_BATCH``."""
    return CPU_BATCH if device.type == "cpu" else ACCELERATOR_BATCH


@dataclass(frozen=True)
class HeatMap:
    """Centred ``(H, W)`` float64 maps of error rate and mean cross-entropy under each basis perturbation."""

    error: Tensor
    loss: Tensor
    clean_error: float
    clean_loss: float
    eps: float
    images: int
    seed: int
    sampling: str = "full map"

    def summary(self) -> dict[str, Any]:
        """Parameters and conventions that define the maps (for result files)."""
        return {
            "eps_l2": self.eps,
            "images": self.images,
            "seed": self.seed,
            "clean_error": self.clean_error,
            "clean_loss": self.clean_loss,
            "perturbation": "clip(x + eps * r * U_ij, 0, 1), U_ij Yin et al. real unit-norm basis added to every "
            "channel, r = +-1 per (image, channel), drawn once per symmetric pair",
            "pixel_space": "[0, 1], before the model's own normalisation",
            "heatmap_sampling": self.sampling,
        }


def heatmap_signs(pairs: int, n: int, c: int, seed: int) -> Tensor:
    """The ``+-1`` signs ``(pairs, n, c)`` (int8, CPU) used for basis pair ``k``, image ``n``, channel ``c``.

    Drawn once from a seeded CPU generator so that every device, batching and evaluation order sees the same signs.
    """
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 2, (pairs, n, c), generator=g, dtype=torch.int8) * 2 - 1).to(torch.int8)


def mirror_pairs(values: Tensor, h: int, w: int) -> Tensor:
    """Spread one value per symmetric pair ``(K,)`` (order of :func:`fourier.symmetric_positions`) to ``(H, W)``."""
    pos = fourier.symmetric_positions(h, w).to(values.device)
    out = torch.empty(h, w, dtype=values.dtype, device=values.device)
    out[pos[:, 0], pos[:, 1]] = values
    out[fourier.symmetric_index(h, pos[:, 0]), fourier.symmetric_index(w, pos[:, 1])] = values
    return out


def _check(model: Callable[[Tensor], Tensor], images: Tensor, labels: Tensor, eps: float) -> None:
    fourier.check_images(images)
    check_labels(labels, images.shape[0])
    if not eps > 0:
        raise FreqlensError(f"the perturbation norm eps must be positive, got {eps}")


def _scores(logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Per-row error indicator and cross-entropy, float64, for logits ``(..., N, classes)`` and labels ``(N,)``."""
    flat = logits.reshape(-1, logits.shape[-1])
    if flat.dtype in (torch.float16, torch.bfloat16):
        flat = flat.float()
    target = y.expand(*logits.shape[:-1]).reshape(-1)
    err = (flat.argmax(dim=1) != target).to(torch.float64)
    loss = F.cross_entropy(flat, target, reduction="none").to(torch.float64)
    return err.view(logits.shape[:-1]), loss.view(logits.shape[:-1])


def _clean(
    model: Callable[[Tensor], Tensor], x: Tensor, y: Tensor, batch: int, device: torch.device, dtype: torch.dtype
) -> tuple[float, float]:
    err = torch.zeros((), dtype=torch.float64, device=device)
    loss = torch.zeros_like(err)
    for s in range(0, x.shape[0], batch):
        target = y[s : s + batch].to(device)
        e, l_ = _scores(check_logits(model(x[s : s + batch].to(device, dtype)), len(target), target), target)
        err += e.sum()
        loss += l_.sum()
    return float(err) / x.shape[0], float(loss) / x.shape[0]


def fourier_heatmap(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    labels: Tensor,
    eps: float = 4.0,
    *,
    seed: int = 0,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
    amp: bool = False,
    channels_last: bool = True,
    compile: bool = False,
    progress: bool = False,
    plan: HeatmapPlan | None = None,
) -> HeatMap:
    """Batched Fourier heat map of ``model`` on ``images`` in [0, 1] (subsample first with
    :func:`freqlens.contract.subsample`).

    Each forward pass holds ``batch_size`` perturbed images (default ``CPU_BATCH`` or ``ACCELERATOR_BATCH``): ``B``
    images x ``K`` bases, built on the device by one broadcasted add. ``channels_last`` feeds them in NHWC memory
    layout (faster convolutions on CPU and GPU, same values up to rounding). ``amp=True`` runs the forward passes
    under autocast (CUDA: float16, CPU: bfloat16) for speed; the maps then differ from full-precision ones by a few
    borderline predictions. ``compile=True`` runs the perturbed batches through ``torch.compile(model)`` (a one-off
    compilation of tens of seconds that pays off on large runs; every batch is padded to the same shape so it
    compiles once; rounding may differ from eager mode). ``plan`` evaluates only its frequency pairs
    (:mod:`freqlens.analyses.heatmap_plan`); the other bins are NaN, the sampled ones equal the full map's.
    """
    _check(model, images, labels, eps)
    n, c, h, w = images.shape
    home, dtype = placement(model, images)
    dev = torch.device(device) if device is not None else home
    batch_size = check_batch_size(default_batch_size(dev) if batch_size is None else batch_size)
    positions = fourier.symmetric_positions(h, w)
    signs = heatmap_signs(positions.shape[0], n, c, seed)
    if plan is not None:
        if (plan.h, plan.w) != (h, w):
            raise FreqlensError(f"heat-map plan is for {plan.h}x{plan.w} images, these are {h}x{w}")
        positions, signs = positions[plan.pairs], signs[plan.pairs]
    signs = signs.to(dev)
    pairs = positions.shape[0]
    b_img = min(n, batch_size)
    b_basis = max(1, batch_size // b_img)
    err = torch.zeros(pairs, dtype=torch.float64, device=dev)
    loss = torch.zeros_like(err)
    forward = torch.compile(model, dynamic=False) if compile else model
    rows = b_img * b_basis
    with evaluating(model), torch.inference_mode(), autocast(dev, amp):
        clean = _clean(model, images, labels, batch_size, dev, dtype)
        bar = tqdm(total=pairs * n, desc="heat map", unit="img", unit_scale=True, disable=not progress)
        for i0 in range(0, n, b_img):
            x = images[i0 : i0 + b_img].to(dev, dtype)
            y = labels[i0 : i0 + b_img].to(dev)
            for k0 in range(0, pairs, b_basis):
                basis = fourier.fourier_basis(h, w, positions[k0 : k0 + b_basis], dev, x.dtype)
                r = signs[k0 : k0 + b_basis, i0 : i0 + b_img].to(x.dtype)
                # (K, 1, 1, H, W) * (K, B, C, 1, 1) + (1, B, C, H, W) -> (K, B, C, H, W)
                pert = (x.unsqueeze(0) + (eps * r)[..., None, None] * basis[:, None, None]).clamp_(0, 1)
                batch = pert.view(-1, c, h, w)
                if compile and batch.shape[0] < rows:  # one shape for every call: no recompilation
                    batch = torch.cat([batch, batch.new_zeros(rows - batch.shape[0], c, h, w)])
                batch = batch.contiguous(memory_format=torch.channels_last) if channels_last else batch
                logits = check_logits(forward(batch), batch.shape[0])[: pert.shape[0] * x.shape[0]]
                e, l_ = _scores(logits.view(pert.shape[0], x.shape[0], -1), y)
                err[k0 : k0 + b_basis] += e.sum(dim=1)
                loss[k0 : k0 + b_basis] += l_.sum(dim=1)
                bar.update(pert.shape[0] * x.shape[0])
        bar.close()
    err, loss = err / n, loss / n
    if plan is not None:
        err, loss = scatter_pairs(err, plan), scatter_pairs(loss, plan)
    sampling = "full map" if plan is None else plan.describe()
    return HeatMap(
        mirror_pairs(err, h, w).cpu(), mirror_pairs(loss, h, w).cpu(), clean[0], clean[1], eps, n, seed, sampling
    )


def sampled_profile(values: Tensor) -> Tensor:
    """:func:`freqlens.fourier.radial_profile` over the finite bins only (NaN at radii with none sampled)."""
    finite = values.isfinite()
    means, _ = fourier.radial_profile(values.nan_to_num(0.0) * finite)  # sum over finite bins / all bins
    share, _ = fourier.radial_profile(finite.to(values.dtype))  # finite bins / all bins
    return torch.where(share > 0, means / share.clamp_min(1e-300), torch.full_like(means, float("nan")))


def loop_heatmap(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    labels: Tensor,
    eps: float = 4.0,
    *,
    seed: int = 0,
    batch_size: int = 256,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> HeatMap:
    """The straightforward per-frequency loop: for each basis pair, perturb the images mini-batch by mini-batch."""
    _check(model, images, labels, eps)
    n, c, h, w = images.shape
    home, dtype = placement(model, images)
    dev = torch.device(device) if device is not None else home
    check_batch_size(batch_size)
    positions = fourier.symmetric_positions(h, w)
    signs = heatmap_signs(positions.shape[0], n, c, seed).to(dev)
    err = torch.zeros(positions.shape[0], dtype=torch.float64, device=dev)
    loss = torch.zeros_like(err)
    with evaluating(model), torch.inference_mode():
        clean = _clean(model, images, labels, batch_size, dev, dtype)
        for k in tqdm(range(positions.shape[0]), desc="heat map (loop)", disable=not progress):
            basis = fourier.fourier_basis(h, w, positions[k : k + 1], dev, dtype)[0]
            for s in range(0, n, batch_size):
                x = images[s : s + batch_size].to(dev, dtype)
                r = signs[k, s : s + batch_size].to(x.dtype)
                pert = (x + eps * r[:, :, None, None] * basis).clamp(0, 1)
                e, l_ = _scores(check_logits(model(pert), pert.shape[0]), labels[s : s + batch_size].to(dev))
                err[k] += e.sum()
                loss[k] += l_.sum()
    return HeatMap(
        mirror_pairs(err / n, h, w).cpu(), mirror_pairs(loss / n, h, w).cpu(), clean[0], clean[1], eps, n, seed
    )


def _sampled_axes(ax: Any, values: Tensor, title: str, log: bool = False, cmap: str = "viridis") -> None:
    """A sampled map: one square marker per evaluated bin (single pixels would vanish at 224x224), blank elsewhere."""
    h, w = values.shape
    at = values.isfinite().nonzero()
    shown = ax.scatter(
        (at[:, 1] - w // 2).numpy(),
        (at[:, 0] - h // 2).numpy(),
        c=values[at[:, 0], at[:, 1]].numpy(),
        s=max(2.0, 2500 / max(h, w)),
        marker="s",
        cmap=cmap,
        linewidths=0,
    )
    ax.set_xlim(-(w // 2) - 0.5, w - w // 2 - 0.5)
    ax.set_ylim(h - h // 2 - 0.5, -(h // 2) - 0.5)
    ax.set_aspect("equal")
    ax.set_title(f"{title}, sampled bins", fontsize=8)
    ax.set_xlabel("kx", fontsize=7)
    ax.set_ylabel("ky", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=6)


def heatmap_figure(hm: HeatMap, title: str = "", error_name: str = "error rate") -> Figure:
    """Error-rate (``error_name``) and loss maps (centred, linear scale) and their radial profiles against the clean
    values."""
    from freqlens.analyses.datastats import map_axes

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.3))
    draw = map_axes if bool(hm.error.isfinite().all()) else _sampled_axes
    draw(axes[0], hm.error, f"{error_name} (clean {hm.clean_error:.3f})", log=False, cmap="viridis")
    draw(axes[1], hm.loss, f"loss (clean {hm.clean_loss:.3f})", log=False, cmap="viridis")
    ax = axes[2]
    twin = ax.twinx()
    for axis, values, clean, name, color in (
        (ax, hm.error, hm.clean_error, error_name, "C0"),
        (twin, hm.loss, hm.clean_loss, "loss", "C1"),
    ):
        profile = sampled_profile(values)
        radius = torch.arange(profile.shape[0])[profile.isfinite()]
        axis.plot(radius.numpy(), profile[profile.isfinite()].numpy(), "o-", ms=3, color=color, label=name)
        axis.axhline(clean, color=color, ls=":", lw=1)
        axis.set_ylabel(f"{name} (mean per radius)", color=color, fontsize=8)
    ax.set_xlabel("radius |k| (cycles / image)")
    sampled = "" if hm.sampling == "full map" else "; sampled bins"
    ax.set_title(f"eps = {hm.eps:g}, {hm.images} images; dotted: clean{sampled}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def heatmap_eps(h: int, w: int) -> float:
    """The heat map's L2 norm for ``h`` x ``w`` images (see :data:`HEATMAP_EPS`), to 3 decimals.

    Example:
        >>> heatmap_eps(32, 32), heatmap_eps(224, 224)
        (4.0, 15.7)
    """
    (s0, e0), (s1, e1) = sorted(HEATMAP_EPS.items())
    power = math.log(e1 / e0) / math.log(s1 / s0)
    return round(e0 * (math.sqrt(h * w) / s0) ** power, 3)


def defaults(h: int, w: int, classes: int, device: str) -> dict[str, Any]:
    """The audit's heat-map parameters: full up to 64x64 and sampled beyond (:func:`default_plan`), ε by
    :func:`heatmap_eps`; on a CPU the batches shrink with the image size (256 perturbed images at 32 px, 32 at
    224 px: they stay in cache); elsewhere the analysis' own device default applies."""
    plan = default_plan(h, w)
    batch = min(256, max(32, round(256 * 32 * 32 / (h * w)))) if device == "cpu" else None
    return {"eps": heatmap_eps(h, w), "window": plan.window, "stride": plan.stride, "batch_size": batch}


@register_analysis(
    "heatmap",
    "Fourier heat map: error rate and loss under perturbation by each Fourier basis image (Yin et al. 2019)",
    test_params={"eps": 2.0, "n": 4, "batch_size": 64},
    audit_order=1,
    images_at_224=24,
    max_images=64,
    defaults=defaults,
)
def heatmap_analysis(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    labels: Tensor,
    *,
    eps: float = 4.0,
    n: int | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
    amp: bool = False,
    compile: bool = False,
    progress: bool = False,
    window: int | None = None,
    stride: int | None = None,
    score_name: str = "error rate",
) -> AnalysisResult:
    """:func:`fourier_heatmap` on ``n`` images drawn under ``seed`` (the signs use the same seed); ``score_name``
    names the error in the figure (e.g. "disagreement with clean prediction" when the labels are predictions).

    ``window`` / ``stride`` sample the map (:func:`freqlens.analyses.heatmap_plan.make_plan`: the frequencies with
    ``|ky|, |kx| <= window`` and/or those on a grid of step ``stride``); the other bins are NaN. Metrics:
    ``clean_error`` and the error at DC and at the worst sampled frequency (binomial over the images), ``clean_loss``
    and ``max_loss`` (means over the images).
    """
    x, y = subsample(images, labels, n, seed)
    dev = torch.device(device) if device is not None else placement(model, x)[0]
    size = default_batch_size(dev) if batch_size is None else batch_size
    h, w = x.shape[-2:]
    plan = None if window is None and stride is None else make_plan(h, w, window, stride)
    hm = fourier_heatmap(
        model,
        x,
        y,
        eps,
        seed=seed,
        batch_size=size,
        device=dev,
        amp=amp,
        compile=compile,
        progress=progress,
        plan=plan,
    )
    h, w = hm.error.shape
    error_profile, loss_profile = sampled_profile(hm.error), sampled_profile(hm.loss)
    counts = fourier.radial_profile(hm.error)[1]
    total = hm.images
    worst = int(hm.error.nan_to_num(-1.0).argmax())
    return AnalysisResult(
        "heatmap",
        metrics={
            "clean_error": Estimate.proportion(round(hm.clean_error * total), total),
            "error_at_dc": Estimate.proportion(round(float(hm.error[h // 2, w // 2]) * total), total),
            "max_error": Estimate.proportion(round(float(hm.error.view(-1)[worst]) * total), total),
            "max_error_frequency": f"({worst // w - h // 2}, {worst % w - w // 2})",
            "clean_loss": hm.clean_loss,
            "max_loss": float(hm.loss.nan_to_num(-1.0).max()),
        },
        arrays={
            "error": hm.error,
            "loss": hm.loss,
            "error_radial_profile": error_profile,
            "loss_radial_profile": loss_profile,
            "radial_counts": counts,
            "sampled": hm.error.isfinite(),
        },
        figures={"heatmap": lambda: heatmap_figure(hm, error_name=score_name)},
        conventions={
            **fourier.conventions(),
            **{k: v for k, v in hm.summary().items() if isinstance(v, str)},
            "evaluation": "one basis per symmetric pair (row-major first member), mirrored to the full map",
            "image_subsample": subsample_note(total, seed),
            "precision": precision_name(dev, amp, placement(model, x)[1]),
            "device": str(dev),
        },
        params={
            "eps": eps,
            "n": total,
            "seed": seed,
            "batch_size": size,
            "compiled": compile,
            "window": window,
            "stride": stride,
        },
    )
