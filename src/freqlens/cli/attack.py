"""``freqlens attack``: robust accuracy of saved models over a list of ε, and the spectrum of their perturbations."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Annotated, Any, cast

import torch
import typer
from torch import nn

from freqlens import attacks, fourier, provenance
from freqlens.analyses.perturbations import perturbation_spectrum, spectrum_figure
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
    load,
    load_models,
    model_options,
    parse_floats,
    resolve_device,
    subsample_note,
)
from freqlens.errors import FreqlensError
from freqlens.plotting import plt
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
    out: OutOpt = Path("attack"),
) -> None:
    """Robust accuracy over an ε list for one or more models, and where in frequency their perturbations lie.

    Examples:
      freqlens attack -m runs/natural/model.pt -m runs/adv/model.pt --data-dir ../shared/data/cifar10 -o out/attack
    """
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
    dev = resolve_device(device)
    images = load(data, split, data_dir, limit, seed, image_size, resize, class_index)
    options = model_options(arch, model_arg, pretrained, None)
    models = load_models(model, label, dev, images, options, normalize, seed)
    if band is not None:
        band = resolve_view(band, *images.image_shape[1:])

    def run(
        m: nn.Module, x: torch.Tensor, y: torch.Tensor, e: torch.Tensor, g: torch.Generator, stop: bool
    ) -> torch.Tensor:
        if method == "fgsm":
            return attacks.fgsm(m, x, y, e, band=band)
        return attacks.pgd(
            m,
            x,
            y,
            e,
            steps=steps,
            step_size=step_size * e,
            norm=cast(attacks.Norm, norm),
            random_start=random_start,
            band=band,
            generator=g,
            early_stop=stop,
        )

    results: dict[str, dict[str, Any]] = {}
    spectra = {}
    for name, net, info in models:
        g = torch.Generator().manual_seed(seed)
        acc = attacks.robust_accuracy(
            net,
            images.images,
            images.labels,
            eps_list,
            attack=partial(run, g=g, stop=True),
            batch_size=batch_size,
        )
        spectra[name] = perturbation_spectrum(
            net,
            images.images,
            images.labels,
            attack=partial(run, g=g, stop=False),
            eps=spec_eps,
            batch_size=batch_size,
        )
        results[name] = {
            "accuracy": {str(e): a for e, a in acc.items()},
            "spectrum": spectra[name].to_json(),
            "info": info,
        }
        typer.echo(f"{name}: " + ", ".join(f"ε={e:g}: {a:.3f}" for e, a in acc.items()))

    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    for name, r in results.items():
        ax.plot(eps_list, list(r["accuracy"].values()), "o-", label=name)
    ax.set_xlabel(f"ε ({norm})")
    ax.set_ylabel(f"accuracy under {method.upper()}")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    described = method.upper()
    if method == "pgd":
        described += f"-{norm}, up to {steps} steps of {step_size:g}·ε, stopping at the first misclassified iterate"
    table = markdown_table(
        ["model", *(f"ε={e:g}" for e in eps_list)], [[n, *r["accuracy"].values()] for n, r in results.items()]
    )
    out.mkdir(parents=True, exist_ok=True)
    provenance.save_figure(fig, out / "robust_accuracy.png")
    provenance.save_figure(spectrum_figure(spectra), out / "perturbation_spectrum.png")
    provenance.write_text(
        out / "attack.md",
        f"# Robust accuracy ({described}, {len(images)} {images.name} {split} images)\n\n{table}\n"
        f"Perturbation spectra at ε={spec_eps:g}: perturbation_spectrum.png\n",
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
                "steps": 1 if method == "fgsm" else steps,
                "step_size_fraction_of_eps": 1.0 if method == "fgsm" else step_size,
                "random_start": method == "pgd" and random_start,
                "early_stop": "robust accuracy: yes (first misclassified iterate); perturbation spectrum: all steps",
                "band": band,
            },
            "spectrum_eps": spec_eps,
            "models": results,
            "provenance": provenance.record(
                {**fourier.conventions(), **attacks.conventions()},
                device=dev,
                dtype=images.images.dtype,
                seed=seed,
                models=list(model),
                image_subsample=subsample_note(len(images), seed),
            ),
        },
    )
    typer.echo(f"wrote {out / 'attack.json'}, attack.md, robust_accuracy.png and perturbation_spectrum.png")
