"""``freqlens sensitivity``: Godfrey's Fourier gradient sensitivity of a model, against the data's spectrum."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
import typer

from freqlens import fourier, provenance, views
from freqlens.analyses import datastats
from freqlens.analyses.sensitivity import METRICS, TARGETS, fourier_sensitivity
from freqlens.cli import app
from freqlens.cli.common import (
    ArchOpt,
    ClassIndexOpt,
    DataDirOpt,
    DataOpt,
    DeviceOpt,
    ImageSizeOpt,
    InputNormOpt,
    ModelArg,
    ModelArgsOpt,
    OutOpt,
    PretrainedOpt,
    ResizeOpt,
    SampleLimitOpt,
    SplitOpt,
    load,
    load_model_spec,
    model_options,
    resolve_device,
)
from freqlens.errors import FreqlensError
from freqlens.plotting import plt
from freqlens.radii import parse_radius, resolve_view


@app.command()
def sensitivity(
    model: ModelArg,
    data: DataOpt = "cifar10",
    data_dir: DataDirOpt = None,
    split: SplitOpt = "test",
    limit: SampleLimitOpt = 256,
    view: Annotated[
        str, typer.Option(help="Filter applied to the images first, e.g. hpsquare:8 or hpsquare:0.5n (of Nyquist).")
    ] = "original",
    target: Annotated[str, typer.Option(help="logits (Godfrey) or loss (cross-entropy).")] = "logits",
    metric: Annotated[str, typer.Option(help="meannorm (L2 over logits, Godfrey's default) or rms.")] = "meannorm",
    smooth: Annotated[int, typer.Option(help="Moving-average half-width of the radial profiles (Godfrey: 3).")] = 0,
    band: Annotated[
        str, typer.Option(help="Report the profile mass at radii below this (cycles per image, or 0.5n of Nyquist).")
    ] = "0.5n",
    batch_size: Annotated[int, typer.Option(help="Images per backward batch.")] = 64,
    seed: Annotated[int, typer.Option(help="Seed of the image subsample (and of untrained weights).")] = 0,
    device: DeviceOpt = "auto",
    arch: ArchOpt = None,
    model_arg: ModelArgsOpt = None,
    pretrained: PretrainedOpt = False,
    normalize: InputNormOpt = None,
    image_size: ImageSizeOpt = None,
    resize: ResizeOpt = None,
    class_index: ClassIndexOpt = None,
    out: OutOpt = Path("sensitivity"),
) -> None:
    """Fourier gradient sensitivity maps (mean and std over images) and radial profiles, with the data's spectrum.

    The per-image map is |FFT_ortho(grad_x f)| per channel, L2-normed over the logits (meannorm); the data profile is
    the RMS amplitude of the per-channel-standardised images (Godfrey's empirical_power). Both radial profiles are
    normalised to distributions and compared (Spearman, Jensen-Shannon, total variation).

    Examples:
      freqlens sensitivity runs/small_cnn/model.pt --data-dir ../shared/data/cifar10 -n 256 -o out/sens
      freqlens sensitivity small_cnn --data-dir ../shared/data/cifar10 -o out/sens-untrained
      freqlens sensitivity hp/model.pt --view hpsquare:8 --data-dir ../shared/data/cifar10 -o out/sens-hp
    """
    if target not in TARGETS or metric not in METRICS:
        raise FreqlensError(f"--target must be one of {TARGETS} and --metric one of {METRICS}")
    dev = resolve_device(device)
    images = load(data, split, data_dir, limit, seed, image_size, resize, class_index)
    the_view = views.parse_view(resolve_view(view, *images.image_shape[1:]))
    x = views.apply_in_chunks(the_view, images.images)
    band_radius = parse_radius(band, *images.image_shape[1:])
    net, model_info = load_model_spec(model, images, dev, seed, model_options(arch, model_arg, pretrained, normalize))
    maps = fourier_sensitivity(
        net, x, images.labels, target=target, metric=metric, batch_size=batch_size, device=dev, progress=True
    )
    amplitude = datastats.spectrum_map(x, "amplitude", standardize=True)
    model_profile = datastats.radial_distribution(maps.mean, smooth)
    data_profile = datastats.radial_distribution(amplitude, smooth)
    comparison = datastats.compare_profiles(model_profile, data_profile)
    h, w = x.shape[-2:]
    masses = {
        "model_below_band": datastats.radial_mass(model_profile, 0, band_radius),
        "data_below_band": datastats.radial_mass(data_profile, 0, band_radius),
    }
    if the_view.name.startswith("hpsquare"):
        cutoff = int(the_view.name.split(":")[1])
        square = fourier.square_mask(h, w, cutoff, symmetric=the_view.name.endswith(":sym"))
        masses["model_map_in_removed_square"] = datastats.map_mass(maps.mean, square)
    typer.echo(f"{images.name} ({split}, {len(images)} images, view {the_view.name}): {metric} sensitivity of {target}")
    typer.echo(
        f"model vs data radial profiles: Spearman {comparison['spearman']:.3f}, "
        f"JS divergence {comparison['js_divergence']:.4f}, total variation {comparison['total_variation']:.3f}"
    )
    for key, value in masses.items():
        typer.echo(f"{key}: {value:.4f}")
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    datastats.map_axes(axes[0], maps.mean.sum(0), f"log10 sensitivity ({metric}, {target}), channels summed")
    datastats.map_axes(axes[1], amplitude.sum(0), "log10 data RMS amplitude (standardised)")
    for name, p, style in (("model", model_profile, "o-"), ("data", data_profile, "k--")):
        axes[2].loglog(torch.arange(1, len(p)).numpy(), p[1:].clamp_min(1e-30).numpy(), style, ms=3, label=name)
    axes[2].axvline(band_radius, color="grey", lw=0.8, ls=":")
    axes[2].set_xlabel("radius |k| (cycles / image)")
    axes[2].set_ylabel("share of radial profile")
    axes[2].set_title(f"Spearman {comparison['spearman']:.2f}", fontsize=8)
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    provenance.save_figure(fig, out / "sensitivity.png")
    provenance.write_json(
        out / "sensitivity.json",
        {
            "model": model_info,
            "dataset": images.name,
            "split": split,
            "view": the_view.name,
            **maps.summary(),
            "mean": maps.mean,
            "std": maps.std,
            "radial_profile": model_profile,
            "data_radial_profile": data_profile,
            "data_amplitude": amplitude,
            "comparison": comparison,
            "band": band_radius,
            "masses": masses,
            "provenance": provenance.record(
                fourier.conventions(),
                device=dev,
                dtype=next(net.parameters()).dtype,
                seed=seed,
                radial_profiles="round(|k|) bins, channels summed, mean per radius, "
                f"moving average half-width {smooth}, normalised to sum 1",
                data_spectrum="sqrt(E|FFT_ortho(z)|^2), z standardised per channel over the evaluated images",
                image_subsample=f"{len(images)} drawn at random with seed {seed}, in order",
            ),
        },
    )
    typer.echo(f"wrote {out / 'sensitivity.png'} and {out / 'sensitivity.json'}")
