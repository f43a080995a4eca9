"""``freqlens attack``: robust accuracy of saved models over a list of ε, and the spectrum of their perturbations."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from freqlens import provenance
from freqlens.analyses import robustness
from freqlens.analyses.perturbations import spectrum_figure
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
from freqlens.radii import resolve_view


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table; floats with three decimals."""

    def cell(v: object) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


@app.command()
def attack(
    model: ModelsOpt,
    label: LabelsOpt = None,
    data: DataOpt = "cifar10",
    data_dir: DataDirOpt = None,
    split: SplitOpt = "test",
    limit: LimitOpt = 1000,
    method: Annotated[str, typer.Option("--attack", help="fgsm or pgd.")] = "pgd",
    norm: Annotated[str, typer.Option(help="linf or l2 (pgd only).")] = "linf",
    eps: Annotated[str, typer.Option(help="Comma-separated ε list, in [0, 1] pixel units.")] = "0,0.01,0.03,0.06,0.09",
    steps: Annotated[int, typer.Option(help="PGD steps.")] = 20,
    step_size: Annotated[float, typer.Option(help="PGD step as a fraction of ε.")] = 0.25,
    random_start: Annotated[bool, typer.Option(help="Random start in the ε-ball.")] = True,
    band: Annotated[
        str | None,
        typer.Option(help="Keep perturbations in a Fourier band: lfc:R, hfc:R, band:A:B, hpsquare:C (R may be 0.25n)."),
    ] = None,
    spectrum_eps: Annotated[
        float | None, typer.Option(help="ε of the perturbation spectrum (default: the largest ε).")
    ] = None,
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
    out: OutOpt = Path("out/attack"),
    runs: RunsOpt = None,
) -> None:
    """Robust accuracy over an ε list for one or more models, and where in frequency their perturbations lie.

    Each model is one run of the audit recipe (analysis robustness) in the runs root (freqlens runs lists them; the
    same arguments reuse them); OUT gets attack.json, attack.md, both figures and the report.

    Examples:
      freqlens attack -m runs/natural/model.pt -m runs/adv/model.pt --data-dir ../shared/data/cifar10 -o out/attack
    """
    from freqlens.commands import ImageRequest, run_analysis

    eps_list = parse_floats(eps, "--eps")
    if any(e < 0 for e in eps_list):
        raise FreqlensError(f"--eps values must be >= 0, got {eps_list}")
    if method not in ("fgsm", "pgd"):
        raise FreqlensError(f"--attack must be fgsm or pgd, got {method!r}")
    if norm not in ("linf", "l2") or (method == "fgsm" and norm != "linf"):
        raise FreqlensError(f"--norm must be linf or l2 (fgsm is linf only), got {norm!r}")
    if steps <= 0 or step_size <= 0:
        raise FreqlensError(f"--steps and --step-size must be positive, got {steps} and {step_size}")
    spec_eps = max(eps_list) if spectrum_eps is None else spectrum_eps
    if spec_eps <= 0:
        raise FreqlensError("the perturbation spectrum needs ε > 0; pass --spectrum-eps")
    dev = str(resolve_device(device))
    specs = model_specs(model, label, arch, model_arg, pretrained, normalize, seed)

    def params(images: Any) -> dict[str, Any]:
        return {
            "attack": method,
            "norm": norm,
            "eps": eps_list,
            "steps": steps,
            "step_size": step_size,
            "random_start": random_start,
            "band": None if band is None else resolve_view(band, *images.image_shape[1:]),
            "spectrum_eps": spec_eps,
            "seed": seed,
            "batch_size": batch_size,
        }

    images, cells = run_analysis(
        "robustness",
        specs,
        ImageRequest(data, data_dir, split, limit, seed, image_size, resize, class_index),
        params,
        out,
        runs_root=runs_root(runs),
        device=dev,
        label_param="label",
    )
    accuracy = {cell.label: cell.summary["details"]["accuracy"] for cell in cells}
    spectra = {cell.label: robustness.stored_spectrum(cell.arrays(), cell.summary["details"]) for cell in cells}
    for name, acc in accuracy.items():
        typer.echo(f"{name}: " + ", ".join(f"ε={float(e):g}: {a:.3f}" for e, a in acc.items()))
    table = markdown_table(
        ["model", *(f"ε={e:g}" for e in eps_list)], [[n, *acc.values()] for n, acc in accuracy.items()]
    )
    provenance.save_figure(robustness.accuracy_figure(accuracy, norm, method), out / "robust_accuracy.png")
    provenance.save_figure(spectrum_figure(spectra), out / "perturbation_spectrum.png")
    p = cells[0].summary["params"]
    provenance.write_text(
        out / "attack.md",
        f"# Robust accuracy ({robustness.describe(method, norm, steps, step_size)}, {len(images)} {images.name} "
        f"{split} images)\n\n{table}\nPerturbation spectra at ε={spec_eps:g}: perturbation_spectrum.png\n",
    )
    provenance.write_json(
        out / "attack.json",
        {
            "dataset": images.name,
            "split": split,
            "images": len(images),
            "attack": {
                "method": method,
                "norm": norm,
                "eps": eps_list,
                "steps": p["steps"],
                "step_size_fraction_of_eps": p["step_size_fraction_of_eps"],
                "random_start": p["random_start"],
                "early_stop": "robust accuracy: yes (first misclassified iterate); perturbation spectrum: all steps",
                "band": p["band"],
            },
            "spectrum_eps": spec_eps,
            "models": {
                cell.label: {
                    "accuracy": accuracy[cell.label],
                    "spectrum": {**cell.summary["details"]["spectrum"], **_spectrum_arrays(cell.arrays())},
                    "info": cell.summary["model"],
                }
                for cell in cells
            },
            "runs": {cell.label: str(cell.run_dir) for cell in cells},
            "provenance": provenance.record(
                {k: v for k, v in cells[0].summary["conventions"].items() if k != "attack"},
                device=dev,
                seed=seed,
                models=list(model),
                image_subsample=subsample_note(len(images), seed),
            ),
        },
    )
    typer.echo(f"wrote {out / 'attack.json'}, attack.md, robust_accuracy.png and perturbation_spectrum.png")


def _spectrum_arrays(arrays: dict[str, Any]) -> dict[str, Any]:
    return {k: arrays[k] for k in ("profile", "counts", "energy_fraction")}
