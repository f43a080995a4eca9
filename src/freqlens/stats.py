"""Interval arithmetic for every verdict: one place for quantiles, intervals, differences, p-values and power.

An :class:`Estimate` is a measured number with the information its uncertainty needs: standard error, 95 %
interval, sample size, the degrees of freedom of a Student-t interval (``dof``), the counts of a binomial
interval (``counts``) and the range the statistic can take (``support``; intervals are clipped to it). From these:

* a proportion over ``n`` test images has a **Wilson** score interval (:func:`wilson`);
* a mean over seeds (or images) has a **Student-t** interval with exact quantiles (:func:`t_quantile`, from scipy);
* ``a - b`` of two independent estimates picks the right interval: **Newcombe's hybrid score** interval for two
  proportions (:func:`newcombe`; never zero-width, even at 0/n), **Welch-Satterthwaite** degrees of freedom when a
  side is a mean over seeds (:func:`welch_dof`), the normal otherwise; an exact number just shifts the interval;
* the same test images under two conditions give a **paired** t interval on the per-image differences
  (:func:`paired`);
* any other statistic gets a **percentile bootstrap** over test images (:func:`bootstrap`, :data:`BOOTSTRAP`
  resamples).

The one-sided p-value of a criterion ``estimate op threshold`` (:func:`p_value`) inverts the same interval, so a
criterion's 95 % interval clears its threshold exactly when ``p < 0.025``. :func:`holm` adjusts a family of p-values
(family-wise error), :func:`tost` tests equivalence within a margin, and :func:`mde` / :func:`equivalence_margin`
give what a run of this size can detect at 80 % power.

Example:
    >>> a, b = Estimate.proportion(0, 500), Estimate.proportion(0, 500)
    >>> d = a - b
    >>> d.method, d.low < 0 < d.high
    ('newcombe', True)
    >>> round(t_quantile(0.975, 2), 6)
    4.302653
    >>> [round(p, 3) for p in holm([0.01, 0.04, 0.03, 0.005])]
    [0.03, 0.06, 0.06, 0.02]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from scipy import optimize
from scipy import stats as sps

from freqlens.errors import FreqlensError

Op = Literal[">", "<"]
CONFIDENCE = 0.95  # every interval a verdict reads is two-sided 95 %
POWER = 0.8  # the power at which a minimum detectable effect is stated
# Percentile bootstrap resamples. The Monte-Carlo error of a 2.5 % quantile from B resamples is about
# sqrt(0.025 * 0.975 / B) / phi(1.96) bootstrap standard deviations: 0.13 at B = 400, 0.06 at B = 2000. With 2000
# the ends of a 95 % interval move by about 6 % of a standard error between resampling seeds (Efron & Tibshirani
# 1993, §13.3 recommend 1000-2000 for percentile intervals).
BOOTSTRAP = 2000
# An interval narrower than this (relative to max(1, |value|)) is rounding, not noise: float64 sums over thousands
# of images are exact to ~1e-16 relative.
NUMERICAL_NOISE = 1e-12
# Methods: where the uncertainty comes from.
EXACT, SINGLE, BINOMIAL, NEWCOMBE, SEEDS, PAIRED, BOOTSTRAPPED, NORMAL = (
    "exact",  # no sampling noise (a count, a property of fixed weights)
    "single",  # one measurement of a noisy quantity: its noise was not measured
    "binomial",  # a proportion over independent test images (Wilson)
    "newcombe",  # a difference of two independent proportions (Newcombe's hybrid score)
    "seeds",  # a mean over independent training runs (Student t; differences: Welch)
    "paired",  # a mean of per-image differences (Student t)
    "bootstrap",  # percentile bootstrap over test images
    "normal",  # propagated standard errors, normal quantiles
)


def t_quantile(q: float, dof: float) -> float:
    """The ``q`` quantile of Student's t with ``dof`` degrees of freedom (``inf``: the standard normal's).

    Example:
        >>> round(t_quantile(0.975, 14), 6), round(t_quantile(0.975, math.inf), 6)
        (2.144787, 1.959964)
    """
    if not dof > 0:
        raise FreqlensError(f"a t quantile needs positive degrees of freedom, got {dof}")
    return float(sps.norm.ppf(q)) if math.isinf(dof) else float(sps.t.ppf(q, dof))


def t_cdf(x: float, dof: float) -> float:
    """P(T <= x) for Student's t with ``dof`` degrees of freedom (``inf``: standard normal)."""
    return float(sps.norm.cdf(x)) if math.isinf(dof) else float(sps.t.cdf(x, dof))


