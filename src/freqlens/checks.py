"""Checks shared by the analyses on what a model is given and what it returns: labels and logits.

A model that returns the wrong shape, or labels outside its classes, would otherwise surface as a raw indexing or
reshaping error deep inside torch (on CUDA, a device-side assert); these turn them into one-line
:class:`~freqlens.errors.FreqlensError`\\ s that say what to fix.

Example:
    >>> import torch
    >>> check_logits(torch.zeros(4, 10), 4, torch.tensor([0, 3, 9, 2])).shape
    torch.Size([4, 10])
    >>> check_logits(torch.zeros(4, 10), 4, torch.tensor([0, 3, 12, 2]))
    Traceback (most recent call last):
    ...
    freqlens.errors.FreqlensError: labels must lie in 0..9 for a model with 10 outputs, got 0..12; use the labels of \
the dataset the model was trained for
"""

from __future__ import annotations

import torch
from torch import Tensor

from freqlens.errors import FreqlensError

__all__ = ["check_labels", "check_logits"]


def check_labels(labels: object, n: int) -> Tensor:
    """``labels`` must be an int64 tensor of shape ``(n,)`` (one class index per image); returned unchanged."""
    if not isinstance(labels, Tensor) or labels.shape != (n,) or labels.dtype != torch.int64:
        shape = f"{labels.dtype} {tuple(labels.shape)}" if isinstance(labels, Tensor) else type(labels).__name__
        raise FreqlensError(f"labels must be an int64 tensor of shape ({n},), one per image; got {shape}")
    return labels


def check_logits(logits: object, n: int, labels: Tensor | None = None) -> Tensor:
    """``logits`` must be a floating tensor ``(n, K)``; ``labels``, when given, must lie in ``0..K-1``."""
    if not isinstance(logits, Tensor) or logits.dim() != 2 or logits.shape[0] != n or not logits.is_floating_point():
        got = f"{logits.dtype} {tuple(logits.shape)}" if isinstance(logits, Tensor) else type(logits).__name__
        raise FreqlensError(
            f"the model returned {got} for {n} images; it must return floating-point logits of shape ({n}, classes)"
        )
    k = logits.shape[1]
    if labels is not None and labels.numel() and bool(((labels < 0) | (labels >= k)).any()):
        lo, hi = int(labels.min()), int(labels.max())
        raise FreqlensError(
            f"labels must lie in 0..{k - 1} for a model with {k} outputs, got {lo}..{hi}; "
            "use the labels of the dataset the model was trained for"
        )
    return logits
