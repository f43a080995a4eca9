"""Any map-style torch ``Dataset`` yielding ``(image, label)``, as a lazily decoded :class:`ImageStream`.

Images may be PIL images, ``(C, H, W)`` tensors (uint8, or floats in [0, 1]) or ``(H, W, C)`` uint8 arrays; with
``image_size`` each is resized (shorter side) and centre-cropped as image folders are. Class names come from
``dataset.classes`` when present, labels from ``dataset.targets`` when present (else by reading every item once).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from freqlens.data.folder import crop_offsets, default_resize, resize_and_crop, to_tensor
from freqlens.data.stream import ImageStream
from freqlens.errors import FreqlensError


def _resize_tensor(x: Tensor, image_size: int, resize: int) -> Tensor:
    h, w = x.shape[-2:]
    if min(h, w) != resize:
        size = (resize, int(resize * w / h)) if h <= w else (int(resize * h / w), resize)
        x = F.interpolate(x[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0].clamp(0, 1)
        h, w = x.shape[-2:]
    top, left = crop_offsets(h, w, image_size)
    return x[:, top : top + image_size, left : left + image_size]


def to_image(item: Any, where: str, image_size: int | None = None, resize: int | None = None) -> Tensor:
    """One dataset image as ``(C, H, W)`` float32 in [0, 1]."""
    size = (image_size, resize or default_resize(image_size)) if image_size else None
    if isinstance(item, Image.Image):
        return to_tensor(resize_and_crop(item.convert("RGB"), *size) if size else item, "RGB")
    if isinstance(item, np.ndarray):
        if item.dtype != np.uint8 or item.ndim not in (2, 3):
            raise FreqlensError(f"{where}: arrays must be (H, W[, C]) uint8, got {item.dtype} {item.shape}")
        item = torch.from_numpy(item.copy()).reshape(*item.shape[:2], -1).permute(2, 0, 1)
    if not isinstance(item, Tensor) or item.dim() != 3:
        raise FreqlensError(f"{where}: an image must be a PIL image or a (C, H, W) tensor, got {type(item).__name__}")
    if item.dtype == torch.uint8:
        item = item.float().div(255)
    elif not item.is_floating_point() or float(item.min()) < 0 or float(item.max()) > 1:
        raise FreqlensError(f"{where}: float images must lie in [0, 1] (images enter freqlens unstandardised)")
    return _resize_tensor(item.float(), *size) if size else item.float()


def dataset_stream(
    dataset: Any,
    classes: tuple[str, ...] | None = None,
    image_size: int | None = None,
    resize: int | None = None,
    name: str | None = None,
    workers: int = 4,
) -> ImageStream:
    """Wrap a map-style dataset (``len`` and ``dataset[i] -> (image, label)``)."""
    if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
        raise FreqlensError(f"{type(dataset).__name__} is not a map-style dataset (needs __len__ and __getitem__)")
    label_name = name or type(dataset).__name__
    if len(dataset) == 0:
        raise FreqlensError(f"dataset {label_name} is empty")

    def reader(i: int) -> tuple[Tensor, int]:
        item = dataset[i]
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise FreqlensError(f"{label_name}[{i}] is not an (image, label) pair")
        return to_image(item[0], f"{label_name}[{i}]", image_size, resize), int(item[1])

    targets = getattr(dataset, "targets", None)
    known = torch.as_tensor(list(targets), dtype=torch.int64) if targets is not None else None
    if classes is None:
        classes = tuple(str(c) for c in getattr(dataset, "classes", ()) or ())
    if not classes:
        if known is None:
            known = torch.tensor([int(dataset[i][1]) for i in range(len(dataset))], dtype=torch.int64)
        classes = tuple(str(i) for i in range(int(known.max()) + 1))
    meta: dict[str, object] = {"dataset": type(dataset).__name__}
    return ImageStream(reader, len(dataset), classes, label_name, meta, workers=workers, known_labels=known)
