"""``freqlens train``: train a registry model with the paper's heuristics as switches; resumable."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path
from typing import Annotated, Any

import typer

from freqlens.cli import app, command_line
from freqlens.cli.common import DataDirOpt, parse_floats
from freqlens.cli.reproduce import RunsOpt, runs_root
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


def _kept(run: Path, epochs: int, command: list[str]) -> str:
    """What an interrupted training left in its run folder (its last finished epoch) and the command that continues."""
    from freqlens.runs import TRAIN_KIND
    from freqlens.train.loop import CONFIG_FILE, METRICS_FILE

    if not (run / TRAIN_KIND / CONFIG_FILE).is_file():
        return f"training had not started, nothing was saved; run the same command again: {shlex.join(command)}"
    metrics = run / TRAIN_KIND / METRICS_FILE  # written after each epoch's checkpoint, atomically: one line per epoch
    done = len(metrics.read_text().splitlines()) if metrics.is_file() else 0
    kept = f"epoch {done} of {epochs} is saved in {run}" if done else f"no epoch of {epochs} had finished"
    return f"{kept}; continue with: {shlex.join(command)}"


@app.command()
def train(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="JSON or TOML config file.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Summary and report (default out/train).")] = Path(
        "out/train"
    ),
    runs: RunsOpt = None,
    save: Annotated[
        Path | None, typer.Option(help="Also copy the trained model.pt here, e.g. models/small_cnn.pt.")
    ] = None,
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
    augment: Annotated[
        str | None, typer.Option(help="none, or e.g. flip,crop:4, flip,translate:2 or flip,roll:2 (circular).")
    ] = None,
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
    """Train a model as a one-cell run: into its run folder <runs>/train/<label>-<hash>/train/ (config.json,
    metrics.jsonl with per-epoch accuracy and test LFC/HFC accuracy per radius, checkpoint.pt, model.pt, curves.png),
    listed by `freqlens runs`; the summary and report go to --out.

    Flags override the config file; --set KEY=VALUE reaches every config key. The same configuration is the same
    run: a finished one is reused, an interrupted one continues from its last epoch when the command is run again.

    Examples:
      freqlens train --data-dir ../shared/data/cifar10 --epochs 10 --save models/small_cnn.pt
      freqlens train -c configs/hfc_vanilla.toml --batchnorm -o out/hfc_bn
      freqlens train -c configs/hfc_vanilla.toml --train-view lfc:8:max --set eval_radii=[]
      freqlens runs --recipe train
    """
    import torch

    from freqlens.commands import run_training
    from freqlens.models import get_entry
    from freqlens.models import list_models as registry_names
    from freqlens.train import load_config
    from freqlens.trained import train_run_dir

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
    base = load_config(config)  # before the flags, to merge model options into its model_kwargs
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
    resolved = load_config(config, {**overrides, "model_kwargs": kwargs})
    if threads is not None:
        if threads <= 0:
            raise FreqlensError(f"--threads must be positive, got {threads}")
        torch.set_num_threads(threads)
    typer.echo("resolved config:\n" + resolved.describe())
    root = runs_root(runs)
    path = train_run_dir(root, resolved.to_dict())  # the hash leaves the machine fields (device, data_dir) out
    try:
        path, done = run_training(resolved, out, runs_root=root, progress=progress, stop_after=stop_after)
    except KeyboardInterrupt:
        raise Interrupted(_kept(path, resolved.epochs, command_line())) from None
    if done is None:
        typer.echo(f"stopped as asked (--stop-after {stop_after}) in {path}; the same command continues it")
        return
    final, model_file = done.summary["final"], Path(done.summary["model"])
    if save is not None:
        save.parent.mkdir(parents=True, exist_ok=True)
        partial = save.with_name(save.name + ".partial")
        shutil.copyfile(model_file, partial)
        partial.replace(save)  # atomic: never a half-copied model under the name asked for
        model_file = save
    typer.echo(
        f"done: {final['epoch']} epochs, test accuracy {final['test_acc']:.4f}; model {model_file}; "
        f"report {out / 'report.html'}"
    )
