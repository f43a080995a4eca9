"""``freqlens spectrum``: a dataset's radially averaged power spectrum and its log-log slope."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
import typer

from freqlens import fourier, provenance
from freqlens.cli import app
from freqlens.cli.common import DataDirOpt, DataOpt, LimitOpt, OutOpt, SplitOpt, load
from freqlens.errors import FreqlensError
from freqlens.plotting import plt


@app.command()
def spectrum(
    data: DataOpt = "cifar10",
    data_dir: DataDirOpt = None,
    split: SplitOpt = "train",
    limit: LimitOpt = 5000,
    standardize: Annotated[bool, typer.Option(help="Standardise each channel before the FFT (Godfrey).")] = False,
    fit_min: Annotated[int, typer.Option(help="Smallest radius of the slope fit.")] = 2,
    fit_max: Annotated[int | None, typer.Option(help="Largest radius of the slope fit (default: H//2 - 2).")] = None,
    out: OutOpt = Path("spectrum"),
) -> None:
    """Radially averaged power spectrum (RAPS) of a dataset, with the log-log slope.

    Examples:
      freqlens spectrum --data-dir ../shared/data/cifar10 -n 5000 -o out/spectrum
    """
    images = load(data, split, data_dir, limit)
    x = images.images.double()
    if standardize:
        x = (x - x.mean(dim=(0, 2, 3), keepdim=True)) / x.std(dim=(0, 2, 3), keepdim=True)
    total = torch.zeros(x.shape[1:], dtype=torch.float64)
    for start in range(0, len(x), 1000):
        chunk = x[start : start + 1000]
        total += fourier.power_map(chunk) * len(chunk)
    power = (total / len(x)).mean(dim=0)
    profile, counts = fourier.radial_profile(power)
    h = images.image_shape[1]
    fit_max = fit_max if fit_max is not None else max(h // 2 - 2, fit_min + 1)
    if fit_max >= len(profile):
        raise FreqlensError(f"--fit-max {fit_max} is beyond the largest radius {len(profile) - 1}")
    slope, intercept = fourier.loglog_slope(profile, fit_min, fit_max)
    distance = fourier.radial_distance(*power.shape)
    non_dc = distance > 0
    low_fraction = float(power[non_dc & (distance <= h // 4)].sum() / power[non_dc].sum())
    typer.echo(f"{images.name}: {len(images)} images, RAPS slope {slope:.3f} over radii {fit_min}..{fit_max}")
    typer.echo(f"fraction of non-DC power at |k| <= {h // 4}: {low_fraction:.4f}")
    typer.echo("radius  power")
    for radius_index, value in enumerate(profile.tolist()):
        typer.echo(f"{radius_index:6d}  {value:.6g}")
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    rho = torch.arange(1, len(profile))
    ax.loglog(rho, profile[1:], "o-", ms=3, label=images.name)
    fitted = torch.exp(intercept + slope * torch.log(rho.double()))
    ax.loglog(rho, fitted, "--", label=f"slope {slope:.2f}")
    ax.set_xlabel("radius |k| (cycles / image)")
    ax.set_ylabel("mean power")
    ax.legend()
    out.mkdir(parents=True, exist_ok=True)
    provenance.save_figure(fig, out / "spectrum.png")
    provenance.write_json(
        out / "spectrum.json",
        {
            "dataset": images.name,
            "split": split,
            "images": len(images),
            "profile": profile,
            "counts": counts,
            "slope": slope,
            "fit_range": [fit_min, fit_max],
            "low_fraction_radius": h // 4,
            "low_fraction": low_fraction,
            "provenance": provenance.record(
                fourier.conventions(),
                dtype=torch.float64,
                power="mean over images of |FFT_ortho|^2, then mean over channels",
                standardized=standardize,
                pixel_scale="[0, 1]",
            ),
        },
    )
    typer.echo(f"wrote {out / 'spectrum.png'} and {out / 'spectrum.json'}")
