"""Godfrey claims judged on synthetic cell results: each verdict (agree, disagree, inconclusive, cannot discriminate,
not judged) comes out where it should, with bootstrap (one seed) or seed (several) uncertainty."""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from freqlens import runs
from freqlens.contract import Estimate
from freqlens.experiments.base import Cell, CellResult, Context
from freqlens.experiments.godfrey import stats
from freqlens.experiments.godfrey.claims import highpass_claims, sweep_claim
from freqlens.experiments.godfrey.recipes import GodfreyHighpass

R = 23  # radial bins of a 32x32 map
RADII = torch.arange(R, dtype=torch.float64)
DATA = (RADII.clamp(min=1) ** -1.5) / (RADII.clamp(min=1) ** -1.5).sum()  # a decreasing data profile


def result(
    tmp: Path,
    name: str,
    shape: torch.Tensor,
    noise: float = 0.02,
    square: float = 0.3,
    replicate: int = 0,
    n: int = 64,
    dead: bool = False,
) -> CellResult:
    """A finished cell whose per-image radial profiles are ``shape`` times lognormal noise, and whose share of the
    map inside the high-pass square is ``square`` (per image, with noise)."""
    g = torch.Generator().manual_seed(zlib.crc32(f"{name}/{replicate}".encode()))
    radial = shape.clamp(min=1e-6) * torch.exp(noise * torch.randn(n, R, generator=g, dtype=torch.float64))
    total = radial.sum(dim=1) * 40
    inside = total * (square + noise * torch.randn(n, generator=g, dtype=torch.float64)).clamp(0.01, 0.99)
    if dead:
        radial, total, inside = torch.zeros_like(radial), torch.zeros(n), torch.zeros(n)
    path = tmp / f"{name}-r{replicate}"
    runs.save_arrays(path, radial=radial, square=inside, total=total, data_profile=DATA)
    cell = Cell(f"{name}", {"replicate": replicate} if replicate else {})
    summary = {"dead": dead, "accuracy": Estimate.proportion(40, n).to_dict(), "family": "small_cnn"}
    return CellResult(cell, path, summary)


def groups(tmp: Path, seeds: int = 1, **shapes: tuple[torch.Tensor, float, float]) -> dict[str, list[CellResult]]:
    """Cells by kind, each with ``seeds`` replicates; ``shapes[kind] = (profile shape, noise, square share)``."""
    return {
        kind.replace("_", "-"): [result(tmp, kind, s, noise, sq, replicate=r) for r in range(seeds)]
        for kind, (s, noise, sq) in shapes.items()
    }


FLAT = torch.ones(R, dtype=torch.float64)
DECREASING = DATA.clone()
INCREASING = DATA.flip(0)


def claim(name: str):
    return next(c for c in highpass_claims("small_cnn") if c.claim.startswith(name))


def test_q2_agrees_disagrees_and_cannot_discriminate(tmp_path):
    q2 = claim("Q2")
    flat = {"untrained": (FLAT, 0.3, 0.25), "untrained_b": (FLAT, 0.3, 0.25)}
    # per-image noise large enough to move the profile's ranks: a rank statistic the images never move has a
    # zero-width bootstrap interval, which is never judged
    good = groups(tmp_path / "a", natural=(DECREASING, 0.3, 0.4), **flat)
    c = q2.judge(good, "test")
    assert c.status == "agree" and c.control["status"] != "agree" and c.estimate["method"] == "bootstrap"
    assert c.estimate["n"] == 64 and c.estimate["low"] > 0.5
    bad = groups(tmp_path / "b", natural=(INCREASING, 0.3, 0.4), **flat)
    c = q2.judge(bad, "test")
    assert c.status == "disagree" and "wrong side" in c.diagnosis and "test accuracy" in c.diagnosis
    # Untrained models that already follow the data: the criterion cannot tell training from architecture.
    follows = {"untrained": (DECREASING, 0.3, 0.4), "untrained_b": (DECREASING, 0.3, 0.4)}
    same = groups(tmp_path / "c", natural=(DECREASING, 0.3, 0.4), **follows)
    c = q2.judge(same, "test")
    assert c.status == "cannot discriminate" and c.control["status"] == "agree" and "control" in c.diagnosis


def test_q2_control_pools_two_initialisations_so_one_lucky_initialisation_decides_nothing(tmp_path):
    """Alone, the first initialisation follows the data and would make the claim 'cannot discriminate'; the second
    runs against it. Pooled, the control carries the initialisation noise (a spread over two draws): inconclusive."""
    split = {"untrained": (DECREASING, 0.02, 0.25), "untrained_b": (INCREASING, 0.02, 0.25)}
    c = claim("Q2").judge(groups(tmp_path, natural=(DECREASING, 0.3, 0.4), **split), "test")
    control = c.control["estimate"]
    assert c.status == "agree" and c.control["status"] == "inconclusive"
    assert control["method"] == "seeds" and control["n"] == 2 and control["low"] < 0.5 < control["high"]
    assert "pooled with untrained-b" in c.note


