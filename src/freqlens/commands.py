"""The single-analysis commands and ``freqlens train`` as library calls: one-cell runs through the runner.

``freqlens sensitivity``, ``heatmap``, ``evaluate``, ``smooth`` and ``attack`` plan their cells here
(:func:`run_analysis`): the images are opened and every model is loaded and checked first (bad input fails before
anything runs), then the cells run through :func:`freqlens.runner.reproduce` with an
:class:`~freqlens.experiments.audit.Audit` instance. Each result lands in a run folder of the runs root (indexed,
so ``freqlens runs`` lists it) and the report goes to the command's output folder (``freqlens report -o OUT``
rebuilds it). A finished cell is reused: the same arguments do not recompute, a changed model file (its SHA-256 is
in the cell) does.

The reproduction is written into a temporary folder and moved into the output folder only when every cell
succeeded and ``check`` accepted the results, so a failed command leaves no partial output there.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import typer

from freqlens import runs
from freqlens.analyses import get_analysis
from freqlens.audit import ModelSpec, model_label
from freqlens.contract import resolve_device
from freqlens.errors import FreqlensError
from freqlens.executors import InlineExecutor
from freqlens.experiments.audit import Audit, data_config, load_images, load_model, model_config
from freqlens.experiments.base import Cell, Context, Recipe
from freqlens.experiments.training import Training
from freqlens.runner import reproduce
from freqlens.train import TrainConfig
from freqlens.trained import train_key_config, train_label, train_run, train_run_dir


@dataclass(frozen=True)
class CellRun:
    """One finished cell: its model label, run folder and stored summary (metrics, params, conventions, figures,
    the model's source record and what was sampled)."""

    label: str
    run_dir: Path
    summary: dict[str, Any]

    def value(self, name: str) -> Any:
        """The plain value of metric ``name`` (an estimate's value)."""
        metric = self.summary["metrics"][name]
        return metric["value"] if isinstance(metric, dict) and "value" in metric else metric

    def arrays(self) -> dict[str, np.ndarray]:
        """The analysis' arrays, as the run folder stores them."""
        return runs.load_arrays(self.run_dir)

    def figure(self, name: str) -> Path | None:
        """The run folder's PNG of figure ``name`` (None if the analysis drew none)."""
        file = self.summary.get("figures", {}).get(name)
        return None if file is None else self.run_dir / file


def _announce(spec: ModelSpec, info: Mapping[str, Any]) -> None:
    """Warn about untrained weights and print the model's input convention on stderr."""
    if info.get("source") == "registry":
        warnings.warn(
            f"{spec.spec} is evaluated with freshly initialised, untrained weights (seed {spec.seed})", stacklevel=3
        )
    convention = info.get("input", {})
    stats = f" mean {convention['mean']} std {convention['std']}" if "mean" in convention else ""
    typer.echo(f"input of {spec.spec}: [0, 1] pixels; normalize: {convention.get('normalize')}{stats}", err=True)


def _message(error: str) -> str:
    """The one-line message of a failed cell (``cell NAME: FreqlensError: what`` -> ``what``)."""
    line = error.splitlines()[-1]
    return line.split("FreqlensError: ", 1)[-1]


@dataclass(frozen=True)
class ImageRequest:
    """Which images a command reads: a dataset spec (``cifar10``, a folder, ``synthetic:...``) and where it lives,
    the split, ``n`` images drawn under ``seed`` (None: all), and for image folders the size, resize and class index.

    Example:
        >>> ImageRequest("cifar10", n=500).split
        'test'
    """

    data: str
    data_dir: Path | None = None
    split: str = "test"
    n: int | None = None
    seed: int = 0
    image_size: int | None = None
    resize: int | None = None
    class_index: str | Path | None = None


def run_analysis(
    analysis: str,
    models: Sequence[ModelSpec],
    request: ImageRequest,
    params: Mapping[str, Any] | Callable[[Any], Mapping[str, Any]],
    out_dir: Path,
    *,
    runs_root: Path,
    device: str = "cpu",
    progress: bool = True,
    check: Callable[[list[CellRun]], None] | None = None,
    label_param: str | None = None,
) -> tuple[Any, list[CellRun]]:
    """Run analysis ``analysis`` with ``params`` on each model over the requested images (one cell without a
    model for an analysis of the images alone, such as ``datastats``).

    ``params`` may be a function of the images (for values that depend on their size, e.g. ``0.5n`` radii).
    Returns the images (an :class:`~freqlens.data.ImageSet`) and one :class:`CellRun` per model, in order.
    ``label_param`` names the analysis parameter that gets each model's label (for its tables and figures).
    ``check`` may reject the results (raise :class:`FreqlensError`) before anything is written into ``out_dir``.
    """

    needs_model = get_analysis(analysis).needs_model
    if not models and needs_model:
        raise FreqlensError("no model given; pass --model MODEL (repeat for several)")
    if request.n is not None and request.n <= 0:
        raise FreqlensError(f"--limit must be positive, got {request.n}")
    labels = [model_label(m) for m in models]
    if len(set(labels)) != len(labels):
        raise FreqlensError(f"model labels {labels} are not unique; name them with --label")
    r = request
    data_entry = data_config(r.data, r.split, r.n, r.seed, r.image_size, r.resize, r.class_index)
    images = load_images(data_entry, r.data_dir)
    resolved = dict(params(images) if callable(params) else params)
    cells, infos = [], []
    for spec, label in zip(models, labels, strict=True):
        entry = model_config(spec.spec, spec.arch, dict(spec.kwargs), spec.weights, spec.normalize, spec.seed)
        _, info = load_model(entry, images, device)  # one-line errors now: size, output shape, classes, imports
        infos.append(info)
        own = {**resolved, **({label_param: label} if label_param else {})}
        cells.append(Cell(label, {"analysis": analysis, "model": entry, "data": data_entry, "params": own}))
    if not models:  # an analysis of the images alone: one cell, named after the data
        cells.append(Cell(images.name, {"analysis": analysis, "model": None, "data": data_entry, "params": resolved}))
    ctx = Context(Path(runs_root), device=device, data_dir=r.data_dir, progress=progress)

    def announce_and_check(done: list[CellRun]) -> None:
        for spec, info in zip(models, infos, strict=True):
            _announce(spec, info)
        if check is not None:
            check(done)

    return images, _run_cells(Audit(cells), ctx, Path(out_dir), announce_and_check)


def _run_cells(
    recipe: Recipe, ctx: Context, out_dir: Path, check: Callable[[list[CellRun]], None] | None = None
) -> list[CellRun]:
    """Run the recipe's planned cells through the runner into a staging folder; move its summaries and report into
    ``out_dir`` only when every cell succeeded and ``check`` (if any) accepted them."""

    paths = {c.name: runs.run_dir(ctx.runs_root, recipe.name, c.name, c.config) for c in recipe.cells(ctx.profile)}
    reused = [name for name, path in paths.items() if runs.is_done(path)]
    with tempfile.TemporaryDirectory(prefix="freqlens-") as staging:
        result = reproduce([recipe], ctx, InlineExecutor(), Path(staging))
        for outcome in result.outcomes:
            if outcome.errors:
                raise FreqlensError(_message(outcome.errors[0]))
        done = [CellRun(name, path, runs.read_summary(path)) for name, path in paths.items()]
        for name in reused:
            typer.echo(f"{name}: reused the finished run {paths[name]} (delete it to recompute)", err=True)
        if check is not None:
            check(done)
        out_dir.mkdir(parents=True, exist_ok=True)
        for entry_path in Path(staging).iterdir():
            target = out_dir / entry_path.name
            if target.is_dir():
                shutil.rmtree(target)
            shutil.move(str(entry_path), target)
    return done


def run_training(
    config: TrainConfig,
    out_dir: Path,
    *,
    runs_root: Path,
    progress: bool = True,
    stop_after: int | None = None,
) -> tuple[Path, CellRun | None]:
    """Train ``config`` as a one-cell run: into its run folder under ``runs_root`` (``<runs>/train/<label>-<hash>``,
    shared with every recipe that needs the same model; a finished one is reused, an interrupted one resumed), then
    its summary and report into ``out_dir``. Returns the training run folder and the cell (None when ``stop_after``
    stopped the training before its last epoch: running again continues it)."""

    settings = config.to_dict()
    device = str(resolve_device(settings["device"]))
    data_dir = Path(settings["data_dir"]) if settings["data_dir"] else None
    train = train_key_config(settings)
    if runs.is_done(train_run_dir(runs_root, train)):
        typer.echo(
            f"reused the finished training run {train_run_dir(runs_root, train)} (delete it to retrain)", err=True
        )
    path, finished = train_run(train, runs_root, device, data_dir, progress, stop_after)
    if not finished:
        return path, None
    ctx = Context(Path(runs_root), device=device, data_dir=data_dir, progress=progress)
    (done,) = _run_cells(Training([Cell(train_label(train), {"train": train})]), ctx, Path(out_dir))
    return path, done
