"""One fast, exact, resumable training loop for every model and heuristic (see :class:`TrainConfig`).

Airbench-style: both splits live on the device as tensors; each step gathers a batch by index and augments it with
batched tensor ops; no DataLoader. The model runs in channels-last layout, under autocast on CUDA (and, if asked,
bfloat16 autocast on CPU). Every epoch ends with the callbacks (test accuracy, LFC/HFC accuracy) and an atomic
checkpoint of everything needed to continue bit-for-bit: weights, optimizer, scheduler, gradient scaler, all random
generators, the epoch and the metrics.

Files written to ``out_dir``: ``config.json`` (resolved config, model, data, provenance), ``metrics.jsonl`` (one
JSON object per epoch), ``checkpoint.pt`` (resumable), ``model.pt`` (weights for :func:`freqlens.checkpoint.load_model`)
and ``curves.png`` (when the run stops).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from freqlens import fourier, provenance
from freqlens.checkpoint import CHECKPOINT_FORMAT, save_model
from freqlens.contract import evaluating, resolve_device
from freqlens.data import open_dataset
from freqlens.errors import FreqlensError
from freqlens.models import create_model, model_spec
from freqlens.models.layers import fit_input_statistics
from freqlens.train.augment import mixup, parse_augment
from freqlens.train.callbacks import Callback, EpochContext, default_callbacks
from freqlens.train.config import TrainConfig, auto_batch_size
from freqlens.train.plots import plot_curves
from freqlens.views import View, apply_in_chunks
from freqlens.weights import read_file

CONFIG_FILE, METRICS_FILE, CHECKPOINT_FILE, MODEL_FILE, CURVES_FILE = (
    "config.json",
    "metrics.jsonl",
    "checkpoint.pt",
    "model.pt",
    "curves.png",
)
# Config fields that may differ between a checkpoint and the run resuming it (they do not change the run).
RESUMABLE_CHANGES = ("device", "data_dir")
LOG_EVERY = 10  # steps between progress-bar updates (and divergence checks; each one syncs with the device)


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained model (eval mode), its config and the per-epoch metrics."""

    out_dir: Path
    model: nn.Module
    config: TrainConfig
    metrics: list[dict[str, Any]]

    @property
    def final(self) -> dict[str, Any]:
        return self.metrics[-1] if self.metrics else {}


@dataclass
class _Run:
    """Everything a checkpoint must capture to continue a run bit-for-bit."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    data_gen: torch.Generator
    noise_gen: torch.Generator

    def state(self) -> dict[str, Any]:
        cuda = self.noise_gen.device.type == "cuda"
        return {
            "model": model_spec(self.model),
            "state_dict": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if cuda else [],
                "data": self.data_gen.get_state(),
                "noise": self.noise_gen.get_state(),
            },
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.data_gen.set_state(state["rng"]["data"])
        with contextlib.suppress(RuntimeError):  # resumed on another device type: attack starts are reseeded
            self.noise_gen.set_state(state["rng"]["noise"])


@dataclass
class _Data:
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    info: dict[str, Any]


def native_cpu_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AMX or AVX512-BF16), where CPU autocast is about twice as fast
    as float32 for the small CNNs; elsewhere it is emulated and slower."""
    try:
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except AttributeError:  # a torch without these probes
        return False


def cpu_autocast(setting: str) -> bool:
    """Resolve the ``cpu_amp`` setting (``auto``, ``on``, ``off``) on this machine."""
    return setting == "on" or (setting == "auto" and native_cpu_bfloat16())


