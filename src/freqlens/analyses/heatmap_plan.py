"""Which frequencies a Fourier heat map evaluates, and what that costs, decided before it starts.

A full heat map evaluates every symmetric pair ``{k, -k}`` of the spectrum: 514 pairs at 32x32, 25,090 at 224x224,
each on every image. At large sizes a :class:`HeatmapPlan` samples it:

* a **window**: every pair with ``max(|ky|, |kx|) <= window`` (cycles per image), the lowest frequencies in full;
* a **grid**: the pairs whose centred coordinates are both multiples of ``stride``, spread over the whole spectrum.

The plan is their union. Unsampled bins stay NaN in the maps (blank in the figures), and the values at the sampled
bins equal those of the full map under the same seed (the random signs are indexed by pair, not by position in the
plan). :func:`default_plan` keeps the full map up to ``FULL_MAX_PAIRS`` pairs and otherwise samples a window of the
lowest 1/16 of the Nyquist radius plus a grid whose stride keeps the total near ``TARGET_PAIRS``.

Example:
    >>> plan = default_plan(224, 224)
    >>> plan.window, plan.stride, plan.pairs.numel(), full_plan(224, 224).pairs.numel()
    (7, 16, 212, 25090)
    >>> default_plan(32, 32).is_full
    True
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from freqlens import fourier
from freqlens.contract import autocast, evaluating, placement
from freqlens.errors import FreqlensError

FULL_MAX_PAIRS = 2200  # full maps up to 64x64 (2,080 pairs)
TARGET_PAIRS = 256  # a sampled map aims at about this many pairs
WINDOW_FRACTION = 1 / 16  # of the Nyquist radius: the low-frequency window of a sampled map


@dataclass(frozen=True)
class HeatmapPlan:
    """The pairs a heat map evaluates: indices into :func:`freqlens.fourier.symmetric_positions`, sorted."""

    h: int
    w: int
    pairs: Tensor
    window: int | None = None
    stride: int | None = None

    @property
    def total_pairs(self) -> int:
        """Pairs of the full map."""
        return int(fourier.symmetric_positions(self.h, self.w).shape[0])

    @property
    def is_full(self) -> bool:
        """Whether every pair is evaluated."""
        return int(self.pairs.numel()) == self.total_pairs

    def describe(self) -> str:
        """What was sampled, in words, for the conventions and the figure captions."""
        n, total = int(self.pairs.numel()), self.total_pairs
        if self.is_full:
            return f"full map: all {total} frequency pairs of {self.h}x{self.w}"
        parts = []
        if self.window is not None:
            parts.append(f"every frequency with |ky|, |kx| <= {self.window} cycles/image")
        if self.stride is not None:
            parts.append(f"a grid of every {self.stride}th frequency in ky and kx over the whole spectrum")
        return f"sampled map: {' plus '.join(parts)} ({n} of {total} pairs; other bins blank)"

    def forward_passes(self, images: int) -> int:
        """Perturbed forward passes (one per pair and image) plus the clean pass."""
        return (int(self.pairs.numel()) + 1) * images


def _centred(h: int, w: int) -> tuple[Tensor, Tensor]:
    """Signed frequencies ``(ky, kx)`` of the representative position of every symmetric pair."""
    pos = fourier.symmetric_positions(h, w)
    return pos[:, 0] - h // 2, pos[:, 1] - w // 2


def _check(value: int | None, what: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise FreqlensError(f"heat-map {what} must be a non-negative integer (cycles per image), got {value!r}")


def make_plan(h: int, w: int, window: int | None = None, stride: int | None = None) -> HeatmapPlan:
    """The pairs inside the low-frequency ``window`` and/or on the ``stride`` grid; neither: the full map."""
    _check(window, "window")
    _check(stride, "stride")
    if stride == 0:
        raise FreqlensError("heat-map stride must be at least 1 (1 = every frequency)")
    if window is None and stride is None:
        return full_plan(h, w)
    ky, kx = _centred(h, w)
    keep = torch.zeros_like(ky, dtype=torch.bool)
    if window is not None:
        keep |= (ky.abs() <= window) & (kx.abs() <= window)
    if stride is not None:
        keep |= (ky % stride == 0) & (kx % stride == 0)
    return HeatmapPlan(h, w, keep.nonzero().flatten(), window, stride)


def full_plan(h: int, w: int) -> HeatmapPlan:
    """Every pair."""
    return HeatmapPlan(h, w, torch.arange(fourier.symmetric_positions(h, w).shape[0]))


def default_plan(h: int, w: int) -> HeatmapPlan:
    """Full map up to ``FULL_MAX_PAIRS`` pairs; beyond, a window of the lowest ``WINDOW_FRACTION`` of the Nyquist
    radius plus a grid whose stride (a power of two) brings the total near ``TARGET_PAIRS``."""
    total = fourier.symmetric_positions(h, w).shape[0]
    if total <= FULL_MAX_PAIRS:
        return full_plan(h, w)
    window = max(1, math.floor(WINDOW_FRACTION * min(h, w) / 2))
    stride = 2 ** max(0, math.ceil(math.log2(math.sqrt(h * w / 2 / (TARGET_PAIRS - (2 * window + 1) ** 2 / 2)))))
    return make_plan(h, w, window, stride)


def scatter_pairs(values: Tensor, plan: HeatmapPlan) -> Tensor:
    """Values at the plan's pairs ``(K,)`` as one value per pair of the full map, NaN where not sampled."""
    out = torch.full((plan.total_pairs,), math.nan, dtype=values.dtype, device=values.device)
    out[plan.pairs.to(values.device)] = values
    return out


def probe_seconds(
    model: Callable[[Tensor], Tensor], images: Tensor, batch_size: int, amp: bool = False, repeats: int = 2
) -> float:
    """Seconds per image of one forward pass, timed on a batch of ``batch_size`` copies of the first images
    (the best of ``repeats`` after one warm-up pass)."""
    device, dtype = placement(model, images)
    reps = math.ceil(batch_size / images.shape[0])
    batch = images.repeat(reps, 1, 1, 1)[:batch_size].to(device, dtype)
    best = math.inf
    with evaluating(model), torch.inference_mode(), autocast(device, amp):
        model(batch[: min(2, batch_size)])
        for _ in range(repeats):
            start = time.perf_counter()
            model(batch)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            best = min(best, time.perf_counter() - start)
    return best / batch.shape[0]


def cost_line(plan: HeatmapPlan, images: int, seconds_per_image: float | None = None) -> str:
    """One line for the user before the heat map starts: what is sampled, forward passes, estimated time."""
    passes = plan.forward_passes(images)
    line = f"heat map: {plan.describe()}; {images} images -> {passes:,} forward passes"
    if seconds_per_image is not None:
        seconds = passes * seconds_per_image
        took = f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"
        line += f", about {took} at {1 / seconds_per_image:.0f} img/s measured"
    return line
