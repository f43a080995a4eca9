"""Interval arithmetic (freqlens.stats) against published values, closed forms and scipy's own tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from freqlens import stats, verdicts
from freqlens.experiments.base import Comparison
from freqlens.stats import Estimate


@pytest.mark.parametrize(
    ("dof", "expected"),
    [(1, 12.706205), (2, 4.302653), (4, 2.776445), (14, 2.144787), (31, 2.039513), (math.inf, 1.959964)],
)
def test_t_quantiles_are_exact_to_1e6(dof, expected):
    # two-sided 95 % quantiles from printed tables (6 decimals); the old step table was 3.9 % off at 14 and 31
    assert stats.t_quantile(0.975, dof) == pytest.approx(expected, abs=1e-6)


def test_wilson_interval_matches_the_textbook():
    e = Estimate.proportion(80, 100)
    assert e.value == 0.8 and math.isclose(e.stderr, 0.04)
    assert (round(e.low, 4), round(e.high, 4)) == (0.7112, 0.8666)
    zero = Estimate.proportion(0, 10)
    assert zero.low == 0.0 and zero.high == pytest.approx(3.8415 / 13.8415, abs=1e-4)  # z^2 / (n + z^2)


# Newcombe (1998), Stat. Med. 17:873-890, Table II, method 10 (hybrid score, no continuity correction).
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
]


@pytest.mark.parametrize(("counts", "expected"), NEWCOMBE_TABLE_II)
def test_difference_of_proportions_is_newcombes_interval(counts, expected):
    k1, n1, k2, n2 = counts
    d = Estimate.proportion(k1, n1) - Estimate.proportion(k2, n2)
    assert d.method == "newcombe" and d.value == pytest.approx(k1 / n1 - k2 / n2)
    assert (round(d.low, 4), round(d.high, 4)) == expected


def test_zero_of_500_minus_zero_of_500_is_not_degenerate_and_never_disagrees():
    d = Estimate.proportion(0, 500) - Estimate.proportion(0, 500)
    assert d.low < 0 < d.high and d.high == pytest.approx(3.8415 / 503.8415, abs=1e-5)
    assert verdicts.judge(d, ">", 0.0) == verdicts.judge(d, "<", 0.0) == "inconclusive"


def test_a_shifted_proportion_keeps_its_wilson_interval():
    p = Estimate.proportion(65, 100)
    shifted = p - 0.12
    assert shifted.method == "binomial" and shifted.low == pytest.approx(p.low - 0.12)
    assert stats.p_value(shifted, ">", shifted.low) == pytest.approx(0.025, abs=1e-9)
    assert (0.12 - p).high == pytest.approx(0.12 - p.low)


def test_welch_for_differences_of_seed_means_matches_scipy():
    a, b = [0.61, 0.55, 0.70], [0.42, 0.45, 0.43]
    d = Estimate.mean_of(a) - Estimate.mean_of(b)
    ref = sps.ttest_ind(a, b, equal_var=False)
    assert d.dof == pytest.approx(ref.df, rel=1e-12)
    low, high = ref.confidence_interval(0.95)
    assert (d.low, d.high) == pytest.approx((low, high), rel=1e-12)
    # the normal's 1.96 would have been far too narrow with 3 seeds a side
    assert d.high - d.value > 1.5 * stats.Z95 * d.stderr


def test_welch_with_equal_spreads_has_the_pooled_degrees_of_freedom():
    assert stats.welch_dof(0.1, 2, 0.1, 2) == pytest.approx(4.0)
    half = (Estimate.mean_of([0.5, 0.6, 0.7]) - Estimate.mean_of([0.3, 0.4, 0.5])).high - 0.2
    assert half == pytest.approx(2.776445 * math.sqrt(2) * 0.1 / math.sqrt(3), abs=1e-6)


def test_a_seed_mean_minus_a_proportion_counts_the_proportion_as_normal():
    seeds, prop = Estimate.mean_of([0.5, 0.6, 0.7]), Estimate.proportion(40, 100)
    d = seeds - prop
    expected = (seeds.stderr**2 + prop.stderr**2) ** 2 / (seeds.stderr**4 / 2)
    assert d.method == "seeds" and d.dof == pytest.approx(expected)


def test_paired_interval_is_scipys_paired_t():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    e = stats.paired(a, b, support=(-1, 1))
    ref = sps.ttest_rel(a, b)
    assert e.dof == 199 and (e.low, e.high) == pytest.approx(tuple(ref.confidence_interval(0.95)), rel=1e-12)
    assert stats.two_sided_p(e, 0.0) == pytest.approx(ref.pvalue, rel=1e-9)


def test_intervals_are_clipped_to_the_range_of_the_statistic():
    e = Estimate.mean_of([0.98, 1.0, 0.99], support=(0.0, 1.0))
    assert e.high == 1.0 and e.low < e.value
    d = Estimate.proportion(10, 10) - Estimate.proportion(0, 10)
    assert d.support == (-1.0, 1.0) and d.high == 1.0
    assert stats.p_value(d, "<", 1.5) == 0.0 and stats.p_value(d, ">", 1.5) == 1.0  # beyond the range: certain


def test_bootstrap_is_stable_across_resampling_seeds():
    x = np.random.default_rng(1).normal(size=300)

    def mean(idx):
        return float(x.mean() if idx is None else x[idx].mean())

    one, two = stats.bootstrap(mean, 300, seed=0), stats.bootstrap(mean, 300, seed=1)
    se = x.std(ddof=1) / math.sqrt(300)
    assert one.stderr == pytest.approx(se, rel=0.06)
    # 2000 resamples: the ends move by well under a fifth of a standard error between resampling seeds
    assert abs(one.low - two.low) < 0.2 * se and abs(one.high - two.high) < 0.2 * se
    assert stats.p_value(one, ">", one.low) == pytest.approx(0.025, abs=1e-9)


@pytest.mark.parametrize(
    "estimate",
    [
        Estimate.proportion(30, 100),
        Estimate.proportion(30, 100) - Estimate.proportion(20, 120),
        Estimate.mean_of([0.1, 0.3, 0.2, 0.25]),
        Estimate(0.2, 0.05, 0.1, 0.33, method="bootstrap"),
    ],
)
def test_p_values_invert_the_same_interval(estimate):
    assert stats.p_value(estimate, ">", estimate.low) == pytest.approx(0.025, abs=1e-9)
    assert stats.p_value(estimate, "<", estimate.high) == pytest.approx(0.025, abs=1e-9)
    assert stats.two_sided_p(estimate, estimate.low) == pytest.approx(0.05, abs=1e-9)
    mid = (estimate.low + estimate.value) / 2
    assert 0.025 < stats.p_value(estimate, ">", mid) < 0.5


def test_t_p_value_is_scipys():
    e = Estimate.mean_of([0.1, 0.3, 0.2, 0.25])
    t = (e.value - 0.05) / e.stderr
    assert stats.p_value(e, ">", 0.05) == pytest.approx(sps.t.sf(t, 3), rel=1e-12)


def test_holm_against_a_hand_computed_example():
    # m = 5 sorted: 0.001*5 = 0.005, 0.011*4 = 0.044, 0.02*3 = 0.06, 0.04*2 = 0.08, 0.3*1 = 0.3
    adjusted = stats.holm([0.02, 0.3, 0.001, math.nan, 0.04, 0.011])
    assert adjusted[:3] == pytest.approx([0.06, 0.3, 0.005]) and math.isnan(adjusted[3])
    assert adjusted[4:] == pytest.approx([0.08, 0.044])
    # step-down monotonicity: 0.5*2 = 1.0 caps at 1 and a later smaller product cannot undercut it
    assert stats.holm([0.6, 0.5]) == [1.0, 1.0]


def test_holm_adjusted_statuses_keep_only_marks_that_survive():
    statuses = ["agree", "agree", "disagree", "inconclusive", "noise not measured", "agree"]
    ps = [0.001, 0.02, 0.004, 0.6, None, None]
    # family of 4 tested: 0.001*4, 0.004*3, 0.02*2 = 0.04, 0.6; the last ✓ has no p (an old record): unchanged
    kept, adjusted = verdicts.holm_adjust(statuses, ps)
    assert kept == statuses and adjusted[:4] == pytest.approx([0.004, 0.04, 0.012, 0.6])
    assert all(math.isnan(a) for a in adjusted[4:])
    ps[1] = 0.03  # 0.03 * 2 = 0.06: this ✓ does not survive
    assert verdicts.holm_adjust(statuses, ps)[0][1] == "inconclusive"


def test_tost_against_hand_computation():
    e = Estimate(0.01, 0.02, dof=10)
    # p(> -0.05) = t_10.sf(3) = 0.00666; p(< 0.05) = t_10.sf(2) = 0.03669
    assert stats.tost(e, 0.05) == pytest.approx(0.036694, abs=1e-6)
    assert verdicts.judge_equivalence(e, 0.05) == "agree"
    assert verdicts.judge_equivalence(e, 0.03) == "not detected at this scale"  # needs (1.81 + 1.37) x 0.02
    assert verdicts.judge_equivalence(Estimate(0.01, 0.002, dof=10), 0.005) == "disagree"
    c = Comparison.equivalent("dropout ≈ vanilla", e, 0.05, "≈", "F")
    assert c.status == "agree" and c.p_value == pytest.approx(0.036694, abs=1e-6)
    assert c.mde == pytest.approx((sps.t.ppf(0.95, 10) + sps.t.ppf(0.9, 10)) * 0.02)


def test_minimum_detectable_effect_has_80_percent_power():
    e = Estimate(0.0, 0.01, dof=math.inf)
    effect = stats.mde(e)
    # a true effect of one MDE above the threshold: the 95 % interval excludes the threshold with probability 0.8
    assert sps.norm.sf(stats.Z95 - effect / 0.01) == pytest.approx(0.8, abs=1e-9)
    assert verdicts.judge(Estimate(0.01, 0.01), ">", 0.0, effect=0.02) == "not detected at this scale"
    assert verdicts.judge(Estimate(0.01, 0.01), ">", 0.0, effect=0.05) == "inconclusive"


def test_zero_width_intervals_are_never_judged():
    one_seed = Estimate.mean_of([0.499])
    flat = stats.bootstrap(lambda idx: 0.499, 50)
    for e in (one_seed, flat, Estimate.exact(0.499), one_seed - Estimate.proportion(40, 100)):
        assert not e.noise_measured
        assert verdicts.judge(e, ">", 0.0) == verdicts.judge(e, "<", 0.0) == "noise not measured"
        c = Comparison.measured("linear CNN", e, ">", 0.0, 0.5, "P")
        assert c.status == "noise not measured" and c.agree is None and c.p_value is None
    assert verdicts.judge_equivalence(flat, 0.1) == "noise not measured"


def test_estimates_round_trip_and_old_records_load():
    for e in (
        Estimate.proportion(0, 500) - Estimate.proportion(0, 500),
        Estimate.mean_of([1.0, 2.0]) - Estimate.proportion(1, 2),
        Estimate(0.3, 0.1, dof=math.inf),
    ):
        assert Estimate.from_dict(e.to_dict()) == e
    old = {"value": 0.6, "stderr": 0.0577, "low": 0.35, "high": 0.85, "n": 3, "method": "seeds"}
    loaded = Estimate.from_dict(old)
    assert loaded.dof == 2.0 and (loaded.low, loaded.high) == (0.35, 0.85)
    hand_made = Estimate.from_dict({"value": 0.3, "stderr": 0.1, "low": None, "high": None})
    assert hand_made.low == pytest.approx(0.3 - stats.Z95 * 0.1)


def test_negation_mirrors_the_interval():
    d = Estimate.proportion(9, 10) - Estimate.proportion(3, 10)
    assert ((-d).low, (-d).high) == pytest.approx((-d.high, -d.low)) and (-d).method == "newcombe"
    p = -Estimate.proportion(3, 10)
    assert stats.p_value(p, "<", p.high) == pytest.approx(0.025, abs=1e-9)


def test_bootstrap_interval_is_clipped_to_the_support():
    x = np.r_[np.ones(45), np.full(5, 0.2)]  # a correlation-like statistic close to its upper end

    def mean(idx):
        return float(x.mean() if idx is None else x[idx].mean())

    free, clipped = stats.bootstrap(mean, 50), stats.bootstrap(mean, 50, support=(-1.0, 0.95))
    assert free.high > 0.95 and clipped.high == 0.95 and clipped.low == free.low


def test_a_over_a_false_agreements_stay_within_the_nominal_rate():
    """Two replicates of one set-up (an A/A contrast): "A > A" must agree in at most ~2.5 % of draws (one side of a
    95 % interval). The old arithmetic (1.96 for 3 vs 3 seeds; a zero-width interval at 0/n) failed this."""
    rng = np.random.default_rng(7)
    draws = 4000
    seeds = rng.normal(0.5, [0.02, 0.06], size=(draws, 3, 2))  # 3 seeds a side, unequal spreads
    welch = [verdicts.judge(Estimate.mean_of(s[:, 0]) - Estimate.mean_of(s[:, 1]), ">", 0.0) for s in seeds]
    counts = rng.binomial(500, 0.01, size=(draws, 2))  # rare errors: many draws at or near 0/500
    newcombe = [verdicts.judge(Estimate.proportion(a, 500) - Estimate.proportion(b, 500), ">", 0.0) for a, b in counts]
    # 2.5 % plus three Monte-Carlo standard errors (0.25 % at 4000 draws)
    assert welch.count("agree") / draws < 0.033 and newcombe.count("agree") / draws < 0.033
    naive = [(s[:, 0].mean() - s[:, 1].mean()) / math.hypot(*(s.std(axis=0, ddof=1) / math.sqrt(3))) for s in seeds]
    assert np.mean(np.array(naive) > stats.Z95) > 0.05  # the normal quantile with 3 seeds: twice the rate
