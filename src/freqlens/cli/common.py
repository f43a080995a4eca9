"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from freqlens.contract import resolve_device
from freqlens.data import ImageSet, open_images
from freqlens.errors import FreqlensError

__all__ = ["load", "model_specs", "parse_floats", "per_model", "resolve_device"]

if TYPE_CHECKING:
    from freqlens.audit import ModelSpec

    pass

DataOpt = Annotated[
    str,
    typer.Option(
        "--data",
        help="cifar10, cifar100, a CIFAR batch folder, an image folder (root/<class>/<image>), synthetic:..., or "
        "package.module:callable returning a torch Dataset of (image, label).",
    ),
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


def load(
    data: str,
    split: str,
    data_dir: Path | None,
    limit: int | None,
    seed: int = 0,
    image_size: int | None = None,
    resize: int | None = None,
    class_index: Path | None = None,
) -> ImageSet:
    """Open a dataset as the CLI options describe it: ``limit`` images drawn under ``seed`` (in index order),
    decoded into memory (folders and datasets are read lazily, so only the drawn images are decoded)."""
    if limit is not None and limit <= 0:
        raise FreqlensError(f"--limit must be positive, got {limit}")
    source = open_images(data, split, data_dir, image_size=image_size, resize=resize, class_index=class_index)
    return source.sample(limit, seed).materialize()


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
    typer.Argument(
        help="A freqlens model file (model.pt), a state_dict file (with --arch), a TorchScript file, "
        "torchvision:NAME, timm:NAME, package.module:callable, or a registry name (untrained)."
    ),
]
ArchOpt = Annotated[
    str | None,
    typer.Option("--arch", help="Architecture of a bare state_dict file: a registry name or package.module:callable."),
]
ModelArgsOpt = Annotated[
    list[str] | None,
    typer.Option("--model-arg", help="key=value passed to the model builder (registry, callable, --arch); repeat."),
]
PretrainedOpt = Annotated[
    bool,
    typer.Option(
        "--pretrained",
        help="torchvision:/timm: models: their package's pretrained weights (torchvision: DEFAULT, or the tag whose "
        "file is in the torch hub cache when DEFAULT's is not). Per model: MODEL,weights=TAG|FILE|none.",
    ),
]
_NORM_HELP = (
    "What input a foreign model expects: imagenet, cifar10, cifar100, MEAN,STD (standardised: freqlens standardises "
    "inside, as the model's first layer) or none ([0, 1] pixels). Required for TorchScript, state_dict and callable "
    "models; torchvision/timm default to their package's statistics."
)
InputNormOpt = Annotated[str | None, typer.Option("--normalize", help=_NORM_HELP)]
InputNormsOpt = Annotated[
    list[str] | None, typer.Option("--normalize", help=_NORM_HELP + " Once for all models or once per model.")
]
ImageSizeOpt = Annotated[
    int | None, typer.Option("--image-size", help="Image folders/datasets: centre crop size (after --resize).")
]
ResizeOpt = Annotated[
    int | None, typer.Option("--resize", help="Shorter side before the crop (default image size x 256/224).")
]
ClassIndexOpt = Annotated[
    Path | None,
    typer.Option("--class-index", help="File mapping folder names to class indices (JSON or one name per line)."),
]
RadiiOpt = Annotated[
    str,
    typer.Option(help="Comma-separated radii in cycles per image (8) or fractions of the Nyquist radius (0.25n)."),
]


def per_model(values: Sequence[str | None] | None, count: int, what: str) -> list[str | None]:
    """One value per model from an option given never, once (for all) or once per model."""
    if not values:
        return [None] * count
    if len(values) == 1:
        return [values[0]] * count
    if len(values) != count:
        raise FreqlensError(f"{len(values)} {what} values for {count} models; give one for all or one per model")
    return list(values)


def model_specs(
    models: Sequence[str],
    labels: Sequence[str] | None,
    arch: str | None,
    model_args: list[str] | None,
    pretrained: bool,
    normalize: Sequence[str | None] | str | None,
    seed: int,
) -> list[ModelSpec]:
    """The models of one command line, each ``MODEL[,key=value,...]`` (:func:`freqlens.audit.parse_model_spec`:
    its own options win over the command's); ``normalize`` once for all or once per model (a string: for all)."""
    from freqlens.audit import ModelSpec, parse_model_spec
    from freqlens.sources import parse_model_args

    if labels and len(labels) != len(models):
        raise FreqlensError(f"{len(labels)} --label values for {len(models)} models; give one per model or none")
    norms = per_model([normalize] if isinstance(normalize, str) else normalize, len(models), "--normalize")
    kwargs = parse_model_args(model_args)
    weights = "pretrained" if pretrained else None
    return [
        parse_model_spec(m, ModelSpec(m, labels[i] if labels else None, arch, kwargs, weights, norms[i], seed))
        for i, m in enumerate(models)
    ]


# Several models, and how to attack them (freqlens attack, freqlens smooth).
ModelsOpt = Annotated[
    list[str],
    typer.Option("--model", "-m", help="A model, in any form MODEL takes elsewhere (model.pt, torchvision:NAME, ...)."),
]
LabelsOpt = Annotated[
    list[str] | None, typer.Option("--label", help="Names for the models, in order (default: the run folder name).")
]
AttackBatchOpt = Annotated[int, typer.Option("--batch-size", help="Images per attacked batch.")]
AttackSeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the attacks' random starts.")]
