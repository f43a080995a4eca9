"""The single-analysis commands as library calls: one cell of the audit recipe per model, run by the runner.

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
from freqlens.audit import ModelSpec, model_label
from freqlens.errors import FreqlensError


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


def run_analysis(
    analysis: str,
    models: Sequence[ModelSpec],
    data: str,
    params: Mapping[str, Any] | Callable[[Any], Mapping[str, Any]],
    out_dir: Path,
    *,
    runs_root: Path,
    device: str = "cpu",
    data_dir: Path | None = None,
    progress: bool = True,
    n: int | None = None,
    seed: int = 0,
    split: str = "test",
    image_size: int | None = None,
    resize: int | None = None,
    class_index: str | Path | None = None,
    check: Callable[[list[CellRun]], None] | None = None,
    label_param: str | None = None,
) -> tuple[Any, list[CellRun]]:
    """Run analysis ``analysis`` with ``params`` on each model over ``n`` images drawn under ``seed``.

    ``params`` may be a function of the images (for values that depend on their size, e.g. ``0.5n`` radii).
    Returns the images (an :class:`~freqlens.data.ImageSet`) and one :class:`CellRun` per model, in order.
    ``label_param`` names the analysis parameter that gets each model's label (for its tables and figures).
    ``check`` may reject the results (raise :class:`FreqlensError`) before anything is written into ``out_dir``.
    """
    from freqlens.analyses import get_analysis
    from freqlens.executors import InlineExecutor
    from freqlens.experiments.audit import Audit, data_config, load_images, load_model, model_config
    from freqlens.experiments.base import Cell, Context
    from freqlens.runner import reproduce

    get_analysis(analysis)
    if not models:
        raise FreqlensError("no model given; pass --model MODEL (repeat for several)")
    if n is not None and n <= 0:
        raise FreqlensError(f"--limit must be positive, got {n}")
    labels = [model_label(m) for m in models]
    if len(set(labels)) != len(labels):
        raise FreqlensError(f"model labels {labels} are not unique; name them with --label")
    data_entry = data_config(data, split, n, seed, image_size, resize, class_index)
    images = load_images(data_entry, data_dir)
    resolved = dict(params(images) if callable(params) else params)
    cells, infos = [], []
    for spec, label in zip(models, labels, strict=True):
        entry = model_config(spec.spec, spec.arch, dict(spec.kwargs), spec.pretrained, spec.normalize, spec.seed)
        _, info = load_model(entry, images, device)  # one-line errors now: size, output shape, classes, imports
        infos.append(info)
        own = {**resolved, **({label_param: label} if label_param else {})}
        cells.append(Cell(label, {"analysis": analysis, "model": entry, "data": data_entry, "params": own}))
    ctx = Context(Path(runs_root), device=device, data_dir=data_dir, progress=progress)
    with tempfile.TemporaryDirectory(prefix="freqlens-") as staging:
        result = reproduce([Audit(cells)], ctx, InlineExecutor(), Path(staging))
        for outcome in result.outcomes:
            if outcome.errors:
                raise FreqlensError(_message(outcome.errors[0]))
        for spec, info in zip(models, infos, strict=True):
            _announce(spec, info)
        done = [
            CellRun(c.name, path, runs.read_summary(path))
            for c in cells
            for path in [runs.run_dir(ctx.runs_root, Audit.name, c.name, c.config)]
        ]
        if check is not None:
            check(done)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for entry_path in Path(staging).iterdir():
            target = out_dir / entry_path.name
            if target.is_dir():
                shutil.rmtree(target)
            shutil.move(str(entry_path), target)
    return images, done
