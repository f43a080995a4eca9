"""Dataset sources. Images enter freqlens as floats in [0, 1], ``(N, C, H, W)``.

:func:`open_images` resolves the names the CLI accepts:

* ``cifar10`` / ``cifar100``: found in ``data_dir``, ``$FREQLENS_DATA``, the cache, or downloaded (verified);
* a directory: a CIFAR batch folder, or an image folder ``root/<class>/<image>`` (``root/<split>/`` when present),
  decoded lazily with an optional resize and centre crop (:func:`folder_stream`);
* ``synthetic:...``: generated images (see :mod:`freqlens.data.synthetic`);
* ``package.module:callable``: the user's code returns a torch ``Dataset`` of ``(image, label)`` (or an ImageSet).

In-memory sets are :class:`ImageSet`; folders and datasets are :class:`ImageStream` (decoded per batch). Both have
``len``, ``classes``, ``image_shape``, ``sample(n, seed)``, ``batches(batch_size)`` and ``materialize()``.
:func:`open_dataset` is the in-memory form.
"""

from __future__ import annotations

from pathlib import Path

from freqlens.callables import call, is_callable_spec, load_callable
from freqlens.data.cifar import VARIANTS, load_cifar
from freqlens.data.folder import folder_stream, load_image_folder, read_class_index
from freqlens.data.imageset import ImageSet
from freqlens.data.stream import ImageStream
from freqlens.data.torch_dataset import dataset_stream
from freqlens.errors import FreqlensError

__all__ = [
    "ImageSet",
    "ImageStream",
    "dataset_stream",
    "folder_stream",
    "load_cifar",
    "load_image_folder",
    "open_dataset",
    "open_images",
    "read_class_index",
]


def open_images(
    spec: str,
    split: str = "test",
    data_dir: str | Path | None = None,
    download_ok: bool = True,
    image_size: int | None = None,
    resize: int | None = None,
    class_index: str | Path | None = None,
    labelled: bool = True,
) -> ImageSet | ImageStream:
    """Resolve a dataset name, path or callable (see the module docstring); folders and datasets stream.

    ``image_size`` / ``resize`` (shorter side, then centre crop) and ``class_index`` (folder name -> class index
    file, or ``imagenet``) apply to image folders and datasets; fixed-size sets (CIFAR, synthetic) refuse them.
    ``labelled=False`` also opens a flat folder of unlabelled photos (its labels are predicted by the caller).
    """
    streams = is_callable_spec(spec) or (Path(spec).is_dir() and not _cifar_variant(Path(spec)))
    if not streams and (image_size is not None or resize is not None or class_index is not None):
        raise FreqlensError(f"--image-size, --resize and --class-index apply to image folders and datasets, not {spec}")
    if spec in VARIANTS:
        return load_cifar(spec, split, data_dir, download_ok)
    if spec.startswith("synthetic"):
        from freqlens.data import synthetic

        return synthetic.from_spec(spec, split)
    if is_callable_spec(spec):
        made = call(spec, load_callable(spec, "dataset"), {}, "dataset")
        if isinstance(made, (ImageSet, ImageStream)):
            return made
        return dataset_stream(made, image_size=image_size, resize=resize, name=spec)
    path = Path(spec)
    if path.is_dir():
        variant = _cifar_variant(path)
        if variant is not None:
            return load_cifar(variant, split, path, download_ok=False)
        split_dir = path / split
        root = split_dir if split_dir.is_dir() else path
        return folder_stream(root, image_size, resize, class_index, labelled=labelled)
    raise FreqlensError(
        f"unknown dataset {spec!r}; use cifar10, cifar100, a CIFAR batch folder, an image folder, synthetic:..., or "
        "package.module:callable returning a torch Dataset"
    )


def _cifar_variant(path: Path) -> str | None:
    for variant in VARIANTS.values():
        if (path / variant.test_files[0]).is_file() or (path / variant.folder).is_dir():
            return variant.name
    return None


def open_dataset(
    spec: str, split: str = "test", data_dir: str | Path | None = None, download_ok: bool = True
) -> ImageSet:
    """:func:`open_images` decoded into memory."""
    return open_images(spec, split, data_dir, download_ok).materialize()