def load_data(config: TrainConfig, device: torch.device) -> _Data:
    """Both splits on ``device``: subsets drawn, the training view applied once, labels shuffled if asked."""
    train_set = open_dataset(config.data, "train", config.data_dir).subset(config.train_subset, config.seed)
    test_set = open_dataset(config.data, "test", config.data_dir).subset(config.test_subset, config.seed)
    if train_set.image_shape != test_set.image_shape or train_set.num_classes != test_set.num_classes:
        raise FreqlensError(
            f"train and test splits of {config.data!r} differ in image shape or classes: "
            f"{train_set.image_shape}/{train_set.num_classes} vs {test_set.image_shape}/{test_set.num_classes}"
        )
    _, h, w = train_set.image_shape
    for r in config.eval_radii:
        try:
            fourier.check_radius(r, h, w)
        except FreqlensError as exc:
            raise FreqlensError(f"eval_radii: {exc}") from None
    view = View.parse(config.train_view)
    train_x = apply_in_chunks(view, train_set.images.to(device))
    train_y = train_set.labels.to(device)
    if config.shuffle_labels:  # one fixed permutation of the labels: class counts are kept, the pairing is lost
        perm = torch.randperm(len(train_y), generator=torch.Generator().manual_seed(config.seed + 1))
        train_y = train_y[perm.to(device)]
    info = {
        "name": train_set.name,
        "classes": list(train_set.classes),
        "image_shape": list(train_set.image_shape),
        "train_images": len(train_set),
        "test_images": len(test_set),
        "train_view": view.description,
        "augment": parse_augment(config.augment).describe(),
        "shuffled_labels": config.shuffle_labels,
    }
    return _Data(train_x, train_y, test_set.images.to(device), test_set.labels.to(device), info)


def _optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.ndim > 1]  # conv and linear weights
    rest = [p for p in model.parameters() if p.ndim <= 1]  # biases, BN
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    if config.optimizer == "sgd":
        nesterov = config.nesterov and config.momentum > 0
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=nesterov)
    adam = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return adam(groups, lr=config.lr, betas=(config.momentum, 0.999))


def lr_factor(step: int, total: int, warmup: float, schedule: str) -> float:
    """Multiplier of the peak lr at optimizer step ``step`` of ``total``: linear warm-up, then the schedule.

    Example:
        >>> [round(lr_factor(s, 10, 0.2, "triangle"), 3) for s in range(10)]
        [0.5, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125]
    """
    warm = int(warmup * total)
    if step < warm:
        return (step + 1) / warm
    if schedule == "constant":
        return 1.0
    frac = (step - warm) / max(1, total - warm)
    return 1.0 - frac if schedule == "triangle" else 0.5 * (1.0 + math.cos(math.pi * frac))


def _attack(config: TrainConfig) -> Callable[[nn.Module, Tensor, Tensor, torch.Generator], Tensor] | None:
    if config.adversarial == "none":
        return None
    from freqlens.attacks import fgsm, pgd  # looked up per run (tests replace them)

    eps = config.adv_eps
    if config.adversarial == "pgd":
        step = config.adv_step_size if config.adv_step_size is not None else eps / 10
        return lambda model, x, y, gen: pgd(
            model,
            x,
            y,
            eps,
            steps=config.adv_steps,
            step_size=step,
            random_start=config.adv_random_start,
            generator=gen,
        )
    return lambda model, x, y, gen: fgsm(
        model, x, y, eps, random_start=True, step_size=config.adv_step_size, generator=gen
    )


# An epoch whose mean training loss exceeds this many times chance level (ln K for K classes), and is not below the
# previous epoch's (or, in the first epoch, the loss of its first steps), has diverged rather than failed to learn yet.
DIVERGED_OVER_CHANCE = 2.0


def _diverged(what: str, config: TrainConfig, out_dir: Path, done: int) -> FreqlensError:
    """The error of a diverging run. A run that had saved no epoch leaves nothing behind (its config.json goes)."""
    if done:
        kept = f"the checkpoint of epoch {done} is kept in {out_dir}"
    else:
        (out_dir / CONFIG_FILE).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # the folder goes too if it is empty now
            out_dir.rmdir()
        kept = "no epoch had finished, nothing saved"
    return FreqlensError(
        f"training diverged: {what}; {kept}; lower lr (now {config.lr:g}), raise warmup (now {config.warmup:g}) "
        f"or train on more images"
    )


def _check_progress(loss: float, reference: float, classes: int, epoch: int) -> str | None:
    """Why the epoch's mean training loss means divergence (None if it does not): far above chance and not falling.

    Example:
        >>> _check_progress(12.07, 12.07, 10, 1)
        'the mean training loss of epoch 1 is 12.07, far above chance (ln 10 = 2.30), and not falling'
        >>> _check_progress(3.1, 3.4, 10, 1) is None  # still high, but coming down
        True
    """
    chance = math.log(classes)
    if loss > DIVERGED_OVER_CHANCE * chance and loss >= reference:
        return (
            f"the mean training loss of epoch {epoch} is {loss:.2f}, far above chance (ln {classes} = {chance:.2f}), "
            "and not falling"
        )
    return None


