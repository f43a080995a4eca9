"""Checksum-verified downloads and safe archive extraction."""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from tqdm import tqdm

from freqlens.errors import FreqlensError


def file_md5(path: Path, chunk: int = 1 << 20) -> str:
    """MD5 hex digest of a file (the checksum CIFAR's authors publish)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, dest: Path, md5: str, timeout: float = 60.0) -> Path:
    """Fetch ``url`` to ``dest`` through a temporary file, verify its MD5, and only then move it into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {dest.name}", leave=False) as bar:
                while block := response.read(1 << 20):
                    out.write(block)
                    bar.update(len(block))
        got = file_md5(tmp)
        if got != md5:
            raise FreqlensError(f"download of {url} has MD5 {got}, expected {md5}; the file is corrupt, try again")
        tmp.replace(dest)
        return dest
    except OSError as exc:
        raise FreqlensError(f"could not download {url}: {exc}; check the network or pass a local --data-dir") from None
    finally:
        tmp.unlink(missing_ok=True)


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract a tar archive, refusing links, devices, absolute paths and paths that climb out of ``dest``.

    Extraction goes to a temporary sibling directory that is renamed into place, so a failure leaves nothing behind.
    """
    dest = dest.resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.extract."))
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for m in members:
                target = (staging / m.name).resolve()
                if not (m.isfile() or m.isdir()):
                    raise FreqlensError(f"archive {archive.name} holds {m.name!r}, which is not a plain file; refusing")
                if os.path.isabs(m.name) or not target.is_relative_to(staging):
                    raise FreqlensError(f"archive {archive.name} holds unsafe path {m.name!r}; refusing to extract")
            if hasattr(tarfile, "data_filter"):
                tar.extractall(staging, members=members, filter="data")
            else:  # pragma: no cover - Python < 3.11.4; members were vetted above
                tar.extractall(staging, members=members)
        dest.mkdir(exist_ok=True)
        for item in staging.iterdir():
            target = dest / item.name
            if target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            item.rename(target)
    except tarfile.TarError as exc:
        raise FreqlensError(f"archive {archive} is corrupt ({exc}); delete it and download again") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
