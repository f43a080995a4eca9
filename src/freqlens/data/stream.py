"""Image sets too large for memory: decoded lazily, batch by batch, on a few threads.

An :class:`ImageStream` knows how many images it has, their labels (when cheap) and how to read image ``i``; it
decodes only the batch asked for (and the next one, ahead, on threads). ``sample`` draws a seeded subset kept in index
order, ``materialize`` decodes everything into an in-memory :class:`ImageSet`. ``ImageSet.batches`` yields the same
``(x, y)`` batches, so an analysis that iterates ``source.batches(n)`` takes either.

Example:
    >>> import torch
    >>> s = ImageStream(lambda i: (torch.full((1, 2, 2), i / 10), i % 2), 6, ("even", "odd"), "toy")
    >>> picked = s.sample(4, seed=0)
    >>> picked.index.tolist(), [y.tolist() for _, y in picked.batches(3)]
    ([0, 2, 3, 5], [[0, 0, 1], [1]])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property

import torch
from torch import Tensor

from freqlens.contract import subsample_indices
from freqlens.data.imageset import ImageSet
from freqlens.errors import FreqlensError

Reader = Callable[[int], tuple[Tensor, int]]


@dataclass(frozen=True)
class ImageStream:
    """``size`` images read one at a time by ``reader(i) -> (image (C, H, W) float in [0, 1], label)``.

    ``index`` selects and orders the underlying items (all of them when None); ``workers`` threads decode.
    """

    reader: Reader
    size: int
    classes: tuple[str, ...]
    name: str = "stream"
    meta: dict[str, object] = field(default_factory=dict)
    index: Tensor | None = None
    workers: int = 4
    known_labels: Tensor | None = None
    describe: Callable[[int], str] = str

    def __post_init__(self) -> None:
        if len(self) == 0:
            raise FreqlensError(f"image set {self.name!r} is empty")

    def __len__(self) -> int:
        return self.size if self.index is None else int(self.index.numel())

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def _item(self, i: int) -> int:
        return i if self.index is None else int(self.index[i])

    def read(self, i: int) -> tuple[Tensor, int]:
        """Image ``i`` of this (sub)set and its label, checked."""
        image, label = self.reader(self._item(i))
        if not 0 <= int(label) < self.num_classes:
            raise FreqlensError(
                f"{self.name}: {self.describe(self._item(i))} has label {label}, not in 0..{self.num_classes - 1}"
            )
        return image, int(label)

    @cached_property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the first image (decoded once; every batch is checked for one shape)."""
        c, h, w = self.read(0)[0].shape
        return int(c), int(h), int(w)

    def sample(self, n: int | None, seed: int = 0) -> ImageStream:
        """``n`` images drawn at random under ``seed``, kept in index order (all when n is None or too large)."""
        pick = subsample_indices(len(self), n, seed)
        if pick is None:
            return self
        index = pick if self.index is None else self.index[pick]
        return ImageStream(
            self.reader,
            self.size,
            self.classes,
            self.name,
            dict(self.meta),
            index,
            self.workers,
            self.known_labels,
            self.describe,
        )

    def _stack(self, items: list[tuple[Tensor, int]], start: int) -> tuple[Tensor, Tensor]:
        shape = items[0][0].shape
        for k, (image, _) in enumerate(items):
            if image.shape != shape:
                raise FreqlensError(
                    f"{self.name}: {self.describe(self._item(start + k))} has shape {tuple(image.shape)}, others "
                    f"{tuple(shape)}; give an image size (--image-size) to resize and crop them all"
                )
        return torch.stack([image for image, _ in items]), torch.tensor([label for _, label in items])

    def batches(self, batch_size: int, device: torch.device | str | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """``(images, labels)`` batches in order; the next batch decodes on threads while this one is used."""
        if batch_size <= 0:
            raise FreqlensError(f"batch size must be positive, got {batch_size}")
        starts = range(0, len(self), batch_size)
        with ThreadPoolExecutor(max(1, self.workers)) as pool:

            def submit(start: int) -> list[Future[tuple[Tensor, int]]]:
                return [pool.submit(self.read, i) for i in range(start, min(start + batch_size, len(self)))]

            pending = submit(0)
            for start in starts:
                current = pending
                if start + batch_size < len(self):
                    pending = submit(start + batch_size)
                x, y = self._stack([f.result() for f in current], start)
                yield (x, y) if device is None else (x.to(device), y.to(device))

    @property
    def labels(self) -> Tensor:
        """All labels; reads every item unless the source knows them (``known_labels``, e.g. an image folder)."""
        if self.known_labels is not None:
            return self.known_labels if self.index is None else self.known_labels[self.index]
        return torch.cat([y for _, y in self.batches(256)])

    def materialize(self, batch_size: int = 256) -> ImageSet:
        """Decode every image into an in-memory :class:`ImageSet`."""
        xs, ys = zip(*self.batches(batch_size), strict=True)
        meta = dict(self.meta)
        if isinstance(meta.get("files"), list):  # names of the underlying items -> names of these images
            meta["files"] = [meta["files"][self._item(i)] for i in range(len(self))]  # type: ignore[index]
        return ImageSet(torch.cat(xs), torch.cat(ys), self.classes, self.name, meta)
