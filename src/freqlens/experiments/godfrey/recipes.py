"""The three Godfrey recipes: natural vs high-pass data with untrained baselines (Q2, Q3, Q6, A13), weight-decay
sweeps (Q4) and depth sweeps (Q5). Cells run :func:`freqlens.experiments.godfrey.measure.run_cell`; summaries judge
the claims of :mod:`freqlens.experiments.godfrey.claims` and draw the profiles."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from freqlens import provenance
from freqlens.analyses import datastats
from freqlens.experiments import common
from freqlens.experiments.base import (
    Cell,
    CellResult,
    Comparison,
    Context,
    Figure,
    Recipe,
    Summary,
    Table,
    by_cell,
    register_recipe,
)
from freqlens.experiments.godfrey import measure
from freqlens.experiments.godfrey.claims import Claim, highpass_claims, sweep_claim
from freqlens.experiments.godfrey.setups import (
    CUTOFF,
    DATA_IMAGES,
    DECAYS,
    DEPTHS,
    FAMILIES,
    HIGHPASS,
    LABELS,
    SEEDS,
    SENSITIVITY_IMAGES,
    base_decay,
    cell_config,
)
from freqlens.experiments.godfrey.stats import Sample
from freqlens.plotting import plt

INIT_B = 500  # the second initialisation of the untrained control is drawn under seed + INIT_B


class _SensitivityRecipe(Recipe):
    """Shared cell runner: train (or build) the model, measure its sensitivity and the data's spectrum."""

    def run_cell(self, cell: Cell, run_dir: Path, ctx: Context) -> dict[str, Any]:
        return measure.run_cell(cell, run_dir, ctx)


def mean_profile(group: Sequence[CellResult], key: str = "profile") -> Tensor:
    """The radial profile (or ``data_profile``) averaged over a cell's live replicates."""
    rows = [r.summary[key] for r in group if key in r.summary]
    return torch.tensor(rows, dtype=torch.float64).mean(0)


def is_dead(group: Sequence[CellResult]) -> bool:
    return any(r.summary.get("dead") for r in group)


def describe(group: Sequence[CellResult]) -> list[Any]:
    """Table cells for one model (means over replicates): accuracy, Spearman and JS against the data, mass at radii
    < 8, share inside the square, peak radius, and convergence."""
    accuracy = float(np.mean([r.summary["accuracy"]["value"] for r in group]))
    conv = [r.summary["convergence"] for r in group if r.summary.get("convergence")]
    converged = f"{sum(c['converged'] for c in conv)}/{len(conv)}" if conv else "untrained"
    if is_dead(group):
        return [accuracy, *["dead"] * 5, converged]
    samples = [Sample.of(r) for r in group]
    profile = mean_profile(group)
    return [
        accuracy,
        float(np.mean([s.spearman() for s in samples])),
        float(np.mean([s.js() for s in samples])),
        float(np.mean([s.mass(0.0, 8.0) for s in samples])),
        float(np.mean([s.square_share() for s in samples])),
        int(profile[1:].argmax()) + 1,
        converged,
    ]


COLUMNS = ["test acc", "Spearman", "JS div", "mass r<8", "share in square", "peak r", "converged"]
CONVERGED = (
    f"converged k/n: the replicates whose training loss changed by less than {measure.PLATEAU:.0%} over the last epoch"
)


def _seeds(results: Sequence[CellResult]) -> str:
    """Tables average a model's replicates: "one seed" or "mean of N seeds"."""
    return common.seed_words(
        1 + max((r.replicate for r in results), default=0) - min((r.replicate for r in results), default=0)
    )


def profile_panel(ax: Any, curves: Sequence[tuple[str, Tensor, str]], title: str) -> None:
    """Log-log radial profiles; the y-range follows the model curves (data curves, black, may leave it: the
    high-pass data have no power inside the square)."""
    lows = [float(p[1:].min()) for _, p, style in curves if not style.startswith("k") and float(p[1:].min()) > 0]
    for label, p, style in curves:
        ax.loglog(range(1, len(p)), p[1:].clamp_min(1e-30).numpy(), style, ms=2.5, lw=1.2, label=label)
    if lows:
        ax.set_ylim(bottom=min(lows) / 3)
    ax.axvline(CUTOFF, color="grey", lw=0.8, ls=":")
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("radius |k| (cycles / image)", fontsize=7)
    ax.set_ylabel("share of radial profile", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=6)


def method_text(results: Sequence[CellResult], profile: str) -> str:
    seeds = len({r.replicate for r in results})
    return (
        f"Profile `{profile}` ({seeds} seed(s); set-ups and why they are sized so: "
        "`freqlens.experiments.godfrey.setups`). Sensitivity: logits, meannorm (L2 over logits), per-image maps of "
        f"{SENSITIVITY_IMAGES.get(profile, '?')} test images seen through the model's training view. Data: RMS "
        f"amplitude of {DATA_IMAGES} standardised training images through the same view. Radial profiles over "
        "round(|k|), channels summed, normalised to sum 1, unsmoothed. Every model standardises its inputs with the "
        "statistics of its own training view. Uncertainty: one seed, bootstrap over the test images (paired between "
        "models; training noise not measured); several seeds, the spread over seeds (Student t). Each claim has a "
        "negative control that must fail. Deviation from Godfrey's code: fixed epochs with a constant (quick, cpu) "
        "or cosine (paper) schedule instead of ReduceLROnPlateau with best-validation weights."
    )


