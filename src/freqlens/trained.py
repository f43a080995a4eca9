"""Shared trained models: a training configuration is a cached run under ``<runs root>/train/``.

Recipes (through :meth:`freqlens.experiments.Context.trained_model`) and the runner ask for a model by its training
configuration; it is trained once into its run folder (keyed by the hash of the resolved config, device and data
directory excluded) and loaded from there afterwards. Interrupted training resumes from the loop's own per-epoch
checkpoint. Takes plain arguments, not a recipe context, so it sits below the recipes.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freqlens import runs
from freqlens.errors import FreqlensError

if TYPE_CHECKING:
    from torch import nn

# Training-config fields that say where or how fast a model is trained, not which model: left out of the hash.
MACHINE_FIELDS = ("device", "data_dir")


def train_key_config(train_config: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved training config as hashed: every ``TrainConfig`` field except the machine-specific ones.

    A ``callbacks`` entry (names of extra per-epoch analyses in :mod:`freqlens.train.callbacks`, e.g.
    ``["eval_train_lfc"]``) is kept: it changes what the run records.
    """
    from freqlens.train import TrainConfig

    config = dict(train_config)
    extra = [str(name) for name in config.pop("callbacks", [])]
    resolved = TrainConfig.from_dict(config).to_dict()
    key = {k: v for k, v in resolved.items() if k not in MACHINE_FIELDS}
    return {**key, "callbacks": extra} if extra else key


def training_callbacks(names: list[str]) -> list[Any]:
    """The functions of :mod:`freqlens.train.callbacks` called ``names``."""
    from freqlens.train import callbacks

    found = []
    for name in names:
        fn = getattr(callbacks, name, None)
        if not callable(fn) or name.startswith("_"):
            raise FreqlensError(f"unknown training callback {name!r}; name a function of freqlens.train.callbacks")
        found.append(fn)
    return found


def train_label(key_config: Mapping[str, Any]) -> str:
    """A readable name for a training run: the model and what differs from plain training.

    Example:
        >>> train_label({"model": "small_cnn", "model_kwargs": {"batchnorm": True}, "train_view": "lfc:8:max"})
        'small_cnn-bn-lfc8max'
    """
    kwargs = key_config.get("model_kwargs", {})
    parts = [str(key_config["model"])]
    parts += [tag for key, tag in (("batchnorm", "bn"), ("linear", "linear")) if kwargs.get(key)]
    parts += [f"{key}{kwargs[key]:g}" for key in ("dropout", "depth") if kwargs.get(key)]
    if key_config.get("train_view", "original") != "original":
        parts.append(str(key_config["train_view"]))
    if key_config.get("shuffle_labels"):
        parts.append("shuffled")
    if key_config.get("mixup_alpha"):
        parts.append("mixup")
    if key_config.get("adversarial", "none") != "none":
        parts.append(str(key_config["adversarial"]))
    if key_config.get("weight_decay"):
        parts.append(f"wd{key_config['weight_decay']:g}")
    return "-".join(parts).replace(":", "").replace("/", "_")


def train_run_dir(root: Path, train_config: Mapping[str, Any]) -> Path:
    """The run folder of a training configuration: ``<root>/train/<label>-<hash12>``."""
    key_config = train_key_config(train_config)
    return runs.run_dir(root, runs.TRAIN_KIND, train_label(key_config), key_config)


def train_run(
    train_config: Mapping[str, Any],
    runs_root: Path,
    device: str = "cpu",
    data_dir: Path | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> tuple[Path, bool]:
    """Train the configured model into its run folder unless a finished run exists; return the folder and whether
    the run is finished (False only when ``stop_after`` stopped it early; running again continues it).

    ``device`` and ``data_dir`` are not part of the hash, so a model trained on one machine is reused on another.
    Interrupted training (or a run whose ``summary.json`` is damaged) resumes from the loop's per-epoch checkpoint;
    one that fails before its first epoch leaves no run folder behind.
    """
    key_config = train_key_config(train_config)
    path = train_run_dir(runs_root, train_config)
    if runs.is_done(path):
        return path, True
    try:
        return _train_locked(path, key_config, device, data_dir, progress, stop_after)
    except Exception:
        if not (path / runs.TRAIN_KIND / "checkpoint.pt").is_file():  # failed before its first epoch: leave nothing
            shutil.rmtree(path, ignore_errors=True)
        raise


def _train_locked(
    path: Path,
    key_config: dict[str, Any],
    device: str,
    data_dir: Path | None,
    progress: bool,
    stop_after: int | None,
) -> tuple[Path, bool]:
    from freqlens.train import TrainConfig, train

    with runs.locked(path):
        if runs.is_done(path):  # another process finished it while this one waited for the lock
            return path, True
        fields = {k: v for k, v in key_config.items() if k != "callbacks"}
        machine = {"device": device, "data_dir": str(data_dir) if data_dir else None}
        config = TrainConfig.from_dict({**fields, **machine})
        if runs.read_config(path) is None:  # new, or its config.json was damaged
            runs.start_run(path, runs.TRAIN_KIND, path.name.rsplit("-", 1)[0], key_config, device)
        started = time.perf_counter()
        result = train(
            config,
            path / runs.TRAIN_KIND,
            resume=True,
            progress=progress,
            callbacks=training_callbacks(key_config.get("callbacks", [])),
            stop_after=stop_after,
        )
        if len(result.metrics) < config.epochs:
            return path, False
        runs.finish_run(path, {"final": result.final, "epochs": len(result.metrics)}, started)
    return path, True


def ensure_trained(
    train_config: Mapping[str, Any],
    runs_root: Path,
    device: str = "cpu",
    data_dir: Path | None = None,
    progress: bool = True,
) -> tuple[nn.Module, Path]:
    """:func:`train_run`, then the trained model loaded on ``device`` in eval mode, and its run folder."""
    from freqlens.checkpoint import load_model

    path, _ = train_run(train_config, runs_root, device, data_dir, progress)
    model, _ = load_model(path / runs.TRAIN_KIND / "model.pt", device=device)
    return model.eval(), path
