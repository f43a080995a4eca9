"""Statistics of Godfrey cells with their uncertainty: bootstrap over test images for one seed, spread over seeds.

A :class:`Sample` holds what a cell measured per test image. A statistic is a function of one or more samples (for
example the difference between two models' profile mass below radius 8) evaluated on a set of image indices; the
images are the same for every cell of one replicate (same subsample seed), so differences are bootstrapped *paired*.

* one seed: the statistic on all images, its standard error and 95 % percentile interval from :data:`BOOTSTRAP`
  resamples of the images (``method="bootstrap"``): evaluation noise only, training noise unmeasured;
* several seeds (``reproduce --seeds N``; each seed also draws its own test images): the mean over seeds, the
  standard error of that mean and a Student-t 95 % interval (``method="seeds"``), which holds both noises.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from freqlens.analyses import datastats
from freqlens.contract import Estimate
from freqlens.errors import FreqlensError
from freqlens.experiments.base import CellResult

BOOTSTRAP = 400
# Two-sided 95 % Student-t quantiles for 1..9 degrees of freedom (10 and more: the normal's 1.96 plus a correction).
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262)


def t95(dof: int) -> float:
    """The two-sided 95 % quantile of Student's t with ``dof`` degrees of freedom (within 0.5 % for dof >= 10)."""
    if dof < 1:
        raise FreqlensError(f"a t interval needs at least 2 values, got {dof + 1}")
    return _T95[dof - 1] if dof <= len(_T95) else 1.959964 + 2.4 / dof


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


def resamples(n: int, count: int = BOOTSTRAP, seed: int = 0) -> np.ndarray:
    """``count`` bootstrap resamples of ``range(n)`` (with replacement), fixed by ``seed``: ``(count, n)``."""
    return np.random.default_rng(seed).integers(0, n, size=(count, n))


def bootstrap(statistic: Statistic, samples: Sequence[Sample], count: int = BOOTSTRAP) -> Estimate:
    """``statistic`` on all images, with its bootstrap standard error and percentile interval (paired resamples)."""
    sizes = {s.radial.shape[0] for s in samples}
    if len(sizes) != 1:
        raise FreqlensError(f"paired statistics need the same test images in every cell, got sizes {sorted(sizes)}")
    (n,) = sizes
    values = np.array([statistic(samples, idx) for idx in resamples(n, count)])
    low, high = np.quantile(values, [0.025, 0.975])
    return Estimate(statistic(samples, None), float(values.std(ddof=1)), float(low), float(high), n, "bootstrap")


def over_seeds(values: Sequence[float]) -> Estimate:
    """Mean of per-seed values, its standard error and a Student-t 95 % interval."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size < 2:
        raise FreqlensError("a spread over seeds needs at least two seeds")
    mean, stderr = float(arr.mean()), float(arr.std(ddof=1) / math.sqrt(arr.size))
    half = t95(arr.size - 1) * stderr
    return Estimate(mean, stderr, mean - half, mean + half, int(arr.size), "seeds")


def measure(statistic: Statistic, *groups: Sequence[CellResult]) -> Estimate:
    """``statistic`` of the cells in ``groups`` (each a cell's replicates, in replicate order), with its uncertainty:
    bootstrap over images for one seed, the spread over seeds for several (replicates matched by index)."""
    seeds = min(len(g) for g in groups)
    if seeds == 0:
        raise FreqlensError("no finished replicate to measure")
    if seeds == 1:
        return bootstrap(statistic, [Sample.of(g[0]) for g in groups])
    return over_seeds([statistic([Sample.of(g[r]) for g in groups], None) for r in range(seeds)])
