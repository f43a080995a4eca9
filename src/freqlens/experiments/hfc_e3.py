"""HFC E3 (Fig. 3): natural vs shuffled labels, and how much of the training set's LFC the model gets right.

Two models train on the same images, one with the true labels and one with a fixed random permutation of them
(3x the epochs, as the paper). After every epoch the training loop measures accuracy on the LFC of the training
images at r = 4, 8, 12, 16 against the labels trained on. The paper: with natural labels the model picks up the LFC
first (about 40 % at r = 4 after one epoch); with shuffled labels it memorises without preferring the LFC (r = 4
barely above chance).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from freqlens import provenance, runs
from freqlens.experiments import common
from freqlens.experiments.base import Cell, CellResult, Comparison, Context, Figure, Recipe, Summary, register_recipe
from freqlens.plotting import plt

# quick: a small training set, and BatchNorm (running statistics), so that the small CNN memorises random labels in
# CPU minutes (without BN it does not even fit the true labels of 500 images in 10 epochs)
_SETUP: dict[str, dict[str, Any]] = {
    "quick": {
        "train_subset": 500,
        "test_subset": 200,
        "epochs": 10,
        "batch_size": 50,
        "model_kwargs": {"batchnorm": True},
    },
    "paper": {"epochs": 100},
}
FIT = 0.9  # "fitted": training accuracy reached this level


@register_recipe
class ShuffledLabels(Recipe):
    name = "hfc-e3"
    title = "Natural vs shuffled labels: training-set LFC accuracy over epochs (HFC Fig. 3)"
    paper_refs = ("Wang et al. 2020 §4.2, Fig. 3", "papers.md §1.4 E3, §1.5 P1-d, P1-k")

    def cells(self, profile: str) -> list[Cell]:
        setup = json.loads(json.dumps(_SETUP[profile]))
        natural = common.vanilla(profile, **setup, callbacks=["eval_train_lfc"])  # built in for shuffled runs
        shuffled = common.vanilla(profile, **{**setup, "epochs": 3 * setup["epochs"]}, shuffle_labels=True)
        return [Cell("natural", {"train": natural}), Cell("shuffled", {"train": shuffled})]

    def run_cell(self, cell: Cell, run_dir: Path, ctx: Context) -> dict[str, Any]:
        _, train_dir = ctx.trained_model(cell.config["train"])
        records = common.epochs(train_dir)
        radii = records[-1]["radii"]
        curves = {f"L{r:g}": common.series(records, "train_lfc_acc", i) for i, r in enumerate(radii)}
        train_acc = common.series(records, "train_acc")
        runs.save_arrays(run_dir, train_acc=train_acc, **curves)
        fitted = next((i + 1 for i, a in enumerate(train_acc) if a >= FIT), None)
        return {"radii": radii, "train_acc": train_acc, "train_lfc": curves, "epochs_to_fit": fitted}

    def summarize(self, results: list[CellResult], out_dir: Path, ctx: Context) -> Summary:
        by = {r.cell.name: r.summary for r in results}
        nat, shuf = by["natural"], by["shuffled"]
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
        for ax, (label, s) in zip(axes, (("natural labels", nat), ("shuffled labels", shuf)), strict=True):
            epochs = range(1, len(s["train_acc"]) + 1)
            ax.plot(epochs, s["train_acc"], "k-", lw=2, label="train")
            for key, curve in s["train_lfc"].items():
                ax.plot(epochs, curve, label=key.replace("L", "LFC r="))
            ax.axhline(0.1, color="gray", ls=":", lw=1)
            ax.set_title(label)
            ax.set_xlabel("epoch")
        axes[0].set_ylabel("accuracy on training set (its LFC)")
        axes[1].legend(fontsize=8)
        fig.tight_layout()
        provenance.save_figure(fig, out_dir / "fig3.png")

        nat_l4, shuf_l4 = nat["train_lfc"]["L4"], shuf["train_lfc"]["L4"]
        nat_fit, shuf_fit = nat["epochs_to_fit"], shuf["epochs_to_fit"]
        ratio = shuf_fit / nat_fit if nat_fit and shuf_fit else None
        comparisons = [
            Comparison(
                "natural L(4) above shuffled L(4) (final epoch)",
                f"{nat_l4[-1]:.3f} vs {shuf_l4[-1]:.3f}",
                "≈0.27 vs ≈0.14",
                "F",
                "natural > shuffled",
                nat_l4[-1] > shuf_l4[-1],
            ),
            Comparison(
                "shuffled L(4) stays near chance (max over epochs)",
                max(shuf_l4),
                "≈0.14",
                "F",
                "≤ 0.16 (P1-d)",
                max(shuf_l4) <= 0.16,
            ),
            Comparison(
                "natural L(4) after the first epoch",
                nat_l4[0],
                "around 0.40",
                "P",
                "≥ 0.25 (P1-d)",
                nat_l4[0] >= 0.25,
            ),
            Comparison(
                f"epochs to reach {FIT:.0%} training accuracy, shuffled / natural",
                ratio if ratio is not None else f"natural {nat_fit}, shuffled {shuf_fit}",
                "about 3 (300 vs 100 epochs)",
                "P",
                "shuffled needs more epochs (ratio > 1)",
                ratio > 1 if ratio is not None else (nat_fit is not None and shuf_fit is None) or None,
            ),
        ]
        text = (
            f"Both models train on the same {results[0].cell.config['train'].get('train_subset') or 'full'} "
            f"CIFAR-10 images; the shuffled one for {len(shuf['train_acc'])} epochs, the natural one for "
            f"{len(nat['train_acc'])}. Curves: accuracy on the training images' LFC (per-image max-normalised, as the "
            "HFC code) against the labels each model was trained on."
        )
        return Summary(
            self.name,
            self.title,
            self.paper_refs,
            text,
            [Figure("fig3.png", "Training accuracy and training-set LFC accuracy per epoch (cf. Fig. 3)")],
            [],
            comparisons,
        )
