"""``freqlens heatmap``: Yin et al.'s Fourier heat map of a model (error rate and loss per basis perturbation)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import torch
import typer

from freqlens import fourier, provenance
from freqlens.analyses.heatmap import default_batch_size, fourier_heatmap, heatmap_figure
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
    subsample_note,
)


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
    out: OutOpt = Path("heatmap"),
) -> None:
    """Fourier heat map: error rate and loss when each Fourier basis image (L2 norm eps, random sign per image and
    channel, clipped to [0, 1]) is added to the images; one evaluation per symmetric pair {k, -k}.

    Examples:
      freqlens heatmap runs/small_cnn/model.pt --data-dir ../shared/data/cifar10 -n 500 --eps 4 -o out/heatmap
    """
    dev = resolve_device(device)
    images = load(data, split, data_dir, limit, seed, image_size, resize, class_index)
    net, model_info = load_model_spec(model, images, dev, seed, model_options(arch, model_arg, pretrained, normalize))
    if batch_size is None:
        batch_size = default_batch_size(torch.device(dev))
    start = time.perf_counter()
    hm = fourier_heatmap(
        net,
        images.images,
        images.labels,
        eps,
        seed=seed,
        batch_size=batch_size,
        device=dev,
        amp=amp,
        compile=compile,
        progress=True,
    )
    seconds = time.perf_counter() - start
    error_profile, counts = fourier.radial_profile(hm.error)
    loss_profile, _ = fourier.radial_profile(hm.loss)
    h, w = hm.error.shape
    typer.echo(f"{images.name} ({split}, {len(images)} images), eps {eps:g}: {seconds:.1f} s")
    typer.echo(f"clean error {hm.clean_error:.4f}; error at DC {float(hm.error[h // 2, w // 2]):.4f}")
    typer.echo("radius  error   loss")
    for r, (e, l_) in enumerate(zip(error_profile.tolist(), loss_profile.tolist(), strict=True)):
        typer.echo(f"{r:6d}  {e:.4f}  {l_:.4f}")
    out.mkdir(parents=True, exist_ok=True)
    provenance.save_figure(heatmap_figure(hm, f"{model_info.get('path', model)} on {images.name}"), out / "heatmap.png")
    provenance.write_json(
        out / "heatmap.json",
        {
            "model": model_info,
            "dataset": images.name,
            "split": split,
            **hm.summary(),
            "error": hm.error,
            "loss": hm.loss,
            "error_radial_profile": error_profile,
            "loss_radial_profile": loss_profile,
            "radial_counts": counts,
            "seconds": seconds,
            "provenance": provenance.record(
                fourier.conventions(),
                device=dev,
                dtype=next(net.parameters()).dtype,
                seed=seed,
                amp=amp,
                compiled=compile,
                batch_size=batch_size,
                evaluation="one basis per symmetric pair (row-major first member), mirrored to the full map",
                image_subsample=subsample_note(len(images), seed),
            ),
        },
    )
    typer.echo(f"wrote {out / 'heatmap.png'} and {out / 'heatmap.json'}")
