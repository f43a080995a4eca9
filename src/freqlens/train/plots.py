"""The per-epoch curves of a training run: accuracy, and accuracy on LFC/HFC views at each radius (HFC Figs. 3, 5)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

from freqlens.plotting import plt


def plot_curves(metrics: Sequence[dict[str, Any]], title: str = "") -> Figure:
    """Three panels over epochs: train/test accuracy; test LFC accuracy per radius; test HFC accuracy per radius
    (plus train-set LFC accuracy, dashed, when it was measured)."""
    epochs = [m["epoch"] for m in metrics]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), sharey=True)
    acc_ax, low_ax, high_ax = axes
    acc_ax.plot(epochs, [m["train_acc"] for m in metrics], "o-", ms=3, label="train")
    acc_ax.plot(epochs, [m["test_acc"] for m in metrics], "s-", ms=3, label="test")
    radii = metrics[0].get("radii", []) if metrics else []
    colours = plt.get_cmap("viridis")([i / max(1, len(radii) - 1) for i in range(len(radii))])
    for i, r in enumerate(radii):
        label = f"r={r:g}"
        low_ax.plot(epochs, [m["test_lfc_acc"][i] for m in metrics], "o-", ms=3, color=colours[i], label=label)
        high_ax.plot(epochs, [m["test_hfc_acc"][i] for m in metrics], "o-", ms=3, color=colours[i], label=label)
        if "train_lfc_acc" in metrics[0]:
            low_ax.plot(
                epochs, [m["train_lfc_acc"][i] for m in metrics], "--", color=colours[i], label=f"train {label}"
            )
    for ax, name in zip(axes, ("accuracy", "test LFC accuracy", "test HFC accuracy"), strict=True):
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    acc_ax.set_ylabel("accuracy")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
