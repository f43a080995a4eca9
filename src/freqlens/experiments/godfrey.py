"""Godfrey et al.'s experiments (papers.md §2): do CNNs inherit their frequency sensitivity from the data's spectrum?

Three recipes share one cell type: train a model (or take it untrained), measure its Fourier gradient sensitivity
(:mod:`freqlens.analyses.sensitivity`, logits, meannorm) on test images seen through the model's training view, and
compare its radial profile with the radial profile of the training data's RMS amplitude (Godfrey's
``empirical_power``; both normalised to distributions):

* ``godfrey-highpass``: natural vs high-pass training data (his asymmetric square, cutoff 8) and untrained baselines,
  for the small CNN and the linear and ReLU full-width circular CNNs (predictions Q2, Q3, Q6; check A13).
* ``godfrey-weight-decay``: weight-decay sweeps (Q4).
* ``godfrey-depth``: depth sweeps of the circular CNNs at weight decay 1e-5 (Q5).

Profiles. ``quick`` (CPU minutes): 10k CIFAR-10 training images, 3 epochs of Adam (learning rate 2e-3 for the small
CNN, 1e-4 for the circular CNNs, which do not train at 1e-3), circular CNNs 16 channels wide, three weight decays per
family, depths 1, 2, 4, 256 test images. ``paper``: Godfrey's families and sweeps (papers.md §2.5: SGD with momentum
0.9, his batch sizes and learning rates, 64-wide circular CNNs, the Myrtle CNN, 5 runs), on the full data, for a GPU.
Deviations from his code, recorded in every summary: a cosine schedule for a fixed number of epochs instead of
ReduceLROnPlateau and best-validation weights; the registry's input normalisation (CIFAR-10 statistics) also for
high-pass data, where he used the filtered data's own statistics.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from freqlens import provenance, runs
from freqlens.analyses import datastats, sensitivity
from freqlens.contract import subsample
from freqlens.data import ImageSet
from freqlens.errors import FreqlensError
from freqlens.experiments.base import (
    Cell,
    CellResult,
    Comparison,
    Context,
    Figure,
    Recipe,
    Summary,
    Table,
    register_recipe,
)
from freqlens.plotting import plt

HIGHPASS = "hpsquare:8"  # Godfrey's PassFilter(mode='high', ratio=0.5) on 32x32 CIFAR: cutoff 8
CUTOFF = 8
LOW_BAND = 8.0  # "low frequencies" for the mass statistics: radii round(|k|) < 8

# Model families: registry name and builder options per profile.
_FAMILIES: dict[str, dict[str, dict[str, Any]]] = {
    "small_cnn": {
        "quick": {"model": "small_cnn", "model_kwargs": {}},
        "paper": {"model": "myrtle_cnn", "model_kwargs": {}},
    },
    "circular_relu": {
        "quick": {"model": "circular_cnn", "model_kwargs": {"depth": 4, "width": 16, "linear": False}},
        "paper": {"model": "circular_cnn", "model_kwargs": {"depth": 4, "width": 64, "linear": False}},
    },
    "circular_linear": {
        "quick": {"model": "circular_cnn", "model_kwargs": {"depth": 4, "width": 16, "linear": True}},
        "paper": {"model": "circular_cnn", "model_kwargs": {"depth": 4, "width": 64, "linear": True}},
    },
}
FAMILIES = tuple(_FAMILIES)
LABELS = {
    "small_cnn": "small CNN (paper profile: Myrtle CNN)",
    "circular_relu": "ReLU circular CNN",
    "circular_linear": "linear circular CNN",
}

# Optimisation per profile and family (papers.md §2.5 for the paper profile).
_OPTIM: dict[str, dict[str, dict[str, Any]]] = {
    "quick": {
        "small_cnn": {"optimizer": "adam", "lr": 2e-3, "batch_size": 128},
        "circular_relu": {"optimizer": "adam", "lr": 1e-4, "batch_size": 128},  # 1e-3 does not train
        "circular_linear": {"optimizer": "adam", "lr": 1e-4, "batch_size": 128},
    },
    "paper": {
        "small_cnn": {"optimizer": "sgd", "lr": 1e-2, "batch_size": 512},
        "circular_relu": {"optimizer": "sgd", "lr": 1e-4, "batch_size": 1024},
        "circular_linear": {"optimizer": "sgd", "lr": 1e-4, "batch_size": 1024},
    },
}
_SCALE: dict[str, dict[str, Any]] = {
    "quick": {"train_subset": 10000, "test_subset": 1000, "epochs": 3, "schedule": "constant", "warmup": 0.0},
    "paper": {"train_subset": None, "test_subset": None, "epochs": 200, "schedule": "cosine", "warmup": 0.0},
}
SENSITIVITY_IMAGES = {"quick": 256, "paper": 10000}
DATA_IMAGES = 5000  # training images for the data's spectrum (Godfrey: a subsample of 5000)
SEEDS = {"quick": (0,), "paper": (0, 1, 2, 3, 4)}

# Sweeps (papers.md §2.5): weight decay per family, depths of the circular CNNs.
DECAYS: dict[str, dict[str, tuple[float, ...]]] = {
    "quick": {
        "small_cnn": (1e-5, 1e-3, 1e-2),
        "circular_relu": (1e-5, 4.64e-3, 0.1),
        "circular_linear": (1e-5, 4.64e-3, 0.1),
    },
    "paper": {
        "small_cnn": tuple(float(f"{10 ** (-5 + 3 * i / 9):.3g}") for i in range(10)),
        "circular_relu": (1e-5, 2.15e-4, 4.64e-3, 0.1),
        "circular_linear": (1e-5, 2.15e-4, 4.64e-3, 0.1),
    },
}
DEPTHS = {"quick": (1, 2, 4), "paper": (1, 2, 4, 8)}
DEPTH_DECAY = 1e-5
BASE_DECAY = 1e-5  # the high-pass recipe trains at this decay, so its models are shared with the sweeps


def _check_profile(profile: str) -> None:
    if profile not in _SCALE:
        raise FreqlensError(f"unknown profile {profile!r}; use quick or paper")


def model_spec(profile: str, family: str, depth: int | None = None) -> dict[str, Any]:
    """Registry name and builder options of a family (``depth`` overrides a circular CNN's depth)."""
    _check_profile(profile)
    if family not in _FAMILIES:
        raise FreqlensError(f"unknown family {family!r}; use one of {', '.join(FAMILIES)}")
    spec = json.loads(json.dumps(_FAMILIES[family][profile]))
    if depth is not None:
        if spec["model"] != "circular_cnn":
            raise FreqlensError(f"depth sweeps are for the circular CNNs, not {family}")
        spec["model_kwargs"]["depth"] = depth
    return spec


def train_setup(
    profile: str,
    family: str,
    weight_decay: float,
    view: str = "original",
    depth: int | None = None,
    seed: int = 0,
    data: str = "cifar10",
) -> dict[str, Any]:
    """A :class:`freqlens.train.TrainConfig` dict for one model of these experiments."""
    return {
        **model_spec(profile, family, depth),
        "data": data,
        **_SCALE[profile],
        **_OPTIM[profile][family],
        "momentum": 0.9,
        "nesterov": False,
        "weight_decay": weight_decay,
        "label_smoothing": 0.0,
        "augment": "flip,translate:2",
        "train_view": view,
        "eval_radii": [],
        "seed": seed,
    }


def cell_config(
    profile: str,
    family: str,
    weight_decay: float | None,
    view: str = "original",
    depth: int | None = None,
    seed: int = 0,
    data: str = "cifar10",
) -> dict[str, Any]:
    """A cell: a training set-up (``weight_decay=None``: the untrained model) and how to measure it."""
    return {
        "data": data,
        "family": family,
        "train": None if weight_decay is None else train_setup(profile, family, weight_decay, view, depth, seed, data),
        "untrained": {**model_spec(profile, family, depth), "seed": seed} if weight_decay is None else None,
        "view": view,
        "images": SENSITIVITY_IMAGES[profile],
        "data_images": DATA_IMAGES,
        "metric": "meannorm",
        "target": "logits",
        "seed": seed,
    }


def _untrained(spec: dict[str, Any], data: ImageSet, device: str) -> nn.Module:
    from freqlens.sources import ModelOptions, load_model_source

    options = ModelOptions(kwargs=spec["model_kwargs"])
    return load_model_source(spec["model"], data.image_shape, data.num_classes, options, device, spec["seed"])[0]


class _SensitivityRecipe(Recipe):
    """Shared cell runner: train (or build) the model, measure its sensitivity and the data's spectrum."""

    def run_cell(self, cell: Cell, run_dir: Path, ctx: Context) -> dict[str, Any]:
        cfg = cell.config
        test = ctx.dataset(cfg["data"], "test")
        if cfg["train"] is not None:
            model, _ = ctx.trained_model(cfg["train"])
        else:
            model = _untrained(cfg["untrained"], test, ctx.device)
        train = ctx.dataset(cfg["data"], "train")
        data_x, _ = subsample(train.images, train.labels, cfg["data_images"], cfg["seed"])
        measured = sensitivity.model_vs_data(
            model,
            test.images,
            test.labels,
            view=cfg["view"],
            data_images=data_x,
            target=cfg["target"],
            metric=cfg["metric"],
            band=LOW_BAND,
            square=CUTOFF,
            n=cfg["images"],
            seed=cfg["seed"],
            device=ctx.device,
            progress=ctx.progress,
        )
        m, arrays = measured.metrics, measured.arrays
        result: dict[str, Any] = {
            "metric": cfg["metric"],
            "target": cfg["target"],
            "images": measured.params["n"],
            "definition": measured.conventions["sensitivity"],
            "family": cfg["family"],
            "view": measured.params["view"],
            "trained": cfg["train"] is not None,
            "test_accuracy": measured.value("accuracy"),
            "data_mass_below_8": m["data_below_band"],
            "data_profile": arrays["data_profile"].tolist(),
            # A network whose ReLUs never fire has zero input gradient: no profile to normalise.
            "dead": m["dead"],
        }
        if not result["dead"]:
            rmin, rmax = measured.details["comparison_range"]
            result.update(
                comparison={
                    **{k: m[k] for k in ("spearman", "js_divergence", "total_variation", "cosine")},
                    "rmin": rmin,
                    "rmax": rmax,
                },
                mass_below_8=m["model_below_band"],
                map_mass_in_square=m["model_map_in_square"],
                peak_radius=m["peak_radius"],
                profile=arrays["profile"].tolist(),
            )
        saved = {k: arrays[k] for k in ("mean", "std", "data_profile", "profile") if k in arrays}
        runs.save_arrays(run_dir, data_amplitude=arrays["data_spectrum"], **saved)
        return result


def _aggregate(members: Sequence[CellResult]) -> dict[str, Any]:
    """Average cells that differ only in their seed: mean profiles, statistics recomputed on them.

    Dead models (zero sensitivity everywhere) have no profile; they are counted and left out of the averages, and a
    group of only dead models is marked ``dead``.
    """
    if not members:
        raise FreqlensError("no finished cells to summarise")
    live = [r for r in members if not r.summary.get("dead")]
    out: dict[str, Any] = {
        "runs": len(members),
        "dead_runs": len(members) - len(live),
        "dead": not live,
        "test_accuracy": sum(r.summary["test_accuracy"] for r in members) / len(members),
        "data_profile": torch.tensor([r.summary["data_profile"] for r in members], dtype=torch.float64).mean(0),
    }
    if live:
        profile = torch.tensor([r.summary["profile"] for r in live], dtype=torch.float64).mean(0)
        out.update(
            profile=profile,
            comparison=datastats.compare_profiles(profile, out["data_profile"]),
            mass_below_8=datastats.radial_mass(profile, 0, LOW_BAND),
            mass_near_cutoff=datastats.radial_mass(profile, CUTOFF, CUTOFF + 4),
            map_mass_in_square=sum(r.summary["map_mass_in_square"] for r in live) / len(live),
            peak_radius=int(profile[1:].argmax()) + 1,
        )
    return out


def _dead_note(*groups: dict[str, Any]) -> str:
    return (
        "not judged: a model in the comparison is dead (zero input gradient: no ReLU fires)"
        if any(g["dead"] for g in groups)
        else ""
    )


def _profile_panel(ax: Any, curves: Sequence[tuple[str, Tensor, str]], title: str) -> None:
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


def _method(results: list[CellResult], profile: str) -> str:
    seeds = len({r.cell.config["seed"] for r in results})
    scale = (
        "10k training images, 3 epochs of Adam, circular CNNs 16 wide, 256 test images"
        if profile == "quick"
        else "full CIFAR-10, SGD with Godfrey's batch sizes and learning rates, 200 epochs, 10k test images"
    )
    return (
        f"Profile `{profile}`: {scale}; {seeds} seed(s), profiles averaged over seeds. Sensitivity: logits, meannorm "
        "(L2 over logits), per-image maps averaged over test images seen through the model's training view. Data: RMS "
        "amplitude of 5000 standardised training images through the same view. Radial profiles over round(|k|), "
        "channels summed, normalised to sum 1, unsmoothed. Deviations from Godfrey's code: fixed epochs with a "
        "constant (quick) or cosine (paper) schedule instead of ReduceLROnPlateau with best-validation weights; "
        "CIFAR-10 input statistics also for high-pass data."
    )


def _group(results: list[CellResult], key: Callable[[CellResult], Any]) -> dict[Any, list[CellResult]]:
    groups: dict[Any, list[CellResult]] = {}
    for r in results:
        groups.setdefault(key(r), []).append(r)
    return groups


@register_recipe
class GodfreyHighpass(_SensitivityRecipe):
    name = "godfrey-highpass"
    title = "Sensitivity follows the data: natural vs high-pass training data, untrained baselines (Godfrey Q2/Q3/Q6)"
    paper_refs = ("Godfrey et al. 2022/23", "papers.md §2.3–2.7", "check A13")
    KINDS = ("natural", "highpass", "untrained", "untrained-hpview")

    @staticmethod
    def kind(cell: Cell) -> str:
        """natural / highpass (trained on that view), untrained / untrained-hpview (measured through that view)."""
        original = cell.config["view"] == "original"
        if cell.config["train"] is not None:
            return "natural" if original else "highpass"
        return "untrained" if original else "untrained-hpview"

    def cells(self, profile: str) -> list[Cell]:
        out = []
        for seed in SEEDS[profile]:
            for family in FAMILIES:
                configs = (
                    cell_config(profile, family, BASE_DECAY, seed=seed),
                    cell_config(profile, family, BASE_DECAY, HIGHPASS, seed=seed),
                    cell_config(profile, family, None, seed=seed),
                    cell_config(profile, family, None, HIGHPASS, seed=seed),
                )
                out += [Cell(f"{family}-{kind}-s{seed}", c) for kind, c in zip(self.KINDS, configs, strict=True)]
        return out

    def summarize(self, results: list[CellResult], out_dir: Path, ctx: Context) -> Summary:
        groups = _group(results, lambda r: (r.summary["family"], self.kind(r.cell)))
        agg = {key: _aggregate(members) for key, members in groups.items()}
        families = [f for f in FAMILIES if (f, "natural") in agg]
        fig, axes = plt.subplots(1, len(families), figsize=(4.2 * len(families), 3.4), squeeze=False)
        rows: list[list[Any]] = []
        comparisons: list[Comparison] = []
        for ax, family in zip(axes[0], families, strict=True):
            nat, hp = agg[family, "natural"], agg[family, "highpass"]
            init = agg[family, "untrained"]
            curves = [
                (label, a["profile"], style)
                for label, a, style in (
                    ("trained, natural", nat, "C0o-"),
                    ("trained, high-pass", hp, "C1s-"),
                    ("untrained", init, "C2^-"),
                )
                if not a["dead"]
            ]
            curves += [("data, natural", nat["data_profile"], "k--"), ("data, high-pass", hp["data_profile"], "k:")]
            dead = [kind for kind in ("natural", "highpass") if agg[family, kind]["dead"]]
            _profile_panel(ax, curves, LABELS[family] + (f" ({', '.join(dead)}: dead)" if dead else ""))
            for kind in self.KINDS:
                a = agg[family, kind]
                stats = (
                    ["dead"] * 5
                    if a["dead"]
                    else [
                        a["comparison"]["spearman"],
                        a["comparison"]["js_divergence"],
                        a["mass_below_8"],
                        a["map_mass_in_square"],
                        a["peak_radius"],
                    ]
                )
                rows.append([family, kind, a["test_accuracy"], *stats])
            comparisons += self._claims(family, nat, hp, init)
        fig.tight_layout()
        provenance.save_figure(fig, out_dir / "godfrey_highpass_profiles.png")
        self._maps_figure(results, families, out_dir / "godfrey_highpass_maps.png")
        return Summary(
            self.name,
            self.title,
            self.paper_refs,
            text=_method(results, ctx.profile),
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
                Table(
                    "sensitivity vs data (means over seeds)",
                    ["family", "model", "test acc", "Spearman", "JS div", "mass r<8", "map mass in square", "peak r"],
                    rows,
                )
            ],
            comparisons=comparisons,
        )

    @staticmethod
    def _claims(family: str, nat: dict[str, Any], hp: dict[str, Any], init: dict[str, Any]) -> list[Comparison]:
        sp, js = "spearman", "js_divergence"
        specs: list[tuple[str, tuple[dict[str, Any], ...], Callable[..., Any], str, str, str, Callable[..., bool]]] = [
            (
                f"Q2 {family}: trained on natural data, sensitivity profile tracks the data's",
                (nat,),
                lambda n: round(n["comparison"][sp], 3),
                "mass at low-to-mid radii, decreasing with radius",
                "M",
                "Spearman(model, data profile) > 0.5",
                lambda n: n["comparison"][sp] > 0.5,
            ),
            (
                f"Q3 {family}: high-pass training moves sensitivity out of the removed square",
                (hp, nat),
                lambda h, n: (
                    f"{h['map_mass_in_square']:.3f} vs natural {n['map_mass_in_square']:.3f}, "
                    f"peak radius {h['peak_radius']}"
                ),
                "sensitivity inside the square drops; profile peaks just outside the cutoff (|k| 8-12)",
                "M",
                "map mass in the square: high-pass < natural, and peak radius >= 8",
                lambda h, n: h["map_mass_in_square"] < n["map_mass_in_square"] and h["peak_radius"] >= CUTOFF,
            ),
            (
                f"Q6 {family}: untrained sensitivity is less data-shaped",
                (init, nat),
                lambda i, n: (
                    f"JS {i['comparison'][js]:.4f} vs trained {n['comparison'][js]:.4f} "
                    f"(Spearman {i['comparison'][sp]:.3f} vs {n['comparison'][sp]:.3f})"
                ),
                "initialisation profiles flatter / less data-shaped",
                "M",
                "untrained JS divergence from the data profile > trained",
                lambda i, n: i["comparison"][js] > n["comparison"][js],
            ),
        ]
        if family == "small_cnn":
            specs += [
                (
                    "A13: trained small CNN has more profile mass at radius < 8 than untrained",
                    (nat, init),
                    lambda n, i: f"{n['mass_below_8']:.3f} vs {i['mass_below_8']:.3f}",
                    "more low-frequency mass than at initialisation",
                    "I",
                    "trained > untrained",
                    lambda n, i: n["mass_below_8"] > i["mass_below_8"],
                ),
                (
                    "A13: high-pass-trained small CNN's sensitivity mass inside the removed square",
                    (hp,),
                    lambda h: round(h["map_mass_in_square"], 4),
                    "< 0.5",
                    "I",
                    "share of the 2-D map (channels summed) in the 16x16 square < 0.5",
                    lambda h: h["map_mass_in_square"] < 0.5,
                ),
            ]
        out = []
        for claim, groups, ours, paper, tag, expectation, agree in specs:
            note = _dead_note(*groups)
            if note:
                out.append(Comparison(claim, "dead model", paper, tag, expectation, None, note=note))
            else:
                out.append(Comparison(claim, ours(*groups), paper, tag, expectation, agree(*groups)))
        return out

    @staticmethod
    def _maps_figure(results: list[CellResult], families: list[str], path: Path) -> None:
        by = {r.cell.name: r for r in results}
        kinds = ("natural", "highpass", "untrained")
        fig, axes = plt.subplots(len(families), 3, figsize=(10, 3.0 * len(families)), squeeze=False)
        for row, family in enumerate(families):
            for col, kind in enumerate(kinds):
                mean = torch.as_tensor(by[f"{family}-{kind}-s0"].arrays()["mean"])
                datastats.map_axes(axes[row][col], mean.sum(0), f"{LABELS[family]}: {kind}")
        fig.tight_layout()
        provenance.save_figure(fig, path)


