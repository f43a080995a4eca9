"""HFC E1 (Fig. 2): images a model gets right through their imperceptible high-frequency component.

The natural model is evaluated on the test set, its LFCs and its HFCs over a sweep of radii
(:func:`freqlens.analyses.hfc.evaluate_hfc`); images right on x and x_h but wrong on x_l are the paper's existence
proof. The sweep also gives acceptance check A8 (LFC accuracy rises with r and reaches the clean accuracy at r = 16;
HFC accuracy of a no-BN net stays near chance, P1-b).

Every number is judged on its uncertainty: accuracies of two views are compared image by image (paired), and the
whole test set is used (10k images) so that the paired differences have standard errors of a few thousandths. The
HFC-explained count is tested against what a model whose HFC predictions ignored the image would get right by chance
(its own marginal distribution of HFC answers), with a shuffled pairing as placebo. An untrained model of the same
architecture, evaluated the same way, is the placebo for "LFC accuracy rises with r".
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from freqlens import provenance, runs
from freqlens.analyses import hfc
from freqlens.contract import Estimate
from freqlens.experiments import common
from freqlens.experiments.base import (
    Cell,
    CellResult,
    Comparison,
    Context,
    Figure,
    Recipe,
    Summary,
    by_cell,
    register_recipe,
)
from freqlens.experiments.contrasts import Contrast, Draw, Effect, judge_all, placebo

SWEEP = [4, 8, 12, 16, 20]
EXAMPLE_RADIUS = 12
IMAGES = {"quick": 10000, "cpu": 10000, "paper": 10000}
HFC_NEAR_CHANCE = 0.2  # P1-b: test-HFC accuracy of a no-BN net <= 0.2 (Fig. 5 vanilla row)


def explained_vs_chance(arrays: dict[str, np.ndarray], r_index: int, shuffle_seed: int | None = None) -> Estimate:
    """HFC-explained rate among the candidates (right on x, wrong on x_l) minus the rate expected by chance.

    Chance: a model whose HFC prediction ignored the image and answered with its own marginal distribution of HFC
    predictions q; it is right on candidate j with probability q[y_j]. The estimate is the mean over candidates of
    ``hit_j - q[y_j]`` with its standard error. ``shuffle_seed`` pairs each candidate with another candidate's HFC
    prediction (the negative control: the pairing that carries the image's information is broken).
    """
    labels = arrays["labels"].astype(np.int64)
    pred_h = arrays["pred_high"][r_index].astype(np.int64)
    candidates = (arrays["pred_original"] == labels) & (arrays["pred_low"][r_index] != labels)
    if not candidates.any():
        return Estimate(0.0, 0.0, n=0, method="paired")
    q = np.bincount(pred_h, minlength=int(max(labels.max(), pred_h.max()) + 1)) / len(pred_h)
    ph, y = pred_h[candidates], labels[candidates]
    if shuffle_seed is not None:
        ph = ph[np.random.default_rng(shuffle_seed).permutation(len(ph))]
    return common.paired((ph == y).astype(np.float64), q[y])


def _correct(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels = arrays["labels"]
    return arrays["pred_original"] == labels, arrays["pred_low"] == labels, arrays["pred_high"] == labels


@register_recipe
class HFCExamples(Recipe):
    name = "hfc-e1"
    title = "HFC-explained test images and LFC/HFC accuracy against radius (HFC Fig. 2, check A8)"
    paper_refs = ("Wang et al. 2020 §3, Fig. 2", "docs/claims.md: P1-b, A8")

    min_seeds: ClassVar[dict[str, int]] = {"quick": 2}  # the spread over seeds, and an A/A pair, in every run

    def cells(self, profile: str) -> list[Cell]:
        natural = common.heuristic(profile, "vanilla")
        evaluation = {
            "radii": SWEEP,
            "images": IMAGES[profile],
            "example_radius": EXAMPLE_RADIUS,
            "normalize": "per_image_max",  # the HFC code rescales its LFC/HFC test images by their maximum
            "seed": 0,
        }
        return [
            Cell("natural", {"train": natural, **evaluation}),
            Cell("untrained", {"untrained": common.untrained(natural), **evaluation}),
        ]

    def run_cell(self, cell: Cell, run_dir: Path, ctx: Context) -> dict[str, Any]:
        spec = cell.config.get("train") or cell.config["untrained"]
        data = common.sample_test_images(ctx, spec["data"], cell.config["images"], cell.config["seed"])
        if "untrained" in cell.config:
            model = common.untrained_model(spec, data, ctx.device)
        else:
            model, _ = ctx.trained_model(spec)
        result = hfc.evaluate_hfc(
            model, data, cell.config["radii"], normalize=cell.config["normalize"], progress=ctx.progress
        )
        r = cell.config["example_radius"]
        figure = hfc.plot_examples(result, data, r, k=8)
        if figure is not None:
            provenance.save_figure(figure, run_dir / "examples.png")
        provenance.save_figure(hfc.plot_accuracy_vs_radius(result), run_dir / "accuracy_vs_radius.png")
        runs.save_arrays(
            run_dir,
            labels=result.labels,
            pred_original=result.pred_original,
            pred_low=result.pred_low,
            pred_high=result.pred_high,
            conf_high=result.conf_high,
        )
        examples = result.hfc_explained(r)
        return {
            "radii": list(result.radii),
            "clean": float(result.accuracy("original")),
            "lfc": result.accuracy("lfc").tolist(),
            "hfc": result.accuracy("hfc").tolist(),
            "hfc_explained": result.hfc_explained_counts().tolist(),
            "example_radius": r,
            "examples_conf_high": [e.conf_high for e in examples[:8]],
            "images": result.num_images,
        }

    def contrasts(self) -> list[Contrast]:
        """Fig. 2's existence claim and check A8, as contrasts of views of the natural model."""
        at = {r: i for i, r in enumerate(SWEEP)}
        r_ex = EXAMPLE_RADIUS

        def correct(d: Draw, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return _correct(d[name]["arrays"])

        def smallest_step(name: str) -> Effect:
            def fn(d: Draw) -> Estimate:
                lfc = correct(d, name)[1]
                steps = [common.paired(lfc[at[b]], lfc[at[a]]) for a, b in itertools.pairwise(common.RADII)]
                return min(steps, key=lambda e: e.value)

            return fn

        def max_hfc(d: Draw) -> Estimate:
            hfc_correct = correct(d, "natural")[2]
            acc = {r: hfc_correct[at[r]].mean() for r in (8, 12, 16)}
            worst = max(acc, key=lambda k: acc[k])
            return Estimate.proportion(int(hfc_correct[at[worst]].sum()), hfc_correct.shape[1])

        def explained_note(draws: Sequence[Draw]) -> str:
            s = draws[0]["natural"]["summary"]
            sweep = ", ".join(
                f"r={r}: {common.combine([explained_vs_chance(d['natural']['arrays'], at[r]) for d in draws])}"
                for r in common.RADII
            )
            return (
                f"first seed: {s['hfc_explained'][at[r_ex]]} of {s['images']} test images are right on x and x_h, "
                f"wrong on x_l; the estimate is (found − expected by chance) / candidates; at every radius: {sweep}"
            )

        return [
            Contrast(
                f"HFC-explained test images at r = {r_ex}: rate among candidates above chance",
                lambda d: explained_vs_chance(d["natural"]["arrays"], at[r_ex]),
                f"natural model's HFC({r_ex}) answers on the candidates (right on x, wrong on x_l)",
                "chance: the model's own distribution of HFC answers",
                ">",
                0.0,
                "8 shown (existence)",
                "P",
                "permuted",
                "HFC answers paired with another candidate's label (shuffled pairing)",
                placebo(lambda d: explained_vs_chance(d["natural"]["arrays"], at[r_ex], shuffle_seed=0)),
                diagnosis="scale: at r = 12 the HFC holds under 2.5 % of the non-DC energy and this briefly trained "
                "no-BN network reads almost none of it (its HFC accuracy is near chance, claim P1-b below); the "
                "sweep in the note shows the rate at smaller radii. The paper's eight images are a cherry-picked "
                "existence proof from a 100-epoch ResNet at an unstated radius, not an average rate",
                note=explained_note,
            ),
            Contrast(
                "A8: clean accuracy minus LFC accuracy at r = 16 (paired, same images)",
                lambda d: common.paired(correct(d, "natural")[0], correct(d, "natural")[1][at[16]]),
                "natural model on the original test images",
                "the same model on their LFC(16)",
                "≈",
                0.05,
                "LFC(16) ≈ clean (0.84 vs 0.84)",
                "I, F",
                "none",
                "a claim of equivalence: a placebo meets it by construction",
                diagnosis="scale: the small CNN trained for a few epochs leans on the 23 % of bins outside r = 16 "
                "more than the paper's converged ResNet",
            ),
            Contrast(
                "A8: LFC accuracy rises with r (smallest of the steps 4→8→12→16, paired)",
                smallest_step("natural"),
                "natural model on LFC(r) at the larger r of each step",
                "the same model at the smaller r",
                ">",
                0.0,
                "rises with r",
                "P, I",
                "untrained",
                "an untrained model of the same architecture on the same views",
                placebo(smallest_step("untrained")),
                diagnosis="the step from r = 12 to 16 is small (paper: 0.80 → 0.84) and, at this model's accuracy, "
                "the measured step is inside the noise",
            ),
            Contrast(
                "P1-b / A8: HFC accuracy of the no-BN model near chance at r ≥ 8 (highest of r = 8, 12, 16)",
                max_hfc,
                "natural model on HFC(r), r = 8, 12, 16",
                "the paper's bound 0.2 (chance 0.1)",
                "<",
                HFC_NEAR_CHANCE,
                "≤ 0.17 (Fig. 5 vanilla)",
                "F, I",
                "none",
                "an upper bound near chance: an untrained model meets it by construction",
                diagnosis="the highest HFC accuracy at r ≥ 8 reaches the bound: this no-BN small CNN reads part of "
                "the HFC at r = 8 after a few epochs (see hfc-e6's curves)",
            ),
        ]

    def summarize(self, results: list[CellResult], out_dir: Path, ctx: Context) -> Summary:
        groups = by_cell(results)
        natural = groups["natural"]
        first = natural[0]
        s = first.summary
        at = {r: i for i, r in enumerate(s["radii"])}
        r_ex = s["example_radius"]
        figures = []
        for name, caption in (
            ("examples.png", f"HFC-explained test images at r = {r_ex}, first seed (cf. Fig. 2)"),
            ("accuracy_vs_radius.png", "Accuracy on LFC and HFC views of the test set against the radius, first seed"),
        ):
            if (first.run_dir / name).is_file():
                shutil.copyfile(first.run_dir / name, out_dir / name)
                figures.append(Figure(name, caption))
        data = {name: [{"arrays": r.arrays(), "summary": r.summary} for r in g] for name, g in groups.items()}
        comparisons = judge_all(self.contrasts(), data)
        conf = s["examples_conf_high"]
        comparisons.insert(
            1,
            Comparison(
                "mean HFC confidence of the top examples",
                sum(conf) / len(conf) if conf else None,
                "≈0.3–0.4",
                "P",
                "shown for information",
                None,
            ),
        )
        count = s["hfc_explained"][at[r_ex]]
        text = (
            f"The natural model ({first.cell.config['train']['model']}) has clean accuracy {s['clean']:.3f} on "
            f"{s['images']} test images (first seed). At r = {r_ex}, {count} of them are HFC-explained: "
            "classified correctly from the high-frequency component alone although the low-frequency component, "
            "which looks like the image, is misclassified. LFC and HFC views are rescaled by their per-image maximum "
            "before the model sees them, as the HFC code does for its LFC/HFC test sets. Accuracy differences "
            "between views are paired over the same images, then combined over the seeds."
        )
        return Summary(
            self.name, self.title, self.paper_refs, text, figures, [], comparisons, models=common.models(groups)
        )
