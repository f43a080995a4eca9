"""Accuracy under band-limited attacks: PGD whose perturbation is confined to one Fourier band at a time.

Each band is a view spec (``lfc:R``: ``|k| < R``; ``band:A:B``: ``A <= |k| < B``; ``hfc:R``: ``|k| >= R``) or
``full`` (no band). The attack is :func:`freqlens.attacks.pgd` with ``band=``: gradient, step and perturbation are
projected onto the band, the L∞ ball is kept by rescaling. A model that relies on high frequencies loses more accuracy
to a high-band attack of the same ε than to a low-band one. :func:`default_bands` splits the spectrum at a quarter and
half of the Nyquist radius, so 32x32 and 224x224 read alike.

Example:
    >>> default_bands(32, 32)
    ['full', 'lfc:4', 'band:4:8', 'hfc:8']
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from freqlens import attacks
from freqlens.contract import AnalysisResult, Estimate, register_analysis, subsample, subsample_note
from freqlens.errors import FreqlensError
from freqlens.plotting import plt
from freqlens.radii import nyquist_radius

FULL = "full"


def default_bands(h: int, w: int) -> list[str]:
    """No band, then below a quarter of the Nyquist radius, between a quarter and a half, and above a half."""
    q = nyquist_radius(h, w) / 4
    return [FULL, f"lfc:{q:g}", f"band:{q:g}:{2 * q:g}", f"hfc:{2 * q:g}"]


def bands_figure(
    bands: Sequence[str], accuracy: Sequence[Estimate], clean: Estimate, eps: float, score_name: str = "accuracy"
) -> Figure:
    """Accuracy (``score_name``) under attack per band (95 % intervals), against the clean accuracy."""
    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    x = range(len(bands))
    values = [a.value for a in accuracy]
    errors = [[max(0.0, a.value - a.low) for a in accuracy], [max(0.0, a.high - a.value) for a in accuracy]]
    ax.bar(x, values, yerr=errors, color="C3", alpha=0.8, capsize=3)
    ax.axhline(clean.value, color="k", ls="--", lw=1, label=f"clean {clean.value:.3f}")
    ax.set_xticks(list(x), list(bands), fontsize=8)
    ax.set_ylabel(f"{score_name}\nunder PGD-L∞ ε={eps:g}", fontsize=8)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


@register_analysis(
    "band_attacks",
    "Accuracy under PGD attacks confined to low, middle and high Fourier bands (and unconstrained)",
    test_params={"eps": 0.05, "steps": 2, "n": 4, "batch_size": 4, "bands": ["full", "lfc:2", "hfc:2"]},
    audit_order=5,
    images_at_224=24,
    max_images=200,
    defaults=lambda h, w, classes, device: {"eps": attacks.attack_eps(h, w), "steps": 5, "batch_size": 32},
)
def band_attacks_analysis(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    bands: Sequence[str] | None = None,
    eps: float = 0.03,
    steps: int = 10,
    n: int | None = None,
    seed: int = 0,
    batch_size: int = 256,
    progress: bool = False,
    score_name: str = "accuracy",
) -> AnalysisResult:
    """Robust accuracy (correct clean and attacked; binomial over the ``n`` images drawn under ``seed``) per band;
    ``score_name`` names it in the figure."""
    x, y = subsample(images, labels, n, seed)
    chosen = list(bands) if bands is not None else default_bands(*x.shape[-2:])
    if not chosen:
        raise FreqlensError("no bands to attack; give e.g. full,lfc:8,hfc:8")
    total = x.shape[0]
    accuracy = []
    clean = None
    for band in chosen:
        options: dict[str, object] = {
            "steps": steps,
            "generator": torch.Generator().manual_seed(seed),
            "early_stop": True,
            "band": None if band == FULL else band,
        }
        acc = attacks.robust_accuracy(model, x, y, [0.0, eps], "pgd", batch_size, progress=progress, **options)
        clean = Estimate.proportion(round(acc[0.0] * total), total)
        accuracy.append(Estimate.proportion(round(acc[float(eps)] * total), total))
    assert clean is not None
    metrics: dict[str, Estimate | float | int | str | bool | None] = {"accuracy_clean": clean}
    metrics.update({f"accuracy_{band}": a for band, a in zip(chosen, accuracy, strict=True)})
    return AnalysisResult(
        "band_attacks",
        metrics=metrics,
        arrays={"accuracy": torch.tensor([a.value for a in accuracy], dtype=torch.float64)},
        figures={"band_attacks": lambda: bands_figure(chosen, accuracy, clean, eps, score_name)},
        conventions={
            **attacks.conventions(),
            "attack": f"PGD-L∞ eps={eps:g}, {steps} steps, random start, stopped per image at its first success",
            "bands": "view specs in cycles per image: lfc:R |k| < R, band:A:B A <= |k| < B, hfc:R |k| >= R; "
            "full = unconstrained",
            "image_subsample": subsample_note(total, seed),
        },
        params={"bands": chosen, "eps": eps, "steps": steps, "n": total, "seed": seed},
    )
