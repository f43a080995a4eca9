"""``freqlens audit`` as one library call: several models, one image set, every analysis, one report.

:func:`plan` opens the images, loads and checks every model on them (bad input fails here, before anything runs),
resolves each analysis' parameters for the image size (:func:`default_params`) and returns the cells of the
:class:`~freqlens.experiments.audit.Audit` recipe. :func:`audit` prints the cost of the heat map (forward passes and
the seconds a timed probe batch predicts), runs the cells through :func:`freqlens.runner.reproduce` (run folders in
the runs root, indexed; finished cells are skipped) and writes ``report.html`` with the models side by side.

Defaults are the analyses' own declarations (``defaults`` and the image counts of
:func:`freqlens.contract.register_analysis`) and scale with the image size: radii at fixed fractions of the Nyquist
radius (:func:`freqlens.radii.default_radii`), the heat map full up to 64x64 and sampled beyond
(:func:`freqlens.analyses.heatmap_plan.default_plan`), its ε through Yin et al.'s two values
(:func:`freqlens.analyses.heatmap.heatmap_eps`), the attacks' ε at a fixed L2 size (:func:`freqlens.attacks.
attack_eps`), and the number of images of the costly analyses (heat map, sensitivity, attacks, feature spectra)
shrinking with the pixel count (:meth:`freqlens.contract.AnalysisSpec.images`), so an audit of a ResNet-18 on 500
images at 224x224 fits in minutes on a CPU.

Example:
    >>> default_params("hfc", 224, 224, 500, 1000)["radii"]
    [28.0, 56.0, 84.0, 112.0]
    >>> default_params("heatmap", 224, 224, 500, 1000)["n"], default_params("heatmap", 32, 32, 500, 10)["n"]
    (24, 64)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import typer

from freqlens.analyses import audit_analyses, get_analysis
from freqlens.analyses.heatmap_plan import cost_line, make_plan, probe_seconds
from freqlens.errors import FreqlensError
from freqlens.executors import InlineExecutor
from freqlens.experiments.audit import Audit, data_config, load_images, load_model, model_config
from freqlens.experiments.base import Cell, Context
from freqlens.radii import parse_radii
from freqlens.runner import reproduce
from freqlens.sources import default_label, parse_model_args

# Every default below is derived from the analyses' own declarations (:func:`freqlens.contract.register_analysis`).
DEFAULT_ANALYSES = audit_analyses()


@dataclass(frozen=True)
class ModelSpec:
    """One model of an audit: its source (any :func:`freqlens.sources.load_model_source` spec) and options;
    ``weights`` as :mod:`freqlens.weights` reads it (None: fresh)."""

    spec: str
    label: str | None = None
    arch: str | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    weights: str | None = None
    normalize: str | None = None
    seed: int = 0


SPEC_OPTIONS = ("weights", "label", "arch", "normalize", "seed")


def parse_model_spec(text: str, defaults: ModelSpec | None = None) -> ModelSpec:
    """``MODEL[,key=value,...]``: a model and its own options, over ``defaults`` (the command line's options).

    The keys ``weights``, ``label``, ``arch``, ``normalize`` and ``seed`` set those fields; any other key is a builder
    argument (as ``--model-arg``). A spec naming an existing file is taken whole.

    Example:
        >>> m = parse_model_spec("torchvision:mobilenet_v2,weights=IMAGENET1K_V1,label=pretrained,width_mult=1.0")
        >>> m.spec, m.weights, m.label, dict(m.kwargs)
        ('torchvision:mobilenet_v2', 'IMAGENET1K_V1', 'pretrained', {'width_mult': 1.0})
    """

    base = defaults or ModelSpec(text)
    if "," not in text or Path(text).exists():
        return replace(base, spec=text)
    spec, *pairs = text.split(",")
    bad = [p for p in pairs if "=" not in p or not p.partition("=")[0].strip()]
    if bad or not spec:
        raise FreqlensError(f"model {text!r}: options after the model must be key=value (e.g. weights=IMAGENET1K_V1)")
    options = dict(p.split("=", 1) for p in pairs)
    fields: dict[str, Any] = {k.strip(): options.pop(k).strip() for k in list(options) if k.strip() in SPEC_OPTIONS}
    if "seed" in fields:
        try:
            fields["seed"] = int(fields["seed"])
        except ValueError:
            raise FreqlensError(f"model {text!r}: seed must be an integer, got {fields['seed']!r}") from None
    if fields.get("weights", "").lower() == "none":
        fields["weights"] = None
    kwargs = {**base.kwargs, **parse_model_args([f"{k.strip()}={v}" for k, v in options.items()])}
    return replace(base, spec=spec, kwargs=kwargs, **fields)


def default_params(
    name: str,
    h: int,
    w: int,
    n: int,
    num_classes: int,
    radii: Sequence[float] | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """The audit's parameters for analysis ``name`` on ``n`` images of ``h`` x ``w`` with ``num_classes`` classes:
    its declared defaults (:meth:`freqlens.contract.AnalysisSpec.default_params`), ``radii`` replacing HFC's."""
    params = get_analysis(name).default_params(h, w, n, num_classes, device)
    if radii and "radii" in params:
        params["radii"] = list(radii)
    return params


def model_label(model: ModelSpec) -> str:
    """The model's name in tables, run folders and figure files: ``--label``, else its source's short name with its
    weights (``torchvision:mobilenet_v2@IMAGENET1K_V1``)."""

    text = model.label or default_label(model.spec)
    if not model.label and model.weights is not None:
        text += "@" + (Path(model.weights).stem if "/" in model.weights or "." in model.weights else model.weights)
    return "".join(c if c.isalnum() or c in "-_.:=@" else "_" for c in text)


def plan(
    models: Sequence[ModelSpec],
    data: str,
    *,
    analyses: Sequence[str] = DEFAULT_ANALYSES,
    n: int | None = 500,
    seed: int = 0,
    split: str = "test",
    image_size: int | None = None,
    resize: int | None = None,
    class_index: str | Path | None = None,
    radii: Sequence[float] | str | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    data_dir: Path | None = None,
    device: str = "cpu",
    labels: str = "dataset",
) -> list[Any]:
    """The audit's cells: one per (analysis, model), models loaded and checked on the images first.

    ``radii`` (cycles per image, or a string such as ``"0.25n,0.5n"``) applies to ``hfc``; ``params`` overrides an
    analysis' defaults (``{"heatmap": {"n": 50}}``); ``labels="predicted"`` audits without labels (each model
    against its own clean predictions).
    """

    if not models:
        raise FreqlensError("no model to audit; name at least one")
    if n is not None and n <= 0:
        raise FreqlensError(f"-n must be a positive number of images, got {n}")
    for name in analyses:
        get_analysis(name)  # unknown names fail here, with the list of known ones
    names = [model_label(m) for m in models]
    if len(set(names)) != len(names):
        raise FreqlensError(f"model labels {names} are not unique; name the models (--label or MODEL,label=NAME)")
    data_entry = data_config(data, split, n, seed, image_size, resize, class_index, labels)
    images = load_images(data_entry, data_dir)
    _, h, w = images.image_shape
    radii_list = parse_radii(radii, h, w) if isinstance(radii, str) else radii
    cells = []
    for model, label in zip(models, names, strict=True):
        entry = model_config(model.spec, model.arch, dict(model.kwargs), model.weights, model.normalize, model.seed)
        load_model(entry, images, device)  # one-line errors now: size, output shape, classes, imports
        for name in analyses:
            resolved = default_params(name, h, w, len(images), images.num_classes, radii_list, device)
            resolved.update((params or {}).get(name, {}))
            cells.append(Cell(label, {"analysis": name, "model": entry, "data": data_entry, "params": resolved}))
    return cells


def print_cost(cells: Sequence[Any], data_dir: Path | None, device: str) -> None:
    """Print, per model, the heat map's plan, forward passes and the time a probe batch predicts (stderr)."""

    for cell in cells:
        if cell.config["analysis"] != "heatmap":
            continue
        images = load_images(cell.config["data"], data_dir)
        model, _ = load_model(cell.config["model"], images, device)
        p = cell.config["params"]
        _, h, w = images.image_shape
        heat = make_plan(h, w, p.get("window"), p.get("stride"))
        count = min(len(images), p.get("n") or len(images))
        seconds = probe_seconds(model, images.images[:8], p.get("batch_size") or 32)
        typer.echo(f"{cell.name}: {cost_line(heat, count, seconds)}", err=True)


def audit(
    models: Sequence[ModelSpec],
    data: str,
    out_dir: Path,
    *,
    runs_root: Path | None = None,
    device: str = "cpu",
    data_dir: Path | None = None,
    progress: bool = True,
    **options: Any,
) -> Any:
    """Plan (:func:`plan`, ``options`` are its keywords), print the heat map's cost, run every cell, write the report
    into ``out_dir``; returns the :class:`~freqlens.runner.Reproduction`. Run folders go to ``runs_root`` (default
    ``out_dir / "runs"``)."""

    cells = plan(models, data, data_dir=data_dir, device=device, **options)
    print_cost(cells, data_dir, device)
    out_dir = Path(out_dir)
    ctx = Context(runs_root or out_dir / "runs", device=device, data_dir=data_dir, progress=progress)
    result = reproduce([Audit(cells)], ctx, InlineExecutor(), out_dir)
    for outcome in result.outcomes:
        if outcome.errors:
            raise FreqlensError(f"the audit failed: {outcome.errors[0].splitlines()[-1]}")
    return result
