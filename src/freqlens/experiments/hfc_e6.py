"""HFC E6 (Fig. 5): training heuristics and how much the model reads the test set's LFC and HFC, epoch by epoch.

The same network is trained vanilla and with dropout, mix-up, BatchNorm or adversarial training; after each epoch
the training loop measures accuracy on the test set and on its LFC and HFC at r = 4, 8, 12, 16. The paper: dropout
is about vanilla; mix-up and especially BatchNorm read much more HFC (r = 4, 8); adversarial training costs clean
accuracy and ignores the HFC at r >= 8.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from freqlens import provenance, runs
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

# Final-epoch values read off the poster (papers.md §1.4 E6, tag F): train, test, low r4..r16, high r4..r16.
POSTER: dict[str, tuple[float | None, ...]] = {
    "vanilla": (0.92, 0.84, 0.23, 0.55, 0.80, 0.84, 0.12, 0.10, 0.17, 0.13),
    "dropout": (0.90, 0.83, 0.21, 0.50, 0.78, 0.82, 0.20, 0.18, 0.18, 0.13),
    "mixup": (0.76, 0.85, 0.25, 0.57, 0.80, 0.83, 0.48, 0.35, 0.15, 0.13),
    "batchnorm": (0.97, 0.85, 0.38, 0.70, 0.81, 0.85, 0.65, 0.54, 0.39, 0.18),
    "adversarial": (None, 0.69, 0.54, 0.68, 0.69, 0.69, 0.175, 0.10, 0.10, 0.10),
}
COLUMNS = ["train", "test", "low r4", "low r8", "low r12", "low r16", "high r4", "high r8", "high r12", "high r16"]


@register_recipe
class Heuristics(Recipe):
    name = "hfc-e6"
    title = "Heuristics and test-set LFC/HFC accuracy over training (HFC Fig. 5)"
    paper_refs = ("Wang et al. 2020 §5.1, Fig. 5", "papers.md §1.4 E6, §1.5 P1-b, P1-e–P1-h")

    def cells(self, profile: str) -> list[Cell]:
        return [Cell(h, {"train": common.heuristic(profile, h)}) for h in common.HEURISTICS]

    def run_cell(self, cell: Cell, run_dir: Path, ctx: Context) -> dict[str, Any]:
        _, train_dir = ctx.trained_model(cell.config["train"])
        records = common.epochs(train_dir)
        radii = records[-1]["radii"]
        curves: dict[str, list[float]] = {
            "train": common.series(records, "train_acc"),
            "test": common.series(records, "test_acc"),
        }
        for i, r in enumerate(radii):
            curves[f"low r{r:g}"] = common.series(records, "test_lfc_acc", i)
            curves[f"high r{r:g}"] = common.series(records, "test_hfc_acc", i)
        runs.save_arrays(run_dir, **{k.replace(" ", "_"): v for k, v in curves.items()})
        return {"curves": curves, "final": {k: v[-1] for k, v in curves.items()}}

    def summarize(self, results: list[CellResult], out_dir: Path, ctx: Context) -> Summary:
        by = {r.cell.name: r.summary for r in results}
        paper_profile = ctx.profile == "paper"
        fig, axes = plt.subplots(1, len(by), figsize=(3.2 * len(by), 3.2), sharey=True)
        for ax, (name, s) in zip(axes, by.items(), strict=True):
            c = s["curves"]
            epochs = range(1, len(c["test"]) + 1)
            ax.plot(epochs, c["train"], "k-", lw=1.5, label="train")
            ax.plot(epochs, c["test"], "k--", lw=1.5, label="test")
            for i, r in enumerate(common.RADII):
                ax.plot(epochs, c[f"low r{r}"], "-", color=plt.cm.Blues(0.4 + 0.15 * i), label=f"LFC r={r}")
                ax.plot(epochs, c[f"high r{r}"], "-", color=plt.cm.Reds(0.4 + 0.15 * i), label=f"HFC r={r}")
            ax.set_title(name)
            ax.set_xlabel("epoch")
            ax.set_ylim(0, 1)
        axes[0].set_ylabel("accuracy")
        axes[-1].legend(fontsize=6, loc="center right")
        fig.tight_layout()
        provenance.save_figure(fig, out_dir / "fig5.png")

        rows = []
        for name, s in by.items():
            rows.append([f"{name} (ours)", *[s["final"][k] for k in COLUMNS]])
            rows.append([f"{name} (paper [F])", *[v if v is not None else "–" for v in POSTER[name]]])
        final = {name: s["final"] for name, s in by.items()}
        van, bn, mix = final["vanilla"], final["batchnorm"], final["mixup"]
        drop, adv = final["dropout"], final["adversarial"]
        comparisons = [
            Comparison(
                "BatchNorm reads more HFC than vanilla (test HFC accuracy at r = 4)",
                f"{bn['high r4']:.3f} vs {van['high r4']:.3f}",
                "0.65 vs ≈0.12",
                "F, P",
                "BN high r4 > vanilla high r4",
                bn["high r4"] > van["high r4"],
            ),
            Comparison(
                "Mix-up reads more HFC than vanilla (test HFC accuracy at r = 4)",
                f"{mix['high r4']:.3f} vs {van['high r4']:.3f}",
                "0.48 vs ≈0.12",
                "F, P",
                "mix-up high r4 > vanilla high r4",
                mix["high r4"] > van["high r4"],
            ),
            Comparison.within("Dropout ≈ vanilla: test accuracy", drop["test"], van["test"], 0.05, "P", note="P1-g"),
            Comparison(
                "Adversarial training costs clean accuracy",
                f"{adv['test']:.3f} vs {van['test']:.3f}",
                "0.69 vs 0.84",
                "F, P",
                "adversarial test < vanilla test",
                adv["test"] < van["test"],
            ),
            Comparison.between(
                "Adversarial training ignores the HFC at r = 12 (test HFC accuracy)",
                adv["high r12"],
                0.0,
                0.15,
                "F",
                paper=0.10,
            ),
        ]
        for name, poster in POSTER.items():
            for col, value in zip(COLUMNS, poster, strict=True):
                if value is None or col == "train":
                    continue
                c = Comparison.within(f"{name}: {col}", final[name][col], value, 0.05, "F")
                if not paper_profile:
                    c.not_judged("quantitative: judged in the paper profile only")
                comparisons.append(c)
        text = (
            "Final-epoch accuracies of each heuristic against the values read off the paper's poster (±0.03–0.05). "
            "LFC/HFC views of the test set are max-normalised per image as in the HFC code (not for adversarial "
            "training in the paper profile, as `trainMadry`). Mix-up's train accuracy is on mixed batches. "
            "Quick profile: small CNN, few epochs, FGSM-with-random-start adversarial training."
        )
        return Summary(
            self.name,
            self.title,
            self.paper_refs,
            text,
            [Figure("fig5.png", "Accuracy on the test set and its LFC (blue) and HFC (red) per epoch (cf. Fig. 5)")],
            [Table("Final epoch: ours and the paper's poster", ["model", *COLUMNS], rows)],
            comparisons,
        )