@register_recipe
class GodfreyWeightDecay(_SensitivityRecipe):
    name = "godfrey-weight-decay"
    title = "Weight decay concentrates sensitivity on high-power frequencies (Godfrey Q4)"
    paper_refs = ("Godfrey et al. 2022/23", "papers.md §2.5, §2.7 Q4")

    def cells(self, profile: str) -> list[Cell]:
        swept = ("original",) if profile == "quick" else ("original", HIGHPASS)
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
        return _sweep_summary(self, results, out_dir, ctx, lambda train: train["weight_decay"], "weight decay", "Q4")


@register_recipe
class GodfreyDepth(_SensitivityRecipe):
    name = "godfrey-depth"
    title = "Depth concentrates sensitivity on high-power frequencies (Godfrey Q5, circular CNNs)"
    paper_refs = ("Godfrey et al. 2022/23", "papers.md §2.5, §2.7 Q5")

    def cells(self, profile: str) -> list[Cell]:
        return [
            Cell(f"{family}-nat-depth{d}-s{seed}", cell_config(profile, family, DEPTH_DECAY, depth=d, seed=seed))
            for seed in SEEDS[profile]
            for family in ("circular_linear", "circular_relu")
            for d in DEPTHS[profile]
        ]

    def summarize(self, results: list[CellResult], out_dir: Path, ctx: Context) -> Summary:
        return _sweep_summary(self, results, out_dir, ctx, lambda train: train["model_kwargs"]["depth"], "depth", "Q5")


