"""Robust accuracy over a list of ε and the spectrum of the perturbations: ``freqlens attack`` as an analysis.

One named attack (:func:`freqlens.attacks.bind_attack`: FGSM, or PGD in L∞ or L2 with its step a fraction of ε,
optionally confined to a Fourier band) is run twice from one seeded generator: with early stopping for the robust
accuracy at each ε (as strong as running every step), then in full at ``spectrum_eps`` for the perturbation
spectrum (:func:`freqlens.analyses.perturbations.perturbation_spectrum`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import cast

import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from freqlens import attacks, fourier
from freqlens.analyses.perturbations import PerturbationSpectrum, perturbation_spectrum, spectrum_figure
from freqlens.contract import AnalysisResult, Estimate, Metric, register_analysis, subsample, subsample_note
from freqlens.errors import FreqlensError
from freqlens.plotting import plt


def describe(method: str, norm: str, steps: int, step_size: float) -> str:
    """The attack in words, for tables and figure captions."""
    if method == "fgsm":
        return "FGSM"
    return f"PGD-{norm}, up to {steps} steps of {step_size:g}·ε, stopping at the first misclassified iterate"


def accuracy_figure(accuracy: Mapping[str, Mapping[str, float]], norm: str, method: str) -> Figure:
    """Accuracy under attack against ε, one line per model (``accuracy[model][str(ε)]``)."""
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    for name, acc in accuracy.items():
        ax.plot([float(e) for e in acc], list(acc.values()), "o-", label=name)
    ax.set_xlabel(f"ε ({norm})")
    ax.set_ylabel(f"accuracy under {method.upper()}")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    return fig


def stored_spectrum(arrays: Mapping[str, object], details: Mapping[str, object]) -> PerturbationSpectrum:
    """The :class:`PerturbationSpectrum` of a stored result (its arrays and ``details["spectrum"]``)."""
    s = cast(Mapping[str, float], details["spectrum"])
    power, profile, counts = (torch.as_tensor(arrays[k]) for k in ("power", "profile", "counts"))
    return PerturbationSpectrum(
        power, profile, counts, int(s["images"]), s["eps"], s["fooled"], s["mean_l2"], s["mean_linf"]
    )


@register_analysis(
    "robustness",
    "Robust accuracy over a list of ε under FGSM or PGD (optionally band-limited) and the perturbations' spectrum",
    test_params={"eps": [0.0, 0.05], "steps": 2, "n": 4, "batch_size": 4},
)
def robustness_analysis(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    attack: str = "pgd",
    norm: str = "linf",
    eps: Sequence[float] = (0.0, 0.01, 0.03, 0.06, 0.09),
    steps: int = 20,
    step_size: float = 0.25,
    random_start: bool = True,
    band: str | None = None,
    spectrum_eps: float | None = None,
    n: int | None = None,
    seed: int = 0,
    batch_size: int = 250,
    progress: bool = False,
    label: str = "model",
) -> AnalysisResult:
    """Robust accuracy at each ε (binomial over the ``n`` images drawn under ``seed``, also the attack's seed) and
    the perturbation spectrum at ``spectrum_eps`` (default: the largest ε). ``step_size`` is a fraction of ε."""
    if attack == "fgsm" and norm != "linf":
        raise FreqlensError(f"FGSM is an L∞ attack; use norm linf, got {norm!r}")
    spec_eps = max(eps) if spectrum_eps is None else spectrum_eps
    if not spec_eps > 0:
        raise FreqlensError("the perturbation spectrum needs ε > 0; give a positive spectrum ε")
    x, y = subsample(images, labels, n, seed)
    g = torch.Generator().manual_seed(seed)
    bind = partial(
        attacks.bind_attack,
        attack,
        steps=steps,
        step_fraction=step_size,
        norm=cast(attacks.Norm, norm),
        random_start=random_start,
        band=band,
        generator=g,
    )
    acc = attacks.robust_accuracy(model, x, y, list(eps), bind(early_stop=True), batch_size, progress=progress)
    spectrum = perturbation_spectrum(model, x, y, bind(), spec_eps, batch_size, progress=progress)
    total = x.shape[0]
    metrics: dict[str, Metric] = {
        f"accuracy_eps{e:g}": Estimate.proportion(round(a * total), total) for e, a in acc.items()
    }
    metrics["fooled_at_spectrum_eps"] = Estimate.proportion(round(spectrum.fooled * total), total)
    accuracy = {str(e): a for e, a in acc.items()}
    summary = {k: v for k, v in spectrum.to_json().items() if not isinstance(v, Tensor)}
    return AnalysisResult(
        "robustness",
        metrics=metrics,
        arrays={
            "power": spectrum.power,
            "profile": spectrum.profile,
            "counts": spectrum.counts,
            "energy_fraction": spectrum.energy_fraction(),
        },
        figures={
            "robust_accuracy": lambda: accuracy_figure({label: accuracy}, norm, attack),
            "perturbation_spectrum": lambda: spectrum_figure({label: spectrum}),
        },
        conventions={
            **fourier.conventions(),
            **attacks.conventions(),
            "attack": describe(attack, norm, steps, step_size),
            "image_subsample": subsample_note(total, seed),
        },
        params={
            "attack": attack,
            "norm": norm,
            "eps": [float(e) for e in eps],
            "steps": 1 if attack == "fgsm" else steps,
            "step_size_fraction_of_eps": 1.0 if attack == "fgsm" else step_size,
            "random_start": attack == "pgd" and random_start,
            "band": band,
            "spectrum_eps": spec_eps,
            "n": total,
            "seed": seed,
        },
        details={"accuracy": accuracy, "spectrum": summary},
    )
