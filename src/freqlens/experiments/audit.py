"""The audit recipe: any registered analysis on any model and image set, one run folder per (analysis, model).

It is the one generic way to run :mod:`freqlens.analyses` as run folders (``freqlens audit`` plans its cells; the
single-analysis commands can plan one). Its cells come from the caller (:meth:`Audit.cells` returns the planned cells,
``Audit()`` has none: ``reproduce audit`` runs nothing), and :meth:`Audit.run_cell` depends on the cell config alone,
so a worker process rebuilds the recipe by name and runs any cell.

Cell config (everything that defines the numbers; the device and the data directory come from the Context)::

    {"analysis": "heatmap",                        # a name from freqlens.analyses.list_analyses()
     "model": {"spec": "resnet18",                 # any source freqlens.sources.load_model_source takes
               "arch": None, "kwargs": {"stem": "imagenet"},
               "weights": None,                    # None, a package tag, or a weights file (freqlens.weights)
               "normalize": "imagenet",            # the input convention (None: the model standardises itself)
               "seed": 0,                          # fresh weights of registry/callable models
               "sha256": None},                    # of the file holding the weights: a changed file is a new cell
     "data": {"spec": "path/to/folder", "split": "test", "n": 500, "seed": 0,
              "image_size": 224, "resize": None, "class_index": None},
     "params": {...}}                              # keyword arguments of the analysis, fully resolved

The cell's name is the model's label (display only: not hashed). ``run_cell`` loads the model and the ``n`` images
(``open_images(...).sample(n, seed).materialize()``), runs the analysis, saves its result into the run folder
(``arrays.npz``, one PNG per figure) and returns its summary (metrics, params, conventions, figures) plus the model's
source record and what was sampled. The analysis ``kernels`` needs a first layer that is a ``Conv2d``; for any other
model the cell records ``skipped`` with the reason instead of failing, and so does ``feature_spectra`` for a
model without spatial feature maps.

``summarize`` lays the models side by side per analysis: one table of metrics (value ± standard error, one column
per model) and the figures copied into the recipe's output folder, captioned with what was sampled.
"""

from __future__ import annotations

import csv
import functools
import inspect
import json
import shutil
from pathlib import Path
from typing import Any

import torch

from freqlens.analyses import get_analysis
from freqlens.contract import Estimate
from freqlens.data import ImageSet, open_images
from freqlens.errors import FreqlensError
from freqlens.experiments.base import Cell, CellResult, Context, Figure, Recipe, Summary, Table, register_recipe
from freqlens.sources import ModelOptions, load_model_source, resolve_weights
from freqlens.weights import file_sha256, weights_kind

SKIPPED = "skipped"