def _sweep_summary(
    recipe: Recipe,
    results: list[CellResult],
    out_dir: Path,
    ctx: Context,
    swept: Callable[[dict[str, Any]], float],
    label: str,
    claim: str,
) -> Summary:
    """Profiles per swept value, and the trend of the low-frequency mass (natural data: radii < 8) or of the mass just
    outside the cutoff (high-pass data: radii 8..11) with the swept value."""
    groups = _group(results, lambda r: (r.summary["family"], r.summary["view"]))
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.4), squeeze=False)
    rows: list[list[Any]] = []
    comparisons: list[Comparison] = []
    for ax, ((family, view), members) in zip(axes[0], sorted(groups.items()), strict=True):
        by_value = _group(members, lambda r: float(swept(r.cell.config["train"])))
        values = sorted(by_value)
        stat_key, stat_name = ("mass_below_8", "mass r<8") if view == "original" else ("mass_near_cutoff", "mass 8-11")
        all_aggs = [_aggregate(by_value[v]) for v in values]
        for v, a in zip(values, all_aggs, strict=True):
            stats_row = ["dead", "dead"] if a["dead"] else [a["comparison"]["spearman"], a[stat_key]]
            rows.append([family, view, f"{v:g}", a["test_accuracy"], *stats_row])
        live = [(v, a) for v, a in zip(values, all_aggs, strict=True) if not a["dead"]]
        curves = [(f"{label} {v:g}", a["profile"], f"C{i}o-") for i, (v, a) in enumerate(live)]
        curves.append(("data", all_aggs[0]["data_profile"], "k--"))
        _profile_panel(ax, curves, f"{LABELS[family]}, {view}")
        stats = [a[stat_key] for _, a in live]
        trend = datastats.spearman(torch.tensor([v for v, _ in live]), torch.tensor(stats)) if len(live) >= 3 else None
        dead = [f"{v:g}" for v, a in zip(values, all_aggs, strict=True) if a["dead"]]
        note = f"Spearman({label}, {stat_name}) = {trend:.2f}" if trend is not None else ""
        note += f"; dead (zero sensitivity) at {label} {', '.join(dead)}" if dead else ""
        comparisons.append(
            Comparison(
                f"{claim} {family} ({view}): {stat_name} rises with {label}",
                ", ".join(f"{v:g}: {a[stat_key]:.3f}" for v, a in live),
                "normalised profile concentrates (steepens) as it grows",
                "M",
                f"{stat_name} at the largest {label} > at the smallest",
                stats[-1] > stats[0] if len(live) == len(values) and len(stats) > 1 else None,
                note=note.lstrip("; "),
            )
        )
    fig.tight_layout()
    figure = f"{recipe.name}_profiles.png"
    provenance.save_figure(fig, out_dir / figure)
    return Summary(
        recipe.name,
        recipe.title,
        recipe.paper_refs,
        text=_method(results, ctx.profile),
        figures=[Figure(figure, f"Radial sensitivity profiles per {label} against the data's profile (black)")],
        tables=[Table(f"{label} sweep", ["family", "view", label, "test acc", "Spearman", "statistic"], rows)],
        comparisons=comparisons,
    )
