"""``freqlens spectrum``: a dataset's radially averaged power spectrum and its log-log slope (a one-cell run of the
``datastats`` analysis: run folder in the runs root, report in --out)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from freqlens import fourier
from freqlens.cli import app
from freqlens.cli.common import DataDirOpt, DataOpt, LimitOpt, OutOpt, SplitOpt
from freqlens.cli.reproduce import RunsOpt, runs_root
from freqlens.commands import ImageRequest, run_analysis
from freqlens.errors import FreqlensError


@app.command()
def spectrum(
    data: DataOpt = "cifar10",
    data_dir: DataDirOpt = None,
    split: SplitOpt = "train",
    limit: LimitOpt = 5000,
    seed: Annotated[int, typer.Option(help="Seed of the image subsample.")] = 0,
    standardize: Annotated[bool, typer.Option(help="Standardise each channel before the FFT (Godfrey).")] = False,
    fit_min: Annotated[int, typer.Option(help="Smallest radius of the slope fit.")] = 2,
    fit_max: Annotated[int | None, typer.Option(help="Largest radius of the slope fit (default: H//2 - 2).")] = None,
    runs: RunsOpt = None,
    out: OutOpt = Path("out/spectrum"),
) -> None:
    """Radially averaged power spectrum (RAPS) of a dataset, with the log-log slope.

    Examples:
      freqlens spectrum --data-dir ../shared/data/cifar10 -n 5000 -o out/spectrum
    """

    def params(images: Any) -> dict[str, Any]:
        _, h, w = images.image_shape
        largest = int(fourier.radial_distance(h, w).round().max())  # the profile's last round(|k|) bin
        if fit_max is not None and fit_max > largest:
            raise FreqlensError(f"--fit-max {fit_max} is beyond the largest radius {largest} of {h}x{w} images")
        return {"standardize": standardize, "fit_min": fit_min, "fit_max": fit_max, "seed": seed}

    request = ImageRequest(data, data_dir, split, limit, seed)
    images, (cell,) = run_analysis("datastats", [], request, params, out, runs_root=runs_root(runs))
    profile = cell.arrays()["profile"]
    lo, hi = cell.summary["params"]["fit_range"]
    typer.echo(f"{images.name}: {len(images)} images, RAPS slope {cell.value('slope'):.3f} over radii {lo}..{hi}")
    band = cell.summary["params"]["band"]
    typer.echo(f"fraction of non-DC power at |k| <= {band:g}: {cell.value('low_fraction'):.4f}")
    typer.echo("radius  power")
    for radius, value in enumerate(profile.tolist()):
        typer.echo(f"{radius:6d}  {value:.6g}")
    typer.echo(f"run folder {cell.run_dir}; report {out / 'report.html'}")