def model_config(
    spec: str,
    arch: str | None = None,
    kwargs: dict[str, Any] | None = None,
    weights: str | None = None,
    normalize: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The ``"model"`` entry of a cell: ``weights`` resolved (:func:`freqlens.sources.resolve_weights`), and the
    SHA-256 of the file that holds the weights (the spec's or the weights file), so a changed file is a new cell."""

    weights = resolve_weights(spec, weights)
    holder = spec if Path(spec).is_file() else weights if weights_kind(weights) == "file" else None
    return {
        "spec": spec,
        "arch": arch,
        "kwargs": dict(kwargs or {}),
        "weights": weights,
        "normalize": normalize,
        "seed": seed,
        "sha256": None if holder is None else file_sha256(holder),
    }


LABELS = ("dataset", "predicted")
PREDICTED_NAMES = {"accuracy": "agreement with clean prediction", "error rate": "disagreement with clean prediction"}


def data_config(
    spec: str,
    split: str = "test",
    n: int | None = None,
    seed: int = 0,
    image_size: int | None = None,
    resize: int | None = None,
    class_index: str | Path | None = None,
    labels: str = "dataset",
) -> dict[str, Any]:
    """The ``"data"`` entry of a cell. ``labels``: ``dataset`` (the folders' or the dataset's) or ``predicted`` (each
    model's own clean predictions: a label-free audit; a flat folder of photos is then accepted)."""
    if labels not in LABELS:
        raise FreqlensError(f"--labels must be one of {', '.join(LABELS)}, got {labels!r}")
    return {
        "spec": spec,
        "split": split,
        "n": n,
        "seed": seed,
        "image_size": image_size,
        "resize": resize,
        "class_index": None if class_index is None else str(class_index),
        "labels": labels,
    }


@functools.lru_cache(maxsize=2)
def _images(data_json: str, data_dir: str | None) -> Any:

    d = json.loads(data_json)
    labelled = d.get("labels", "dataset") == "dataset"
    source = open_images(
        d["spec"], d["split"], data_dir, True, d["image_size"], d["resize"], d["class_index"], labelled=labelled
    )
    return source.sample(d["n"], d["seed"]).materialize()


def load_images(data: dict[str, Any], data_dir: Path | None) -> Any:
    """The images a cell's ``"data"`` entry names, decoded once per process (an :class:`~freqlens.data.ImageSet`)."""
    return _images(json.dumps(data, sort_keys=True), None if data_dir is None else str(data_dir))


def load_model(model: dict[str, Any], images: Any, device: str) -> tuple[Any, dict[str, Any]]:
    """The model a cell's ``"model"`` entry names, for ``images``, checked against the recorded file hash."""

    if model.get("sha256") is not None:
        holder = model["spec"] if Path(model["spec"]).is_file() else model["weights"]
        now = file_sha256(holder) if Path(holder).is_file() else None
        if now != model["sha256"]:
            raise FreqlensError(f"model file {holder} changed since the audit was planned; plan it again")
    kwargs = model.get("kwargs") or {}
    options = ModelOptions(model.get("arch"), kwargs, model.get("weights"), model["normalize"])
    net, info = load_model_source(
        model["spec"], images.image_shape, images.num_classes, options, device, int(model.get("seed", 0))
    )
    if not isinstance(net, torch.jit.ScriptModule):
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # NHWC convolutions: ~1.4x on CPU, same values up to rounding
        info["memory_format"] = "channels_last"
    return net, info


def predictions(model: Any, images: Any, device: str, batch_size: int = 64) -> torch.Tensor:
    """The model's clean top-1 class for every image (on the CPU, int64)."""
    out = []
    with torch.no_grad():
        for x, _ in images.batches(batch_size, device):
            out.append(model(x).argmax(dim=1).cpu())
    return torch.cat(out)


def with_predicted_labels(model: Any, images: Any, device: str) -> Any:
    """``images`` labelled by the model's own clean predictions (a label-free audit)."""

    meta = {**images.meta, "labels": "the model's clean top-1 predictions"}
    return ImageSet(images.images, predictions(model, images, device), images.classes, images.name, meta)


def call_analysis(
    name: str, model: Any, images: Any, params: dict[str, Any], progress: bool, predicted: bool = False
) -> Any:
    """Run the registered analysis ``name`` with ``params``, and what it takes of: ``progress``, the class names, the
    data's name, the image file names, and (``predicted``: labels are the model's clean predictions) the names of
    its scores as agreement with the clean prediction."""

    spec = get_analysis(name)
    accepted = inspect.signature(spec.run).parameters
    offered: dict[str, Any] = {"progress": progress, "dataset": images.name, "names": images.meta.get("files")}
    if images.classes:
        offered["classes"] = list(images.classes)
    if predicted and "score_name" in accepted:
        offered["score_name"] = PREDICTED_NAMES[accepted["score_name"].default]
    extra = {k: v for k, v in offered.items() if k in accepted and k not in params and v is not None}
    return spec.run(model, images.images, images.labels, **params, **extra)


PER_IMAGE_ROWS = 64  # images listed in the report (images.csv has all)


def per_image(model: Any, images: Any, run_dir: Path, device: str) -> dict[str, list[Any]]:
    """Each image's file name, label and the model's clean prediction, written to ``images.csv`` in ``run_dir``."""
    files = images.meta.get("files") or [f"#{i}" for i in range(len(images))]
    labels = images.labels.tolist()
    pred = predictions(model, images, device).tolist()
    classes = images.classes
    pred_names = [classes[p] if p < len(classes) else str(p) for p in pred]
    with open(run_dir / "images.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "label", "label_name", "prediction", "prediction_name"])
        for f, y, p, name in zip(files, labels, pred, pred_names, strict=True):
            writer.writerow([f, y, classes[y], p, name])
    return {
        "files": list(files),
        "labels": labels,
        "classes": [classes[y] for y in labels],
        "pred": pred,
        "pred_names": pred_names,
    }


def _fmt_metric(value: Any) -> str:
    if isinstance(value, dict) and "value" in value:
        return str(Estimate.from_dict(value))
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def caption(analysis: str, label: str, summary: dict[str, Any]) -> str:
    """A figure caption: the model, the analysis, what was sampled and the conventions that matter for reading it."""
    sampled = summary.get("sampled", {})
    conv = summary.get("conventions", {})
    parts = [f"**{label}** — {analysis}."]
    parts.append(
        f"Images: {sampled.get('images', '?')} of `{sampled.get('data', '?')}` ({sampled.get('shape', '?')}), "
        f"drawn under seed {sampled.get('seed', 0)}."
    )
    for key in ("heatmap_sampling", "target", "attack", "bands", "definition", "image_subsample"):
        if key in conv:
            parts.append(f"{key.replace('_', ' ')}: {conv[key]}.")
    model_input = summary.get("model", {}).get("input", {})
    if model_input:
        parts.append(f"Input: [0, 1] pixels, normalize {model_input.get('normalize', '?')}.")
    return " ".join(parts)


@register_recipe
class Audit(Recipe):
    """Registered analyses on the caller's models and images (cells planned by :mod:`freqlens.audit`)."""

    name = "audit"
    title = "Audit: how the models use the frequencies of their input"
    in_all = False

    def __init__(self, cells: list[Cell] | None = None) -> None:
        self._cells = list(cells or [])

    def cells(self, profile: str) -> list[Cell]:
        return list(self._cells)

    def trainings(self, cell: Cell) -> list[dict[str, Any]]:
        return []

    def run_cell(self, cell: Cell, run_dir: Path, ctx: Context) -> dict[str, Any]:
        config = cell.config
        images = load_images(config["data"], ctx.data_dir)
        model, info = (None, {}) if config["model"] is None else load_model(config["model"], images, ctx.device)
        sampled = {
            "data": config["data"]["spec"],
            "images": len(images),
            "shape": list(images.image_shape),
            "classes": images.num_classes,
            "seed": config["data"]["seed"],
        }
        predicted = config["data"].get("labels") == "predicted"
        if predicted and model is not None:
            images = with_predicted_labels(model, images, ctx.device)
            sampled["labels"] = "predicted"
        reason = get_analysis(config["analysis"]).skip_reason(model, images, config["params"])
        if reason is not None:
            return {"analysis": config["analysis"], SKIPPED: reason, "model": info, "sampled": sampled}
        result = call_analysis(config["analysis"], model, images, dict(config["params"]), ctx.progress, predicted)
        summary = {**result.save(run_dir), "model": info, "sampled": sampled}
        if config["analysis"] == "hfc" and model is not None:
            summary["per_image"] = per_image(model, images, run_dir, ctx.device)
        return summary

    def summarize(self, results: list[CellResult], out_dir: Path, ctx: Context) -> Summary:
        by_analysis: dict[str, list[CellResult]] = {}
        for r in results:
            by_analysis.setdefault(r.cell.config["analysis"], []).append(r)
        predicted = any(r.cell.config["data"].get("labels") == "predicted" for r in results)
        tables, figures, notes = [], [], []
        for analysis, group in by_analysis.items():
            skipped = [(r.cell.name, r.summary[SKIPPED]) for r in group if SKIPPED in r.summary]
            notes += [f"**{analysis}** skipped for {label}: {why}" for label, why in skipped]
            ran = [r for r in group if SKIPPED not in r.summary]
            if not ran:
                continue
            names = list(dict.fromkeys(k for r in ran for k in r.summary.get("metrics", {})))
            rows = [
                [_score_name(m, predicted), *(_fmt_metric(r.summary["metrics"].get(m)) for r in ran)] for m in names
            ]
            columns = ["metric", *(r.cell.name for r in ran)]
            tables.append(Table(f"{analysis}: metrics (value ± standard error)", columns, rows))
            if analysis == "hfc" and all("per_image" in r.summary for r in ran):
                tables.append(_per_image_table(ran, predicted))
            kinds = list(dict.fromkeys(k for r in ran for k in r.summary.get("figures", {})))
            for kind in kinds:  # one folder per kind of figure: the report shows its models side by side
                for r in ran:
                    file = r.summary.get("figures", {}).get(kind)
                    if file is None:
                        continue
                    shown = _score_name(kind, predicted)
                    target = Path(analysis) / shown / f"{_slug(r.cell.name)}{Path(file).suffix}"
                    (out_dir / target).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(r.run_dir / file, out_dir / target)
                    text = f"{shown}: {caption(analysis, r.cell.name, r.summary)}"
                    figures.append(Figure(target.as_posix(), text))
        models = list(dict.fromkeys(r.cell.name for r in results))
        data = results[0].cell.config["data"]["spec"] if results else "?"
        score = (
            "Labels: none were given; each model is scored against its own clean top-1 prediction, so every score "
            "reads as agreement with clean prediction (1 on the clean images by construction)."
            if predicted
            else "± is one standard error (binomial over images for accuracies and error rates, over images for means)."
        )
        text = (
            f"Models side by side: {', '.join(f'`{m}`' for m in models)}, on `{data}`. Every image enters the models "
            "in [0, 1]; filters, basis perturbations and attacks act there, before any input standardisation. Each "
            f"number is computed on the images stated under its figure. {score}"
        )
        if notes:
            text += "\n\n" + "\n\n".join(notes)
        return Summary(self.name, self.title, (), text=text, figures=figures, tables=tables)


def _score_name(metric: str, predicted: bool) -> str:
    """A metric's name in the report: accuracies and errors read as (dis)agreement when labels are predictions."""
    if not predicted:
        return metric
    return metric.replace("accuracy", "agreement").replace("error", "disagreement")


def _per_image_table(ran: list[CellResult], predicted: bool) -> Table:
    """Each image's file, label and every model's clean prediction (``images.csv`` of each hfc run has them all)."""
    first = ran[0].summary["per_image"]
    columns = ["image", *([] if predicted else ["label"]), *(f"{r.cell.name}: clean prediction" for r in ran)]
    rows = [
        [file, *([] if predicted else [first["classes"][i]]), *(r.summary["per_image"]["pred_names"][i] for r in ran)]
        for i, file in enumerate(first["files"][:PER_IMAGE_ROWS])
    ]
    shown = min(len(first["files"]), PER_IMAGE_ROWS)
    return Table(f"images ({shown} of {len(first['files'])} shown; all in each hfc run's images.csv)", columns, rows)


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