@register_recipe
class GodfreyHighpass(_SensitivityRecipe):
    name = "godfrey-highpass"
    title = "Sensitivity follows the data: natural vs high-pass training data, untrained baselines (Godfrey Q2/Q3/Q6)"
    paper_refs = ("Godfrey et al. 2022/23", "docs/claims.md: Q2, Q3, Q6, A13")
    KINDS = ("natural", "highpass", "untrained", "untrained-hpview", "untrained-b")

    def cells(self, profile: str) -> list[Cell]:
        out = []
        for seed in SEEDS[profile]:
            for family in FAMILIES:
                wd = base_decay(profile, family)
                configs = (
                    cell_config(profile, family, wd, seed=seed),
                    cell_config(profile, family, wd, HIGHPASS, seed=seed),
                    cell_config(profile, family, None, seed=seed),
                    cell_config(profile, family, None, HIGHPASS, seed=seed),
                    cell_config(profile, family, None, seed=seed, init_seed=seed + INIT_B),
                )
                out += [Cell(f"{family}-{kind}-s{seed}", c) for kind, c in zip(self.KINDS, configs, strict=True)]
        return out

    def summarize(self, results: list[CellResult], out_dir: Path, ctx: Context) -> Summary:
        cells = by_cell(results)
        families = [f for f in FAMILIES if any(name.startswith(f"{f}-natural") for name in cells)]
        fig, axes = plt.subplots(1, len(families), figsize=(4.2 * len(families), 3.4), squeeze=False)
        rows: list[list[Any]] = []
        comparisons: list[Comparison] = []
        for ax, family in zip(axes[0], families, strict=True):
            groups = _kinds(cells, family, self.KINDS)
            curves = [
                (label, mean_profile(groups[kind]), style)
                for label, kind, style in (
                    ("trained, natural", "natural", "C0o-"),
                    ("trained, high-pass", "highpass", "C1s-"),
                    ("untrained", "untrained", "C2^-"),
                )
                if not is_dead(groups[kind])
            ]
            curves += [
                ("data, natural", mean_profile(groups["natural"], "data_profile"), "k--"),
                ("data, high-pass", mean_profile(groups["highpass"], "data_profile"), "k:"),
            ]
            dead = [kind for kind in ("natural", "highpass") if is_dead(groups[kind])]
            profile_panel(ax, curves, LABELS[family] + (f" ({', '.join(dead)}: dead)" if dead else ""))
            rows += [[family, kind, *describe(groups[kind])] for kind in self.KINDS]
            comparisons += [c.judge(groups, _setting(ctx)) for c in highpass_claims(family)]
        fig.tight_layout()
        provenance.save_figure(fig, out_dir / "godfrey_highpass_profiles.png")
        _maps_figure(cells, families, out_dir / "godfrey_highpass_maps.png")
        return Summary(
            self.name,
            self.title,
            self.paper_refs,
            text=method_text(results, ctx.profile),
            figures=[
                Figure(
                    "godfrey_highpass_profiles.png",
                    "Radial sensitivity profiles (log-log) of models trained on natural and high-pass (square, cutoff "
                    "8, dotted line) CIFAR-10 and untrained, against the data's RMS amplitude profiles (black)",
                ),
                Figure(
                    "godfrey_highpass_maps.png",
                    "log10 sensitivity maps (channels summed, centred; first seed): natural-trained, "
                    "high-pass-trained, untrained",
                ),
            ],
            tables=[
                Table(f"sensitivity vs data ({_seeds(results)}); {CONVERGED}", ["family", "model", *COLUMNS], rows)
            ],
            comparisons=comparisons,
        )


def _setting(ctx: Context) -> str:
    return f"the {ctx.profile} profile"


def _kinds(cells: dict[str, list[CellResult]], family: str, kinds: Sequence[str]) -> dict[str, list[CellResult]]:
    """A family's cells by kind (cell names are ``<family>-<kind>-s<seed>``; replicates already grouped)."""
    out: dict[str, list[CellResult]] = {}
    for name, group in cells.items():
        for kind in kinds:
            if name.startswith(f"{family}-{kind}-s"):
                out.setdefault(kind, []).extend(group)
    return out


