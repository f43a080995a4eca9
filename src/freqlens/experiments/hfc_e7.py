"""HFC E7 (§5.2, Fig. 6): does BatchNorm still help when the training data are LFC only?

Models are trained on the LFC at r = 4, 8, 12, 16 (max-normalised), with and without BatchNorm (the vanilla ones
are Table 1's), and tested on the original test images and on their LFC. The paper: with LFC-only data BN does not
always help and helps less the smaller r is; it still speeds up convergence of training accuracy, least at r = 4.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from freqlens import provenance
from freqlens.analyses import hfc
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
    register_recipe,
)
from freqlens.plotting import plt


@register_recipe
class BatchNormOnLFC(Recipe):
    name = "hfc-e7"
    title = "BatchNorm when training on LFC only (HFC §5.2, Fig. 6)"
    paper_refs = ("Wang et al. 2020 §5.2, Fig. 6", "papers.md §1.4 E7")

    def cells(self, profile: str) -> list[Cell]:
        return [
            Cell(
                f"lfc-{r}-{'bn' if bn else 'vanilla'}",
                {
                    "train": common.filtered(profile, "lfc", r, **({"model_kwargs": common.BATCHNORM} if bn else {})),
                    "radius": r,
                    "batchnorm": bn,
                    "images": common.EVAL_IMAGES[profile],
                },
            )
            for r in common.RADII
            for bn in (False, True)
        ]

    def run_cell(self, cell: Cell, run_dir: Path, ctx: Context) -> dict[str, Any]:
        model, train_dir = ctx.trained_model(cell.config["train"])
        data = ctx.dataset(cell.config["train"]["data"], "test").subset(cell.config["images"], seed=0)
        r = cell.config["radius"]
        result = hfc.evaluate_hfc(model, data, [r], normalize="per_image_max", progress=ctx.progress)
        return {
            "radius": r,
            "batchnorm": cell.config["batchnorm"],
            "test_original": float(result.accuracy("original")),
            "test_lfc": float(result.accuracy("lfc")[0]),
            "train_acc": common.series(common.epochs(train_dir), "train_acc"),
        }

    def summarize(self, results: list[CellResult], out_dir: Path, ctx: Context) -> Summary:
        got = {(s["radius"], s["batchnorm"]): s for s in (r.summary for r in results)}
        radii = sorted({r for r, _ in got})
        rows = [
            [
                r,
                got[(r, False)]["test_original"],
                got[(r, True)]["test_original"],
                got[(r, False)]["test_lfc"],
                got[(r, True)]["test_lfc"],
                got[(r, False)]["train_acc"][0],
                got[(r, True)]["train_acc"][0],
            ]
            for r in radii
        ]
        gain = [got[(r, True)]["test_original"] - got[(r, False)]["test_original"] for r in radii]
        speed = [got[(r, True)]["train_acc"][0] - got[(r, False)]["train_acc"][0] for r in radii]
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        for r in radii:
            for bn, style in ((False, "--"), (True, "-")):
                curve = got[(r, bn)]["train_acc"]
                axes[0].plot(range(1, len(curve) + 1), curve, style, label=f"r={r} {'BN' if bn else 'vanilla'}")
        axes[0].set_xlabel("epoch")
        axes[0].set_ylabel("training accuracy (LFC data)")
        axes[0].legend(fontsize=6, ncol=2)
        axes[1].plot(radii, [got[(r, False)]["test_original"] for r in radii], "o--", label="vanilla, original test")
        axes[1].plot(radii, [got[(r, True)]["test_original"] for r in radii], "o-", label="BN, original test")
        axes[1].plot(radii, [got[(r, False)]["test_lfc"] for r in radii], "s--", label="vanilla, LFC test")
        axes[1].plot(radii, [got[(r, True)]["test_lfc"] for r in radii], "s-", label="BN, LFC test")
        axes[1].set_xlabel("training radius r")
        axes[1].set_ylabel("test accuracy")
        axes[1].legend(fontsize=7)
        fig.tight_layout()
        provenance.save_figure(fig, out_dir / "fig6.png")
        comparisons = [
            Comparison(
                "BN's gain in original-test accuracy grows with r",
                ", ".join(f"r={r}: {g:+.3f}" for r, g in zip(radii, gain, strict=True)),
                "the smaller r, the less BN helps",
                "P",
                "gain at the largest r > gain at r = 4",
                gain[-1] > gain[0],
            ),
            Comparison(
                "BN does not always improve accuracy with LFC-only data",
                min(gain),
                "not always better; worse than vanilla in their setting",
                "P",
                "BN gain ≤ 0 for some r",
                min(gain) <= 0,
            ),
            Comparison(
                "BN speeds up convergence (training accuracy after epoch 1), least at r = 4",
                ", ".join(f"r={r}: {s:+.3f}" for r, s in zip(radii, speed, strict=True)),
                "faster with BN, least at r = 4",
                "P",
                "BN ahead at every r, by the least at r = 4",
                min(speed) > 0 and speed[0] == min(speed),
            ),
        ]
        table = Table(
            "Test accuracy and first-epoch training accuracy, vanilla vs BN, trained on LFC(r)",
            [
                "r",
                "orig. test vanilla",
                "orig. test BN",
                "LFC test vanilla",
                "LFC test BN",
                "epoch-1 train vanilla",
                "epoch-1 train BN",
            ],
            rows,
        )
        return Summary(
            self.name,
            self.title,
            self.paper_refs,
            "The paper gives no numbers for this figure (it is not in the available sources); only its verbal claims "
            "are checked. LFC test images are max-normalised per image like the training data.",
            [Figure("fig6.png", "Training curves on LFC data (left) and test accuracy (right), vanilla vs BN")],
            [table],
            comparisons,
        )
