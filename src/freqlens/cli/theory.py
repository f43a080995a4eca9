"""``freqlens theory``: a CNN's layers in frequency space and, for a linear circular CNN, Godfrey's theory against
the model (a one-cell run of the ``spectral`` analysis: run folder in the runs root, report in --out)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from freqlens import provenance
from freqlens.cli import app
from freqlens.cli.common import (
    ArchOpt,
    DataDirOpt,
    DataOpt,
    DeviceOpt,
    InputNormOpt,
    LimitOpt,
    ModelArg,
    ModelArgsOpt,
    OutOpt,
    PretrainedOpt,
    SplitOpt,
    model_specs,
    resolve_device,
)
from freqlens.cli.reproduce import RunsOpt, runs_root
from freqlens.commands import ImageRequest, run_analysis
from freqlens.errors import FreqlensError


@app.command()
def theory(
    model: ModelArg,
    data: DataOpt = "cifar10",
    data_dir: DataDirOpt = None,
    split: SplitOpt = "train",
    limit: LimitOpt = 2000,
    weight_decay: Annotated[
        float | None,
        typer.Option(help="Decay the linear circular CNN was trained with (loss + wd/2 sum ||w||^2): predict its map."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the image subsample (and of untrained weights).")] = 0,
    device: DeviceOpt = "auto",
    arch: ArchOpt = None,
    model_arg: ModelArgsOpt = None,
    pretrained: PretrainedOpt = False,
    normalize: InputNormOpt = None,
    out: OutOpt = Path("out/theory"),
    runs: RunsOpt = None,
) -> None:
    """Every convolution as a circular convolution at its feature-map size: gain per radius and the error of that
    approximation. For a linear circular CNN also its exact sensitivity map, the representation-cost ratio
    sum ||w||^2 / R_L (1 when weight decay has balanced it) and, with --weight-decay, the map the theory predicts for
    squared loss on the images (one-hot labels), with its distance from the model's.

    Examples:
      freqlens theory "circular_cnn?depth=2&width=8&linear=true&normalize=none" --data "synthetic:powerlaw?n=512"
      freqlens theory runs/linear/model.pt --data-dir ../shared/data/cifar10 --weight-decay 0.02 -o out/theory
      freqlens theory resnet18 --arch torchvision --data-dir ../shared/data/cifar10 -n 8 -o out/theory-resnet
    """
    if weight_decay is not None and weight_decay < 0:
        raise FreqlensError(f"--weight-decay must be >= 0, got {weight_decay}")
    images, (cell,) = run_analysis(
        "spectral",
        model_specs([model], None, arch, model_arg, pretrained, normalize, seed),
        ImageRequest(data, data_dir, split, limit, seed),
        {"weight_decay": weight_decay, "seed": seed},
        out,
        runs_root=runs_root(runs),
        device=str(resolve_device(device)),
    )
    details = cell.summary["details"]
    typer.echo(f"{images.name} ({split}, {len(images)} images, {images.image_shape}):")
    typer.echo("layer                     in -> out          kernel  stride  circular error")
    for layer in details["layers"]:
        shape = f"{tuple(layer['in_shape'])} -> {tuple(layer['out_shape'])}"
        kernel = "x".join(str(k) for k in layer["kernel"])
        stride = "x".join(str(k) for k in layer["stride"])
        typer.echo(f"{layer['name'][:24]:24s}  {shape:18s} {kernel:6s}  {stride:6s}  {layer['circular_error']:.4f}")
    typer.echo(f"linear circular CNN: {details['linear_circular']}")
    if details["linear_circular"] == "yes":
        typer.echo(
            f"depth L={cell.value('depth')}: exact map vs autograd gradient {cell.value('gradient_check'):.2e} "
            f"(relative); sum ||w||^2 {cell.value('weight_norm'):.6g}, R_L {cell.value('representation_cost'):.6g}, "
            f"ratio {cell.value('cost_ratio'):.4f}"
        )
        if weight_decay is not None:
            prediction = details["prediction"]
            typer.echo(
                f"predicted map at wd {weight_decay:g} ({prediction['method']}): relative L2 distance from the "
                f"model's map {cell.value('predicted_relative_error'):.4f}"
            )
    figure = cell.figure("spectral")
    if figure is not None:
        shutil.copyfile(figure, out / "spectral.png")
    provenance.write_json(out / "theory.json", cell.summary)
    typer.echo(f"run folder {cell.run_dir}; figure {out / 'spectral.png'}; report {out / 'report.html'}")
