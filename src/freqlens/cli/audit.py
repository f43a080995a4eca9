"""``freqlens audit``: every analysis on one or more models and one image set, side by side in one report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from freqlens.analyses import list_analyses
from freqlens.audit import DEFAULT_ANALYSES
from freqlens.audit import audit as run_audit
from freqlens.cli import app
from freqlens.cli.common import (
    ArchOpt,
    ClassIndexOpt,
    DataDirOpt,
    DataOpt,
    DeviceOpt,
    ImageSizeOpt,
    InputNormsOpt,
    LabelsOpt,
    ModelArgsOpt,
    PretrainedOpt,
    ResizeOpt,
    SplitOpt,
    model_specs,
    resolve_device,
)
from freqlens.errors import FreqlensError


@app.command()
def audit(
    models: Annotated[
        list[str],
        typer.Argument(
            help="Models to compare: model.pt, a state_dict (with --arch), TorchScript, torchvision:NAME, timm:NAME, "
            "package.module:callable, or a registry name (untrained)."
        ),
    ],
    data: DataOpt,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Images drawn at random (seeded) from the set.")] = 500,
    normalize: InputNormsOpt = None,
    radii: Annotated[
        str | None,
        typer.Option(help="HFC radii: cycles per image (8) or Nyquist fractions (0.25n); default 0.25n,...,1n."),
    ] = None,
    analyses: Annotated[
        str,
        typer.Option(help=f"Comma-separated analyses, of: {', '.join(list_analyses())}."),
    ] = ",".join(DEFAULT_ANALYSES),
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: report.html and the figures.")] = Path(
        "out/audit"
    ),
    runs: Annotated[
        Path | None, typer.Option("--runs", help="Runs root for the run folders (default OUT/runs).")
    ] = None,
    label: LabelsOpt = None,
    arch: ArchOpt = None,
    model_arg: ModelArgsOpt = None,
    pretrained: PretrainedOpt = False,
    image_size: ImageSizeOpt = None,
    resize: ResizeOpt = None,
    class_index: ClassIndexOpt = None,
    split: SplitOpt = "test",
    data_dir: DataDirOpt = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the image draw and of fresh weights.")] = 0,
    device: DeviceOpt = "auto",
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars.")] = True,
    labels: Annotated[
        str,
        typer.Option(
            "--labels",
            help="dataset: the folders' (or the dataset's) labels; predicted: each model's own clean predictions "
            "(a label-free audit of unlabelled photos: a flat folder is accepted, its classes ImageNet's unless "
            "--class-index says otherwise; the report speaks of agreement with the clean prediction).",
        ),
    ] = "dataset",
    heatmap_eps: Annotated[
        float | None,
        typer.Option(help="L2 norm of the heat map's Fourier basis perturbation (default: 4 at 32 px, 15.7 at 224)."),
    ] = None,
    attack_eps: Annotated[
        float | None,
        typer.Option(help="L∞ budget of the attacks, pixels in [0, 1] (default: 0.03 x 32 / image side)."),
    ] = None,
) -> None:
    """Audit MODELS on an image set: LFC/HFC accuracy, Fourier heat map, sensitivity vs the data spectrum, first-layer
    kernels, adversarial perturbation spectra, band-limited attacks and feature-map spectra, in one report."""
    specs = model_specs(models, label, arch, model_arg, pretrained, normalize, seed)
    names = [a.strip() for a in analyses.split(",") if a.strip()]
    params: dict[str, dict[str, float]] = {}
    for analysis, eps in (("heatmap", heatmap_eps), ("perturbations", attack_eps), ("band_attacks", attack_eps)):
        if eps is not None:
            if eps <= 0:
                raise FreqlensError(f"--{'heatmap' if analysis == 'heatmap' else 'attack'}-eps must be positive")
            params[analysis] = {"eps": eps}
    result = run_audit(
        specs,
        data,
        out,
        runs_root=runs,
        device=str(resolve_device(device)),
        data_dir=data_dir,
        progress=progress,
        analyses=names,
        n=limit,
        seed=seed,
        split=split,
        image_size=image_size,
        resize=resize,
        class_index=class_index,
        radii=radii,
        params=params,
        labels=labels,
    )
    typer.echo(f"report: {result.html}")
