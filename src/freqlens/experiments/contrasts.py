"""Claims as data: each claim of the HFC and heat-map recipes is a declared :class:`Contrast`.

A contrast is a statistic of a *treatment* set-up minus the same statistic of a named *comparison* set-up (BN vs
vanilla, LFC- vs HFC-trained, the mid band vs DC of one model, ...), computed seed by seed on one replicate's data
(a :data:`Draw`: set-up name -> that replicate's cell result, summary or arrays) and combined over the seeds, judged
against a threshold that is 0 for a direction, or a number the paper states.

Each contrast names its negative control by kind (:data:`CONTROL_KINDS`): a *placebo that could pass*, the same
criterion where no effect is predicted. Never the claim's negation, never a threshold derived from the control:

* ``A/A`` — the statistic with the treatment replaced by a second seed replicate of the comparison set-up
  (replicates 0 and 1, 2 and 3, ...). The same rows make the report's calibration table: with a sound interval, such
  an A/A contrast meets the criterion in at most 5 % of the cases.
* ``untrained`` — the statistic on an untrained model of the same architecture, which learned nothing.
* ``permuted`` — labels or pairings permuted, so that no information is left to read.
* ``null band`` — a band, view or radius where the theory predicts no effect.
* ``none`` — only for a claim of absence (an upper bound at chance, or "about equal", ``op="≈"``: an equivalence
  test within ``±threshold``, :meth:`Comparison.equivalent`), which any placebo meets by construction; the reason
  is stated.

Example:
    >>> from freqlens.stats import Estimate
    >>> c = Contrast("a beats b", lambda d: Estimate(d["a"] - d["b"], 0.01), "a", "b", ">", 0.0, "a > b", "P",
    ...              "A/A", "b against a second seed of b", aa({"a": "b"}))
    >>> comparison = c.judge({"a": [0.8, 0.81], "b": [0.5, 0.505]})
    >>> comparison.status, comparison.control["kind"], round(comparison.control["estimate"]["value"], 3)
    ('agree', 'A/A', 0.005)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from freqlens import verdicts
from freqlens.errors import FreqlensError
from freqlens.experiments import common
from freqlens.experiments.base import Comparison
from freqlens.stats import Estimate

CONTROL_KINDS = {
    "A/A": "two seed replicates of the comparison set-up (no effect predicted)",
    "untrained": "an untrained model of the same architecture (nothing learned)",
    "permuted": "labels or pairings permuted (no information left to read)",
    "null band": "a band, view or radius where the theory predicts no effect",
    "none": "no placebo: a claim of absence, which any placebo meets by construction",
}

Draw = Mapping[str, Any]  # set-up name -> one seed replicate's data
Effect = Callable[[Draw], Estimate]
# A control reads one replicate and, for an A/A contrast, a second one (None when the run has a single seed).
Control = Callable[[Draw, Draw | None], Estimate | None]


def aa(swap: Mapping[str, str]) -> Callable[[Effect], Control]:
    """The A/A control of an effect: each treatment set-up ``t`` of ``swap`` read from a second seed replicate of its
    comparison set-up ``swap[t]``, every other set-up from the first. ``None`` without a second replicate.

    Example:
        >>> from freqlens.stats import Estimate
        >>> control = aa({"bn": "vanilla"})(lambda d: Estimate(d["bn"] - d["vanilla"]))
        >>> control({"bn": 0.9, "vanilla": 0.5}, {"bn": 0.8, "vanilla": 0.55}).value
        0.050000000000000044
    """

    def make(effect: Effect) -> Control:
        def control(first: Draw, second: Draw | None) -> Estimate | None:
            if second is None:
                return None
            return effect({**first, **{t: second[c] for t, c in swap.items()}})

        return control

    return make


def aa_between(statistic: Callable[[Draw, Draw], Estimate]) -> Callable[[Effect], Control]:
    """An A/A control that is not a plain swap: ``statistic(first, second)`` of two seed replicates of the
    comparison set-ups (say, the smallest over r of the seed-to-seed differences of one model family)."""

    def make(_: Effect) -> Control:
        return lambda first, second: None if second is None else statistic(first, second)

    return make


def placebo(statistic: Effect) -> Callable[[Effect], Control]:
    """A control that is another statistic of one replicate (untrained model, permuted labels, null band)."""

    def make(_: Effect) -> Control:
        return lambda first, second: statistic(first)

    return make


@dataclass(frozen=True)
class Contrast:
    """One claim as data: ``effect`` (treatment minus comparison, one replicate) ``op threshold`` on the interval of
    its combination over seeds, with a placebo control of kind ``control_kind``.

    ``control`` builds the control from the effect (:func:`aa` or :func:`placebo`); ``None`` only with kind
    ``none``. ``condition`` may return a reason not to judge (say, a model that did not fit its labels); ``note``
    adds measured context; ``diagnosis`` says what happened when the claim does not agree.
    """

    claim: str
    effect: Effect
    treatment: str
    comparison: str
    op: verdicts.Op | Literal["≈"]
    threshold: float
    paper: str | float
    provenance: str
    control_kind: str
    control_label: str
    control: Callable[[Effect], Control] | None = None
    diagnosis: str = ""
    note: Callable[[Sequence[Draw]], str] | None = None
    condition: Callable[[Sequence[Draw]], str | None] | None = None

    def __post_init__(self) -> None:
        if self.control_kind not in CONTROL_KINDS:
            raise FreqlensError(f"{self.claim}: control kind {self.control_kind!r} is not one of {list(CONTROL_KINDS)}")
        if (self.control is None) != (self.control_kind == "none"):
            raise FreqlensError(f"{self.claim}: a control is needed exactly when its kind is not 'none'")
        if self.control_kind == "none" and not self.is_absence():
            raise FreqlensError(
                f"{self.claim}: only a claim of absence (an upper bound above 0) may go without control"
            )

    def is_absence(self) -> bool:
        """An equivalence or an upper bound above zero ("within 0.05", "at most 0.2"): a placebo would meet it by
        construction."""
        return self.op == "≈" or (self.op == "<" and self.threshold > 0)

    def judge(self, groups: Mapping[str, Sequence[Any]]) -> Comparison:
        """The comparison for ``groups`` (set-up name -> its replicates' data, in replicate order)."""
        seeds = min(len(g) for g in groups.values())
        draws = [{name: g[i] for name, g in groups.items()} for i in range(seeds)]
        note = self.note(draws) if self.note else ""
        reason = self.condition(draws) if self.condition else None
        estimate = common.combine([self.effect(d) for d in draws])
        if reason:
            c = Comparison(self.claim, str(estimate), self.paper, self.provenance, self.rule(), None, note=note)
            c.treatment, c.comparison = self.treatment, self.comparison
            return c.not_judged(f"not judged: {reason}" + (f"; {note}" if note else ""))
        control = self._control(draws)
        if control is None and self.control_kind == "A/A":
            note = "; ".join(t for t in (note, "no A/A placebo: it needs two seeds of the comparison set-up") if t)
        if control is not None and estimate.value != 0 and math.isclose(control.value, -estimate.value):
            raise FreqlensError(f"{self.claim}: the control is the claim's negation ({control.value:g})")
        if self.op == "≈":
            comparison = Comparison.equivalent(
                self.claim,
                estimate,
                self.threshold,
                self.paper,
                self.provenance,
                control_kind=self.control_kind,
                control_label=self.control_label,
                treatment=self.treatment,
                comparison=self.comparison,
                seeds=seeds,
                note=note,
            )
            return self._diagnosed(comparison, estimate, control)
        comparison = Comparison.measured(
            self.claim,
            estimate,
            self.op,
            self.threshold,
            self.paper,
            self.provenance,
            control=control,
            control_label=self.control_label,
            control_kind=self.control_kind,
            treatment=self.treatment,
            comparison=self.comparison,
            seeds=seeds,
            note=note,
        )
        return self._diagnosed(comparison, estimate, control)

    def _diagnosed(self, comparison: Comparison, estimate: Estimate, control: Estimate | None) -> Comparison:
        """What happened, for every mark but ✓: the interval against the criterion, the placebo that passed, or
        the noise that was not measured; then the declared reading of it."""
        interval = f"the 95 % interval [{estimate.low:.3f}, {estimate.high:.3f}]"
        facts = {
            verdicts.DISAGREE: f"{interval} lies on the wrong side of {self.threshold:g}.",
            verdicts.INCONCLUSIVE: f"{interval} straddles {self.threshold:g}: the effect is inside the noise.",
            verdicts.NOT_DETECTED: f"{interval} straddles {self.threshold:g}, and the effect predicted is below "
            "the smallest this run detects.",
            verdicts.NOISE_NOT_MEASURED: "the interval has zero width: its noise was not measured, so it is not "
            "judged.",
            verdicts.UNDISCRIMINATING: f"the placebo ({self.control_label}) meets the criterion too"
            + (f" ({control.value:.3f} [{control.low:.3f}, {control.high:.3f}])" if control is not None else "")
            + ": the criterion is no evidence here.",
        }
        fact = facts.get(comparison.status)
        if fact is not None:
            read = self.diagnosis and comparison.status in (verdicts.DISAGREE, verdicts.INCONCLUSIVE)
            comparison.diagnosis = fact + (f" Reading: {self.diagnosis}." if read else "")
        return comparison

    def _control(self, draws: Sequence[Draw]) -> Estimate | None:
        if self.control is None:
            return None
        make = self.control(self.effect)
        if self.control_kind == "A/A":
            pairs = [(draws[i], draws[i + 1]) for i in range(0, len(draws) - 1, 2)]
            values = [v for a, b in pairs if (v := make(a, b)) is not None]
            return common.combine(values) if values else None
        values = [v for d in draws if (v := make(d, None)) is not None]
        return common.combine(values) if values else None

    def rule(self) -> str:
        """The criterion as text."""
        if self.op == "≈":
            return f"|difference| < {self.threshold:g} (TOST)"
        return f"{self.op} {self.threshold:g} (95% interval)"


def judge_all(contrasts: Sequence[Contrast], groups: Mapping[str, Sequence[Any]]) -> list[Comparison]:
    """Every declared contrast judged on ``groups``."""
    return [c.judge(groups) for c in contrasts]
