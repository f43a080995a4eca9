"""The claims of ``godfrey-theory`` as measured comparisons (:meth:`freqlens.experiments.base.Comparison.measured`),
each with a placebo control that could pass.

* Theory vs training: the trained map is within 10 % (relative L2) of the predicted one, per depth, on synthetic
  data of exponent 2. Control: the *untrained* network against the same prediction (it passes only if the prediction
  were as close to any network as to the trained one).
* A11: depth (L = 2 vs 1) and weight decay (L = 2, base decay vs a 4x smaller one) raise the share of the trained map
  at the low radii where power-law data have their power. Control: the same contrast on flat-spectrum data, where
  the theory predicts no concentration at those radii (the statistic's sign is then sampling noise).
* Q1: CIFAR-10's power falls as a power law of ``|k|`` (log-log slope below -1) and its log-log radial profile is
  straight (R^2 of the line fit above 0.9); control: flat-spectrum fields, where neither holds. On synthetic fields
  the exponent is recovered within 0.1 of the planted one (a calibration against ground truth: no control).

* Q7: a supervised small CNN trained on steeper power-law data (alpha = 3 vs 1) has a steeper Fourier sensitivity:
  the contrast is the difference of the log-log slopes of the radial sensitivity profiles (alpha 3 minus alpha 1),
  paired by seed; each seed draws its own data and test images, so the spread over seeds holds both noises.
  Control (untrained): the same contrast for the untrained network of each seed, which learned nothing from either
  data set (its profile still sees the test images, so any slope difference there is the images', not learning's).

Intervals: Student-t over seeds (independent data draws; training is deterministic given the data) or over
independent image groups (Q1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from freqlens import fourier
from freqlens.contract import Estimate
from freqlens.experiments.base import CellResult, Comparison
from freqlens.experiments.godfrey.stats import Sample, measure

LOW_RADIUS = 2  # "high-power frequencies" of alpha = 2 data: round(|k|) <= 2
GOAL = 0.10  # issue 25: trained within 10 % of predicted at L = 1 and 2 on synthetic data
PAPER = "sensitivity inherits the data spectrum, more with depth and decay (papers.md §2.2)"
Setups = Mapping[tuple[str, int, float], Sequence[CellResult]]


def low_share(values: Tensor) -> float:
    """Share of a centred map (channels summed) at ``round(|k|) <= LOW_RADIUS``."""
    total = values.sum(dim=0)
    radius = fourier.radial_distance(*total.shape[-2:]).round()
    return float(total[radius <= LOW_RADIUS].sum() / total.sum())


def _values(group: Sequence[CellResult], read: Any) -> list[float]:
    return [float(read(r.summary)) for r in group]


def agreement_claims(setups: Setups) -> list[Comparison]:
    """Trained vs predicted at every synthetic depth (alpha = 2, largest base decay)."""
    out: list[Comparison] = []
    keys = [k for k in setups if k[0] == "synthetic alpha=2"]
    if not keys:
        return out
    decay = max(k[2] for k in keys)
    for data, depth, wd in sorted(k for k in keys if k[2] == decay):
        group = setups[data, depth, wd]
        estimate = Estimate.mean_of(_values(group, lambda s: s["relative_error"]))
        control = Estimate.mean_of(_values(group, lambda s: s["initial_relative_error"]))
        out.append(
            Comparison.measured(
                f"theory: trained linear circular CNN (L={depth}) within 10 % of its predicted sensitivity map "
                f"({data}, base decay {wd:g})",
                estimate,
                "<",
                GOAL,
                "optimum of the regularised problem (papers.md §2.2)",
                "I",
                control=control,
                control_label="the untrained network's map against the same prediction",
                seeds=len(group),
                note=_evidence(group),
            )
        )
    return out


def _evidence(group: Sequence[CellResult]) -> str:
    s = [r.summary for r in group]
    mean = lambda f: sum(f(x) for x in s) / len(s)  # noqa: E731
    return (
        f"relative loss gap {mean(lambda x: x['relative_loss_gap']):.2e}, cost ratio "
        f"{mean(lambda x: x['cost_ratio']):.4f}, L-BFGS evaluations {max(x['training']['evaluations'] for x in s)}, "
        f"converged {sum(bool(x['training']['converged']) for x in s)}/{len(s)}, prediction method "
        f"{s[0]['prediction']['method']}"
    )


def _contrast(setups: Setups, data: str, a: tuple[int, float], b: tuple[int, float], which: str) -> Estimate | None:
    """Per-seed ``low_share(a) - low_share(b)`` of the ``which`` map (trained or predicted), paired by seed."""
    key_a, key_b = (data, *a), (data, *b)
    if key_a not in setups or key_b not in setups:
        return None
    first = {r.summary["seed"]: r.summary["low_share"][which] for r in setups[key_a]}
    second = {r.summary["seed"]: r.summary["low_share"][which] for r in setups[key_b]}
    seeds = sorted(set(first) & set(second))
    return Estimate.mean_of([first[s] - second[s] for s in seeds]) if seeds else None


def concentration_claims(setups: Setups) -> list[Comparison]:
    """A11: depth and decay concentrate sensitivity at the high-power low radii; control: flat-spectrum data."""
    decays = sorted({k[2] for k in setups if k[0] == "synthetic alpha=2" and k[1] == 2})
    if not decays:
        return []
    high, low = decays[-1], decays[0]
    out = []
    for label, a, b in (
        ("depth L=2 vs L=1", (2, high), (1, high)),
        (f"decay {high:g} vs {low:g} at L=2", (2, high), (2, low)),
    ):
        if a == b:
            continue
        estimate = _contrast(setups, "synthetic alpha=2", a, b, "trained")
        control = _contrast(setups, "synthetic alpha=0", a, b, "trained")
        predicted = _contrast(setups, "synthetic alpha=2", a, b, "predicted")
        if estimate is None or control is None:
            continue
        out.append(
            Comparison.measured(
                f"A11: {label} raises the linear circular CNN's share of sensitivity at round(|k|) <= {LOW_RADIUS}, "
                "where power-law data (alpha=2) have their power",
                estimate,
                ">",
                0.0,
                PAPER,
                "I",
                control=control,
                control_label="the same contrast on flat-spectrum data (alpha=0), where no concentration is predicted",
                seeds=estimate.n,
                note=f"predicted by the theory for the same data: {predicted}",
            )
        )
    return out


def spectrum_claims(summary: Mapping[str, Any]) -> list[Comparison]:
    """Q1 on CIFAR-10 (slope, straightness; control: flat fields) and exponent recovery on synthetic fields."""
    natural, flat = summary["natural"], summary["alpha=0"]
    out = [
        Comparison.measured(
            "Q1: CIFAR-10's power falls as a power law of |k| (log-log slope < -1)",
            Estimate.mean_of(natural["slope"], "groups"),
            "<",
            -1.0,
            "roughly straight lines on log-log axes; natural images ~ 1/f^2",
            "M",
            control=Estimate.mean_of(flat["slope"], "groups"),
            control_label="flat-spectrum fields (alpha=0) of the same size",
        ),
        Comparison.measured(
            "Q1: CIFAR-10's log-log radial power profile is straight (R^2 of the line fit > 0.9)",
            Estimate.mean_of(natural["r2_profile"], "groups"),
            ">",
            0.9,
            "roughly straight lines on log-log axes",
            "M",
            control=Estimate.mean_of(flat["r2_profile"], "groups"),
            control_label="flat-spectrum fields (alpha=0), whose profile is flat noise",
            note=f"R^2 of the per-bin fit (anisotropy lowers it too): {Estimate.mean_of(natural['r2_bins'], 'groups')}",
        ),
    ]
    for name, fit in summary.items():
        if not name.startswith("alpha=") or name == "alpha=0":
            continue
        alpha = float(name.split("=")[1])
        errors = [abs(-s - alpha) for s in fit["slope"]]
        out.append(
            Comparison.measured(
                f"Q1: the power exponent of synthetic fields with planted alpha={alpha:g} is recovered within 0.1",
                Estimate.mean_of(errors, "groups"),
                "<",
                0.1,
                f"slope tracks alpha (here {alpha:g})",
                "C",
                note=f"fitted slopes {', '.join(f'{s:.3f}' for s in fit['slope'])}; a calibration against ground "
                "truth, so no control",
            )
        )
    return out


STEEP, SHALLOW = 3.0, 1.0  # Q7's contrast: data exponents


def profile_slope(profile: Tensor) -> float:
    """Least-squares slope of log(profile) against log(radius) over radii 1..R-1 (the DC bin excluded)."""
    radius = torch.arange(1, profile.shape[0], dtype=torch.float64).log()
    values = profile[1:].to(torch.float64).clamp_min(1e-300).log()
    x, y = radius - radius.mean(), values - values.mean()
    return float((x * y).sum() / (x * x).sum())


def _slope_difference(samples: Sequence[Sample], idx: Any) -> float:
    return profile_slope(samples[0].profile(idx)) - profile_slope(samples[1].profile(idx))


def steepness_claims(cells: Mapping[str, Sequence[CellResult]]) -> list[Comparison]:
    """Q7: steeper data spectrum (alpha 3 vs 1), steeper sensitivity of the trained small CNN; control: untrained."""

    def group(alpha: float, kind: str) -> list[CellResult]:
        prefix = f"q7-a{alpha:g}-{kind}-s"
        found = [r for name, g in cells.items() if name.startswith(prefix) for r in g]
        return sorted(found, key=lambda r: r.cell.config["seed"])

    steep, shallow = group(STEEP, "trained"), group(SHALLOW, "trained")
    steep0, shallow0 = group(STEEP, "untrained"), group(SHALLOW, "untrained")
    if not (steep and shallow and steep0 and shallow0):
        return []
    estimate = measure(_slope_difference, steep, shallow)
    control = measure(_slope_difference, steep0, shallow0)
    alphas = sorted({float(r.cell.config["alpha"]) for g in cells.values() for r in g})
    trained = {a: group(a, "trained") for a in alphas}
    slopes = {
        f"alpha={a:g}": round(sum(profile_slope(Sample.of(r).profile()) for r in g) / len(g), 3)
        for a, g in trained.items()
        if g
    }
    return [
        Comparison.measured(
            f"Q7: a small CNN trained on steeper power-law data (alpha={STEEP:g} vs {SHALLOW:g}) has a steeper "
            "Fourier sensitivity (log-log slope of its radial profile lower)",
            estimate,
            "<",
            0.0,
            "steeper data spectrum, steeper sensitivity (papers.md §2.7 Q7)",
            "I",
            control=control,
            control_kind="untrained",
            control_label="the same slope difference for the untrained network of each seed (nothing learned)",
            treatment=f"trained on alpha={STEEP:g}",
            comparison=f"trained on alpha={SHALLOW:g}",
            seeds=estimate.n,
            note=f"mean slope of the trained profiles per data exponent: {slopes}",
        )
    ]
