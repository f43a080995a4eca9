"""``freqlens evaluate``: accuracy on original, LFC and HFC views per radius, and the HFC-explained images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
import typer

from freqlens import fourier, provenance
from freqlens.analyses import hfc
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
    RadiiOpt,
    ResizeOpt,
    SplitOpt,
    load,
    load_model_spec,
    model_options,
    resolve_device,
    subsample_note,
)
from freqlens.errors import FreqlensError
from freqlens.radii import DEFAULT_RADII, parse_radii


def format_table(result: hfc.HFCResult) -> str:
    """Accuracy / confidence per radius on LFC and HFC, with the HFC-explained counts."""
    mask = "|k| <= r" if result.inclusive else "|k| < r"
    blank = result.class_name(result.blank_pred)
    lines = [
        f"{result.dataset}: {result.num_images} images, original accuracy {float(result.accuracy('original')):.4f}"
        f" (mean confidence {float(result.confidence('original')):.3f}), mask {mask}, rescale={result.normalize}",
        f"all-zero image -> {blank} ({result.blank_conf:.3f}); 'not {blank}': HFC-explained images of other classes",
        f"LFC/HFC views: {'rescaled by their per-image max' if result.normalize == 'per_image_max' else 'not rescaled'}"
        f" (rescale={result.normalize})",
        f"{'radius':>6}  {'LFC acc':>8}  {'LFC conf':>8}  {'HFC acc':>8}  {'HFC conf':>8}  {'HFC-explained':>13}"
        f"  {'not ' + blank:>10}",
    ]
    columns = [result.accuracy("lfc"), result.confidence("lfc"), result.accuracy("hfc"), result.confidence("hfc")]
    per_class = result.hfc_explained_per_class()
    counts = per_class.sum(dim=1)
    others = counts - (per_class[:, result.blank_pred] if result.blank_pred < len(result.classes) else 0)
    for i, r in enumerate(result.radii):
        cells = "  ".join(f"{float(col[i]):8.4f}" for col in columns)
        lines.append(f"{r:6g}  {cells}  {int(counts[i]):13d}  {int(others[i]):10d}")
    return "\n".join(lines)


def format_per_class(result: hfc.HFCResult, radius: float) -> str:
    """Per-class accuracy on the original and on LFC/HFC at one radius."""
    i = result.radius_index(radius)
    counts = result.class_counts()
    original = result.per_class_accuracy("original")
    low, high = result.per_class_accuracy("lfc")[i], result.per_class_accuracy("hfc")[i]
    explained = result.hfc_explained_per_class()[i]
    width = max(5, *(len(c) for c in result.classes))
    lines = [
        f"{'class':<{width}}  {'n':>5}  {'original':>8}  {f'LFC r={radius:g}':>9}  {f'HFC r={radius:g}':>9}  HFC-expl"
    ]
    for c, name in enumerate(result.classes):
        lines.append(
            f"{name:<{width}}  {int(counts[c]):5d}  {float(original[c]):8.4f}  {float(low[c]):9.4f}  "
            f"{float(high[c]):9.4f}  {int(explained[c]):8d}"
        )
    return "\n".join(lines)


@app.command()
def evaluate(
    model: ModelArg,
    data: DataOpt = "cifar10",
    data_dir: DataDirOpt = None,
    split: SplitOpt = "test",
    radii: RadiiOpt = DEFAULT_RADII,
    rescale: Annotated[
        str,
        typer.Option(help="per_image_max: rescale each LFC/HFC by its maximum (HFC code, training curves); or none."),
    ] = "per_image_max",
    inclusive: Annotated[bool, typer.Option(help="Use |k| <= r (paper text) instead of |k| < r (HFC code).")] = False,
    examples: Annotated[int, typer.Option(help="HFC-explained images drawn in the Fig. 2-style grid (0: none).")] = 8,
    example_radius: Annotated[
        float | None,
        typer.Option(
            help="Radius of the example grid (default: the sweep radius nearest 3/8 of the smaller image side)."
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Images per batch (memory grows with batch x radii).")] = 256,
    amp: Annotated[bool, typer.Option(help="Autocast the model (CUDA float16, CPU bfloat16).")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the -n subsample and of untrained weights.")] = 0,
    device: DeviceOpt = "auto",
    limit: LimitOpt = None,
    arch: ArchOpt = None,
    model_arg: ModelArgsOpt = None,
    pretrained: PretrainedOpt = False,
    normalize: InputNormOpt = None,
    image_size: ImageSizeOpt = None,
    resize: ResizeOpt = None,
    class_index: ClassIndexOpt = None,
    out: OutOpt = Path("evaluate"),
) -> None:
    """Accuracy and confidence on original, LFC and HFC images per radius; the images a model gets right on x and
    x_h but wrong on x_l (Wang et al. 2020, Fig. 2).

    Writes evaluate.json, evaluate.txt, accuracy_vs_radius.png and hfc_examples.png to --out.

    Examples:
      freqlens evaluate runs/small_cnn/model.pt --data-dir ../shared/data/cifar10 --radii 4,8,12,16,20,24,28
      freqlens evaluate runs/small_cnn/model.pt --data-dir ../shared/data/cifar10 --rescale none -o out/ev
      freqlens evaluate torchvision:resnet18 --pretrained --data val/ --image-size 224 --class-index index.json -n 500
    """
    if rescale not in hfc.NORMALIZATIONS:
        raise FreqlensError(f"--rescale must be one of {', '.join(hfc.NORMALIZATIONS)}, got {rescale!r}")
    if examples < 0:
        raise FreqlensError(f"--examples must be 0 or more, got {examples}")
    if batch_size <= 0:
        raise FreqlensError(f"--batch-size must be positive, got {batch_size}")
    dev = resolve_device(device)
    images = load(data, split, data_dir, limit, seed, image_size, resize, class_index)
    _, h, w = images.image_shape
    rs = parse_radii(radii, h, w)
    for r in rs:
        fourier.check_radius(r, h, w)
    shown_radius = hfc.default_example_radius(rs, h, w) if example_radius is None else example_radius
    if not any(abs(shown_radius - r) < 1e-9 for r in rs):
        raise FreqlensError(f"--example-radius {shown_radius:g} is not in --radii {radii}; add it or pick one of them")
    net, model_info = load_model_spec(model, images, dev, seed, model_options(arch, model_arg, pretrained, normalize))
    result = hfc.evaluate_hfc(net, images, rs, inclusive=inclusive, normalize=rescale, batch_size=batch_size, amp=amp)

    table = format_table(result)
    per_class = format_per_class(result, shown_radius)
    typer.echo(table)
    typer.echo("")
    typer.echo(per_class)
    out.mkdir(parents=True, exist_ok=True)
    figures = [out / "accuracy_vs_radius.png"]
    provenance.save_figure(hfc.plot_accuracy_vs_radius(result), figures[0])
    fig = hfc.plot_examples(result, images, shown_radius, examples) if examples else None
    if fig is not None:
        figures.append(out / "hfc_examples.png")
        provenance.save_figure(fig, figures[1])
    else:
        typer.echo(
            f"no example figure: {'--examples 0' if not examples else 'no HFC-explained image'} at r={shown_radius:g}"
        )
    provenance.write_text(out / "evaluate.txt", table + "\n\n" + per_class + "\n")
    payload = {
        "model": model_info,
        "split": split,
        **result.to_dict(),
        "example_radius": shown_radius,
        "figures": [f.name for f in figures],
        "provenance": provenance.record(
            fourier.conventions(inclusive),
            device=result.device,
            dtype=getattr(torch, result.dtype),
            precision=result.precision,
            seed=seed,
            dataset=result.dataset,
            split=split,
            images=result.num_images,
            radii=list(result.radii),
            mask_inequality="<=" if inclusive else "<",
            normalize=rescale,
            normalize_note="per_image_max: LFC/HFC divided by their per-image maximum, original untouched (HFC code)"
            if rescale == "per_image_max"
            else "views fed as computed, no rescaling",
            confidence=hfc.CONFIDENCE_DEFINITION,
            hfc_explained_definition=hfc.HFC_EXPLAINED_DEFINITION,
            hfc_explained_ranking=hfc.RANKING,
            batch_size=batch_size,
            amp=amp,
            image_subsample=None if limit is None else subsample_note(len(images), seed),
        ),
    }
    provenance.write_json(out / "evaluate.json", payload)
    typer.echo(f"wrote {out / 'evaluate.json'}, {out / 'evaluate.txt'} and {', '.join(str(f) for f in figures)}")
