"""Statistics of Godfrey cells with their uncertainty: bootstrap over test images for one seed, spread over seeds.

A :class:`Sample` holds what a cell measured per test image. A statistic is a function of one or more samples (for
example the difference between two models' profile mass below radius 8) evaluated on a set of image indices; the
images are the same for every cell of one replicate (same subsample seed), so differences are bootstrapped *paired*.

* one seed: the statistic on all images, its standard error and 95 % percentile interval from
  :data:`freqlens.stats.BOOTSTRAP` resamples of the images (``method="bootstrap"``): evaluation noise only, training
  noise unmeasured (a statistic the images do not move gets a zero-width interval and is never judged);
* several seeds (``reproduce --seeds N``; each seed also draws its own test images): the mean over seeds, the
  standard error of that mean and a Student-t 95 % interval (``method="seeds"``), which holds both noises.

The interval arithmetic itself is :mod:`freqlens.stats`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from freqlens import stats
from freqlens.analyses import datastats
from freqlens.errors import FreqlensError
from freqlens.experiments.base import CellResult
from freqlens.stats import Estimate


@dataclass(frozen=True)
class Sample:
    """Per-image measurements of one cell: radial profiles ``(N, R)`` (bin means, channels summed), mass inside the
    high-pass square and in total ``(N,)``, and the data's normalised radial profile ``(R,)``.

    Held as numpy float64: resampling thousands of times is cheap there, and free of thread-pool start-up costs.
    """

    radial: np.ndarray
    square: np.ndarray
    total: np.ndarray
    data_profile: Tensor

    @classmethod
    def of(cls, result: CellResult) -> Sample:
        a = result.arrays()
        radial, square, total = (np.asarray(a[k], dtype=np.float64) for k in SAMPLE_KEYS[:3])
        return cls(radial, square, total, torch.as_tensor(np.asarray(a["data_profile"]), dtype=torch.float64))

    def profile(self, idx: np.ndarray | None = None) -> Tensor:
        """Normalised radial profile of the mean map over the images ``idx`` (all when None)."""
        rows = self.radial if idx is None else self.radial[idx]
        mean = rows.mean(axis=0)
        return torch.from_numpy(mean / mean.sum())

    def square_share(self, idx: np.ndarray | None = None) -> float:
        """Share of the mean map (channels summed) inside Godfrey's removed square."""
        sq, tot = (self.square, self.total) if idx is None else (self.square[idx], self.total[idx])
        return float(sq.sum() / tot.sum())

    def mass(self, inner: float, outer: float, idx: np.ndarray | None = None) -> float:
        """Share of the radial profile at radii ``inner <= rho < outer``."""
        return datastats.radial_mass(self.profile(idx), inner, outer)

    def spearman(self, idx: np.ndarray | None = None, data: Tensor | None = None) -> float:
        """Spearman correlation of the radial profile with the data's (or ``data``'s) over radii 1..R-1."""
        return datastats.compare_profiles(self.profile(idx), self.data_profile if data is None else data)["spearman"]

    def js(self, idx: np.ndarray | None = None) -> float:
        """Jensen-Shannon divergence of the radial profile from the data's over radii 1..R-1."""
        return datastats.compare_profiles(self.profile(idx), self.data_profile)["js_divergence"]


SAMPLE_KEYS = ("radial", "square", "total", "data_profile")
Statistic = Callable[[Sequence[Sample], np.ndarray | None], float]


def bootstrap(
    statistic: Statistic,
    samples: Sequence[Sample],
    resamples: int = stats.BOOTSTRAP,
    support: tuple[float, float] | None = None,
) -> Estimate:
    """``statistic`` on all images, with its percentile bootstrap interval over paired image resamples
    (:func:`freqlens.stats.bootstrap`), clipped to ``support``."""
    sizes = {s.radial.shape[0] for s in samples}
    if len(sizes) != 1:
        raise FreqlensError(f"paired statistics need the same test images in every cell, got sizes {sorted(sizes)}")
    return stats.bootstrap(lambda idx: statistic(samples, idx), sizes.pop(), resamples=resamples, support=support)


def measure(
    statistic: Statistic, *groups: Sequence[CellResult], support: tuple[float, float] | None = None
) -> Estimate:
    """``statistic`` of the cells in ``groups`` (each a cell's replicates, in replicate order), with its uncertainty:
    bootstrap over images for one seed, the spread over seeds for several (replicates matched by index); the interval
    is clipped to ``support``, the range the statistic can take (e.g. (-1, 1) for a correlation)."""
    seeds = min(len(g) for g in groups)
    if seeds == 0:
        raise FreqlensError("no finished replicate to measure")
    if seeds == 1:
        return bootstrap(statistic, [Sample.of(g[0]) for g in groups], support=support)
    values = [statistic([Sample.of(g[r]) for g in groups], None) for r in range(seeds)]
    return Estimate.mean_of(values, support=support)
