"""CIFAR-10 and CIFAR-100 in the standard python layout (``cifar-10-batches-py``), read safely.

Where the data come from (first match wins), see :func:`find_cifar`: an explicit directory, ``$FREQLENS_DATA``,
the cache ``~/.cache/freqlens``, or a verified download from the official URL.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from freqlens.data.download import download, file_md5, safe_extract
from freqlens.data.imageset import ImageSet
from freqlens.data.safe_pickle import load_restricted
from freqlens.errors import FreqlensError


@dataclass(frozen=True)
class CifarVariant:
    name: str
    url: str
    archive_md5: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_file: str
    label_key: bytes
    names_key: bytes
    md5: dict[str, str]


CIFAR10 = CifarVariant(
    name="cifar10",
    url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    archive_md5="c58f30108f718f92721af3b95e74349a",
    folder="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
    test_files=("test_batch",),
    meta_file="batches.meta",
    label_key=b"labels",
    names_key=b"label_names",
    md5={
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
    },
)

CIFAR100 = CifarVariant(
    name="cifar100",
    url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    archive_md5="eb9058c3a382ffc7106e4002c42a8d85",
    folder="cifar-100-python",
    train_files=("train",),
    test_files=("test",),
    meta_file="meta",
    label_key=b"fine_labels",
    names_key=b"fine_label_names",
    md5={"train": "16019d7e3df5f24257cddd939b257f8d", "test": "f0ef6b0ae62326f3e7ffdfab6717acfc"},
)

VARIANTS = {v.name: v for v in (CIFAR10, CIFAR100)}


def cache_dir() -> Path:
    """Where downloads go: ``$XDG_CACHE_HOME/freqlens`` or ``~/.cache/freqlens``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "freqlens"


def _batches_dir(root: Path, variant: CifarVariant) -> Path | None:
    """``root`` itself if it holds the batch files, else ``root/<standard folder>`` if that does."""
    for candidate in (root, root / variant.folder, root / variant.name / variant.folder, root / variant.name):
        if (candidate / variant.test_files[0]).is_file():
            return candidate
    return None


def verify_checksums(directory: Path, variant: CifarVariant) -> list[str]:
    """Names of the files in ``directory`` whose MD5 differs from the official release (missing files included)."""
    bad = []
    for name, md5 in variant.md5.items():
        path = directory / name
        if not path.is_file() or file_md5(path) != md5:
            bad.append(name)
    return bad


def find_cifar(
    variant: str = "cifar10", data_dir: str | Path | None = None, download_ok: bool = True
) -> tuple[Path, bool]:
    """Locate the batch directory of a CIFAR variant, downloading it into the cache if allowed.

    Returns the directory and whether its files match the official checksums.

    An explicit ``data_dir`` whose files differ from the official release (a re-encoded copy, say) is accepted with a
    warning; a copy found in ``$FREQLENS_DATA`` or the cache must match, since nobody chose it by hand.
    """
    v = VARIANTS.get(variant)
    if v is None:
        raise FreqlensError(f"unknown CIFAR variant {variant!r}; choose one of {sorted(VARIANTS)}")
    if data_dir is not None:
        found = _batches_dir(Path(data_dir), v)
        if found is None:
            raise FreqlensError(
                f"no {v.name} batches ({v.test_files[0]}) in {data_dir}; point --data-dir at the {v.folder} folder"
            )
        bad = verify_checksums(found, v)
        if bad:
            warnings.warn(
                f"{found}: {', '.join(bad)} differ from the official {v.name} release; using them as given",
                stacklevel=2,
            )
        return found, not bad
    for root in (os.environ.get("FREQLENS_DATA"), str(cache_dir())):
        if root and (found := _batches_dir(Path(root), v)) is not None:
            bad = verify_checksums(found, v)
            if bad:
                raise FreqlensError(
                    f"{found}: {', '.join(bad)} fail the official checksums; delete the folder to re-download, "
                    "or pass it explicitly with --data-dir to use it anyway"
                )
            return found, True
    if not download_ok:
        raise FreqlensError(f"{v.name} not found; pass --data-dir, set $FREQLENS_DATA, or allow the download")
    return download_cifar(v.name, cache_dir()), True


def download_cifar(variant: str, root: Path, url: str | None = None, archive_md5: str | None = None) -> Path:
    """Download, verify and safely extract a CIFAR archive under ``root``; returns the batch directory."""
    v = VARIANTS[variant]
    archive = download(url or v.url, root / Path(v.url).name, archive_md5 or v.archive_md5)
    safe_extract(archive, root)
    archive.unlink()
    found = _batches_dir(root, v)
    if found is None:
        raise FreqlensError(f"archive from {url or v.url} did not contain {v.folder}/{v.test_files[0]}")
    return found


def _read_batch(path: Path, v: CifarVariant) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise FreqlensError(f"missing CIFAR file {path}; the download is incomplete, fetch it again")
    entry = load_restricted(path.read_bytes(), source=str(path))
    if not isinstance(entry, dict) or b"data" not in entry or v.label_key not in entry:
        raise FreqlensError(f"{path} is not a valid CIFAR file: expected a dict with b'data' and {v.label_key!r}")
    data, labels = entry[b"data"], np.asarray(entry[v.label_key])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise FreqlensError(f"{path} is not a valid CIFAR file: data must be uint8 of shape (N, 3072)")
    if labels.shape != (data.shape[0],):
        raise FreqlensError(f"{path} is not a valid CIFAR file: {len(labels)} labels for {data.shape[0]} images")
    return data, labels


def load_cifar(
    variant: str = "cifar10",
    split: str = "train",
    data_dir: str | Path | None = None,
    download_ok: bool = True,
) -> ImageSet:
    """Load a CIFAR split as an :class:`ImageSet` of float images in [0, 1]."""
    if split not in ("train", "test"):
        raise FreqlensError(f"split must be 'train' or 'test', got {split!r}")
    directory, official = find_cifar(variant, data_dir, download_ok)
    v = VARIANTS[variant]
    files = v.train_files if split == "train" else v.test_files
    parts = [_read_batch(directory / name, v) for name in files]
    data = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts]).astype(np.int64)
    meta = load_restricted((directory / v.meta_file).read_bytes(), source=str(directory / v.meta_file))
    classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in meta[v.names_key])
    images = torch.from_numpy(data).view(-1, 3, 32, 32)
    out = ImageSet.from_tensors(images, torch.from_numpy(labels), classes, name=f"{v.name}-{split}")
    out.meta.update({"source": str(directory), "official_checksums": official})
    return out
