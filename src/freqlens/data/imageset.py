"""The in-memory dataset every source produces: float images in [0, 1] and integer labels."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor

from freqlens.contract import subsample_indices
from freqlens.errors import FreqlensError


@dataclass(frozen=True)
class ImageSet:
    """Images ``(N, C, H, W)`` as floats in [0, 1], labels ``(N,)`` as int64, and class names.

    Example:
        >>> s = ImageSet.from_tensors(torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.tensor([0, 1, 0, 1]))
        >>> s.images.dtype, len(s), s.num_classes
        (torch.float32, 4, 2)
    """

    images: Tensor
    labels: Tensor
    classes: tuple[str, ...]
    name: str = "tensors"
    meta: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        x, y = self.images, self.labels
        if x.dim() != 4:
            raise FreqlensError(f"images must have shape (N, C, H, W), got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise FreqlensError(f"ImageSet images must be floats in [0, 1], got {x.dtype}; use from_tensors")
        if x.shape[0] == 0:
            raise FreqlensError(f"dataset {self.name!r} is empty")
        if y.dim() != 1 or y.shape[0] != x.shape[0]:
            raise FreqlensError(f"labels must have shape ({x.shape[0]},), got {tuple(y.shape)}")
        if y.dtype != torch.int64:
            raise FreqlensError(f"labels must be int64, got {y.dtype}")
        if int(y.min()) < 0 or int(y.max()) >= len(self.classes):
            raise FreqlensError(f"labels must lie in 0..{len(self.classes) - 1}, got {int(y.min())}..{int(y.max())}")

    @classmethod
    def from_tensors(
        cls,
        images: Tensor,
        labels: Tensor,
        classes: tuple[str, ...] | None = None,
        name: str = "tensors",
    ) -> ImageSet:
        """Wrap tensors: uint8 images are divided by 255; float images must already lie in [0, 1]."""
        if images.dtype == torch.uint8:
            images = images.float().div_(255)
        elif images.is_floating_point():
            if images.numel() and (float(images.min()) < 0 or float(images.max()) > 1):
                raise FreqlensError("float images must lie in [0, 1]; divide 0-255 images by 255")
        else:
            raise FreqlensError(f"images must be uint8 or float, got {images.dtype}")
        labels = torch.as_tensor(labels).long()
        if classes is None:
            classes = tuple(str(i) for i in range(int(labels.max()) + 1 if labels.numel() else 0))
        return cls(images, labels, tuple(classes), name)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    def subset(self, n: int | None = None, seed: int | None = None) -> ImageSet:
        """The first ``n`` images, or ``n`` drawn under ``seed`` in the order drawn (the training loop's subsets;
        :meth:`sample` keeps index order); all of them if n is None."""
        if n is None or n >= len(self):
            return self
        if n <= 0:
            raise FreqlensError(f"subset size must be positive, got {n}")
        drawn = None if seed is None else subsample_indices(len(self), n, seed, ordered=False)
        index = torch.arange(n) if drawn is None else drawn
        return ImageSet(self.images[index], self.labels[index], self.classes, self.name, self._meta(index))

    def sample(self, n: int | None, seed: int = 0) -> ImageSet:
        """``n`` images drawn at random under ``seed``, kept in index order (all when n is None or too large)."""
        index = subsample_indices(len(self), n, seed)
        if index is None:
            return self
        return ImageSet(self.images[index], self.labels[index], self.classes, self.name, self._meta(index))

    def _meta(self, index: Tensor) -> dict[str, object]:
        """The metadata of the images ``index`` picks (``files``, one name per image, follows them)."""
        meta = dict(self.meta)
        if isinstance(meta.get("files"), list):
            meta["files"] = [meta["files"][i] for i in index.tolist()]  # type: ignore[index]
        return meta

    def batches(self, batch_size: int, device: torch.device | str | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """``(images, labels)`` in order, ``batch_size`` at a time (as :meth:`ImageStream.batches`)."""
        if batch_size <= 0:
            raise FreqlensError(f"batch size must be positive, got {batch_size}")
        for s in range(0, len(self), batch_size):
            x, y = self.images[s : s + batch_size], self.labels[s : s + batch_size]
            yield (x, y) if device is None else (x.to(device), y.to(device))

    def materialize(self) -> ImageSet:
        """Itself: already in memory (as :meth:`ImageStream.materialize`)."""
        return self

    def to(self, device: torch.device | str) -> ImageSet:
        """The same set with tensors on ``device``."""
        return ImageSet(self.images.to(device), self.labels.to(device), self.classes, self.name, dict(self.meta))
