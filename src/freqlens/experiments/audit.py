"""The audit recipe: any registered analysis on any model and image set, one run folder per (analysis, model).

It is the one generic way to run :mod:`freqlens.analyses` as run folders (``freqlens audit`` plans its cells; the
single-analysis commands can plan one). Its cells come from the caller (:meth:`Audit.cells` returns the planned cells,
``Audit()`` has none: ``reproduce audit`` runs nothing), and :meth:`Audit.run_cell` depends on the cell config alone,
so a worker process rebuilds the recipe by name and runs any cell.

Cell config (everything that defines the numbers; the device and the data directory come from the Context)::

    {"analysis": "heatmap",                        # a name from freqlens.analyses.list_analyses()
     "model": {"spec": "resnet18",                 # any source freqlens.sources.load_model_source takes
               "arch": None, "kwargs": {"stem": "imagenet"}, "pretrained": False,
               "normalize": "imagenet",            # the input convention (None: the model standardises itself)
               "seed": 0,                          # fresh weights of registry/callable models
               "sha256": None},                    # of the file when spec is a file: a changed file is a new cell
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

import functools
import hashlib
import inspect
import json
import shutil
from pathlib import Path
from typing import Any

import torch

from freqlens.contract import Estimate
from freqlens.errors import FreqlensError
from freqlens.experiments.base import Cell, CellResult, Context, Figure, Recipe, Summary, Table, register_recipe

SKIPPED = "skipped"


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_config(
    spec: str,
    arch: str | None = None,
    kwargs: dict[str, Any] | None = None,
    pretrained: bool = False,
    normalize: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The ``"model"`` entry of a cell; a file spec records its SHA-256."""
    sha = file_sha256(spec) if Path(spec).is_file() else None
    return {
        "spec": spec,
        "arch": arch,
        "kwargs": dict(kwargs or {}),
        "pretrained": pretrained,
        "normalize": normalize,
        "seed": seed,
        "sha256": sha,
    }


def data_config(
    spec: str,
    split: str = "test",
    n: int | None = None,
    seed: int = 0,
    image_size: int | None = None,
    resize: int | None = None,
    class_index: str | Path | None = None,
) -> dict[str, Any]:
    """The ``"data"`` entry of a cell."""
    return {
        "spec": spec,
        "split": split,
        "n": n,
        "seed": seed,
        "image_size": image_size,
        "resize": resize,
        "class_index": None if class_index is None else str(class_index),
    }


@functools.lru_cache(maxsize=2)
def _images(data_json: str, data_dir: str | None) -> Any:
    from freqlens.data import open_images

    d = json.loads(data_json)
    source = open_images(d["spec"], d["split"], data_dir, True, d["image_size"], d["resize"], d["class_index"])
    return source.sample(d["n"], d["seed"]).materialize()


def load_images(data: dict[str, Any], data_dir: Path | None) -> Any:
    """The images a cell's ``"data"`` entry names, decoded once per process (an :class:`~freqlens.data.ImageSet`)."""
    return _images(json.dumps(data, sort_keys=True), None if data_dir is None else str(data_dir))


def load_model(model: dict[str, Any], images: Any, device: str) -> tuple[Any, dict[str, Any]]:
    """The model a cell's ``"model"`` entry names, for ``images``, checked against the recorded file hash."""
    from freqlens.sources import ModelOptions, load_model_source

    if model.get("sha256") is not None:
        now = file_sha256(model["spec"]) if Path(model["spec"]).is_file() else None
        if now != model["sha256"]:
            raise FreqlensError(f"model file {model['spec']} changed since the audit was planned; plan it again")
    kwargs = model.get("kwargs") or {}
    options = ModelOptions(model.get("arch"), kwargs, bool(model.get("pretrained")), model["normalize"])
    net, info = load_model_source(
        model["spec"], images.image_shape, images.num_classes, options, device, int(model.get("seed", 0))
    )
    if not isinstance(net, torch.jit.ScriptModule):
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # NHWC convolutions: ~1.4x on CPU, same values up to rounding
        info["memory_format"] = "channels_last"
    return net, info


def call_analysis(name: str, model: Any, images: Any, params: dict[str, Any], progress: bool) -> Any:
    """Run the registered analysis ``name`` with ``params`` (and ``progress`` when it takes one)."""
    from freqlens.analyses import get_analysis

    spec = get_analysis(name)
    accepted = inspect.signature(spec.run).parameters
    extra: dict[str, Any] = {"progress": progress} if "progress" in accepted and "progress" not in params else {}
    if "classes" in accepted and "classes" not in params and images.classes:
        extra["classes"] = list(images.classes)
    return spec.run(model, images.images, images.labels, **params, **extra)


def skip_reason(name: str, model: Any, images: Any, params: dict[str, Any]) -> str | None:
    """Why analysis ``name`` does not apply to ``model`` (None: it does): kernels without a first ``Conv2d``, feature
    spectra of a model without any spatial feature map (when no layers are named)."""
    try:
        if name == "kernels":
            from freqlens.analyses.kernels import find_conv

            find_conv(model, params.get("layer"))
        elif name == "feature_spectra" and params.get("layers") is None:
            from freqlens.analyses.feature_spectra import default_layers

            default_layers(model, images.images[:2].to(next(iter(model.parameters())).device))
    except FreqlensError as exc:
        return str(exc)
    return None


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
        reason = skip_reason(config["analysis"], model, images, config["params"])
        if reason is not None:
            return {"analysis": config["analysis"], SKIPPED: reason, "model": info, "sampled": sampled}
        result = call_analysis(config["analysis"], model, images, dict(config["params"]), ctx.progress)
        return {**result.save(run_dir), "model": info, "sampled": sampled}

    def summarize(self, results: list[CellResult], out_dir: Path, ctx: Context) -> Summary:
        by_analysis: dict[str, list[CellResult]] = {}
        for r in results:
            by_analysis.setdefault(r.cell.config["analysis"], []).append(r)
        tables, figures, notes = [], [], []
        for analysis, group in by_analysis.items():
            skipped = [(r.cell.name, r.summary[SKIPPED]) for r in group if SKIPPED in r.summary]
            notes += [f"**{analysis}** skipped for {label}: {why}" for label, why in skipped]
            ran = [r for r in group if SKIPPED not in r.summary]
            if not ran:
                continue
            names = list(dict.fromkeys(k for r in ran for k in r.summary.get("metrics", {})))
            rows = [[m, *(_fmt_metric(r.summary["metrics"].get(m)) for r in ran)] for m in names]
            columns = ["metric", *(r.cell.name for r in ran)]
            tables.append(Table(f"{analysis}: metrics (value ± standard error)", columns, rows))
            for r in ran:
                for fig_name, file in r.summary.get("figures", {}).items():
                    target = Path(analysis) / f"{_slug(r.cell.name)}-{file}"
                    (out_dir / target).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(r.run_dir / file, out_dir / target)
                    text = f"{fig_name}: {caption(analysis, r.cell.name, r.summary)}"
                    figures.append(Figure(target.as_posix(), text))
        models = list(dict.fromkeys(r.cell.name for r in results))
        text = (
            f"Models side by side: {', '.join(f'`{m}`' for m in models)}. Every image enters the models in [0, 1]; "
            "filters, basis perturbations and attacks act there, before any input standardisation. Each number is "
            "computed on the images stated under its figure; ± is one standard error (binomial over images for "
            "accuracies and error rates, over images for means)."
        )
        if notes:
            text += "\n\n" + "\n\n".join(notes)
        return Summary(self.name, self.title, (), text=text, figures=figures, tables=tables)


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
