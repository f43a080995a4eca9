"""Dataset sources. Everything becomes an :class:`ImageSet` of float images in [0, 1].

:func:`open_dataset` resolves the names the CLI accepts:

* ``cifar10`` / ``cifar100``: found in ``data_dir``, ``$FREQLENS_DATA``, the cache, or downloaded (verified);
* a directory: a CIFAR batch folder, or an image folder ``root/<class>/<image>``;
* ``synthetic:...``: generated images (see :mod:`freqlens.data.synthetic`, when present).
"""

from __future__ import annotations

from pathlib import Path

from freqlens.data.cifar import VARIANTS, load_cifar
from freqlens.data.folder import load_image_folder
from freqlens.data.imageset import ImageSet
from freqlens.errors import FreqlensError

__all__ = ["ImageSet", "load_cifar", "load_image_folder", "open_dataset"]


def open_dataset(
    spec: str, split: str = "test", data_dir: str | Path | None = None, download_ok: bool = True
) -> ImageSet:
    """Resolve a dataset name or path to an :class:`ImageSet` (see the module docstring for the forms)."""
    if spec in VARIANTS:
        return load_cifar(spec, split, data_dir, download_ok)
    if spec.startswith("synthetic"):
        from freqlens.data import synthetic  # type: ignore[attr-defined]

        return synthetic.from_spec(spec, split)  # type: ignore[no-any-return]
    path = Path(spec)
    if path.is_dir():
        for variant in VARIANTS.values():
            if (path / variant.test_files[0]).is_file() or (path / variant.folder).is_dir():
                return load_cifar(variant.name, split, path, download_ok=False)
        split_dir = path / split
        return load_image_folder(split_dir if split_dir.is_dir() else path)
    raise FreqlensError(
        f"unknown dataset {spec!r}; use cifar10, cifar100, a CIFAR batch folder, an image folder, or synthetic:..."
    )
