"""``freqlens train``: train a registry model with the paper's heuristics as switches; resumable."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from freqlens.cli import app
from freqlens.cli.common import DataDirOpt, OutOpt, parse_floats
from freqlens.errors import FreqlensError, Interrupted


def _parse_set(items: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise FreqlensError(f"--set takes key=value, got {item!r}")
        try:
            values[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            values[key.strip()] = text  # a bare string such as lfc:8:max
    return values


def _kept(out: Path, epochs: int) -> str:
    """What an interrupted run left in ``out`` (its last finished epoch) and the command that continues it."""
    from freqlens.train.loop import CONFIG_FILE, METRICS_FILE

    if not (out / CONFIG_FILE).is_file():
        return "training had not started, nothing was saved; run the same command again"
    metrics = out / METRICS_FILE  # written after each epoch's checkpoint, atomically: one line per saved epoch
    done = len(metrics.read_text().splitlines()) if metrics.is_file() else 0
    kept = f"epoch {done} of {epochs} is saved in {out}" if done else f"no epoch of {epochs} had finished"
    return f"{kept}; continue with: freqlens train -o {shlex.quote(str(out))} --resume"


@app.command()
def train(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="JSON or TOML config file.")] = None,
    out: OutOpt = Path("runs/train"),
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last checkpoint.")] = False,
    model: Annotated[str | None, typer.Option(help="Registry model name (see --list-models).")] = None,
    model_kwargs: Annotated[str | None, typer.Option(help="Model options as JSON, e.g. '{\"width\": 32}'.")] = None,
    batchnorm: Annotated[bool | None, typer.Option("--batchnorm/--no-batchnorm", help="Model BatchNorm.")] = None,
    dropout: Annotated[float | None, typer.Option(help="Model dropout probability.")] = None,
    data: Annotated[str | None, typer.Option(help="Dataset: cifar10, cifar100, a folder, synthetic:...")] = None,
    data_dir: DataDirOpt = None,
    epochs: Annotated[int | None, typer.Option()] = None,
    batch_size: Annotated[int | None, typer.Option()] = None,
    optimizer: Annotated[str | None, typer.Option(help="sgd, adam or adamw.")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate.")] = None,
    weight_decay: Annotated[float | None, typer.Option()] = None,
    schedule: Annotated[str | None, typer.Option(help="triangle, cosine or constant.")] = None,
    mixup_alpha: Annotated[float | None, typer.Option(help="Mix-up Beta(alpha, alpha); 0 = off.")] = None,
    shuffle_labels: Annotated[
        bool | None, typer.Option("--shuffle-labels/--no-shuffle-labels", help="Train on fixed shuffled labels.")
    ] = None,
    train_view: Annotated[str | None, typer.Option(help="Train on a filtered view, e.g. lfc:8:max.")] = None,
    augment: Annotated[str | None, typer.Option(help="none, or e.g. flip,crop:4 or flip,translate:2.")] = None,
    adversarial: Annotated[str | None, typer.Option(help="none, pgd or fgsm_rs.")] = None,
    eval_radii: Annotated[
        str | None, typer.Option(help="Radii for test LFC/HFC accuracy, e.g. 4,8,12,16; none.")
    ] = None,
    eval_normalize: Annotated[
        bool | None, typer.Option("--eval-normalize/--no-eval-normalize", help="Per-image-max rescale of LFC/HFC.")
    ] = None,
    train_subset: Annotated[int | None, typer.Option(help="Train on N images drawn under the seed.")] = None,
    test_subset: Annotated[int | None, typer.Option(help="Evaluate on N test images.")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1, or auto.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Any config key: key=value (JSON value).")] = None,
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch.")] = None,
    stop_after: Annotated[int | None, typer.Option(help="Stop (resumably) after this many epochs in all.")] = None,
    progress: Annotated[bool, typer.Option(help="Progress bar and per-epoch lines.")] = True,
    list_models: Annotated[bool, typer.Option(help="List the registry's models and exit.")] = False,
) -> None:
    """Train a model; write config.json, metrics.jsonl (per epoch: accuracy, test LFC/HFC accuracy per radius),
    checkpoint.pt, model.pt and curves.png to --out.

    Flags override the config file; --set KEY=VALUE reaches every config key. With --resume the run's saved config
    is the starting point, so `freqlens train -o DIR --resume` needs no other flags.

    Examples:
      freqlens train --data-dir ../shared/data/cifar10 --epochs 10 -o runs/small_cnn
      freqlens train -c configs/hfc_vanilla.toml --batchnorm -o runs/hfc_bn
      freqlens train -c configs/hfc_vanilla.toml --train-view lfc:8:max --set eval_radii=[] -o runs/lfc8
      freqlens train -o runs/small_cnn --resume
    """
    import torch

    from freqlens.models import get_entry
    from freqlens.models import list_models as registry_names
    from freqlens.train import load_config
    from freqlens.train import train as run_training

    if list_models:
        for name in registry_names():
            typer.echo(f"{name:14s} {get_entry(name).description}")
        return
    overrides: dict[str, Any] = _parse_set(set_ or [])
    named = {
        "model": model,
        "data": data,
        "data_dir": str(data_dir) if data_dir is not None else None,
        "epochs": epochs,
        "batch_size": batch_size,
        "optimizer": optimizer,
        "lr": lr,
        "weight_decay": weight_decay,
        "schedule": schedule,
        "mixup_alpha": mixup_alpha,
        "shuffle_labels": shuffle_labels,
        "train_view": train_view,
        "augment": augment,
        "adversarial": adversarial,
        "eval_normalize": eval_normalize,
        "train_subset": train_subset,
        "test_subset": test_subset,
        "seed": seed,
        "device": device,
    }
    overrides.update({k: v for k, v in named.items() if v is not None})
    if eval_radii is not None:
        overrides["eval_radii"] = (
            [] if eval_radii.strip().lower() == "none" else parse_floats(eval_radii, "--eval-radii")
        )
    saved: dict[str, Any] | None = None
    if resume and (out / "config.json").is_file():  # resuming: start from the run's own config
        saved = json.loads((out / "config.json").read_text()).get("config")
    base = load_config(config, base=saved)  # before the flags, to merge model options into its model_kwargs
    kwargs = dict(overrides.pop("model_kwargs", base.model_kwargs))
    if model_kwargs is not None:
        try:
            extra = json.loads(model_kwargs)
        except json.JSONDecodeError as exc:
            raise FreqlensError(f"--model-kwargs is not valid JSON: {exc.msg}") from None
        if not isinstance(extra, dict):
            raise FreqlensError("--model-kwargs must be a JSON object, e.g. '{\"width\": 32}'")
        kwargs.update(extra)
    if batchnorm is not None:
        kwargs["batchnorm"] = batchnorm
    if dropout is not None:
        kwargs["dropout"] = dropout
    resolved = load_config(config, {**overrides, "model_kwargs": kwargs}, base=saved)
    if threads is not None:
        if threads <= 0:
            raise FreqlensError(f"--threads must be positive, got {threads}")
        torch.set_num_threads(threads)
    typer.echo("resolved config:\n" + resolved.describe())
    try:
        result = run_training(resolved, out, resume=resume, progress=progress, stop_after=stop_after)
    except KeyboardInterrupt:
        raise Interrupted(_kept(out, resolved.epochs)) from None
    final = result.final
    if final:
        typer.echo(
            f"done: {final['epoch']} epochs, test accuracy {final['test_acc']:.4f}; wrote {out}/model.pt, "
            f"metrics.jsonl, curves.png"
        )