Z95 = t_quantile(0.975, math.inf)


def welch_dof(se_a: float, dof_a: float, se_b: float, dof_b: float) -> float:
    """Welch-Satterthwaite degrees of freedom of a difference whose sides have standard errors ``se_a``, ``se_b``
    with ``dof_a``, ``dof_b`` degrees of freedom (``inf`` for a side with a normal interval).

    Example:
        >>> round(welch_dof(0.1, 2, 0.1, 2), 6)   # equal spreads, 3 seeds each: 4 = 3 + 3 - 2
        4.0
    """
    va, vb = se_a**2, se_b**2
    denom = (va**2 / dof_a if va else 0.0) + (vb**2 / dof_b if vb else 0.0)
    return math.inf if denom == 0 else (va + vb) ** 2 / denom


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of ``successes / n`` at normal quantile ``z``.

    Example:
        >>> [round(v, 4) for v in wilson(80, 100)]
        [0.7112, 0.8666]
    """
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(max(p * (1 - p), 0.0) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(k1: float, n1: int, k2: float, n2: int, z: float = Z95) -> tuple[float, float]:
    """Newcombe's hybrid score interval (1998, method 10) for ``k1/n1 - k2/n2`` of two independent proportions.

    Example (Newcombe 1998, Table II, example (a): 56/70 - 48/80, 0.0524 to 0.3339):
        >>> [round(v, 4) for v in newcombe(56, 70, 48, 80)]
        [0.0524, 0.3339]
    """
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = wilson(k1, n1, z), wilson(k2, n2, z)
    d = p1 - p2
    return d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)


def _clip(low: float, high: float, support: tuple[float, float] | None) -> tuple[float, float]:
    if support is None:
        return low, high
    return min(max(low, support[0]), support[1]), max(min(high, support[1]), support[0])


@dataclass(frozen=True)
class Estimate:
    """A measured number with its uncertainty: ``value``, standard error, a 95 % interval, and the sample size.

    ``method`` says where the uncertainty comes from (see the module's constants: ``"binomial"`` test images,
    ``"seeds"`` the spread of independent training runs, ``"newcombe"``, ``"paired"``, ``"bootstrap"``,
    ``"normal"``, ``"exact"`` no sampling noise, ``"single"`` noise not measured). ``dof``: degrees of freedom of a
    Student-t interval (``None``: the interval is not a t interval). ``counts``: ``(k, n)`` of a Wilson interval or
    ``(k1, n1, k2, n2)`` of a Newcombe one, so the interval can be recomputed at any level (:meth:`interval`).
    ``support``: the range the statistic can take; the interval is clipped to it.

    Example:
        >>> e = Estimate.proportion(80, 100)
        >>> round(e.stderr, 3), round(e.low, 3), round(e.high, 3)
        (0.04, 0.711, 0.867)
        >>> d = Estimate.mean_of([0.5, 0.6, 0.7]) - Estimate.mean_of([0.3, 0.4, 0.5])
        >>> round(d.value, 2), round(d.dof, 6), round(d.high - d.value, 4)   # Welch: t(4), not 1.96
        (0.2, 4.0, 0.2267)
    """

    value: float
    stderr: float = 0.0
    low: float = math.nan
    high: float = math.nan
    n: int | None = None
    method: str = EXACT
    dof: float | None = None
    counts: tuple[float, ...] | None = None
    support: tuple[float, float] | None = None

    Z95: ClassVar[float] = Z95

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "stderr", float(self.stderr))
        if self.counts is not None:
            object.__setattr__(self, "counts", tuple(self.counts))
        if self.support is not None:
            object.__setattr__(self, "support", (float(self.support[0]), float(self.support[1])))
        if math.isnan(self.low) or math.isnan(self.high):
            low, high = self.interval()
            object.__setattr__(self, "low", low if math.isnan(self.low) else self.low)
            object.__setattr__(self, "high", high if math.isnan(self.high) else self.high)
        low, high = _clip(float(self.low), float(self.high), self.support)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    # ------------------------------------------------------------------------------------------ constructors

    @classmethod
    def exact(cls, value: float) -> Estimate:
        """A number without sampling noise (a count, a property of fixed weights)."""
        return cls(value)

    @classmethod
    def proportion(cls, successes: float, n: int) -> Estimate:
        """A rate over ``n`` independent test images: binomial standard error and Wilson 95 % interval."""
        if n <= 0:
            raise FreqlensError(f"a proportion needs at least one image, got n={n}")
        p = successes / n
        se = math.sqrt(max(p * (1 - p), 0.0) / n)
        return cls(p, se, n=n, method=BINOMIAL, counts=(float(successes), n), support=(0.0, 1.0))

    @classmethod
    def mean_of(
        cls,
        values: Sequence[float] | np.ndarray | Any,
        method: str = SEEDS,
        support: tuple[float, float] | None = None,
    ) -> Estimate:
        """The mean of independent measurements (seeds, images) with its standard error (sample std / sqrt n) and
        a Student-t 95 % interval with n - 1 degrees of freedom, clipped to ``support``.

        One value gives a standard error of 0 and ``method`` ``"single"``: the noise was not measured.
        """
        if hasattr(values, "detach"):  # a torch tensor
            values = values.detach().cpu().numpy()
        arr = np.asarray(values, dtype=np.float64).ravel()
        if arr.size == 0:
            raise FreqlensError("cannot average an empty list of measurements")
        if arr.size == 1:
            return cls(float(arr[0]), 0.0, n=1, method=SINGLE, support=support)
        mean, stderr = float(arr.mean()), float(arr.std(ddof=1) / math.sqrt(arr.size))
        return cls(mean, stderr, n=int(arr.size), method=method, dof=float(arr.size - 1), support=support)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Estimate:
        """Inverse of :meth:`to_dict`; also reads the records of older versions (no ``dof``/``counts``/
        ``support``: a mean over seeds then gets n - 1 degrees of freedom, as it was computed)."""
        method, n = d.get("method", EXACT), d.get("n")
        dof = d.get("dof", "missing")
        if dof == "missing":
            dof = float(n - 1) if method in (SEEDS, PAIRED) and n and n > 1 else None
        support = d.get("support")
        return cls(
            d["value"],
            d.get("stderr", 0.0),
            math.nan if d.get("low") is None else d["low"],
            math.nan if d.get("high") is None else d["high"],
            n,
            method,
            math.inf if dof == "inf" else dof,
            None if d.get("counts") is None else tuple(d["counts"]),
            None if support is None else (support[0], support[1]),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form (non-finite bounds become ``None``; an infinite ``dof`` becomes ``"inf"``)."""

        def clean(v: float) -> float | None:
            return v if math.isfinite(v) else None

        return {
            "value": clean(self.value),
            "stderr": clean(self.stderr),
            "low": clean(self.low),
            "high": clean(self.high),
            "n": self.n,
            "method": self.method,
            "dof": "inf" if self.dof is not None and math.isinf(self.dof) else self.dof,
            "counts": None if self.counts is None else list(self.counts),
            "support": None if self.support is None else list(self.support),
        }

    # ------------------------------------------------------------------------------------------- intervals

    @property
    def is_constant(self) -> bool:
        """An exact number: no sampling noise at all (its interval is the point)."""
        return self.method == EXACT and self.stderr == 0 and self.low == self.high

    @property
    def noise_measured(self) -> bool:
        """Whether the interval says anything: False for one measurement of a noisy quantity (``"single"``) and
        for every interval of zero width, up to floating-point rounding (:data:`NUMERICAL_NOISE`; an exact number, a
        bootstrap that never moved). Such estimates are never judged (:mod:`freqlens.verdicts`)."""
        return self.method != SINGLE and self.high - self.low > NUMERICAL_NOISE * max(1.0, abs(self.value))

    def interval(self, confidence: float = CONFIDENCE) -> tuple[float, float]:
        """The two-sided interval at ``confidence``, by the estimate's own method, clipped to its support.

        A bootstrap (or hand-made) interval is known at 95 % only; other levels scale each side of it as a normal
        interval would, so its p-values agree with its 95 % interval.
        """
        if not 0 < confidence < 1:
            raise FreqlensError(f"confidence must lie in (0, 1), got {confidence}")
        q = (1 + confidence) / 2
        if self.counts is not None:
            z = t_quantile(q, math.inf)
            if len(self.counts) == 2:
                k, n = self.counts
                low, high = wilson(k, int(n), z)
                shift = self.value - k / n
            else:
                k1, n1, k2, n2 = self.counts
                low, high = newcombe(k1, int(n1), k2, int(n2), z)
                shift = self.value - (k1 / n1 - k2 / n2)
            return _clip(low + shift, high + shift, self.support)
        if self.dof is not None or math.isnan(self.low) or math.isnan(self.high):
            half = t_quantile(q, math.inf if self.dof is None else self.dof) * self.stderr
            return _clip(self.value - half, self.value + half, self.support)
        scale = t_quantile(q, math.inf) / Z95
        return _clip(
            self.value - scale * max(self.value - self.low, 0.0),
            self.value + scale * max(self.high - self.value, 0.0),
            self.support,
        )

    def _effective_stderr(self) -> float:
        """The standard error the 95 % interval implies (half its width over its quantile): what power reads."""
        return (self.high - self.low) / (2 * t_quantile(0.975, self.dof or math.inf))

    # ----------------------------------------------------------------------------------------- arithmetic

    def __neg__(self) -> Estimate:
        """The same measurement with its sign flipped (interval and support mirrored)."""
        counts = None
        if self.counts is not None and len(self.counts) == 4:
            counts = (self.counts[2], self.counts[3], self.counts[0], self.counts[1])
        return Estimate(
            -self.value,
            self.stderr,
            -self.high,
            -self.low,
            self.n,
            self.method if counts is not None or self.counts is None else NORMAL,
            self.dof,
            counts,
            None if self.support is None else (-self.support[1], -self.support[0]),
        )

    def __sub__(self, other: Estimate | float) -> Estimate:
        """Difference of two independent estimates, with the interval that fits them.

        Two proportions: Newcombe. An exact number: the interval shifts. A mean over seeds on either side:
        Welch-Satterthwaite t (a side with a normal or Wilson interval counts with infinite degrees of freedom).
        Otherwise standard errors add in quadrature under the normal. A side whose noise was not measured
        (``"single"``) makes the difference ``"single"`` too.
        """
        o = other if isinstance(other, Estimate) else Estimate(float(other))
        support = None
        if self.support is not None and o.support is not None:
            support = (self.support[0] - o.support[1], self.support[1] - o.support[0])
        value, n = self.value - o.value, self.n if self.n == o.n else None
        if o.is_constant or self.is_constant:
            noisy, sign = (self, 1.0) if o.is_constant else (o, -1.0)
            shifted = noisy if sign > 0 else -noisy
            offset = value - shifted.value
            return Estimate(
                value,
                shifted.stderr,
                shifted.low + offset,
                shifted.high + offset,
                shifted.n,
                shifted.method,
                shifted.dof,
                shifted.counts,
                support
                if support is not None
                else (None if shifted.support is None else (shifted.support[0] + offset, shifted.support[1] + offset)),
            )
        stderr = math.hypot(self.stderr, o.stderr)
        if SINGLE in (self.method, o.method):
            return Estimate(value, stderr, value, value, n, SINGLE, support=support)
        if (
            self.method == o.method == BINOMIAL
            and self.counts is not None
            and o.counts is not None
            and len(self.counts) == len(o.counts) == 2
        ):
            # the sides may be proportions shifted by exact numbers: interval() moves Newcombe's by the same shift
            counts = (*self.counts, *o.counts)
            return Estimate(value, stderr, n=n, method=NEWCOMBE, counts=counts, support=support)
        if self.dof is not None or o.dof is not None:
            dof = welch_dof(self.stderr, self.dof or math.inf, o.stderr, o.dof or math.inf)
            method = SEEDS if SEEDS in (self.method, o.method) else self.method if self.method == o.method else NORMAL
            return Estimate(value, stderr, n=n, method=method, dof=dof, support=support)
        return Estimate(value, stderr, n=n, method=NORMAL, support=support)

    def __rsub__(self, other: float) -> Estimate:
        """An exact number minus this estimate."""
        return Estimate(float(other)) - self

    def __str__(self) -> str:
        """``value ± stderr``; with no standard error but an interval (a Newcombe difference at 0/n), the interval.

        Example:
            >>> str(Estimate.proportion(0, 500) - Estimate.proportion(0, 500)), str(Estimate.exact(2.0))
            ('0 [-0.00762, 0.00762]', '2')
        """
        if self.stderr:
            return f"{self.value:.4g} ± {self.stderr:.2g}"
        return f"{self.value:.4g} [{self.low:.3g}, {self.high:.3g}]" if self.noise_measured else f"{self.value:.4g}"