def test_a13_low_frequency_share_is_judged_against_a_second_initialisation(tmp_path):
    """A13's first part reads the share inside the low square, natural-trained vs untrained; its placebo is a second
    initialisation against the first (not the high-pass model, which the other half of A13 predicts the opposite
    of). The ring-mean masses are reported beside the verdict."""
    a13 = claim("A13: trained")
    base = {"untrained": (FLAT, 0.02, 0.25), "untrained_hpview": (FLAT, 0.02, 0.25), "highpass": (FLAT, 0.02, 0.15)}
    good = groups(tmp_path / "a", natural=(DECREASING, 0.02, 0.35), untrained_b=(FLAT, 0.02, 0.25), **base)
    c = a13.judge(good, "test")
    assert c.status == "agree" and c.control["status"] != "agree" and c.control["kind"] == "A/A"
    assert "ring-mean profile mass at radius < 8, natural minus untrained" in c.note
    # two initialisations that differ as much as trained and untrained: the criterion is not evidence
    both = groups(tmp_path / "b", natural=(DECREASING, 0.02, 0.35), untrained_b=(FLAT, 0.02, 0.35), **base)
    assert a13.judge(both, "test").status == "cannot discriminate"


def test_a13_square_share_needs_to_beat_the_untrained_model_not_one_half(tmp_path):
    """The old criterion (< 0.5) passed for untrained models (~0.25); the new one compares with them."""
    a13 = claim("A13: high-pass")
    shapes = {"natural": (DECREASING, 0.02, 0.5), "untrained": (FLAT, 0.02, 0.25), "untrained_b": (FLAT, 0.02, 0.25)}
    # High-pass model with 0.24 in the square: below 0.5, but not below the untrained model's 0.25 beyond noise.
    close = groups(tmp_path / "a", highpass=(FLAT, 0.1, 0.24), untrained_hpview=(FLAT, 0.1, 0.25), **shapes)
    assert a13.judge(close, "test").status == "inconclusive"
    clear = groups(tmp_path / "b", highpass=(FLAT, 0.02, 0.10), untrained_hpview=(FLAT, 0.02, 0.25), **shapes)
    c = a13.judge(clear, "test")
    assert c.status == "agree" and c.control["status"] != "agree"


def test_q3_inside_the_noise_is_inconclusive_and_outside_decides(tmp_path):
    q3 = claim("Q3")
    base = {"untrained": (FLAT, 0.02, 0.25), "untrained_hpview": (FLAT, 0.02, 0.25)}
    tiny = groups(tmp_path / "a", highpass=(FLAT, 0.2, 0.4128), natural=(FLAT, 0.2, 0.4135), **base)
    assert q3.judge(tiny, "test").status == "inconclusive"  # the 0.0007 knife edge of the issue
    up = groups(tmp_path / "b", highpass=(FLAT, 0.02, 0.6), natural=(FLAT, 0.02, 0.4), **base)
    assert q3.judge(up, "test").status == "disagree"


def test_several_seeds_use_the_spread_over_seeds(tmp_path):
    q6 = claim("Q6")
    g = groups(
        tmp_path,
        seeds=3,
        untrained=(FLAT, 0.1, 0.25),
        natural=(DECREASING, 0.1, 0.4),
        untrained_b=(FLAT, 0.1, 0.25),
    )
    c = q6.judge(g, "test")
    assert c.seeds == 3 and c.estimate["method"] == "seeds" and c.estimate["n"] == 3
    assert c.status == "agree" and c.control["status"] != "agree"
    # Student t with 2 degrees of freedom, not the normal quantile.
    est = Estimate.from_dict(c.estimate)
    assert math.isclose(est.high - est.value, 4.303 * est.stderr, rel_tol=1e-3)


def test_a_dead_model_is_reported_not_judged(tmp_path):
    g = groups(tmp_path, natural=(DECREASING, 0.02, 0.4), untrained_b=(FLAT, 0.02, 0.25))
    g["untrained"] = [result(tmp_path, "untrained", FLAT, dead=True)]
    c = claim("Q2").judge(g, "test")
    assert c.status == "not judged" and c.ours == "dead model" and "untrained" in c.note


