"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from freqlens.contract import resolve_device, subsample_indices
from freqlens.data import ImageSet, open_dataset
from freqlens.errors import FreqlensError

__all__ = ["load", "load_model_spec", "load_models", "parse_floats", "resolve_device"]

if TYPE_CHECKING:
    import torch
    from torch import nn

DataOpt = Annotated[
    str,
    typer.Option("--data", help="cifar10, cifar100, a CIFAR batch folder, an image folder, or synthetic:..."),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Directory holding the dataset (else $FREQLENS_DATA, the cache, or download)."),
]
SplitOpt = Annotated[str, typer.Option("--split", help="train or test.")]
LimitOpt = Annotated[
    int | None, typer.Option("--limit", "-n", help="N images drawn at random under --seed, kept in index order.")
]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output directory (created if missing).")]
DeviceOpt = Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:1, or auto.")]


def load(data: str, split: str, data_dir: Path | None, limit: int | None, seed: int = 0) -> ImageSet:
    """Open a dataset as the CLI options describe it: ``limit`` images drawn at random under ``seed``, in index
    order (:func:`freqlens.contract.subsample_indices`, the draw every analysis and recipe uses)."""
    if limit is not None and limit <= 0:
        raise FreqlensError(f"--limit must be positive, got {limit}")
    images = open_dataset(data, split, data_dir)
    index = subsample_indices(len(images), limit, seed)
    if index is None:
        return images
    return ImageSet(images.images[index], images.labels[index], images.classes, images.name, dict(images.meta))


def parse_floats(text: str, what: str) -> list[float]:
    """Parse a comma-separated list such as ``4,8,12``."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise FreqlensError(f"{what} must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise FreqlensError(f"{what} is empty; give e.g. 4,8,12")
    return values


ModelArg = Annotated[
    str,
    typer.Argument(help="A checkpoint written by freqlens train (model.pt), or a registry model name (untrained)."),
]


def load_model_spec(
    spec: str, data: ImageSet, device: str | torch.device, seed: int
) -> tuple[nn.Module, dict[str, Any]]:
    """A checkpoint file (``freqlens train`` output) or a registry name, built for ``data`` with fresh weights."""
    import torch

    path = Path(spec)
    if path.is_file():
        from freqlens.checkpoint import load_model

        model, info = load_model(path, device=device)
        return model.eval(), {"source": "checkpoint", "path": str(path.resolve()), "info": info}
    if path.suffix in {".pt", ".pth"} or "/" in spec:
        raise FreqlensError(f"checkpoint {spec} does not exist; give a model.pt written by freqlens train")
    from freqlens.models import create_model

    c, h, _ = data.image_shape
    torch.manual_seed(seed)
    model = create_model(spec, num_classes=data.num_classes, in_channels=c, image_size=h)
    warnings.warn(f"{spec} is evaluated with freshly initialised, untrained weights (seed {seed})", stacklevel=2)
    return model.to(device).eval(), {"source": "registry", "name": spec, "trained": False, "init_seed": seed}


# Several saved models, and how to attack them (freqlens attack, freqlens smooth).
ModelsOpt = Annotated[
    list[Path], typer.Option("--model", "-m", help="A saved model (model.pt from `freqlens train`); repeat for more.")
]
LabelsOpt = Annotated[
    list[str] | None, typer.Option("--label", help="Names for the models, in order (default: the run folder name).")
]
AttackBatchOpt = Annotated[int, typer.Option("--batch-size", help="Images per attacked batch.")]
AttackSeedOpt = Annotated[
    int, typer.Option("--seed", help="Seed of the image subsample (-n) and the attacks' random starts.")
]


def load_models(
    paths: Sequence[Path], labels: Sequence[str] | None, device: str | torch.device
) -> list[tuple[str, nn.Module, Any]]:
    """``(label, model in eval mode, checkpoint info)`` for each saved model."""
    from freqlens.checkpoint import load_model

    if not paths:
        raise FreqlensError("no model given; pass --model PATH (repeat for several)")
    if labels and len(labels) != len(paths):
        raise FreqlensError(f"{len(labels)} --label values for {len(paths)} models; give one per --model or none")
    out = []
    for i, path in enumerate(paths):
        model, info = load_model(path, device=device)
        default = path.parent.name if path.suffix == ".pt" and path.parent.name else path.stem
        out.append((labels[i] if labels else default, model.eval(), json.loads(json.dumps(info, default=str))))
    names = [label for label, _, _ in out]
    if len(set(names)) != len(names):
        raise FreqlensError(f"model labels {names} are not unique; name them with --label")
    return out
