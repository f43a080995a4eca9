"""HFC E4 (Table 1): train on the LFC or the HFC only (r = 4, 8, 12, 16), test on the original test images.

The paper: every model fits its training data; LFC-trained models generalise (test 0.62-0.77, rising with r),
HFC-trained ones do not (test 0.10-0.20). Training images are max-normalised per image, as the HFC code does.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from freqlens import provenance
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

# Table 1 as remembered (papers.md §1.4 E4): (train acc, test acc) per part and radius; 0.1281 is quoted in S1b.
PAPER = {
    ("lfc", 4): (0.967, 0.617),
    ("lfc", 8): (0.979, 0.715),
    ("lfc", 12): (0.979, 0.752),
    ("lfc", 16): (0.978, 0.771),
    ("hfc", 4): (0.989, 0.100),
    ("hfc", 8): (0.977, 0.100),
    ("hfc", 12): (0.980, 0.1281),
    ("hfc", 16): (0.961, 0.195),
}


def _tag(part: str, radius: int) -> str:
    return "W" if (part, radius) == ("hfc", 12) else "M"


@register_recipe
class TableOne(Recipe):
    name = "hfc-e4"
    title = "Train on LFC or HFC only, test on the original images (HFC Table 1, check A9)"
    paper_refs = ("Wang et al. 2020 §4.2, Table 1", "papers.md §1.4 E4, §1.5 P1-c, §4.1 A9")

    def cells(self, profile: str) -> list[Cell]:
        return [
            Cell(f"{part}-{r}", {"train": common.filtered(profile, part, r)})
            for part in ("lfc", "hfc")
            for r in common.RADII
        ]

    def run_cell(self, cell: Cell, run_dir: Path, ctx: Context) -> dict[str, Any]:
        _, train_dir = ctx.trained_model(cell.config["train"])
        last = common.epochs(train_dir)[-1]
        part, radius = cell.name.split("-")
        return {
            "part": part,
            "radius": int(radius),
            "train_acc": float(last["train_acc"]),
            "test_acc": float(last["test_acc"]),
        }

    def summarize(self, results: list[CellResult], out_dir: Path, ctx: Context) -> Summary:
        got = {(r.summary["part"], r.summary["radius"]): r.summary for r in results}
        paper_profile = ctx.profile == "paper"
        rows, comparisons = [], []
        for r in common.RADII:
            lfc, hfc_ = got[("lfc", r)], got[("hfc", r)]
            rows.append(
                [
                    r,
                    lfc["train_acc"],
                    lfc["test_acc"],
                    PAPER[("lfc", r)][1],
                    hfc_["train_acc"],
                    hfc_["test_acc"],
                    PAPER[("hfc", r)][1],
                ]
            )
        lfc_test = [got[("lfc", r)]["test_acc"] for r in common.RADII]
        hfc_test = [got[("hfc", r)]["test_acc"] for r in common.RADII]
        comparisons.append(
            Comparison(
                "LFC-trained beats HFC-trained on original test images, at every r",
                ", ".join(f"{a:.2f}>{b:.2f}" for a, b in zip(lfc_test, hfc_test, strict=True)),
                "0.62–0.77 vs 0.10–0.20",
                "P, M",
                "LFC test > HFC test for r = 4, 8, 12, 16",
                all(a > b for a, b in zip(lfc_test, hfc_test, strict=True)),
            )
        )
        comparisons.append(
            Comparison(
                "LFC-trained test accuracy rises with r",
                ", ".join(f"{v:.3f}" for v in lfc_test),
                "rises with r",
                "P",
                "non-decreasing over r = 4, 8, 12, 16",
                all(a <= b for a, b in itertools.pairwise(lfc_test)),
            )
        )
        comparisons.append(
            Comparison.between(
                "A9: LFC(8)-trained test accuracy", got[("lfc", 8)]["test_acc"], 0.35, 1.0, "I", paper=0.715
            )
        )
        comparisons.append(
            Comparison.between(
                "A9: HFC(8)-trained test accuracy", got[("hfc", 8)]["test_acc"], 0.0, 0.25, "I", paper=0.100
            )
        )
        for (part, r), (train_acc, test_acc) in PAPER.items():
            ours = got[(part, r)]["test_acc"]
            c = Comparison.within(f"{part.upper()}({r})-trained test accuracy", ours, test_acc, 0.05, _tag(part, r))
            if not paper_profile:
                c.not_judged("quantitative: judged in the paper profile only")
            comparisons.append(c)
            fit = got[(part, r)]["train_acc"]
            c = Comparison.between(
                f"{part.upper()}({r})-trained fits its training data", fit, 0.95, 1.0, "M", paper=train_acc
            )
            if not paper_profile:
                c.not_judged("few epochs in the quick profile: not expected to fit")
            comparisons.append(c)

        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(common.RADII, lfc_test, "o-", label="ours: trained on LFC")
        ax.plot(common.RADII, hfc_test, "s-", label="ours: trained on HFC")
        ax.plot(
            common.RADII,
            [PAPER[("lfc", r)][1] for r in common.RADII],
            "o--",
            color="C0",
            alpha=0.5,
            label="paper: LFC [M]",
        )
        ax.plot(
            common.RADII,
            [PAPER[("hfc", r)][1] for r in common.RADII],
            "s--",
            color="C1",
            alpha=0.5,
            label="paper: HFC [M]",
        )
        ax.axhline(0.1, color="gray", ls=":", lw=1, label="chance")
        ax.set_xlabel("training radius r")
        ax.set_ylabel("accuracy on original test images")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7)
        fig.tight_layout()
        provenance.save_figure(fig, out_dir / "table1.png")
        table = Table(
            "Table 1: train on x_l or x_h, test on x",
            ["r", "LFC train", "LFC test", "paper LFC test", "HFC train", "HFC test", "paper HFC test"],
            rows,
        )
        text = (
            "Each model is trained only on the LFC (or only on the HFC) of the training images at radius r, "
            "max-normalised per image, and tested on the unfiltered test images. Train accuracy is the training "
            "loop's running accuracy on the filtered training batches of the last epoch."
        )
        return Summary(
            self.name,
            self.title,
            self.paper_refs,
            text,
            [Figure("table1.png", "Test accuracy of LFC- and HFC-trained models against the training radius")],
            [table],
            comparisons,
        )