def _config_diff(saved: TrainConfig, config: TrainConfig) -> list[str]:
    return [
        f"{f.name}: {getattr(saved, f.name)!r} -> {getattr(config, f.name)!r}"
        for f in dataclasses.fields(config)
        if f.name not in RESUMABLE_CHANGES and getattr(saved, f.name) != getattr(config, f.name)
    ]


def train(
    config: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
    stop_after: int | None = None,
) -> TrainResult:
    """Train ``config`` into ``out_dir`` (see the module docstring for the files).

    Args:
        config: the run.
        out_dir: output folder; one that already holds a checkpoint needs ``resume=True``.
        resume: continue from ``out_dir/checkpoint.pt`` (if it exists); the config must match the saved one.
        progress: show a progress bar with live loss/accuracy and print one line per epoch.
        callbacks: extra per-epoch analyses, run after the built-in ones.
        stop_after: stop (resumably) once this many epochs are done, as if the run had been interrupted there.
    """
    out_dir = Path(out_dir)
    ckpt_path = out_dir / CHECKPOINT_FILE
    if ckpt_path.exists() and not resume:
        raise FreqlensError(f"{out_dir} already holds a training run; resume it (--resume) or choose another --out")
    device = resolve_device(config.device)
    data = load_data(config, device)
    c, h, _ = data.info["image_shape"]
    torch.manual_seed(config.seed)
    model = create_model(config.model, len(data.info["classes"]), c, h, **config.model_kwargs).to(device)
    stats = fit_input_statistics(model, data.train_x)  # normalize="data": the statistics of the view trained on
    if stats is not None:
        data.info["input_statistics"] = {**stats, "from": "training images as trained on (view applied, no augment)"}
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = _optimizer(config, model)
    n = len(data.train_y)
    bs = config.batch_size or auto_batch_size(n)
    steps = math.ceil(n / bs)
    total = steps * config.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, total, config.warmup, config.schedule)
    )
    use_amp = config.amp and (device.type == "cuda" or cpu_autocast(config.cpu_amp))
    amp_dtype = getattr(torch, config.amp_dtype) if device.type == "cuda" else torch.bfloat16
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp and amp_dtype == torch.float16)
    data_gen = torch.Generator().manual_seed(config.seed)  # data order, augmentation, mix-up
    noise_gen = torch.Generator(device=device).manual_seed(config.seed)  # adversarial random starts
    run = _Run(model, optimizer, scheduler, scaler, data_gen, noise_gen)
    metrics: list[dict[str, Any]] = []
    start = 0
    if resume and ckpt_path.exists():
        state = read_file(ckpt_path, "cpu")
        if state.get("format") != CHECKPOINT_FORMAT:
            raise FreqlensError(f"{ckpt_path} is not a freqlens training checkpoint")
        diff = _config_diff(TrainConfig.from_dict(state["config"]), config)
        if diff:
            raise FreqlensError(
                f"{ckpt_path} was written by another config ({'; '.join(diff[:3])}); resume with the same config or "
                "choose another --out"
            )
        run.restore(state)
        metrics, start = list(state["metrics"]), int(state["epoch"])
    provenance.write_json(
        out_dir / CONFIG_FILE,
        {
            "config": config.to_dict(),
            "model": model_spec(model),
            "parameters": sum(p.numel() for p in model.parameters()),
            "batch_size": bs,  # as trained: config.batch_size, or auto_batch_size(n) when that is null
            "data": data.info,
            "provenance": provenance.record(
                fourier.conventions(),
                device,
                torch.float32,
                config.seed,
                amp=str(amp_dtype).replace("torch.", "") if use_amp else None,
                eval_views=(
                    "LFC/HFC of the test images at each of eval_radii"
                    + (", rescaled by their per-image max (HFC code)" if config.eval_normalize else "")
                ),
            ),
        },
    )

    augment = parse_augment(config.augment)
    attack = _attack(config)

    def prepare(x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if config.channels_last else x

    def autocast() -> contextlib.AbstractContextManager[Any]:
        return torch.autocast(device.type, dtype=amp_dtype) if use_amp else contextlib.nullcontext()

    all_callbacks = [*default_callbacks(config), *callbacks]
    classes = len(data.info["classes"])
    first_loss: float | None = None  # mean loss over the first steps of the run (the first progress check)
    for epoch in range(start, config.epochs):
        if stop_after is not None and epoch >= stop_after:
            break
        started = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=data_gen).to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        bar = tqdm(
            range(steps), desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch", leave=False, disable=not progress
        )
        for step in bar:
            idx = order[step * bs : (step + 1) * bs]
            x, y = augment(data.train_x[idx], data_gen), data.train_y[idx]
            if attack is not None:
                with evaluating(model), autocast():
                    x = attack(model, x, y, noise_gen)
            partner, lam = None, 1.0
            if config.mixup_alpha > 0:
                x, partner, lam = mixup(x, y, config.mixup_alpha, data_gen)
            with autocast():
                logits = model(prepare(x))
                loss = F.cross_entropy(logits, y, label_smoothing=config.label_smoothing)
                if partner is not None:
                    partner_loss = F.cross_entropy(logits, partner, label_smoothing=config.label_smoothing)
                    loss = lam * loss + (1 - lam) * partner_loss
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            with torch.no_grad():
                hits = (logits.argmax(dim=1) == y).float()
                if partner is not None:  # mix-up accuracy is measured on the mixed batch, weighted by lam
                    hits = lam * hits + (1 - lam) * (logits.argmax(dim=1) == partner).float()
                loss_sum += loss.detach().float() * len(y)
                correct += hits.sum()
            if (step + 1) % LOG_EVERY == 0 or step + 1 == steps:
                seen = min(n, (step + 1) * bs)
                mean_loss = float(loss_sum) / seen
                if not math.isfinite(mean_loss):
                    what = f"the mean loss became {mean_loss} in epoch {epoch + 1}, step {step + 1}"
                    raise _diverged(what, config, out_dir, len(metrics))
                first_loss = mean_loss if first_loss is None else first_loss
                bar.set_postfix(loss=f"{mean_loss:.3f}", acc=f"{float(correct) / seen:.3f}")
        bar.close()
        train_time = time.perf_counter() - started
        reference = metrics[-1]["train_loss"] if metrics else first_loss
        why = _check_progress(float(loss_sum) / n, math.inf if reference is None else reference, classes, epoch + 1)
        if why is not None:
            raise _diverged(why, config, out_dir, len(metrics))
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "lr": scheduler.get_last_lr()[0],
            "train_loss": float(loss_sum) / n,
            "train_acc": float(correct) / n,
        }
        model.eval()
        ctx = EpochContext(
            epoch + 1, model, config, data.train_x, data.train_y, data.test_x, data.test_y, prepare, autocast
        )
        for callback in all_callbacks:
            record.update(callback(ctx))
        record["train_images_per_s"] = n / train_time
        record["train_time_s"] = train_time
        record["epoch_time_s"] = time.perf_counter() - started
        metrics.append(record)
        _save_epoch(out_dir, config, run, metrics)
        if progress:
            tqdm.write(_summary(record))
    if metrics:
        title = f"{config.model} {json.dumps(config.model_kwargs) if config.model_kwargs else ''} on {config.data}"
        provenance.save_figure(plot_curves(metrics, title), out_dir / CURVES_FILE)
    model.eval()
    return TrainResult(out_dir, model, config, metrics)


