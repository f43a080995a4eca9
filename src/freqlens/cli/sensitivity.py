"""``freqlens sensitivity``: Godfrey's Fourier gradient sensitivity of a model, against the data's spectrum."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

import typer

from freqlens import provenance, views
from freqlens.analyses.sensitivity import METRICS, TARGETS
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
    model_specs,
    resolve_device,
)
from freqlens.cli.reproduce import RunsOpt, runs_root
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
    out: OutOpt = Path("out/sensitivity"),
    runs: RunsOpt = None,
) -> None:
    """Fourier gradient sensitivity maps (mean and std over images) and radial profiles, with the data's spectrum.

    The per-image map is |FFT_ortho(grad_x f)| per channel, L2-normed over the logits (meannorm); the data profile is
    the RMS amplitude of the per-channel-standardised images (Godfrey's empirical_power). Both radial profiles are
    normalised to distributions and compared (Spearman, Jensen-Shannon, total variation).

    The result is a run of the audit recipe (one cell) in the runs root (freqlens runs lists it; the same arguments
    reuse it); OUT gets sensitivity.json, sensitivity.png and the report (freqlens report -o OUT).

    Examples:
      freqlens sensitivity runs/small_cnn/model.pt --data-dir ../shared/data/cifar10 -n 256 -o out/sens
      freqlens sensitivity small_cnn --data-dir ../shared/data/cifar10 -o out/sens-untrained
      freqlens sensitivity hp/model.pt --view hpsquare:8 --data-dir ../shared/data/cifar10 -o out/sens-hp
    """
    from freqlens.commands import CellRun, ImageRequest, run_analysis

    if target not in TARGETS or metric not in METRICS:
        raise FreqlensError(f"--target must be one of {TARGETS} and --metric one of {METRICS}")
    dev = str(resolve_device(device))

    def params(images: Any) -> dict[str, Any]:
        h, w = images.image_shape[1:]
        the_view = str(views.View.parse(resolve_view(view, h, w)))
        band_radius = parse_radius(band, h, w)
        return {
            "view": the_view,
            "target": target,
            "metric": metric,
            "smooth": smooth,
            "band": band_radius,
            "batch_size": batch_size,
        }

    def alive(cells: list[CellRun]) -> None:
        if cells[0].value("dead"):
            raise FreqlensError("the model's input gradient is zero everywhere (no ReLU fires): no profile to compare")

    images, (cell,) = run_analysis(
        "sensitivity",
        model_specs([model], None, arch, model_arg, pretrained, normalize, seed),
        ImageRequest(data, data_dir, split, limit, seed, image_size, resize, class_index),
        params,
        out,
        runs_root=runs_root(runs),
        device=dev,
        check=alive,
    )
    p, conventions, a = cell.summary["params"], cell.summary["conventions"], cell.arrays()
    typer.echo(f"{images.name} ({split}, {len(images)} images, view {p['view']}): {metric} sensitivity of {target}")
    typer.echo(
        f"model vs data radial profiles: Spearman {cell.value('spearman'):.3f}, "
        f"JS divergence {cell.value('js_divergence'):.4f}, total variation {cell.value('total_variation'):.3f}"
    )
    masses = {
        key: cell.value(name)
        for key, name in (
            ("model_below_band", "model_below_band"),
            ("data_below_band", "data_below_band"),
            ("model_map_in_removed_square", "model_map_in_square"),
        )
        if name in cell.summary["metrics"]
    }
    for key, value in masses.items():
        typer.echo(f"{key}: {value:.4f}")
    figure = cell.figure("sensitivity")
    assert figure is not None  # a live model's result always draws it
    shutil.copyfile(figure, out / "sensitivity.png")
    provenance.write_json(
        out / "sensitivity.json",
        {
            "model": cell.summary["model"],
            "dataset": images.name,
            "split": split,
            "view": p["view"],
            "metric": metric,
            "target": target,
            "images": len(images),
            "definition": conventions["sensitivity"],
            "mean": a["mean"],
            "std": a["std"],
            "radial_profile": a["profile"],
            "data_radial_profile": a["data_profile"],
            "data_amplitude": a["data_spectrum"],
            "comparison": {k: cell.value(k) for k in ("spearman", "js_divergence", "total_variation", "cosine")},
            "accuracy": cell.summary["metrics"]["accuracy"],
            "band": p["band"],
            "masses": masses,
            "run": str(cell.run_dir),
            "provenance": provenance.record(
                {k: v for k, v in conventions.items() if k not in ("sensitivity",)},
                device=dev,
                seed=seed,
            ),
        },
    )
    typer.echo(f"wrote {out / 'sensitivity.png'} and {out / 'sensitivity.json'}; run {cell.run_dir}")
