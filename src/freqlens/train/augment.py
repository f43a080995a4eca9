"""Batched data augmentation on device-resident tensors (no per-sample Python, no DataLoader).

Random numbers come from a CPU ``torch.Generator`` (so a seed gives the same augmentations on any device and the
generator's state can be checkpointed) and are moved to the images' device.

Example:
    >>> aug = parse_augment("flip,crop:4")
    >>> x = torch.rand(8, 3, 32, 32)
    >>> y = aug(x, torch.Generator().manual_seed(0))
    >>> tuple(y.shape), aug.describe()
    ((8, 3, 32, 32), 'shift by up to 4 px (crop of the image zero-padded by 4); random horizontal flip')
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
    """A random shift (a ``H x W`` window of the image padded by ``pad``, ``mode`` padding) followed by a random
    horizontal flip, both done by one ``torch.gather`` over the flattened images: no per-image loop, no host sync."""

    flip: bool = False
    pad: int = 0
    # "constant" (zeros, as torchvision RandomCrop(padding=P)), "reflect", or "circular": a circular shift, which keeps
    # every Fourier amplitude, so images filtered to a band stay in it (a padded shift leaks power out of the band)
    mode: str = "constant"

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        if not (self.flip or self.pad):
            return x
        n, c, h, w = x.shape
        p, dev = self.pad, x.device
        source = F.pad(x, (p, p, p, p), mode=self.mode) if p else x
        shift = torch.randint(0, 2 * p + 1, (2, n), generator=generator).to(dev)  # row and column offsets
        cols = torch.arange(w, device=dev).expand(n, w)
        if self.flip:
            flipped = (torch.rand(n, generator=generator) < 0.5).to(dev)
            cols = torch.where(flipped.view(n, 1), w - 1 - cols, cols)
        rows = torch.arange(h, device=dev).view(1, h, 1) + shift[0].view(n, 1, 1)
        index = rows * (w + 2 * p) + (cols + shift[1].view(n, 1)).view(n, 1, w)
        return torch.gather(source.reshape(n, c, -1), 2, index.view(n, 1, h * w).expand(n, c, h * w)).view(n, c, h, w)

    def describe(self) -> str:
        parts = []
        if self.pad:
            how = {"constant": "zero-padded", "reflect": "reflect-padded", "circular": "wrapped around"}[self.mode]
            parts.append(f"shift by up to {self.pad} px (crop of the image {how} by {self.pad})")
        if self.flip:
            parts.append("random horizontal flip")
        return "; ".join(parts) or "none"


def parse_augment(spec: str) -> Augment:
    """``"none"`` or a comma list of ``flip``, ``crop:P`` (zero padding), ``translate:P`` (reflect padding) and
    ``roll:P`` (circular shift)."""
    modes = {"crop": "constant", "translate": "reflect", "roll": "circular"}
    flip, pad, mode = False, 0, "constant"
    items = [s.strip().lower() for s in spec.split(",") if s.strip()]
    if items == ["none"]:
        return Augment()
    for item in items:
        name, _, arg = item.partition(":")
        if name == "flip" and not arg:
            flip = True
        elif name in modes and arg.isdigit() and not pad:
            pad, mode = int(arg), modes[name]
        else:
            raise FreqlensError(
                f"bad augment item {item!r} in {spec!r}; use none, or a comma list of flip, crop:P, translate:P, "
                "roll:P (one of crop/translate/roll)"
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
