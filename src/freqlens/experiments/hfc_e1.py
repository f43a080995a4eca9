"""HFC E1 (Fig. 2): images a model gets right through their imperceptible high-frequency component.

The natural model is evaluated on the test set, its LFCs and its HFCs over a sweep of radii
(:func:`freqlens.analyses.hfc.evaluate_hfc`); images right on x and x_h but wrong on x_l are the paper's existence
proof. The sweep also gives acceptance check A8 (LFC accuracy rises with r and reaches the clean accuracy at r = 16;
HFC accuracy stays below it).
"""

from __future__ import annotations

import itertools
import math
import shutil
from pathlib import Path
from typing import Any

from freqlens import provenance, runs
from freqlens.analyses import hfc
from freqlens.experiments import common
from freqlens.experiments.base import Cell, CellResult, Comparison, Context, Figure, Recipe, Summary, register_recipe

SWEEP = [4, 8, 12, 16, 20]
EXAMPLE_RADIUS = 12


@register_recipe
class HFCExamples(Recipe):
    name = "hfc-e1"
    title = "HFC-explained test images and LFC/HFC accuracy against radius (HFC Fig. 2, check A8)"
    paper_refs = ("Wang et al. 2020 §3, Fig. 2", "papers.md §1.4 E1, §4.1 A8")

    def cells(self, profile: str) -> list[Cell]:
        config = {
            "train": common.heuristic(profile, "vanilla"),
            "radii": SWEEP,
            "images": common.EVAL_IMAGES[profile],
            "example_radius": EXAMPLE_RADIUS,
            "normalize": "per_image_max",  # the HFC code rescales its LFC/HFC test images by their maximum
        }
        return [Cell("natural", config)]

    def run_cell(self, cell: Cell, run_dir: Path, ctx: Context) -> dict[str, Any]:
        model, _ = ctx.trained_model(cell.config["train"])
        data = ctx.dataset(cell.config["train"]["data"], "test").subset(cell.config["images"], seed=0)
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
        i = result.radius_index(r)
        # If the HFC view told the model nothing, it would still be right by luck on 1 / K of these images.
        candidates = int((result.correct("original") & ~result.correct("lfc")[i]).sum())
        return {
            "chance_count": candidates / len(result.classes),
            "radii": list(result.radii),
            "clean": float(result.accuracy("original")),
            "lfc": result.accuracy("lfc").tolist(),
            "hfc": result.accuracy("hfc").tolist(),
            "hfc_explained": result.hfc_explained_counts().tolist(),
            "example_radius": r,
            "examples_conf_high": [e.conf_high for e in examples[:8]],
            "images": result.num_images,
        }

    def summarize(self, results: list[CellResult], out_dir: Path, ctx: Context) -> Summary:
        (res,) = results
        s = res.summary
        radii, lfc, hfc_acc = s["radii"], s["lfc"], s["hfc"]
        at = {r: i for i, r in enumerate(radii)}
        count = s["hfc_explained"][at[s["example_radius"]]]
        figures = []
        for name, caption in (
            ("examples.png", f"HFC-explained test images at r = {s['example_radius']} (cf. Fig. 2)"),
            ("accuracy_vs_radius.png", "Accuracy on LFC and HFC views of the test set against the radius"),
        ):
            if (res.run_dir / name).is_file():
                shutil.copyfile(res.run_dir / name, out_dir / name)
                figures.append(Figure(name, caption))
        conf = s["examples_conf_high"]
        lfc_main = [lfc[at[r]] for r in common.RADII]
        se = math.sqrt(s["clean"] * (1 - s["clean"]) / s["images"])  # binomial standard error of an accuracy
        comparisons = [
            Comparison(
                f"HFC-explained test images at r = {s['example_radius']} (right on x and x_h, wrong on x_l)",
                count,
                "8 shown (existence)",
                "P",
                "they exist, beyond what a random guess on x_h would give",
                count > s["chance_count"],
                f"of {s['images']} test images; {s['chance_count']:.1f} expected if the HFC view were a random guess",
            ),
            Comparison(
                "mean HFC confidence of the top examples",
                sum(conf) / len(conf) if conf else None,
                "≈0.3–0.4",
                "P",
                "shown for information",
                None,
            ),
            Comparison.within("A8: LFC accuracy at r = 16 vs clean accuracy", lfc[at[16]], s["clean"], 0.05, "I"),
            Comparison(
                "A8: LFC accuracy rises with r (4 < 8 < 12 < 16)",
                ", ".join(f"{v:.3f}" for v in lfc_main),
                "rises with r",
                "P, I",
                f"increasing within one standard error ({se:.3f})",
                all(b > a - se for a, b in itertools.pairwise(lfc_main)),
            ),
            Comparison(
                "A8: HFC accuracy for r ≥ 8 below LFC accuracy at r = 16",
                max(hfc_acc[at[r]] for r in (8, 12, 16)),
                lfc[at[16]],
                "I",
                "max HFC(r ≥ 8) < LFC(16)",
                max(hfc_acc[at[r]] for r in (8, 12, 16)) < lfc[at[16]],
            ),
        ]
        text = (
            f"The natural model ({res.cell.config['train']['model']}) has clean accuracy {s['clean']:.3f} on "
            f"{s['images']} test images. At r = {s['example_radius']}, {count} of them are *HFC-explained*: "
            "classified correctly from the high-frequency component alone although the low-frequency component, "
            "which looks like the image, is misclassified. LFC and HFC views are rescaled by their per-image maximum "
            "before the model sees them, as the HFC code does for its LFC/HFC test sets."
        )
        return Summary(self.name, self.title, self.paper_refs, text, figures, [], comparisons)
