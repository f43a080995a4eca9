"""Verdicts as measurements: a criterion judged on an estimate's interval, and a negative control that must fail.

A claim such as "BatchNorm reads more HFC than vanilla" becomes a one-sided test of an :class:`Estimate` (here the
difference of two accuracies, with its standard error) against a threshold that states the margin the claim demands:

* ``agree`` — the whole 95 % interval lies on the claimed side of the threshold;
* ``disagree`` — the whole interval lies on the other side;
* ``inconclusive`` — the interval straddles the threshold: the difference is inside the noise;
* ``cannot discriminate`` — the claim passed, but so did its *negative control* (the same criterion applied where the
  claim should not hold: models swapped, an untrained model, the vanilla model for an adversarial claim): the
  criterion is not evidence, whatever our value;
* ``not judged`` — the run is too small for this claim (e.g. a paper-scale number under the quick profile).

Example:
    >>> from freqlens.contract import Estimate
    >>> bn_minus_vanilla = Estimate.proportion(65, 100) - Estimate.proportion(12, 100)
    >>> judge(bn_minus_vanilla, ">", 0.2)
    'agree'
    >>> judge(Estimate.proportion(50, 100) - Estimate.proportion(48, 100), ">", 0.0)
    'inconclusive'
    >>> verdict(bn_minus_vanilla, ">", 0.2, control=Estimate.proportion(60, 100) - Estimate.proportion(12, 100))
    ('cannot discriminate', 'agree')
"""

from __future__ import annotations

from typing import Literal

from freqlens.contract import Estimate
from freqlens.errors import FreqlensError

AGREE = "agree"
DISAGREE = "disagree"
INCONCLUSIVE = "inconclusive"
UNDISCRIMINATING = "cannot discriminate"
NOT_JUDGED = "not judged"
STATUSES = (AGREE, DISAGREE, INCONCLUSIVE, UNDISCRIMINATING, NOT_JUDGED)
MARKS = {AGREE: "✓", DISAGREE: "✗", INCONCLUSIVE: "≈", UNDISCRIMINATING: "⊘", NOT_JUDGED: "–"}

Op = Literal[">", "<"]


def judge(estimate: Estimate, op: Op, threshold: float) -> str:
    """``agree``/``disagree``/``inconclusive`` for the claim ``estimate op threshold``, judged on the 95 % interval."""
    if op not in (">", "<"):
        raise FreqlensError(f"unknown criterion {op!r}; use '>' or '<'")
    low, high = estimate.low, estimate.high
    if op == ">":
        return AGREE if low > threshold else DISAGREE if high <= threshold else INCONCLUSIVE
    return AGREE if high < threshold else DISAGREE if low >= threshold else INCONCLUSIVE


def verdict(estimate: Estimate, op: Op, threshold: float, control: Estimate | None = None) -> tuple[str, str | None]:
    """The claim's status and its negative control's own status (``None`` without a control).

    A claim that agrees while its control agrees too is :data:`UNDISCRIMINATING`.
    """
    status = judge(estimate, op, threshold)
    control_status = judge(control, op, threshold) if control is not None else None
    if status == AGREE and control_status == AGREE:
        status = UNDISCRIMINATING
    return status, control_status


def agree_flag(status: str) -> bool | None:
    """The old three-valued mark: True for agree, False for disagree, None for anything else."""
    return True if status == AGREE else False if status == DISAGREE else None
