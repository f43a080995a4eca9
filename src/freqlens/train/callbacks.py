"""Per-epoch analyses: each callback sees the model (in eval mode) after an epoch and returns metrics to log.

A callback is any callable ``(EpochContext) -> dict``; the returned keys are merged into that epoch's line of
``metrics.jsonl``. :func:`default_callbacks` gives the ones a :class:`~freqlens.train.config.TrainConfig` asks for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from freqlens.train.config import TrainConfig
from freqlens.views import classify_views, empty_views


@dataclass
class EpochContext:
    """What a callback may look at after epoch ``epoch`` (1-based)."""

    epoch: int
    model: nn.Module
    config: TrainConfig
    train_x: Tensor  # training images as trained on (train_view applied), on the device
    train_y: Tensor  # labels as trained on (shuffled when shuffle_labels)
    test_x: Tensor
    test_y: Tensor
    prepare: Callable[[Tensor], Tensor]  # memory layout for the model (channels_last or not)
    autocast: Callable[[], contextlib.AbstractContextManager[Any]]


Callback = Callable[[EpochContext], dict[str, Any]]


@torch.no_grad()
def _logits(ctx: EpochContext, x: Tensor) -> Tensor:
    with ctx.autocast():
        return ctx.model(ctx.prepare(x)).float()


@torch.no_grad()
def accuracy_and_loss(ctx: EpochContext, x: Tensor, y: Tensor) -> tuple[float, float]:
    """Accuracy and mean cross-entropy (no label smoothing) of the model on ``(x, y)``, in batches."""
    correct = torch.zeros((), device=x.device)
    loss = torch.zeros((), device=x.device)
    for start in range(0, len(x), ctx.config.eval_batch_size):
        logits = _logits(ctx, x[start : start + ctx.config.eval_batch_size])
        target = y[start : start + ctx.config.eval_batch_size]
        correct += (logits.argmax(dim=1) == target).sum()
        loss += F.cross_entropy(logits, target, reduction="sum")
    return float(correct) / len(x), float(loss) / len(x)


@torch.no_grad()
def frequency_accuracy(
    ctx: EpochContext, x: Tensor, y: Tensor, radii: Sequence[float], normalize: bool, parts: str = "lfc,hfc"
) -> dict[str, list[float]]:
    """Accuracy on the LFC and/or HFC of ``x`` at every radius (:func:`freqlens.views.classify_views`, the pass of
    the HFC evaluation). With ``normalize`` each filtered image is rescaled by its own maximum first (the HFC code).
    Empty views (:func:`freqlens.views.empty_views`) are left out, as in the HFC evaluation (NaN where all are)."""
    wanted = parts.split(",")
    correct = {part: torch.zeros(len(radii), device=x.device) for part in wanted}
    kept = {part: torch.zeros(len(radii), device=x.device) for part in wanted}
    size = ctx.config.eval_batch_size
    for start in range(0, len(x), size):
        xb, yb = x[start : start + size], y[start : start + size]
        found = classify_views(
            lambda v: _logits(ctx, v), xb, radii, normalize="per_image_max" if normalize else "none", parts=wanted
        )
        empty = dict(zip(("lfc", "hfc"), empty_views(xb, radii), strict=True))
        for part in wanted:
            correct[part] += ((found[part][1] == yb) & ~empty[part]).sum(dim=1)
            kept[part] += (~empty[part]).sum(dim=1)
    return {part: (c / kept[part]).tolist() for part, c in correct.items()}


def eval_test_accuracy(ctx: EpochContext) -> dict[str, Any]:
    """``test_acc`` and ``test_loss`` on the unfiltered test set."""
    acc, loss = accuracy_and_loss(ctx, ctx.test_x, ctx.test_y)
    return {"test_loss": loss, "test_acc": acc}


def eval_test_frequencies(ctx: EpochContext) -> dict[str, Any]:
    """``test_lfc_acc`` and ``test_hfc_acc``: lists aligned with ``radii`` (HFC Fig. 5)."""
    radii = list(ctx.config.eval_radii)
    acc = frequency_accuracy(ctx, ctx.test_x, ctx.test_y, radii, ctx.config.eval_normalize)
    return {"radii": radii, "test_lfc_acc": acc["lfc"], "test_hfc_acc": acc["hfc"]}


def eval_train_lfc(ctx: EpochContext) -> dict[str, Any]:
    """``train_lfc_acc``: accuracy on the LFC of the first ``train_eval_subset`` training images against the labels
    trained on (shuffled ones for the shuffled-label run; HFC Fig. 3)."""
    n = ctx.config.train_eval_subset
    radii = list(ctx.config.eval_radii)
    acc = frequency_accuracy(ctx, ctx.train_x[:n], ctx.train_y[:n], radii, ctx.config.eval_normalize, "lfc")
    return {"train_lfc_acc": acc["lfc"]}


def eval_train_frequencies(ctx: EpochContext) -> dict[str, Any]:
    """``train_lfc_acc`` and ``train_hfc_acc``: accuracy on the LFC and the HFC of the first ``train_eval_subset``
    training images against the labels trained on (HFC Fig. 3 with the HFC side logged too)."""
    n = ctx.config.train_eval_subset
    radii = list(ctx.config.eval_radii)
    acc = frequency_accuracy(ctx, ctx.train_x[:n], ctx.train_y[:n], radii, ctx.config.eval_normalize)
    return {"train_lfc_acc": acc["lfc"], "train_hfc_acc": acc["hfc"]}


def default_callbacks(config: TrainConfig) -> list[Callback]:
    """Test accuracy always; test LFC/HFC accuracy when ``eval_radii``; train LFC/HFC accuracy for shuffled labels."""
    callbacks: list[Callback] = [eval_test_accuracy]
    if config.eval_radii:
        callbacks.append(eval_test_frequencies)
        if config.shuffle_labels:
            callbacks.append(eval_train_frequencies)
    return callbacks