def paired(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, support: tuple[float, float] | None = None
) -> Estimate:
    """Mean of ``a - b`` over the same test images (per-image correctness, errors, confidences of two conditions),
    with the Student-t interval of the per-image differences (n - 1 degrees of freedom).

    Pairing removes the variance the two share. Per-image 0/1 correctness gives the support [-1, 1].

    Example:
        >>> e = paired([1, 1, 1, 0], [1, 0, 1, 0])
        >>> e.value, e.n, e.method, e.dof
        (0.25, 4, 'paired', 3.0)
    """
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if diff.size == 0:
        raise FreqlensError("a paired difference needs at least one image")
    return Estimate.mean_of(diff, method=PAIRED, support=support)


def bootstrap(
    statistic: Callable[[np.ndarray | None], float],
    n: int,
    *,
    resamples: int = BOOTSTRAP,
    seed: int = 0,
    support: tuple[float, float] | None = None,
) -> Estimate:
    """``statistic(None)`` (on all ``n`` images) with its percentile bootstrap 95 % interval and standard error.

    ``statistic(idx)`` evaluates the statistic on the images ``idx`` (a resample with replacement); evaluate every
    condition of a paired contrast on the same ``idx``, and the bootstrap is paired.

    Example:
        >>> x = np.arange(10.0)
        >>> e = bootstrap(lambda idx: float(x.mean() if idx is None else x[idx].mean()), 10)
        >>> e.value, e.low < 4.5 < e.high, e.method
        (4.5, True, 'bootstrap')
    """
    if n < 1:
        raise FreqlensError("a bootstrap needs at least one image")
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    values = np.array([statistic(idx) for idx in draws])
    low, high = np.quantile(values, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
    return Estimate(
        statistic(None), float(values.std(ddof=1)), float(low), float(high), n, BOOTSTRAPPED, support=support
    )


# ------------------------------------------------------------------------------------------------ tests and power


def p_value(estimate: Estimate, op: Op, threshold: float) -> float:
    """One-sided p-value of the criterion ``estimate op threshold`` (null: the opposite or equal), by inverting the
    estimate's own interval: ``p < 0.025`` exactly when the 95 % interval lies wholly on the claimed side.

    t intervals are inverted in closed form, Wilson and Newcombe intervals numerically, bootstrap intervals side by
    side as normal ones. NaN when the noise was not measured.

    Example:
        >>> round(p_value(Estimate(0.3, 0.1), ">", 0.1), 4)   # z = 2
        0.0228
    """
    if op not in (">", "<"):
        raise FreqlensError(f"unknown criterion {op!r}; use '>' or '<'")
    if not estimate.noise_measured:
        return math.nan
    if estimate.support is not None and not estimate.support[0] <= threshold <= estimate.support[1]:
        below = threshold < estimate.support[0]
        return 0.0 if below == (op == ">") else 1.0
    if estimate.counts is None and estimate.dof is not None:
        sign = 1.0 if op == ">" else -1.0
        return 1.0 - t_cdf(sign * (estimate.value - threshold) / estimate.stderr, estimate.dof)
    # The one-sided level alpha at which the interval's end nearest the threshold reaches it.
    towards_low = estimate.value > threshold

    def gap(alpha: float) -> float:  # > 0: the threshold lies outside the (1 - 2 alpha) interval
        low, high = estimate.interval(1 - 2 * alpha)
        return low - threshold if towards_low else threshold - high

    tiny, half = 1e-15, 0.5 - 1e-12
    if gap(tiny) > 0:
        alpha = 0.0
    elif gap(half) <= 0:
        alpha = 0.5
    else:
        alpha = float(optimize.brentq(gap, tiny, half, xtol=1e-14))
    # alpha is the p-value of "beyond the threshold on the value's side"; the criterion's is that or its complement
    return alpha if towards_low == (op == ">") else 1.0 - alpha


def two_sided_p(estimate: Estimate, threshold: float) -> float:
    """The p-value of the test behind a directional mark: twice the smaller one-sided p-value, so that
    ``p < 0.05`` exactly when the 95 % interval excludes ``threshold`` (✓ or ✗)."""
    return min(1.0, 2 * min(p_value(estimate, ">", threshold), p_value(estimate, "<", threshold)))


def tost(estimate: Estimate, margin: float) -> float:
    """Two one-sided tests of equivalence within ``±margin``: the larger of p(estimate > -margin) and
    p(estimate < margin); equivalence is shown at 5 % when it is below 0.05 (the 90 % interval lies within).

    Example:
        >>> f"{tost(Estimate(0.0, 0.01, dof=math.inf), 0.05):.2e}"   # z = 5 on either side
        '2.87e-07'
    """
    if not margin > 0:
        raise FreqlensError(f"an equivalence margin must be positive, got {margin}")
    return max(p_value(estimate, ">", -margin), p_value(estimate, "<", margin))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control): the i-th smallest p is multiplied by
    ``m - i + 1``, made monotone, capped at 1; a hypothesis is rejected at family-wise level a when its adjusted
    p-value is below a. NaN entries (not judged) are left out of the family and stay NaN.

    Example (m = 4: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, max(0.04 x 1, 0.06) = 0.06):
        >>> holm([0.01, 0.04, 0.03, 0.005])
        [0.03, 0.06, 0.06, 0.02]
    """
    ps = [float(p) for p in p_values]
    order = sorted((i for i, p in enumerate(ps) if not math.isnan(p)), key=lambda i: ps[i])
    m, running = len(order), 0.0
    adjusted = [math.nan] * len(ps)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adjusted[i] = running
    return adjusted


def mde(estimate: Estimate, power: float = POWER) -> float:
    """Minimum detectable effect: the smallest true distance from a threshold that the 95 % interval of an
    estimate with this one's noise excludes with probability ``power`` (``(q_0.975 + q_power) x`` the interval's
    standard error, t quantiles at its degrees of freedom). NaN when the noise was not measured.

    Example:
        >>> round(mde(Estimate(0.0, 0.01, dof=math.inf)), 5)   # (1.95996 + 0.84162) x 0.01
        0.02802
    """
    if not estimate.noise_measured:
        return math.nan
    dof = estimate.dof or math.inf
    return (t_quantile(0.975, dof) + t_quantile(power, dof)) * estimate._effective_stderr()


def equivalence_margin(estimate: Estimate, power: float = POWER) -> float:
    """The smallest equivalence margin TOST (two 5 % tests) shows with probability ``power`` when the true effect is
    0, at this estimate's noise: ``(q_0.95 + q_(1+power)/2) x`` its standard error. NaN when the noise was not
    measured."""
    if not estimate.noise_measured:
        return math.nan
    dof = estimate.dof or math.inf
    return (t_quantile(0.95, dof) + t_quantile((1 + power) / 2, dof)) * estimate._effective_stderr()
