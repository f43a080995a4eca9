"""``freqlens heatmap``: Yin et al.'s Fourier heat map of a model (error rate and loss per basis perturbation)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated

import typer

from freqlens import provenance
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
from freqlens.contract import subsample_note
from freqlens.errors import FreqlensError


@app.command()
def heatmap(
    model: ModelArg,
    data: DataOpt = "cifar10",
    data_dir: DataDirOpt = None,
    split: SplitOpt = "test",
    limit: LimitOpt = 500,
    eps: Annotated[float, typer.Option(help="L2 norm of the perturbation (Yin et al.: 4 for CIFAR-10).")] = 4.0,
    seed: Annotated[int, typer.Option(help="Seed of the signs and the image subsample (and untrained weights).")] = 0,
    batch_size: Annotated[
        int | None,
        typer.Option(help="Perturbed images per forward pass (images x bases); default 256 on CPU, 4096 on GPU."),
    ] = None,
    amp: Annotated[bool, typer.Option(help="Autocast the forward passes (CUDA float16, CPU bfloat16).")] = False,
    compile: Annotated[bool, typer.Option(help="torch.compile the model first (pays off on large runs).")] = False,
    device: DeviceOpt = "auto",
    arch: ArchOpt = None,
    model_arg: ModelArgsOpt = None,
    pretrained: PretrainedOpt = False,
    normalize: InputNormOpt = None,
    image_size: ImageSizeOpt = None,
    resize: ResizeOpt = None,
    class_index: ClassIndexOpt = None,
    out: OutOpt = Path("out/heatmap"),
    runs: RunsOpt = None,
) -> None:
    """Fourier heat map: error rate and loss when each Fourier basis image (L2 norm eps, random sign per image and
    channel, clipped to [0, 1]) is added to the images; one evaluation per symmetric pair {k, -k}.

    The result is a run of the audit recipe (one cell) in the runs root (freqlens runs lists it; the same arguments
    reuse it); OUT gets heatmap.json, heatmap.png and the report (freqlens report -o OUT).

    Examples:
      freqlens heatmap runs/small_cnn/model.pt --data-dir ../shared/data/cifar10 -n 500 --eps 4 -o out/heatmap
    """
    from freqlens.commands import ImageRequest, run_analysis

    dev = str(resolve_device(device))
    if not eps > 0:
        raise FreqlensError(f"--eps must be positive, got {eps}")
    params = {"eps": eps, "seed": seed, "batch_size": batch_size, "amp": amp, "compile": compile}
    start = time.perf_counter()
    images, (cell,) = run_analysis(
        "heatmap",
        model_specs([model], None, arch, model_arg, pretrained, normalize, seed),
        ImageRequest(data, data_dir, split, limit, seed, image_size, resize, class_index),
        params,
        out,
        runs_root=runs_root(runs),
        device=dev,
    )
    seconds = time.perf_counter() - start
    a, p, metrics = cell.arrays(), cell.summary["params"], cell.summary["metrics"]
    typer.echo(f"{images.name} ({split}, {len(images)} images), eps {eps:g}: {seconds:.1f} s")
    typer.echo(f"clean error {cell.value('clean_error'):.4f}; error at DC {cell.value('error_at_dc'):.4f}")
    typer.echo("radius  error   loss")
    profiles = zip(a["error_radial_profile"].tolist(), a["loss_radial_profile"].tolist(), strict=True)
    for r, (e, l_) in enumerate(profiles):
        typer.echo(f"{r:6d}  {e:.4f}  {l_:.4f}")
    figure = cell.figure("heatmap")
    assert figure is not None  # the heat map analysis always draws its figure
    shutil.copyfile(figure, out / "heatmap.png")
    conventions = cell.summary["conventions"]
    provenance.write_json(
        out / "heatmap.json",
        {
            "model": cell.summary["model"],
            "dataset": images.name,
            "split": split,
            "eps_l2": p["eps"],
            "images": p["n"],
            "seed": p["seed"],
            "clean_error": cell.value("clean_error"),
            "clean_loss": metrics["clean_loss"],
            **{k: conventions[k] for k in ("perturbation", "pixel_space", "heatmap_sampling") if k in conventions},
            "error": a["error"],
            "loss": a["loss"],
            "error_radial_profile": a["error_radial_profile"],
            "loss_radial_profile": a["loss_radial_profile"],
            "radial_counts": a["radial_counts"],
            "seconds": seconds,
            "run": str(cell.run_dir),
            "provenance": provenance.record(
                conventions,
                device=dev,
                seed=seed,
                amp=amp,
                compiled=compile,
                batch_size=p["batch_size"],
                image_subsample=subsample_note(len(images), seed),
            ),
        },
    )
    typer.echo(f"wrote {out / 'heatmap.png'} and {out / 'heatmap.json'}; run {cell.run_dir}")
