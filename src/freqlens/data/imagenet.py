"""ImageNet-1k's classes, built in: the 1000 WordNet ids and readable names in the order of the models' outputs.

``imagenet_classes.txt`` (package data, one ``wnid name`` line per output index, generated from torchvision's weight
metadata and timm's synset list by ``scripts/imagenet_classes.py``) lets an ImageNet-style folder (sub-folders named
by WordNet id, e.g. ``n02123045``) or a folder of readable class names (``tabby``, ``golden_retriever``) line up with
a torchvision or timm model without a class index file; a folder holding a subset of the classes maps onto the
model's 1000 outputs.

Example:
    >>> wnids, names = imagenet_classes()
    >>> len(wnids), wnids[0], names[0], names[281]
    (1000, 'n01440764', 'tench', 'tabby')
    >>> imagenet_mapping(["n02123045", "golden_retriever"])
    {'n02123045': 281, 'golden_retriever': 207}
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib.resources import files

from freqlens.errors import FreqlensError

NAME = "imagenet"  # the --class-index value that selects the built-in list
CLASSES_FILE = "imagenet_classes.txt"


@functools.cache
def imagenet_classes() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The WordNet ids and readable names of ImageNet-1k's classes, in output order."""
    lines = files("freqlens.data").joinpath(CLASSES_FILE).read_text(encoding="utf-8").splitlines()
    pairs = [line.split(" ", 1) for line in lines if line.strip()]
    return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)


def _key(name: str) -> str:
    return name.lower().replace("_", " ").replace("-", " ").strip()


def is_imagenet_folder_set(folders: Sequence[str]) -> bool:
    """Every folder is named by an ImageNet WordNet id."""
    wnids = set(imagenet_classes()[0])
    return bool(folders) and all(f in wnids for f in folders)


def imagenet_mapping(folders: Sequence[str]) -> dict[str, int]:
    """Folder name -> ImageNet output index, by WordNet id or by readable name (case, ``_`` and ``-`` ignored; the
    names are unique: torchvision's, e.g. ``crane bird`` and ``crane``)."""
    wnids, names = imagenet_classes()
    known = {w: i for i, w in enumerate(wnids)} | {_key(n): i for i, n in enumerate(names)}
    mapping = {f: known[f] if f in known else known[_key(f)] for f in folders if f in known or _key(f) in known}
    unknown = [f for f in folders if f not in mapping]
    if unknown:
        raise FreqlensError(
            f"folders {', '.join(unknown[:3])}{' ...' if len(unknown) > 3 else ''} are not ImageNet classes; name them "
            "by WordNet id (n02123045) or readable name (tabby), or give your own --class-index"
        )
    return mapping