def _summary(record: dict[str, Any]) -> str:
    line = (
        f"epoch {record['epoch']}: loss {record['train_loss']:.3f} train {record['train_acc']:.3f} "
        f"test {record['test_acc']:.3f}"
    )
    if "radii" in record:
        low = " ".join(f"{a:.2f}" for a in record["test_lfc_acc"])
        high = " ".join(f"{a:.2f}" for a in record["test_hfc_acc"])
        line += f" | LFC {low} | HFC {high}"
    return line + f" | {record['epoch_time_s']:.0f}s ({record['train_images_per_s']:.0f} img/s)"


def _save_epoch(out_dir: Path, config: TrainConfig, run: _Run, metrics: list[dict[str, Any]]) -> None:
    """Checkpoint first, then the files derived from it, each written atomically."""
    epoch = metrics[-1]["epoch"]
    checkpoint = {"format": CHECKPOINT_FORMAT, **run.state(), "epoch": epoch, "metrics": metrics}
    provenance.save_torch(out_dir / CHECKPOINT_FILE, {**checkpoint, "config": config.to_dict()})
    provenance.write_text(out_dir / METRICS_FILE, "".join(json.dumps(m) + "\n" for m in metrics))
    save_model(run.model, out_dir / MODEL_FILE, config=config.to_dict(), epoch=epoch, metrics=metrics[-1])