def _maps_figure(cells: dict[str, list[CellResult]], families: list[str], path: Path) -> None:
    kinds = ("natural", "highpass", "untrained")
    fig, axes = plt.subplots(len(families), 3, figsize=(10, 3.0 * len(families)), squeeze=False)
    for row, family in enumerate(families):
        groups = _kinds(cells, family, kinds)
        for col, kind in enumerate(kinds):
            mean = torch.as_tensor(groups[kind][0].arrays()["mean"])
            datastats.map_axes(axes[row][col], mean.sum(0), f"{LABELS[family]}: {kind}")
    fig.tight_layout()
    provenance.save_figure(fig, path)


@register_recipe
class GodfreyWeightDecay(_SensitivityRecipe):
    name = "godfrey-weight-decay"
    title = "Weight decay concentrates sensitivity on high-power frequencies (Godfrey Q4)"
    paper_refs = ("Godfrey et al. 2022/23", "docs/claims.md: Q4")

    def cells(self, profile: str) -> list[Cell]:
        swept = ("original",) if profile != "paper" else ("original", HIGHPASS)
        return [
            Cell(
                f"{family}-{'nat' if view == 'original' else 'hp'}-wd{wd:g}-s{seed}",
                cell_config(profile, family, wd, view, seed=seed),
            )
            for seed in SEEDS[profile]
            for family in FAMILIES
            for view in swept
            for wd in DECAYS[profile][family]
        ]

    def summarize(self, results: list[CellResult], out_dir: Path, ctx: Context) -> Summary:
        return sweep_summary(self, results, out_dir, ctx, lambda train: train["weight_decay"], "weight decay", "Q4")


@register_recipe
class GodfreyDepth(_SensitivityRecipe):
    name = "godfrey-depth"
    title = "Depth concentrates sensitivity on high-power frequencies (Godfrey Q5, circular CNNs)"
    paper_refs = ("Godfrey et al. 2022/23", "docs/claims.md: Q5")

    def cells(self, profile: str) -> list[Cell]:
        return [
            Cell(
                f"{family}-nat-depth{d}-s{seed}",
                cell_config(profile, family, base_decay(profile, family), depth=d, seed=seed),
            )
            for seed in SEEDS[profile]
            for family in ("circular_linear", "circular_relu")
            for d in DEPTHS[profile]
        ]

    def summarize(self, results: list[CellResult], out_dir: Path, ctx: Context) -> Summary:
        summary = sweep_summary(
            self, results, out_dir, ctx, lambda train: train["model_kwargs"]["depth"], "depth", "Q5"
        )
        summary.text += (
            " Q5 is judged for the circular CNNs only: Godfrey's Myrtle CNN has no depth sweep (Godfrey et al.), and"
            " his conventional depth sweeps (VGG 11-19, ResNet 9-56, up to 500 epochs each) are GPU-scale."
        )
        return summary


def sweep_summary(
    recipe: Recipe,
    results: list[CellResult],
    out_dir: Path,
    ctx: Context,
    swept: Callable[[dict[str, Any]], float],
    label: str,
    claim: str,
) -> Summary:
    """Profiles per swept value, and the claim that mass moves onto the data's high-power band from the smallest to
    the largest value (natural data: radii < 8; high-pass data: radii 8..11)."""
    sweeps: dict[tuple[str, str], dict[float, list[CellResult]]] = {}
    for group in by_cell(results).values():
        first = group[0]
        key = (first.summary["family"], first.summary["view"])
        sweeps.setdefault(key, {}).setdefault(float(swept(first.cell.config["train"])), []).extend(group)
    fig, axes = plt.subplots(1, len(sweeps), figsize=(4.2 * len(sweeps), 3.4), squeeze=False)
    rows: list[list[Any]] = []
    comparisons: list[Comparison] = []
    for ax, ((family, view), by_value) in zip(axes[0], sorted(sweeps.items()), strict=True):
        values = sorted(by_value)
        rows += [[family, view, f"{v:g}", *describe(by_value[v])] for v in values]
        curves = [
            (f"{label} {v:g}", mean_profile(by_value[v]), f"C{i}o-")
            for i, v in enumerate(values)
            if not is_dead(by_value[v])
        ]
        curves.append(("data", mean_profile(by_value[values[0]], "data_profile"), "k--"))
        profile_panel(ax, curves, f"{LABELS[family]}, {view}")
        if len(values) < 2:
            continue
        groups = {f"{v:g}": by_value[v] for v in values}
        judged: Claim = sweep_claim(claim, family, view, f"{values[0]:g}", f"{values[-1]:g}", label)
        comparisons.append(judged.judge(groups, _setting(ctx)))
    fig.tight_layout()
    figure = f"{recipe.name}_profiles.png"
    provenance.save_figure(fig, out_dir / figure)
    return Summary(
        recipe.name,
        recipe.title,
        recipe.paper_refs,
        text=method_text(results, ctx.profile),
        figures=[Figure(figure, f"Radial sensitivity profiles per {label} against the data's profile (black)")],
        tables=[Table(f"{label} sweep ({_seeds(results)}); {CONVERGED}", ["family", "view", label, *COLUMNS], rows)],
        comparisons=comparisons,
    )
