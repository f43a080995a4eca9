"""Verdicts as measurements: a criterion judged on an estimate's interval, and a negative control that must fail.

A claim such as "BatchNorm reads more HFC than vanilla" becomes a one-sided test of an :class:`Estimate` (here the
difference of two accuracies, with its standard error) against a threshold that states the margin the claim demands:

* ``agree`` — the whole 95 % interval lies on the claimed side of the threshold;
* ``disagree`` — the whole interval lies on the other side;
* ``inconclusive`` — the interval straddles the threshold: the difference is inside the noise;
* ``not detected at this scale`` — inconclusive, and the effect the claim predicts is smaller than the minimum
  detectable effect of this run (:func:`freqlens.stats.mde`, 80 % power): more of the same will not settle it;
* ``noise not measured`` — the interval has zero width (one seed of a quantity without image-level noise, an exact
  number): nothing to judge a criterion on, so it is never judged;
* ``cannot discriminate`` — the claim passed, but so did its *negative control* (the same criterion applied where the
  claim should not hold): the criterion is not evidence, whatever our value;
* ``not judged`` — the run is too small for this claim (e.g. a paper-scale number under the quick profile).

Claims of *no effect* ("dropout reads the HFC as vanilla does") are equivalence tests (:func:`judge_equivalence`,
TOST within a stated margin). A family of judged claims is corrected for multiplicity with Holm's method
(:func:`holm_adjust`): a mark survives when its Holm-adjusted p-value is below 5 %.

Example:
    >>> from freqlens.stats import Estimate
    >>> bn_minus_vanilla = Estimate.proportion(65, 100) - Estimate.proportion(12, 100)
    >>> judge(bn_minus_vanilla, ">", 0.2)
    'agree'
    >>> judge(Estimate.proportion(50, 100) - Estimate.proportion(48, 100), ">", 0.0)
    'inconclusive'
    >>> verdict(bn_minus_vanilla, ">", 0.2, control=Estimate.proportion(60, 100) - Estimate.proportion(12, 100))
    ('cannot discriminate', 'agree')
    >>> judge(Estimate.mean_of([0.499]), ">", 0.0)
    'noise not measured'
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from freqlens import stats
from freqlens.errors import FreqlensError
from freqlens.stats import Estimate, Op

AGREE = "agree"
DISAGREE = "disagree"
INCONCLUSIVE = "inconclusive"
NOT_DETECTED = "not detected at this scale"
NOISE_NOT_MEASURED = "noise not measured"
UNDISCRIMINATING = "cannot discriminate"
NOT_JUDGED = "not judged"
STATUSES = (AGREE, DISAGREE, INCONCLUSIVE, NOT_DETECTED, NOISE_NOT_MEASURED, UNDISCRIMINATING, NOT_JUDGED)
MARKS = {
    AGREE: "✓",
    DISAGREE: "✗",
    INCONCLUSIVE: "≈",
    NOT_DETECTED: "◌",
    NOISE_NOT_MEASURED: "?",
    UNDISCRIMINATING: "⊘",
    NOT_JUDGED: "–",
}
# Statuses of a test that ran on measured noise: the family Holm's correction is taken over.
TESTED = (AGREE, DISAGREE, INCONCLUSIVE, NOT_DETECTED, UNDISCRIMINATING)
FAMILY_ALPHA = 0.05  # Holm: family-wise error over all judged claims of a reproduction


def _check(op: str) -> None:
    if op not in (">", "<"):
        raise FreqlensError(f"unknown criterion {op!r}; use '>' or '<'")


def judge(estimate: Estimate, op: Op, threshold: float, effect: float | None = None) -> str:
    """The status of the claim ``estimate op threshold``, judged on the 95 % interval.

    ``effect``: the value the claim predicts (e.g. the paper's); when the interval straddles the threshold and the
    distance from ``effect`` to the threshold is below :func:`freqlens.stats.mde`, the status is
    :data:`NOT_DETECTED` rather than :data:`INCONCLUSIVE`. A zero-width interval is :data:`NOISE_NOT_MEASURED`.
    """
    _check(op)
    if not estimate.noise_measured:
        return NOISE_NOT_MEASURED
    low, high = estimate.low, estimate.high
    if op == ">":
        status = AGREE if low > threshold else DISAGREE if high <= threshold else INCONCLUSIVE
    else:
        status = AGREE if high < threshold else DISAGREE if low >= threshold else INCONCLUSIVE
    if status == INCONCLUSIVE and effect is not None and abs(effect - threshold) < stats.mde(estimate):
        return NOT_DETECTED
    return status


def judge_equivalence(estimate: Estimate, margin: float) -> str:
    """The status of the claim "no effect beyond ``±margin``" by two one-sided tests at 5 % (TOST).

    ``agree``: the 90 % interval lies within ``(-margin, margin)``; ``disagree``: the 95 % interval lies wholly
    outside ``[-margin, margin]`` (an effect larger than the margin is shown); otherwise :data:`NOT_DETECTED` when
    the margin is below the smallest one this run can show at 80 % power
    (:func:`freqlens.stats.equivalence_margin`), else :data:`INCONCLUSIVE`.

    Example:
        >>> judge_equivalence(Estimate(0.004, 0.01, dof=400), 0.05), judge_equivalence(Estimate(0.2, 0.01), 0.05)
        ('agree', 'disagree')
        >>> judge_equivalence(Estimate(0.004, 0.05, dof=400), 0.05)   # 2.9 standard errors needed, 1 given
        'not detected at this scale'
    """
    if not margin > 0:
        raise FreqlensError(f"an equivalence margin must be positive, got {margin}")
    if not estimate.noise_measured:
        return NOISE_NOT_MEASURED
    if stats.tost(estimate, margin) < 0.05:
        return AGREE
    if estimate.low > margin or estimate.high < -margin:
        return DISAGREE
    return NOT_DETECTED if margin < stats.equivalence_margin(estimate) else INCONCLUSIVE


def verdict(
    estimate: Estimate, op: Op, threshold: float, control: Estimate | None = None, effect: float | None = None
) -> tuple[str, str | None]:
    """The claim's status and its negative control's own status (``None`` without a control).

    A claim that agrees while its control agrees too is :data:`UNDISCRIMINATING`.
    """
    status = judge(estimate, op, threshold, effect)
    control_status = judge(control, op, threshold) if control is not None else None
    if status == AGREE and control_status == AGREE:
        status = UNDISCRIMINATING
    return status, control_status


def equivalence_verdict(estimate: Estimate, margin: float, control: Estimate | None = None) -> tuple[str, str | None]:
    """As :func:`verdict`, for an equivalence claim (:func:`judge_equivalence`); the control is a set-up where an
    effect is expected, so an equivalence shown there too makes the claim :data:`UNDISCRIMINATING`."""
    status = judge_equivalence(estimate, margin)
    control_status = judge_equivalence(control, margin) if control is not None else None
    if status == AGREE and control_status == AGREE:
        status = UNDISCRIMINATING
    return status, control_status


def decision_p(estimate: Estimate, op: Op, threshold: float) -> float:
    """The p-value behind a directional mark: ``p < 0.05`` exactly when the 95 % interval excludes the threshold
    (twice the smaller one-sided p-value; the one-sided p-value of the criterion is
    :func:`freqlens.stats.p_value`). NaN when the noise was not measured."""
    _check(op)
    return stats.two_sided_p(estimate, threshold)


def equivalence_p(estimate: Estimate, margin: float) -> float:
    """The p-value behind an equivalence mark: the TOST p-value when equivalence is the nearer conclusion, else
    twice the one-sided p-value of an effect beyond the margin (so ``p < 0.05`` exactly for ✓ and ✗)."""
    inside = stats.tost(estimate, margin)
    outside = 2 * min(stats.p_value(estimate, ">", margin), stats.p_value(estimate, "<", -margin))
    return inside if inside <= min(outside, 1.0) else min(outside, 1.0)


def holm_adjust(statuses: Sequence[str], p_values: Sequence[float | None]) -> tuple[list[str], list[float]]:
    """Each status and p-value after Holm's correction over the tested claims (family-wise 5 %): a ✓ or ✗ whose
    adjusted p-value is not below 5 % becomes :data:`INCONCLUSIVE`; other statuses are unchanged.

    The family is every claim with a tested status (:data:`TESTED`) and a p-value; a claim without one (recorded
    before p-values, or never tested) keeps its status and gets a NaN adjusted p-value.

    Example (family of 3: 0.004 x 3 = 0.012, 0.01 x 2 = 0.02, 0.03 x 1 -> 0.03; then 0.03 x 2 = 0.06 with a fourth):
        >>> holm_adjust(["agree", "disagree", "agree"], [0.01, 0.004, 0.03])[0]
        ['agree', 'disagree', 'agree']
        >>> holm_adjust(["agree", "disagree", "agree", "inconclusive"], [0.01, 0.004, 0.03, 0.5])[0]
        ['agree', 'disagree', 'inconclusive', 'inconclusive']
    """
    ps = [math.nan if p is None or st not in TESTED else float(p) for st, p in zip(statuses, p_values, strict=True)]
    adjusted = stats.holm(ps)
    kept = [
        INCONCLUSIVE if st in (AGREE, DISAGREE) and not math.isnan(a) and a >= FAMILY_ALPHA else st
        for st, a in zip(statuses, adjusted, strict=True)
    ]
    return kept, adjusted


def agree_flag(status: str) -> bool | None:
    """The old three-valued mark: True for agree, False for disagree, None for anything else."""
    return True if status == AGREE else False if status == DISAGREE else None
