"""Matplotlib helpers shared by the analyses (Agg backend, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from torch import Tensor


def to_displayable(img: Tensor, rescale: bool = False) -> Tensor:
    """``(C, H, W)`` -> ``(H, W, C)`` or ``(H, W)`` in [0, 1]; ``rescale`` stretches min..max to 0..1 (for HFCs)."""
    img = img.detach().float().cpu()
    if rescale:
        lo, hi = img.min(), img.max()
        img = (img - lo) / (hi - lo) if hi > lo else img * 0
    img = img.clamp(0, 1)
    return img[0] if img.shape[0] == 1 else img.permute(1, 2, 0)


def image_grid(
    rows: Sequence[Sequence[Tensor]],
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    rescale: Sequence[bool] | None = None,
    captions: Sequence[Sequence[str]] | None = None,
    cell: float = 1.4,
) -> Figure:
    """A grid of images: ``rows[i][j]`` is a ``(C, H, W)`` tensor; ``rescale[j]`` rescales column j for display."""
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(cell * n_cols, cell * n_rows * (1.25 if captions else 1)), squeeze=False
    )
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(row):
                ax.axis("off")
                continue
            shown = to_displayable(row[j], rescale=bool(rescale and rescale[j]))
            ax.imshow(
                shown.numpy(),
                cmap="gray" if shown.dim() == 2 else None,
                vmin=0,
                vmax=1,
                interpolation="nearest",
            )
            if captions:
                ax.set_xlabel(captions[i][j], fontsize=7)
            if i == 0 and col_labels:
                ax.set_title(col_labels[j], fontsize=8)
            if j == 0 and row_labels:
                ax.set_ylabel(row_labels[i], fontsize=8)
    fig.tight_layout()
    return fig
