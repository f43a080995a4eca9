"""What every result file records so a reader can reproduce it, and atomic writes so none is left half-written."""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

import freqlens


def environment(device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> dict[str, Any]:
    """Package versions, platform, device and dtype."""
    dev = torch.device(device) if device is not None else torch.device("cpu")
    info: dict[str, Any] = {
        "freqlens": freqlens.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "device": str(dev),
        "dtype": str(dtype).replace("torch.", "") if dtype is not None else None,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if dev.type == "cuda" and torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(dev)
        info["allow_tf32"] = torch.backends.cuda.matmul.allow_tf32
    return info


def record(
    conventions: Mapping[str, Any],
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    seed: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A ``provenance`` block for a result file: conventions, seed, environment and any extra fields."""
    return {
        "conventions": dict(conventions),
        "seed": seed,
        "environment": environment(device, dtype),
        **extra,
    }


_UMASK = os.umask(0)
os.umask(_UMASK)


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        tmp.chmod(0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the mode a plain open() would
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _write(path: Path, text: str) -> None:
    path.write_text(text)


def write_json(path: str | Path, payload: Any) -> Path:
    """Write JSON atomically (temporary file, then rename)."""
    return _atomic(Path(path), lambda t: _write(t, json.dumps(payload, indent=2, default=_jsonable) + "\n"))


def write_text(path: str | Path, text: str) -> Path:
    """Write text atomically."""
    return _atomic(Path(path), lambda t: _write(t, text))


def save_figure(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Save a matplotlib figure atomically and close it."""
    import matplotlib.pyplot as plt

    suffix = Path(path).suffix.lstrip(".") or "png"
    try:
        return _atomic(Path(path), lambda t: fig.savefig(t, dpi=dpi, bbox_inches="tight", format=suffix))
    finally:
        plt.close(fig)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().tolist()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, torch.dtype):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def save_torch(path: str | Path, obj: Any) -> Path:
    """``torch.save`` atomically (temporary file, then rename)."""
    return _atomic(Path(path), lambda t: torch.save(obj, t))
