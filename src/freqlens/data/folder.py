"""Image folders ``root/<class>/<image>`` (torchvision's ImageFolder layout, e.g. an ImageNet validation folder).

Images are decoded lazily (:func:`folder_stream`) with the usual evaluation transform when ``image_size`` is given:
resize the shorter side to ``resize`` (default ``round(image_size * 256 / 224)``, bilinear with antialiasing, as
torchvision's ``Resize``), then crop the centre ``image_size`` x ``image_size``. Without ``image_size`` images are
used as they are and must share one size. Classes are the sub-folders sorted by name, or the indices a class index
file gives them (:func:`read_class_index`), so a 1000-class model's outputs line up with the folders; folders named
by ImageNet WordNet ids, or ``class_index="imagenet"``, use the built-in ImageNet classes
(:mod:`freqlens.data.imagenet`). ``meta["files"]`` names each image (relative to the root).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from freqlens.data.imagenet import NAME as IMAGENET
from freqlens.data.imagenet import imagenet_classes, imagenet_mapping, is_imagenet_folder_set
from freqlens.data.imageset import ImageSet
from freqlens.data.stream import ImageStream
from freqlens.errors import FreqlensError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def default_resize(image_size: int) -> int:
    """The shorter side before the centre crop: ``image_size * 256 / 224`` rounded (224 -> 256, 32 -> 37)."""
    return round(image_size * 256 / 224)


def crop_offsets(h: int, w: int, image_size: int) -> tuple[int, int]:
    """Top and left of the centre ``image_size`` square of an ``h`` x ``w`` image (torchvision's rounding)."""
    return round((h - image_size) / 2.0), round((w - image_size) / 2.0)


def resize_and_crop(img: Image.Image, image_size: int, resize: int) -> Image.Image:
    """Shorter side to ``resize`` (torchvision's ``Resize(int)`` rounding), then the centre square of ``image_size``."""
    w, h = img.size
    if min(w, h) != resize:
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(resize * long / short)
        img = img.resize((resize, new_long) if w <= h else (new_long, resize), Image.Resampling.BILINEAR)
        w, h = img.size
    top, left = crop_offsets(h, w, image_size)
    return img.crop((left, top, left + image_size, top + image_size))


def to_tensor(img: Image.Image, mode: str = "RGB") -> Tensor:
    """A PIL image as ``(C, H, W)`` float32 in [0, 1]."""
    arr = np.asarray(img.convert(mode), dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[..., None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255)


def read_image(path: Path, image_size: int | None, resize: int | None, mode: str = "RGB") -> Tensor:
    """Decode one file (one-line error naming it when it is not a readable image)."""
    try:
        with Image.open(path) as opened:  # reads the header only; PIL itself warns above the limit, fails above 2x
            width, height = opened.size
            if Image.MAX_IMAGE_PIXELS is not None and width * height > Image.MAX_IMAGE_PIXELS:
                raise Image.DecompressionBombError(
                    f"{width}x{height}"
                )  # checked here: warning filters are not thread-safe
            img = opened.convert(mode)
        if image_size is not None:
            img = resize_and_crop(img, image_size, resize or default_resize(image_size))
        return to_tensor(img, mode)
    except Image.DecompressionBombError:
        raise FreqlensError(
            f"{path} is too large to load safely (over {Image.MAX_IMAGE_PIXELS} pixels, a possible decompression "
            "bomb); remove it or shrink it"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise FreqlensError(f"{path} could not be read as an image ({exc}); remove or replace it") from None


def read_class_index(path: str | Path) -> tuple[dict[str, int], tuple[str, ...]]:
    """Folder name -> class index, and the class names, from a class index file.

    Accepted forms: JSON ``{"folder": index}``; JSON list of folder names (position = index); JSON
    ``{"index": ["folder", "name"]}`` (Keras' ``imagenet_class_index.json``); text, one class per line, its first
    word the folder name and the rest an optional readable name (``LOC_synset_mapping.txt``), line number = index.
    """
    path = Path(path)
    if not path.is_file():
        raise FreqlensError(f"class index file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    names: dict[int, str] = {}
    mapping: dict[str, int] = {}
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
            if isinstance(data, list):
                mapping = {str(folder): i for i, folder in enumerate(data)}
            elif isinstance(data, dict) and all(isinstance(v, list) and v for v in data.values()):
                for index, value in data.items():
                    mapping[str(value[0])] = int(index)
                    names[int(index)] = str(value[-1])
            elif isinstance(data, dict):
                mapping = {str(folder): int(index) for folder, index in data.items()}
            else:
                raise ValueError("not a list or an object")
        else:
            for i, line in enumerate(line for line in text.splitlines() if line.strip()):
                folder, _, name = line.strip().partition(" ")
                mapping[folder] = i
                if name.strip():
                    names[i] = name.strip()
    except (ValueError, TypeError, IndexError) as exc:
        raise FreqlensError(f"class index file {path} is not in a known form ({exc}); see read_class_index") from None
    if not mapping or min(mapping.values()) < 0:
        raise FreqlensError(f"class index file {path} maps no folder to a non-negative index")
    count = max(mapping.values()) + 1
    by_index = {i: folder for folder, i in mapping.items()}
    return mapping, tuple(names.get(i, by_index.get(i, str(i))) for i in range(count))


def _classes(folders: list[str], class_index: str | Path | None) -> tuple[dict[str, int], tuple[str, ...]]:
    """Folder name -> class index and the class names: the built-in ImageNet classes for ``--class-index imagenet``
    or folders all named by ImageNet WordNet ids, a class index file, else the folders sorted by name."""
    if class_index is None and is_imagenet_folder_set(folders):
        class_index = IMAGENET
    if class_index is not None and str(class_index) == IMAGENET and not Path(class_index).is_file():
        return imagenet_mapping(folders), imagenet_classes()[1]
    if class_index is None:
        return {name: i for i, name in enumerate(folders)}, tuple(folders)
    return read_class_index(class_index)


def _list(
    root: Path, class_index: str | Path | None, labelled: bool = True
) -> tuple[list[Path], list[int], tuple[str, ...]]:
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders and not labelled:  # unlabelled photos: the classes the models predict (ImageNet's by default)
        photos = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not photos:
            raise FreqlensError(f"no image files in {root}")
        return photos, [0] * len(photos), _classes([], class_index or IMAGENET)[1]
    if not folders:
        raise FreqlensError(
            f"{root} has no class sub-folders; expected root/<class>/<image files> (unlabelled photos: audit them "
            "with --labels predicted)"
        )
    mapping, classes = _classes(folders, class_index)
    unknown = [f for f in folders if f not in mapping]
    if unknown:
        raise FreqlensError(
            f"folders {', '.join(unknown[:3])}{' ...' if len(unknown) > 3 else ''} of {root} are not in the class "
            f"index {class_index}"
        )
    paths: list[Path] = []
    labels: list[int] = []
    for name in folders:
        for path in sorted((root / name).iterdir()):
            if path.name.startswith(".") or path.is_dir():
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise FreqlensError(f"{path} is not an image file; remove it or move it out of {root}")
            paths.append(path)
            labels.append(mapping[name])
        if not paths or paths[-1].parent.name != name:
            raise FreqlensError(f"class folder {root / name} holds no images; add images to it or remove it")
    if not paths:
        raise FreqlensError(f"no images under {root}")
    return paths, labels, classes


def folder_stream(
    root: str | Path,
    image_size: int | None = None,
    resize: int | None = None,
    class_index: str | Path | None = None,
    mode: str = "RGB",
    workers: int = 4,
    labelled: bool = True,
) -> ImageStream:
    """A lazily decoded image folder (see the module docstring); files are listed now, decoded per batch.
    ``labelled=False`` also accepts a flat folder of photos (every label 0: the caller predicts them)."""
    root = Path(root)
    if not root.is_dir():
        raise FreqlensError(f"image folder {root} does not exist")
    if image_size is not None and image_size <= 0:
        raise FreqlensError(f"--image-size must be positive, got {image_size}")
    if resize is not None and (image_size is None or resize < image_size):
        raise FreqlensError(f"--resize {resize} needs an --image-size no larger than it")
    paths, labels, classes = _list(root, class_index, labelled)

    def reader(i: int) -> tuple[Tensor, int]:
        return read_image(paths[i], image_size, resize, mode), labels[i]

    meta: dict[str, object] = {"root": str(root.resolve()), "files": [p.relative_to(root).as_posix() for p in paths]}
    if image_size is not None:
        meta["transform"] = f"shorter side {resize or default_resize(image_size)} (bilinear), centre crop {image_size}"
    if class_index is not None:
        meta["class_index"] = str(Path(class_index).resolve())
    return ImageStream(
        reader,
        len(paths),
        classes,
        root.name,
        meta,
        workers=workers,
        known_labels=torch.tensor(labels),
        describe=lambda i: str(paths[i]),
    )


def load_image_folder(
    root: str | Path,
    image_size: int | None = None,
    resize: int | None = None,
    class_index: str | Path | None = None,
    mode: str = "RGB",
) -> ImageSet:
    """Every image of the folder decoded into memory (small sets; large ones: :func:`folder_stream`)."""
    return folder_stream(root, image_size, resize, class_index, mode).materialize()
