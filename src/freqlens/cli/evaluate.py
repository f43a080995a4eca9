"""``freqlens evaluate``: accuracy on original, LFC and HFC views per radius, and the HFC-explained images."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

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
    model_specs,
    resolve_device,
)
from freqlens.cli.reproduce import RunsOpt, runs_root
from freqlens.contract import subsample_note
from freqlens.errors import FreqlensError
from freqlens.radii import DEFAULT_RADII, parse_radii


def format_table(result: dict[str, Any]) -> str:
    """Accuracy / confidence per radius on LFC and HFC, with the HFC-explained counts, from the stored result
    (:meth:`freqlens.analyses.hfc.HFCResult.to_dict`)."""
    classes, blank_pred = result["classes"], result["blank_image"]["pred"]
    blank = classes[blank_pred] if 0 <= blank_pred < len(classes) else str(blank_pred)
    rescaled = result["normalize"] == "per_image_max"
    lines = [
        f"{result['dataset']}: {result['images']} images, original accuracy {result['original']['accuracy']:.4f}"
        f" (mean confidence {result['original']['confidence']:.3f}), mask {result['mask']}, "
        f"rescale={result['normalize']}",
        f"all-zero image -> {blank} ({result['blank_image']['conf']:.3f}); 'not {blank}': HFC-explained images of "
        "other classes",
        f"LFC/HFC views: {'rescaled by their per-image max' if rescaled else 'not rescaled'}"
        f" (rescale={result['normalize']})",
        f"{'radius':>6}  {'LFC acc':>8}  {'LFC conf':>8}  {'HFC acc':>8}  {'HFC conf':>8}  {'HFC-explained':>13}"
        f"  {'not ' + blank:>10}  {'empty LFC':>9}  {'empty HFC':>9}",
    ]
    columns = [result[view][key] for view in ("lfc", "hfc") for key in ("accuracy", "confidence")]
    empty = [result[view].get("excluded", [0] * len(result["radii"])) for view in ("lfc", "hfc")]
    for i, r in enumerate(result["radii"]):
        found = result["hfc_explained"]["by_radius"][f"{r:g}"]
        cells = "  ".join("     n/a" if col[i] is None else f"{col[i]:8.4f}" for col in columns)
        lines.append(
            f"{r:6g}  {cells}  {found['count']:13d}  {found['count_outside_blank_class']:10d}"
            f"  {empty[0][i]:9d}  {empty[1][i]:9d}"
        )
    if any(any(e) for e in empty):
        lines.append(f"empty views left out: {result.get('excluded_definition', 'empty or below numerical noise')}")
    return "\n".join(lines)


def _rate(value: float | None, width: int) -> str:
    """A rate for the tables; ``n/a`` where nothing was measured (every view empty)."""
    return f"{'n/a':>{width}}" if value is None else f"{value:{width}.4f}"


def format_per_class(result: dict[str, Any], radius: float) -> str:
    """Per-class accuracy on the original and on LFC/HFC at one radius, from the stored result."""
    i = [f"{r:g}" for r in result["radii"]].index(f"{radius:g}")
    per_class = result["per_class"]
    width = max(5, *(len(c) for c in result["classes"]))
    lines = [
        f"{'class':<{width}}  {'n':>5}  {'original':>8}  {f'LFC r={radius:g}':>9}  {f'HFC r={radius:g}':>9}  HFC-expl"
    ]
    for c, name in enumerate(result["classes"]):
        lines.append(
            f"{name:<{width}}  {per_class['count'][c]:5d}  {_rate(per_class['original'][c], 8)}  "
            f"{_rate(per_class['lfc'][i][c], 9)}  {_rate(per_class['hfc'][i][c], 9)}  "
            f"{per_class['hfc_explained'][i][c]:8d}"
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
    out: OutOpt = Path("out/evaluate"),
    runs: RunsOpt = None,
) -> None:
    """Accuracy and confidence on original, LFC and HFC images per radius; the images a model gets right on x and
    x_h but wrong on x_l (Wang et al. 2020, Fig. 2).

    The result is a run of the audit recipe (one cell) in the runs root (freqlens runs lists it; the same arguments
    reuse it). Writes evaluate.json, evaluate.txt, accuracy_vs_radius.png, hfc_examples.png and the report
    (freqlens report -o OUT) to --out.

    Examples:
      freqlens evaluate runs/small_cnn/model.pt --data-dir ../shared/data/cifar10 --radii 4,8,12,16,20,24,28
      freqlens evaluate runs/small_cnn/model.pt --data-dir ../shared/data/cifar10 --rescale none -o out/ev
      freqlens evaluate torchvision:resnet18 --pretrained --data val/ --image-size 224 --class-index index.json -n 500
    """
    from freqlens.commands import ImageRequest, run_analysis

    if rescale not in hfc.NORMALIZATIONS:
        raise FreqlensError(f"--rescale must be one of {', '.join(hfc.NORMALIZATIONS)}, got {rescale!r}")
    if examples < 0:
        raise FreqlensError(f"--examples must be 0 or more, got {examples}")
    if batch_size <= 0:
        raise FreqlensError(f"--batch-size must be positive, got {batch_size}")
    dev = str(resolve_device(device))

    def params(images: Any) -> dict[str, Any]:
        _, h, w = images.image_shape
        rs = parse_radii(radii, h, w)
        for r in rs:
            fourier.check_radius(r, h, w)
        shown = hfc.default_example_radius(rs, h, w) if example_radius is None else example_radius
        if not any(abs(shown - r) < 1e-9 for r in rs):
            raise FreqlensError(f"--example-radius {shown:g} is not in --radii {radii}; add it or pick one of them")
        return {
            "radii": list(rs),
            "inclusive": inclusive,
            "normalize": rescale,
            "dataset": images.name,
            "examples": examples,
            "example_radius": shown,
            "batch_size": batch_size,
            "amp": amp,
        }

    images, (cell,) = run_analysis(
        "hfc",
        model_specs([model], None, arch, model_arg, pretrained, normalize, seed),
        ImageRequest(data, data_dir, split, limit, seed, image_size, resize, class_index),
        params,
        out,
        runs_root=runs_root(runs),
        device=dev,
    )
    result = cell.summary["details"]
    shown_radius = result["example_radius"]
    table = format_table(result)
    per_class = format_per_class(result, shown_radius)
    typer.echo(table)
    typer.echo("")
    typer.echo(per_class)
    figures = []
    for name in ("accuracy_vs_radius", "hfc_examples"):
        figure = cell.figure(name)
        if figure is not None:
            figures.append(out / f"{name}.png")
            shutil.copyfile(figure, figures[-1])
    if len(figures) < 2:
        typer.echo(
            f"no example figure: {'--examples 0' if not examples else 'no HFC-explained image'} at r={shown_radius:g}"
        )
    provenance.write_text(out / "evaluate.txt", table + "\n\n" + per_class + "\n")
    precision = cell.summary["conventions"]["precision"]
    payload = {
        "model": cell.summary["model"],
        "split": split,
        **result,
        "figures": [f.name for f in figures],
        "run": str(cell.run_dir),
        "provenance": provenance.record(
            fourier.conventions(inclusive),
            device=cell.summary["conventions"]["device"],
            dtype=getattr(torch, precision.split(" ")[0]),
            precision=precision,
            seed=seed,
            dataset=result["dataset"],
            split=split,
            images=result["images"],
            radii=result["radii"],
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
