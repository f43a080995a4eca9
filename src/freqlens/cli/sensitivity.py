"""``freqlens sensitivity``: Godfrey's Fourier gradient sensitivity of a model, against the data's spectrum."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from freqlens import fourier, provenance, views
from freqlens.analyses.sensitivity import METRICS, TARGETS, comparison_figure, model_vs_data
from freqlens.cli import app
from freqlens.cli.common import (
    ArchOpt,
    ClassIndexOpt,
    DataDirOpt,
    DataOpt,
    DeviceOpt,
    ImageSizeOpt,
    InputNormOpt,
    LimitOpt,
    ModelArg,
    ModelArgsOpt,
    OutOpt,
    PretrainedOpt,
    ResizeOpt,
    SplitOpt,
    load,
    load_model_spec,
    model_options,
    resolve_device,
)
from freqlens.errors import FreqlensError
from freqlens.radii import parse_radius, resolve_view


@app.command()
def sensitivity(
    model: ModelArg,
    data: DataOpt = "cifar10",
    data_dir: DataDirOpt = None,
    split: SplitOpt = "test",
    limit: LimitOpt = 256,
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
    the_view = views.View.parse(resolve_view(view, *images.image_shape[1:]))
    band_radius = parse_radius(band, *images.image_shape[1:])
    net, model_info = load_model_spec(model, images, dev, seed, model_options(arch, model_arg, pretrained, normalize))
    result = model_vs_data(
        net,
        images.images,
        images.labels,
        view=the_view,
        target=target,
        metric=metric,
        smooth=smooth,
        band=band_radius,
        batch_size=batch_size,
        device=dev,
        progress=True,
    )
    if result.value("dead"):
        raise FreqlensError("the model's input gradient is zero everywhere (no ReLU fires): no profile to compare")
    typer.echo(f"{images.name} ({split}, {len(images)} images, view {the_view}): {metric} sensitivity of {target}")
    typer.echo(
        f"model vs data radial profiles: Spearman {result.value('spearman'):.3f}, "
        f"JS divergence {result.value('js_divergence'):.4f}, total variation {result.value('total_variation'):.3f}"
    )
    masses = {
        key: result.value(name)
        for key, name in (
            ("model_below_band", "model_below_band"),
            ("data_below_band", "data_below_band"),
            ("model_map_in_removed_square", "model_map_in_square"),
        )
        if name in result.metrics
    }
    for key, value in masses.items():
        typer.echo(f"{key}: {value:.4f}")
    out.mkdir(parents=True, exist_ok=True)
    provenance.save_figure(comparison_figure(result), out / "sensitivity.png")
    a = result.arrays
    provenance.write_json(
        out / "sensitivity.json",
        {
            "model": model_info,
            "dataset": images.name,
            "split": split,
            "view": str(the_view),
            "metric": metric,
            "target": target,
            "images": len(images),
            "definition": result.conventions["sensitivity"],
            "mean": a["mean"],
            "std": a["std"],
            "radial_profile": a["profile"],
            "data_radial_profile": a["data_profile"],
            "data_amplitude": a["data_spectrum"],
            "comparison": {k: result.value(k) for k in ("spearman", "js_divergence", "total_variation", "cosine")},
            "accuracy": result.summary()["metrics"]["accuracy"],
            "band": band_radius,
            "masses": masses,
            "provenance": provenance.record(
                fourier.conventions(),
                device=dev,
                dtype=next(net.parameters()).dtype,
                seed=seed,
                **{k: v for k, v in result.conventions.items() if k in ("radial_profiles", "data_spectrum")},
                image_subsample=result.conventions["image_subsample"],
            ),
        },
    )
    typer.echo(f"wrote {out / 'sensitivity.png'} and {out / 'sensitivity.json'}")
