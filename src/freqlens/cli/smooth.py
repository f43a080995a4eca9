"""``freqlens smooth``: the HFC paper's Table 2, accuracy of kernel-smoothed models under FGSM and PGD."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
import typer

from freqlens import provenance
from freqlens.analyses import defence, kernels
from freqlens.cli import app
from freqlens.cli.common import (
    ArchOpt,
    AttackBatchOpt,
    AttackSeedOpt,
    ClassIndexOpt,
    DataDirOpt,
    DataOpt,
    DeviceOpt,
    ImageSizeOpt,
    InputNormsOpt,
    LabelsOpt,
    LimitOpt,
    ModelArgsOpt,
    ModelsOpt,
    OutOpt,
    PretrainedOpt,
    ResizeOpt,
    SplitOpt,
    model_specs,
    parse_floats,
    resolve_device,
)
from freqlens.cli.reproduce import RunsOpt, runs_root
from freqlens.contract import subsample_note
from freqlens.errors import FreqlensError


@app.command()
def smooth(
    model: ModelsOpt,
    label: LabelsOpt = None,
    rho: Annotated[str, typer.Option(help="Comma-separated smoothing strengths ρ (Eq. 3); 0 is the model itself.")] = (
        "0,0.1,0.25,0.5,1"
    ),
    eps: Annotated[str, typer.Option(help="Comma-separated L∞ ε list, in [0, 1] pixel units.")] = "0.03,0.06,0.09",
    layer: Annotated[
        str | None, typer.Option(help="Name of the Conv2d to smooth (default: the first layer with weights).")
    ] = None,
    normalize_kernels: Annotated[
        bool, typer.Option(help="Divide smoothed kernels by 1 + 8ρ (not in the paper).")
    ] = False,
    pgd_steps: Annotated[int, typer.Option(help="PGD steps (each of ε/4).")] = 20,
    data: DataOpt = "cifar10",
    data_dir: DataDirOpt = None,
    split: SplitOpt = "test",
    limit: LimitOpt = 1000,
    batch_size: AttackBatchOpt = 250,
    seed: AttackSeedOpt = 0,
    device: DeviceOpt = "auto",
    arch: ArchOpt = None,
    model_arg: ModelArgsOpt = None,
    pretrained: PretrainedOpt = False,
    normalize: InputNormsOpt = None,
    image_size: ImageSizeOpt = None,
    resize: ResizeOpt = None,
    class_index: ClassIndexOpt = None,
    out: OutOpt = Path("out/smooth"),
    runs: RunsOpt = None,
) -> None:
    """Kernel-smoothing defence (HFC paper Table 2): clean, FGSM and PGD accuracy for each model and ρ.

    Each model is one run of the audit recipe (analysis defence) in the runs root (freqlens runs lists them; the same
    arguments reuse them); OUT gets smooth.json, smooth.md, smooth.png, the kernel grids and the report.

    Examples:
      freqlens smooth -m runs/natural/model.pt -m runs/adv/model.pt --data-dir ../shared/data/cifar10 -o out/table2
    """
    from freqlens.commands import ImageRequest, run_analysis

    rhos = parse_floats(rho, "--rho")
    eps_list = parse_floats(eps, "--eps")
    if any(r < 0 for r in rhos):
        raise FreqlensError(f"--rho values must be >= 0, got {rhos}")
    if any(e <= 0 for e in eps_list):
        raise FreqlensError(f"--eps values must be > 0 (clean accuracy is always reported), got {eps_list}")
    if pgd_steps <= 0:
        raise FreqlensError(f"--pgd-steps must be positive, got {pgd_steps}")
    dev = str(resolve_device(device))
    specs = model_specs(model, label, arch, model_arg, pretrained, normalize, seed)
    params = {
        "rhos": rhos,
        "eps": eps_list,
        "layer": layer,
        "normalize": normalize_kernels,
        "pgd_steps": pgd_steps,
        "batch_size": batch_size,
        "seed": seed,
    }
    images, cells = run_analysis(
        "defence",
        specs,
        ImageRequest(data, data_dir, split, limit, seed, image_size, resize, class_index),
        params,
        out,
        runs_root=runs_root(runs),
        device=dev,
        label_param="label",
    )
    rows = [row for cell in cells for row in cell.summary["details"]["table"]]
    panels = {
        name: torch.from_numpy(cell.arrays()[f"kernels_{i}"])
        for cell in cells
        for i, name in enumerate(cell.summary["details"]["kernel_panels"])
    }
    table = defence.table_markdown(rows)
    typer.echo(table)
    deviation = cells[0].summary["conventions"]["deviation_from_paper"]
    provenance.save_figure(defence.table_figure(rows), out / "smooth.png")
    provenance.save_figure(kernels.kernel_grid(panels), out / "kernels.png")
    if all(w.shape[1] == 3 for w in panels.values()):
        provenance.save_figure(kernels.kernel_rgb_grid(panels), out / "kernels_rgb.png")
    provenance.write_text(
        out / "smooth.md",
        f"# Kernel smoothing (Table 2 analogue), {len(images)} {images.name} {split} images\n\n{table}\n"
        f"Smoothed layer: {rows[0]['layer']} (per model in smooth.json); normalised: {normalize_kernels}.\n\n"
        f"**Attacks.** {deviation}\n",
    )
    conventions = {k: v for k, v in cells[0].summary["conventions"].items() if k != "deviation_from_paper"}
    provenance.write_json(
        out / "smooth.json",
        {
            "dataset": images.name,
            "split": split,
            "images": len(images),
            "rho": rhos,
            "eps": eps_list,
            "normalize_kernels": normalize_kernels,
            "attacks": {
                "fgsm": "one L-inf step of size eps, no random start",
                "pgd": f"L-inf, up to {pgd_steps} steps of 0.25 * eps, uniform random start, stop when fooled",
            },
            "deviation_from_paper": deviation,
            "table": rows,
            "models": {cell.label: cell.summary["model"] for cell in cells},
            "runs": {cell.label: str(cell.run_dir) for cell in cells},
            "provenance": provenance.record(
                conventions,
                device=dev,
                seed=seed,
                models=list(model),
                image_subsample=subsample_note(len(images), seed),
            ),
        },
    )
    typer.echo(f"wrote {out / 'smooth.json'}, smooth.md, smooth.png and kernel grids")
