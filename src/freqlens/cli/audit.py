"""``freqlens audit``: every analysis on one or more models and one image set, side by side in one report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
    per_model,
    resolve_device,
)
from freqlens.sources import parse_model_args


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
        typer.Option(help="Comma-separated analyses (freqlens.analyses.list_analyses())."),
    ] = "hfc,heatmap,sensitivity,kernels,perturbations,band_attacks,feature_spectra",
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
) -> None:
    """Audit MODELS on an image set: LFC/HFC accuracy, Fourier heat map, sensitivity vs the data spectrum, first-layer
    kernels, adversarial perturbation spectra, band-limited attacks and feature-map spectra, in one report."""
    from freqlens.audit import ModelSpec
    from freqlens.audit import audit as run_audit
    from freqlens.errors import FreqlensError

    if label and len(label) != len(models):
        raise FreqlensError(f"{len(label)} --label values for {len(models)} models; give one per model or none")
    norms = per_model(normalize, len(models), "--normalize")
    kwargs = parse_model_args(model_arg)
    specs = [
        ModelSpec(m, label[i] if label else None, arch, kwargs, pretrained, norms[i], seed)
        for i, m in enumerate(models)
    ]
    names = [a.strip() for a in analyses.split(",") if a.strip()]
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
    )
    typer.echo(f"report: {result.html}")
