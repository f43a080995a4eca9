"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from freqlens.data import ImageSet, open_dataset
from freqlens.errors import FreqlensError

DataOpt = Annotated[
    str,
    typer.Option("--data", help="cifar10, cifar100, a CIFAR batch folder, an image folder, or synthetic:..."),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Directory holding the dataset (else $FREQLENS_DATA, the cache, or download)."),
]
SplitOpt = Annotated[str, typer.Option("--split", help="train or test.")]
LimitOpt = Annotated[int | None, typer.Option("--limit", "-n", help="Use only the first N images.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output directory (created if missing).")]
DeviceOpt = Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:1, or auto.")]


def load(data: str, split: str, data_dir: Path | None, limit: int | None) -> ImageSet:
    """Open a dataset as the CLI options describe it."""
    if limit is not None and limit <= 0:
        raise FreqlensError(f"--limit must be positive, got {limit}")
    return open_dataset(data, split, data_dir).subset(limit)


def parse_floats(text: str, what: str) -> list[float]:
    """Parse a comma-separated list such as ``4,8,12``."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise FreqlensError(f"{what} must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise FreqlensError(f"{what} is empty; give e.g. 4,8,12")
    return values


def resolve_device(device: str) -> str:
    """``auto`` picks CUDA when available; anything else must be usable here."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise FreqlensError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    return device
