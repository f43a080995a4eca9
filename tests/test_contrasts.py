"""Every declared claim of every recipe is a contrast with a placebo control that could pass: never the claim's
negation, never a threshold derived from the control, never a claim of effect without a control; and the A/A
control reads two seed replicates of the comparison set-up."""

from __future__ import annotations

import dataclasses
import doctest
import math

import pytest

from freqlens.contract import Estimate
from freqlens.errors import FreqlensError
from freqlens.experiments import contrasts, get_recipe
from freqlens.experiments.base import Comparison
from freqlens.experiments.contrasts import CONTROL_KINDS, Contrast, aa, placebo
from freqlens.experiments.godfrey.claims import Claim, highpass_claims, sweep_claim
from freqlens.experiments.godfrey.setups import FAMILIES

HFC_RECIPES = ["hfc-e1", "hfc-e3", "hfc-e4", "hfc-e6", "hfc-e7", "hfc-e8e9", "heatmap"]
NEGATION_WORDS = ("swapped", "models swapped", "sign swapped", "reversed")


def declared() -> list[tuple[str, Contrast]]:
    return [(name, c) for name in HFC_RECIPES for c in get_recipe(name).contrasts()]  # type: ignore[attr-defined]


def godfrey_claims() -> list[Claim]:
    claims = [c for family in FAMILIES for c in highpass_claims(family)]
    claims += [sweep_claim("Q4", f, view, "1e-05", "0.01", "decay") for f in FAMILIES for view in ("original", "hp")]
    return claims


def test_every_hfc_recipe_declares_its_claims() -> None:
    counts = {name: len(get_recipe(name).contrasts()) for name in HFC_RECIPES}  # type: ignore[attr-defined]
    assert counts == {
        "hfc-e1": 4,
        "hfc-e3": 4,
        "hfc-e4": 4,
        "hfc-e6": 7,
        "hfc-e7": 4,
        "hfc-e8e9": 6,
        "heatmap": 3,
    }


@pytest.mark.parametrize(("recipe", "contrast"), declared(), ids=lambda v: v if isinstance(v, str) else v.claim[:40])
def test_each_declared_claim_is_a_contrast_with_a_placebo(recipe: str, contrast: Contrast) -> None:
    assert contrast.treatment and contrast.comparison and contrast.treatment != contrast.comparison
    assert contrast.control_kind in CONTROL_KINDS
    assert not any(word in contrast.control_label for word in NEGATION_WORDS), contrast.control_label
    if contrast.control_kind == "none":
        # only a claim of absence goes without a placebo: any placebo meets "at most 0.2" by construction
        assert contrast.is_absence() and contrast.control is None
    else:
        assert contrast.control is not None
    # a threshold is a declared number, never a function of the control
    assert isinstance(contrast.threshold, float) and math.isfinite(contrast.threshold)
    assert {f.name for f in dataclasses.fields(Contrast)}.isdisjoint({"margin_from_control", "control_margin"})


@pytest.mark.parametrize("claim", godfrey_claims(), ids=lambda c: c.claim[:50])
def test_each_godfrey_claim_has_a_placebo_that_is_not_its_negation(claim: Claim) -> None:
    assert claim.control_kind in CONTROL_KINDS and claim.control_kind != "none"
    same_statistic = claim.control_statistic in (None, claim.statistic)
    assert not (same_statistic and claim.control == claim.cells[::-1]), (
        "the control is the claim with its cells swapped"
    )
    assert "margin_from_control" not in {f.name for f in dataclasses.fields(Claim)}
    # no control is another claim's set-up (A13's two halves once controlled each other: each the other's opposite)
    family_cells = {c.cells for c in godfrey_claims() if c.claim.split(":")[0] == claim.claim.split(":")[0]}
    assert claim.control not in family_cells or claim.control == claim.cells


def effect(d: dict[str, float]) -> Estimate:
    return Estimate(d["t"] - d["c"], 0.01)


def test_a_negation_control_is_refused_when_judged() -> None:
    negation = Contrast(
        "t beats c",
        effect,
        "t",
        "c",
        ">",
        0.0,
        "t > c",
        "P",
        "null band",
        "c minus t",
        placebo(lambda d: Estimate(d["c"] - d["t"], 0.01)),
    )
    with pytest.raises(FreqlensError, match="negation"):
        negation.judge({"t": [0.8], "c": [0.5]})


def test_a_claim_of_effect_needs_a_control_and_a_known_kind() -> None:
    with pytest.raises(FreqlensError, match="only a claim of absence"):
        Contrast("t beats c", effect, "t", "c", ">", 0.0, "t > c", "P", "none", "no control")
    with pytest.raises(FreqlensError, match="control kind"):
        Contrast("t beats c", effect, "t", "c", ">", 0.0, "t > c", "P", "models swapped", "c vs t", aa({"t": "c"}))


def test_the_aa_control_reads_disjoint_pairs_of_seeds_of_the_comparison() -> None:
    """Four seeds: the A/A contrasts are c1 - c0 and c3 - c2 (never a seed against itself, never the treatment)."""
    c = Contrast("t beats c", effect, "t", "c", ">", 0.0, "t > c", "P", "A/A", "a second seed of c", aa({"t": "c"}))
    comparison = c.judge({"t": [0.9, 0.91, 0.92, 0.93], "c": [0.5, 0.6, 0.5, 0.7]})
    control = comparison.control
    assert control is not None and control["kind"] == "A/A"
    assert control["estimate"]["value"] == pytest.approx(((0.6 - 0.5) + (0.7 - 0.5)) / 2)
    assert comparison.treatment == "t" and comparison.comparison == "c"
    # one seed: no A/A pair, so no control is claimed
    assert c.judge({"t": [0.9], "c": [0.5]}).control is None


def test_an_aa_control_that_passes_makes_the_claim_undiscriminating() -> None:
    c = Contrast("t beats c", effect, "t", "c", ">", 0.1, "t > c", "P", "A/A", "a second seed of c", aa({"t": "c"}))
    noisy = c.judge({"t": [0.9, 1.31, 0.91, 1.3], "c": [0.5, 0.9, 0.5, 0.91]})  # c's seeds differ by 0.4
    assert noisy.status == "cannot discriminate" and noisy.control["status"] == "agree"  # type: ignore[index]


def test_docstring_examples() -> None:
    assert doctest.testmod(contrasts).failed == 0


def test_the_report_lists_each_aa_contrast_and_the_rate_of_false_agreements() -> None:
    from freqlens.experiments.base import Summary
    from freqlens.report import calibration

    def judged(c_seeds: list[float]) -> Comparison:
        c = Contrast("t beats c", effect, "t", "c", ">", 0.0, "t > c", "P", "A/A", "a second seed of c", aa({"t": "c"}))
        return c.judge({"t": [0.9, 0.91], "c": c_seeds})

    quiet, loud = judged([0.5, 0.5001]), judged([0.5, 0.6])  # seed-to-seed differences of 0.0001 and 0.1
    rows, rate = calibration([Summary("r", "t", (), comparisons=[quiet, loud])])
    assert [row[-1] for row in rows] == ["inconclusive", "agrees"]
    assert rate.startswith("false ✓ in 1 of 2 judged A/A contrasts (50 %")
