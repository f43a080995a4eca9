"""Batched data augmentation on device-resident tensors (no per-sample Python, no DataLoader).

Random numbers come from a CPU ``torch.Generator`` (so a seed gives the same augmentations on any device and the
generator's state can be checkpointed) and are moved to the images' device.

Example:
    >>> aug = parse_augment("flip,crop:4")
    >>> x = torch.rand(8, 3, 32, 32)
    >>> y = aug(x, torch.Generator().manual_seed(0))
    >>> tuple(y.shape), aug.describe()
    ((8, 3, 32, 32), 'random horizontal flip; shift by up to 4 px (crop of the image zero-padded by 4)')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from freqlens.errors import FreqlensError


@dataclass(frozen=True)
class Augment:
    """Random horizontal flip and/or a random crop of the padded image (``pad`` pixels, ``mode`` padding)."""

    flip: bool = False
    pad: int = 0
    mode: str = "constant"  # "constant" (zeros, as torchvision RandomCrop(padding=P)) or "reflect"

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        n = x.shape[0]
        if self.pad > 0:
            x = random_crop(x, self.pad, self.mode, generator)
        if self.flip:
            flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        return x

    def describe(self) -> str:
        parts = ["random horizontal flip"] if self.flip else []
        if self.pad:
            how = "zero-padded" if self.mode == "constant" else "reflect-padded"
            parts.append(f"shift by up to {self.pad} px (crop of the image {how} by {self.pad})")
        return "; ".join(parts) or "none"


def random_crop(x: Tensor, pad: int, mode: str, generator: torch.Generator) -> Tensor:
    """Pad every image by ``pad`` and cut a random ``H x W`` window from each, in one gather.

    The result is in channels-last memory layout (what the convs want anyway).
    """
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode=mode)
    offsets = torch.randint(0, 2 * pad + 1, (2, n), generator=generator).to(x.device)
    rows = offsets[0].view(n, 1, 1) + torch.arange(h, device=x.device).view(1, h, 1)
    cols = offsets[1].view(n, 1, 1) + torch.arange(w, device=x.device).view(1, 1, w)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def parse_augment(spec: str) -> Augment:
    """``"none"`` or a comma list of ``flip``, ``crop:P`` (zero padding) and ``translate:P`` (reflect padding)."""
    flip, pad, mode = False, 0, "constant"
    items = [s.strip().lower() for s in spec.split(",") if s.strip()]
    if items == ["none"]:
        return Augment()
    for item in items:
        name, _, arg = item.partition(":")
        if name == "flip" and not arg:
            flip = True
        elif name in ("crop", "translate") and arg.isdigit() and not pad:
            pad, mode = int(arg), "constant" if name == "crop" else "reflect"
        else:
            raise FreqlensError(
                f"bad augment item {item!r} in {spec!r}; use none, or a comma list of flip, crop:P, translate:P "
                "(one of crop/translate)"
            )
    return Augment(flip, pad, mode)


def mixup(x: Tensor, y: Tensor, alpha: float, generator: torch.Generator) -> tuple[Tensor, Tensor, float]:
    """Mix the batch with a random permutation of itself: ``lam * x + (1 - lam) * x[perm]``, lam ~ Beta(alpha, alpha).

    Returns the mixed images, the partner labels ``y[perm]`` and ``lam``. The Beta draw uses numpy seeded from
    ``generator``, so it is reproducible and resumable with the generator alone.
    """
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
    return lam * x + (1 - lam) * x[perm], y[perm], lam