def test_sweep_claim_uses_the_other_data_sets_band_as_control(tmp_path):
    steep = DATA**1.5 / (DATA**1.5).sum()
    g = groups(tmp_path, **{"1e-05": (DATA, 0.02, 0.4), "0.5": (steep, 0.02, 0.5)})
    q4 = sweep_claim("Q4", "circular_linear", "original", "1e-05", "0.5", "weight decay")
    c = q4.judge(g, "test")
    assert c.status == "agree" and c.control["status"] == "disagree" and "8-11" in c.control["label"]
    flatter = groups(tmp_path / "f", **{"1e-05": (steep, 0.02, 0.4), "0.5": (DATA, 0.02, 0.5)})
    assert q4.judge(flatter, "test").status == "disagree"


def test_bootstrap_matches_the_standard_error_of_a_mean():
    """The bootstrap standard error of a share of means is close to the delta-method value."""
    g = torch.Generator().manual_seed(0)
    n = 400
    total = torch.ones(n, dtype=torch.float64)
    inside = torch.rand(n, generator=g, dtype=torch.float64)
    sample = stats.Sample(np.ones((n, R)), inside.numpy(), total.numpy(), DATA)
    est = stats.bootstrap(lambda s, idx: s[0].square_share(idx), [sample])
    assert est.value == pytest.approx(float(inside.mean()))
    assert est.stderr == pytest.approx(float(inside.std()) / math.sqrt(n), rel=0.15)
    assert est.low < est.value < est.high


def test_highpass_summary_end_to_end_on_synthetic_results(tmp_path, monkeypatch):
    """summarize() over fabricated cells: one comparison per claim, each with an estimate and a control."""
    results = []
    for family in ("small_cnn", "circular_relu", "circular_linear"):
        for kind, shape, sq in (
            ("natural", DECREASING, 0.45),
            ("highpass", FLAT, 0.1),
            ("untrained", FLAT, 0.25),
            ("untrained-hpview", FLAT, 0.25),
            ("untrained-b", FLAT, 0.25),
        ):
            r = result(tmp_path, f"{family}-{kind}-s0", shape, 0.3 if kind == "natural" else 0.05, sq)
            r.summary.update(family=family, profile=(shape / shape.sum()).tolist(), data_profile=DATA.tolist())
            results.append(r)
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "fake").mkdir()
    for r in results:  # the maps figure reads the mean map
        runs.save_arrays(r.run_dir, mean=np.ones((3, 32, 32)), **{k: v for k, v in r.arrays().items()})
    summary = GodfreyHighpass().summarize(results, out, Context(out / "runs"))
    assert len(summary.comparisons) == 3 * 3 + 2
    assert all(c.estimate is not None and c.control is not None for c in summary.comparisons)
    statuses = {c.claim.split(":")[0]: c.status for c in summary.comparisons}
    assert statuses["Q2 small_cnn"] == "agree" and statuses["Q3 circular_linear"] == "agree"
    assert (out / "godfrey_highpass_profiles.png").is_file()


def test_a_linear_models_zero_width_bootstrap_is_never_judged(tmp_path):
    """A linear model has the same sensitivity for every image, so one seed's bootstrap has zero width: its noise
    was not measured, and Q6 is not judged on it (before, a margin from a second initialisation stood in)."""
    q6 = claim("Q6")
    init = FLAT + 0.01 * RADII / R  # untrained profiles are nearly, never exactly, flat
    clear = groups(tmp_path / "a", untrained=(init, 0.0, 0.25), untrained_b=(init, 0.001, 0.25), natural=(DATA, 0, 0.4))
    c = q6.judge(clear, "test")
    assert c.estimate["stderr"] < 1e-12 and c.status == "noise not measured" and c.p_value is None


def test_the_threshold_never_depends_on_the_control(tmp_path):
    """Q6's placebo is a second initialisation against the first. Whatever the placebo measures, the criterion stays
    "> 0"; a placebo that passes makes an agreeing claim "cannot discriminate", never a stricter threshold."""
    q6 = claim("Q6")
    init = FLAT + 0.01 * RADII / R
    quiet = groups(
        tmp_path / "a", untrained=(init, 0.02, 0.25), untrained_b=(init, 0.02, 0.25), natural=(DATA, 0.02, 0.4)
    )
    loud = groups(
        tmp_path / "b", untrained=(init, 0.02, 0.25), untrained_b=(INCREASING, 0.02, 0.25), natural=(DATA, 0.02, 0.4)
    )
    a, b = q6.judge(quiet, "test"), q6.judge(loud, "test")
    assert a.expectation == b.expectation and a.expectation.startswith("> 0 ")
    assert a.status == "agree" and a.control["status"] != "agree"
    assert b.control["status"] == "agree" and b.status == "cannot discriminate"
