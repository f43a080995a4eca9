"""``godfrey-alpha``: a steeper data spectrum gives a steeper sensitivity profile (Godfrey's Q7, supervised).

Godfrey trains SmallAlexNet *unsupervised* on WMM fields of spectral exponent alpha; here the registry's small CNN
(no BatchNorm, as in the other Godfrey recipes) is trained *supervised* on power-law Gaussian fields
(:mod:`freqlens.data.synthetic`) at a mean exponent alpha = 1, 2, 3, with two classes whose exponents are
alpha - 1/2 and alpha + 1/2 (``classes=2&spread=1``): at every alpha the task is the same, telling a steeper
spectrum from a shallower one, and only the data's spectrum changes. The statistic is the log-log slope of the
model's radial sensitivity profile (meannorm over logits, channels summed) over the radii of full rings.

Claim: slope(alpha = 3) - slope(alpha = 1) < 0, paired by seed, with the spread over seeds (each seed its own
initialisation, batch order and test images; the data draw is shared). Control (``untrained``): the same difference
for untrained small CNNs of the same initialisations, measured on the same alpha = 3 and alpha = 1 test images: the
images change, nothing was learned. Reference: the slope the theory predicts for a linear circular CNN (``L = 1``,
ridge, :func:`freqlens.theory.predict`, one-hot targets) on the same training data, reported beside the verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from freqlens import fourier, provenance
from freqlens.experiments.base import Cell, CellResult, Context, Figure, Summary, Table, by_cell, register_recipe
from freqlens.experiments.godfrey.claims import Claim
from freqlens.experiments.godfrey.recipes import (
    COLUMNS,
    CONVERGED,
    _seeds,
    _SensitivityRecipe,
    _setting,
    describe,
    mean_profile,
    method_text,
)
from freqlens.experiments.godfrey.setups import cell_config
from freqlens.experiments.godfrey.stats import Sample
from freqlens.plotting import plt
from freqlens.theory import frequency_moments, predict

ALPHAS = (1.0, 2.0, 3.0)
# Per profile: image size, training images and the optimiser (Adam: the small CNN fits the two classes to about
# 0.99 test accuracy within two epochs at 16x16).
_ADAM = {"optimizer": "adam", "lr": 2e-3, "batch_size": 64, "weight_decay": 1e-4}
_SETUP: dict[str, dict[str, Any]] = {
    "quick": {"size": 16, "images": 3000, "epochs": 3, **_ADAM},
    "cpu": {"size": 32, "images": 6000, "epochs": 5, **_ADAM},
    "paper": {"size": 32, "images": 20000, "epochs": 30, **_ADAM},
}
RIDGE_DECAY = 1e-2  # the theory reference's ridge penalty (per pixel, as freqlens.theory.predict takes it)


def data_spec(profile: str, alpha: float) -> str:
    s = _SETUP[profile]
    return f"synthetic:powerlaw?alpha={alpha:g}&n={s['images']}&size={s['size']}&classes=2&spread=1&seed=0"


def _kind(alpha: float, trained: bool) -> str:
    return f"{'trained' if trained else 'untrained'}-a{alpha:g}"


def profile_slope(profile: Tensor) -> float:
    """Log-log slope of a normalised radial profile over radii ``1 .. R/sqrt(2) - 1`` (the full rings)."""
    top = int((profile.shape[0] - 1) / 2**0.5) - 1
    return fourier.loglog_slope(profile.clamp(min=1e-300), 1, top)[0]


def slope_difference(s: Sequence[Sample], idx: Any) -> float:
    return profile_slope(s[0].profile(idx)) - profile_slope(s[1].profile(idx))


def alpha_claim() -> Claim:
    high, low = _kind(ALPHAS[-1], True), _kind(ALPHAS[0], True)
    return Claim(
        f"Q7: a steeper data spectrum (alpha {ALPHAS[-1]:g} vs {ALPHAS[0]:g}) gives the small CNN a steeper radial "
        "sensitivity profile (difference of log-log slopes < 0)",
        slope_difference,
        (high, low),
        "<",
        0.0,
        "steeper data spectrum (larger alpha) gives a steeper sensitivity profile",
        "M",
        (_kind(ALPHAS[-1], False), _kind(ALPHAS[0], False)),
        "untrained small CNNs of the same initialisations on the same alpha 3 and alpha 1 test images",
        "untrained",
    )


def predicted_slope(ctx: Context, spec: str) -> float:
    """The log-log slope of the sensitivity map a ridge-optimal linear circular CNN would have on these data."""
    data = ctx.dataset(spec, "train")
    moments = frequency_moments(data.images.double(), F.one_hot(data.labels, data.num_classes).double())
    return profile_slope(fourier.radial_profile(predict(moments, RIDGE_DECAY, 1).sensitivity_map().sum(0))[0])


@register_recipe
class GodfreyAlpha(_SensitivityRecipe):
    name = "godfrey-alpha"
    title = "A steeper data spectrum gives a steeper sensitivity profile (Godfrey Q7, supervised, synthetic data)"
    paper_refs = ("Godfrey et al. 2022/23", "docs/claims.md: Q7")
    min_seeds: ClassVar[dict[str, int]] = {"quick": 3, "cpu": 3}  # the claim's interval is the spread over seeds

    def cells(self, profile: str) -> list[Cell]:
        s = _SETUP[profile]
        out = []
        for alpha in ALPHAS:
            spec = data_spec(profile, alpha)
            for trained in (True, False):
                cfg = cell_config(profile, "small_cnn", s["weight_decay"] if trained else None, data=spec)
                if cfg["train"] is not None:
                    # No augmentation: flips and shifts would not change the spectra the classes differ in.
                    optimiser = {k: s[k] for k in ("optimizer", "lr", "batch_size", "epochs")}
                    cfg["train"].update(train_subset=None, augment="none", **optimiser)
                out.append(Cell(f"{_kind(alpha, trained)}-s0", cfg))
        return out

    def summarize(self, results: list[CellResult], out_dir: Path, ctx: Context) -> Summary:
        groups = {name.rsplit("-s", 1)[0]: group for name, group in by_cell(results).items()}
        rows = [[kind, *describe(groups[kind])] for kind in sorted(groups)]
        slopes = {
            kind: [profile_slope(torch.as_tensor(r.summary["profile"])) for r in group if "profile" in r.summary]
            for kind, group in groups.items()
        }
        predicted = {a: predicted_slope(ctx, data_spec(ctx.profile, a)) for a in ALPHAS}
        claim = alpha_claim()
        comparison = claim.judge(groups, _setting(ctx))
        comparison.note += "; theory (linear circular CNN, ridge, same data) predicts slopes " + ", ".join(
            f"alpha {a:g}: {v:+.2f}" for a, v in predicted.items()
        )
        fig, ax = plt.subplots(figsize=(4.6, 3.4))
        for i, a in enumerate(ALPHAS):
            for trained, style in ((True, "o-"), (False, "^:")):
                kind = _kind(a, trained)
                if slopes.get(kind):
                    p = mean_profile(groups[kind])
                    label = f"alpha {a:g}, {'trained' if trained else 'untrained'}"
                    ax.loglog(range(1, len(p)), p[1:].clamp_min(1e-30).numpy(), style, color=f"C{i}", ms=3, label=label)
        ax.set_title("small CNN sensitivity on power-law data (mean over seeds)", fontsize=8)
        ax.set_xlabel("radius |k| (cycles / image)", fontsize=7)
        ax.set_ylabel("share of radial profile", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=6)
        fig.tight_layout()
        provenance.save_figure(fig, out_dir / "godfrey_alpha_profiles.png")
        slope_rows = [
            [f"{a:g}", _mean(slopes.get(_kind(a, True), [])), _mean(slopes.get(_kind(a, False), [])), predicted[a]]
            for a in ALPHAS
        ]
        setup = _SETUP[ctx.profile]
        return Summary(
            self.name,
            self.title,
            self.paper_refs,
            text=method_text(results, ctx.profile)
            + f" Data: {setup['images']} training images of {setup['size']}x{setup['size']} power-law fields per "
            "alpha, two classes of exponents alpha -/+ 1/2 (`classes=2&spread=1`); the small CNN "
            f"(no BatchNorm) trained with Adam (lr {setup['lr']:g}, batch {setup['batch_size']}) for "
            f"{setup['epochs']} epochs at weight decay {setup['weight_decay']:g}.",
            figures=[
                Figure(
                    "godfrey_alpha_profiles.png",
                    "Radial sensitivity profiles (log-log) of small CNNs trained (circles) and untrained (triangles) "
                    "on power-law data of exponent alpha",
                )
            ],
            tables=[
                Table(
                    "log-log slope of the sensitivity profile (means over seeds)",
                    ["alpha", "trained", "untrained", "theory (linear, ridge)"],
                    slope_rows,
                ),
                Table(f"sensitivity vs data ({_seeds(results)}); {CONVERGED}", ["model", *COLUMNS], rows),
            ],
            comparisons=[comparison],
        )


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")
