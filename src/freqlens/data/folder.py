"""Image-folder datasets: ``root/<class>/<image>``, one sub-folder per class, as torchvision's ImageFolder."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from freqlens.data.imageset import ImageSet
from freqlens.errors import FreqlensError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def load_image_folder(root: str | Path, size: tuple[int, int] | None = None, mode: str = "RGB") -> ImageSet:
    """Read every image under ``root/<class>/`` (classes sorted by name) into an :class:`ImageSet`.

    All images must share one size unless ``size=(H, W)`` is given, in which case they are resized (bilinear).
    Hidden files are ignored; any other file that is not a readable image is an error naming it.
    """
    root = Path(root)
    if not root.is_dir():
        raise FreqlensError(f"image folder {root} does not exist")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise FreqlensError(f"{root} has no class sub-folders; expected root/<class>/<image files>")
    arrays: list[np.ndarray] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        for path in sorted((root / name).iterdir()):
            if path.name.startswith(".") or path.is_dir():
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise FreqlensError(f"{path} is not an image file; remove it or move it out of {root}")
            try:
                with warnings.catch_warnings():  # PIL warns, then fails, on ever larger images: both are an error
                    warnings.simplefilter("error", Image.DecompressionBombWarning)
                    with Image.open(path) as opened:
                        img = opened.convert(mode)
                if size is not None:
                    img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                arr = np.asarray(img, dtype=np.uint8)
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                raise FreqlensError(
                    f"{path} is too large to load safely (over {Image.MAX_IMAGE_PIXELS} pixels, a possible "
                    "decompression bomb); remove it or shrink it"
                ) from None
            except (UnidentifiedImageError, OSError) as exc:
                raise FreqlensError(f"{path} could not be read as an image ({exc}); remove or replace it") from None
            if arrays and arr.shape != arrays[0].shape:
                raise FreqlensError(
                    f"{path} is {arr.shape[1]}x{arr.shape[0]} but earlier images are "
                    f"{arrays[0].shape[1]}x{arrays[0].shape[0]}; pass a size to resize them all"
                )
            arrays.append(arr)
            labels.append(label)
        if not labels or labels[-1] != label:
            raise FreqlensError(f"class folder {root / name} holds no images; add images to it or remove it")
    stacked = np.stack(arrays)
    if stacked.ndim == 3:
        stacked = stacked[..., None]
    images = torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous()
    return ImageSet.from_tensors(images, torch.tensor(labels), tuple(classes), name=root.name)
