"""The analysis contract: how every analysis meets a model, and the one result type they all return.

Every analysis (HFC evaluation, sensitivity, heat map, data statistics, kernels, defence, perturbation spectra, and
the ones to come) goes through the same few functions here, so that they agree on:

* **placement** — inputs move batch by batch to the model's device and floating dtype (:func:`placement`);
* **mode** — the model runs in eval mode and every submodule gets its own mode back afterwards, so a deliberately
  frozen BatchNorm inside a training model stays frozen (:func:`evaluating`);
* **precision** — float32 unless ``amp=True``; then autocast to float16 on CUDA and bfloat16 elsewhere
  (:func:`autocast`); the result records which;
* **sampling** — ``n`` images means *n drawn at random without replacement under a seed, kept in index order*, the
  same draw everywhere (:func:`subsample_indices`);
* **batching and progress** — :func:`batch_slices` with one tqdm bar, off with ``progress=False``;
* **results** — :class:`AnalysisResult`: summary numbers (each a :class:`freqlens.stats.Estimate` with its
  uncertainty where it has one), arrays, figures and conventions; a run folder, the report and the CLI all read it
  the same way.

Analyses register themselves with :func:`register_analysis`, and the contract tests are generated from that registry.

Example:
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    >>> _ = model[1].eval()                   # a frozen BatchNorm inside a model in training mode
    >>> with evaluating(model):
    ...     model.training
    False
    >>> model.training, model[1].training    # restored per submodule
    (True, False)
    >>> Estimate.proportion(45, 100).value
    0.45
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from freqlens.errors import FreqlensError
from freqlens.stats import Estimate

# ---------------------------------------------------------------------------------------------------------- devices


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """A torch device from ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if spec is None or spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except (RuntimeError, TypeError):
        raise FreqlensError(f"unknown device {spec!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise FreqlensError(f"device {spec!r} asked for but CUDA is not available here; use --device cpu")
    return device


def placement(model: Callable[[Tensor], Tensor], like: Tensor | None = None) -> tuple[torch.device, torch.dtype]:
    """Device and floating dtype inputs must have for ``model``.

    Those of the model's first floating parameter or buffer; for a plain function (or a module without floating
    tensors) those of ``like``, else CPU float32.

    Example:
        >>> placement(torch.nn.Linear(2, 2).double())
        (device(type='cpu'), torch.float64)
    """
    if isinstance(model, nn.Module):
        for tensor in (*model.parameters(), *model.buffers()):
            if tensor.is_floating_point():
                return tensor.device, tensor.dtype
    if like is not None and like.is_floating_point():
        return like.device, like.dtype
    return torch.device("cpu"), torch.float32


@contextlib.contextmanager
def evaluating(model: Callable[[Tensor], Tensor]) -> Iterator[None]:
    """Run the block with ``model`` in eval mode, then give every submodule back its own mode.

    ``model.train(was_training)`` would not do: it would switch a deliberately frozen BatchNorm back to training.
    Plain functions are left alone.
    """
    modes = [(m, m.training) for m in model.modules()] if isinstance(model, nn.Module) else []
    if isinstance(model, nn.Module):
        model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def amp_dtype(device: torch.device) -> torch.dtype:
    """The low precision autocast uses on ``device``: float16 on CUDA, bfloat16 elsewhere."""
    return torch.float16 if device.type == "cuda" else torch.bfloat16


def autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager[Any]:
    """The one precision rule of the analyses: float32 unless ``amp``; then autocast to :func:`amp_dtype`."""
    if not amp:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=amp_dtype(device))


def precision_name(device: torch.device, amp: bool, dtype: torch.dtype = torch.float32) -> str:
    """How an analysis computed, for its conventions: ``"float32"`` or ``"bfloat16 autocast"``."""
    return f"{str(amp_dtype(device)).replace('torch.', '')} autocast" if amp else str(dtype).replace("torch.", "")


# --------------------------------------------------------------------------------------------- sampling, batching


def subsample_indices(total: int, n: int | None, seed: int = 0, *, ordered: bool = True) -> Tensor | None:
    """Indices of ``n`` of ``total`` items drawn without replacement under ``seed``, in increasing order.

    ``None`` (take everything) when ``n`` is None or at least ``total``. Every analysis, recipe and training subset
    draws its images with this function, so the same ``n`` and seed always select the same images. ``ordered=False``
    keeps them in the order drawn: the training loop's subsets (:meth:`freqlens.data.ImageSet.subset`), whose order
    the per-epoch shuffles index into.

    Example:
        >>> subsample_indices(10, 3, seed=0).tolist() == subsample_indices(10, 3, seed=0).tolist()
        True
        >>> subsample_indices(10, None) is None
        True
    """
    if n is None or n >= total:
        return None
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise FreqlensError(f"the number of images must be a positive integer, got {n!r}")
    generator = torch.Generator().manual_seed(int(seed))
    drawn = torch.randperm(total, generator=generator)[:n]
    return drawn.sort().values if ordered else drawn


def subsample(images: Tensor, labels: Tensor, n: int | None, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``images`` and ``labels`` restricted to :func:`subsample_indices` (unchanged when it takes everything)."""
    index = subsample_indices(images.shape[0], n, seed)
    return (images, labels) if index is None else (images[index], labels[index])


def check_batch_size(batch_size: int) -> int:
    """``batch_size`` if it is a positive integer, else a :class:`FreqlensError`."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise FreqlensError(f"batch size must be a positive integer, got {batch_size!r}")
    return batch_size


def count_correct(model: Callable[[Tensor], Tensor], x: Tensor, y: Tensor, batch_size: int = 500) -> int:
    """How many of ``x`` the model classifies as ``y`` (eval mode, each submodule's mode restored; no gradients),
    in batches on the model's device and dtype."""
    device, dtype = placement(model, x)
    correct = 0
    with evaluating(model), torch.inference_mode():
        for part in batch_slices(x.shape[0], batch_size, desc="accuracy", progress=False):
            correct += int((model(x[part].to(device, dtype)).argmax(1) == y[part].to(device)).sum())
    return correct


def batch_slices(n: int, batch_size: int, *, desc: str, progress: bool = True, unit: str = "img") -> Iterator[slice]:
    """Consecutive slices of ``range(n)`` of at most ``batch_size`` items, with one progress bar counting items.

    Example:
        >>> [(s.start, s.stop) for s in batch_slices(5, 2, desc="demo", progress=False)]
        [(0, 2), (2, 4), (4, 5)]
    """
    check_batch_size(batch_size)
    with tqdm(total=n, desc=desc, unit=unit, unit_scale=True, disable=not progress, leave=False) as bar:
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            yield slice(start, stop)
            bar.update(stop - start)


Metric = Estimate | float | int | str | bool | None


def metric_value(metric: Metric | Mapping[str, Any]) -> Any:
    """The plain value of a metric, whether an :class:`Estimate`, its dict form, or a plain number/string."""
    if isinstance(metric, Estimate):
        return metric.value
    if isinstance(metric, Mapping) and "value" in metric and "stderr" in metric:
        return metric["value"]
    return metric


# -------------------------------------------------------------------------------------------------------- results


FigureFactory = Callable[[], Any]  # returns a matplotlib Figure when called


@dataclass
class AnalysisResult:
    """What every analysis returns.

    ``metrics``: named summary numbers (an :class:`Estimate` wherever the number has sampling noise).
    ``arrays``: named arrays (maps, curves, per-image values), saved as ``arrays.npz``.
    ``figures``: named figure factories, drawn only when saved (``<name>.png``).
    ``conventions``: everything a reader needs to reproduce the numbers (FFT norm, mask, precision, device, ...).
    ``params``: the analysis' resolved parameters (radii, eps, n, seed, ...).
    ``details``: other JSON-able structured output (tables, ranked image lists).

    Example:
        >>> r = AnalysisResult("demo", metrics={"accuracy": Estimate.proportion(9, 10)}, params={"n": 10})
        >>> r.summary()["metrics"]["accuracy"]["value"]
        0.9
        >>> r.value("accuracy")
        0.9
    """

    analysis: str
    metrics: dict[str, Metric] = field(default_factory=dict)
    arrays: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, FigureFactory] = field(default_factory=dict)
    conventions: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def value(self, name: str) -> Any:
        """The plain value of metric ``name``."""
        if name not in self.metrics:
            raise FreqlensError(f"{self.analysis} has no metric {name!r}; it has {', '.join(self.metrics) or 'none'}")
        return metric_value(self.metrics[name])

    def summary(self, figure_files: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The JSON-able summary a run folder stores: metrics (estimates as dicts), params, conventions, details."""
        return {
            "analysis": self.analysis,
            "metrics": {k: v.to_dict() if isinstance(v, Estimate) else v for k, v in self.metrics.items()},
            "params": dict(self.params),
            "conventions": dict(self.conventions),
            "details": dict(self.details),
            "figures": dict(figure_files or {}),
            "arrays": sorted(self.arrays),
        }

    def numpy_arrays(self) -> dict[str, np.ndarray]:
        """The arrays as numpy (tensors detached and moved to the CPU)."""
        return {
            k: (v.detach().cpu().numpy() if isinstance(v, Tensor) else np.asarray(v)) for k, v in self.arrays.items()
        }

    def save(self, directory: Path, prefix: str = "") -> dict[str, Any]:
        """Write ``arrays.npz`` and one PNG per figure into ``directory`` (atomically); return :meth:`summary`.

        ``prefix`` namespaces the files when several results share one folder (e.g. one per model in an audit).
        """
        from freqlens import provenance

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = self.numpy_arrays()
        if arrays:

            def write(tmp: Path) -> None:
                with open(tmp, "wb") as fh:
                    np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]

            provenance._atomic(directory / f"{prefix}arrays.npz", write)
        files = {}
        for name, factory in self.figures.items():
            fig = factory()
            if fig is not None:
                files[name] = provenance.save_figure(fig, directory / f"{prefix}{name}.png").name
        return self.summary(files)


# -------------------------------------------------------------------------------------------------------- registry


# An analysis as the registry holds it: ``run(model, images, labels, **params) -> AnalysisResult``.
Analysis = Callable[..., AnalysisResult]
AnalysisFn = TypeVar("AnalysisFn", bound=Analysis)


# Why an analysis does not apply: ``applies(model, images, params) -> reason | None`` (None: it applies).
Applies = Callable[[Any, Any, Mapping[str, Any]], "str | None"]
# Size-aware parameters: ``defaults(h, w, classes, device) -> params`` for images of h x w with that many classes.
Defaults = Callable[[int, int, int, str], dict[str, Any]]


@dataclass(frozen=True)
class AnalysisSpec:
    """A registered analysis: its name, its function, what it needs, tiny parameters for the contract tests, and how
    the audit uses it.

    ``audit_order``: its place in the default audit (None: not in it). ``images_at_224`` / ``max_images``: the images
    the audit gives it at 224x224 (scaled by 224^2 / (H W) at other sizes) and at most (None: all of ``-n``).
    ``applies``: why it does not apply to a model (None: always applies). ``defaults``: its size-aware parameters
    (:meth:`default_params` adds the image count).
    """

    name: str
    run: Callable[..., AnalysisResult]  # an :class:`Analysis`, with its own keyword parameters
    description: str
    needs_model: bool = True
    test_params: Mapping[str, Any] = field(default_factory=dict)
    audit_order: int | None = None
    images_at_224: int | None = None
    max_images: int | None = None
    applies: Applies | None = None
    defaults: Defaults | None = None

    def images(self, h: int, w: int, n: int) -> int | None:
        """The images it takes of ``n`` at ``h`` x ``w``: :attr:`images_at_224` scaled by 224^2 / (H W), never
        fewer, capped by :attr:`max_images` and ``n`` (None: no count declared, all ``n``).

        Example:
            >>> spec = AnalysisSpec("demo", lambda *a: AnalysisResult("demo"), "", images_at_224=24, max_images=64)
            >>> spec.images(224, 224, 500), spec.images(32, 32, 500), spec.images(32, 32, 10)
            (24, 64, 10)
        """
        if self.images_at_224 is None:
            return None
        base = self.images_at_224
        return min(n, self.max_images or n, max(base, round(base * 224 * 224 / (h * w))))

    def default_params(self, h: int, w: int, n: int, classes: int, device: str = "cpu") -> dict[str, Any]:
        """Its one set of default parameters for ``n`` images of ``h`` x ``w`` with ``classes`` classes."""
        params = dict(self.defaults(h, w, classes, device)) if self.defaults else {}
        count = self.images(h, w, n)
        return params if count is None else {"n": count, **params}

    def skip_reason(self, model: Any, images: Any, params: Mapping[str, Any]) -> str | None:
        """Why this analysis does not apply to ``model`` on ``images`` (None: it does)."""
        if self.applies is None:
            return None
        try:
            return self.applies(model, images, params)
        except FreqlensError as exc:
            return str(exc)


_ANALYSES: dict[str, AnalysisSpec] = {}


def register_analysis(
    name: str,
    description: str,
    *,
    needs_model: bool = True,
    test_params: Mapping[str, Any] | None = None,
    audit_order: int | None = None,
    images_at_224: int | None = None,
    max_images: int | None = None,
    applies: Applies | None = None,
    defaults: Defaults | None = None,
) -> Callable[[AnalysisFn], AnalysisFn]:
    """Decorator adding ``fn(model, images, labels, **params) -> AnalysisResult`` to the analysis registry.

    ``test_params`` are the parameters the generated contract tests call it with on tiny 8x8 inputs; the other
    keywords are :class:`AnalysisSpec`'s fields.
    """

    def add(fn: AnalysisFn) -> AnalysisFn:
        if name in _ANALYSES and _ANALYSES[name].run is not fn:
            raise FreqlensError(f"analysis {name!r} is registered twice")
        _ANALYSES[name] = AnalysisSpec(
            name,
            fn,
            description,
            needs_model,
            dict(test_params or {}),
            audit_order,
            images_at_224,
            max_images,
            applies,
            defaults,
        )
        return fn

    return add


def registered_analyses() -> dict[str, AnalysisSpec]:
    """The analyses registered so far, by name (:func:`freqlens.analyses.list_analyses` imports the built-in ones
    first)."""
    return dict(_ANALYSES)


def subsample_note(count: int, seed: int) -> str:
    """The one provenance text of a random image subsample, for an analysis' conventions.

    Example:
        >>> subsample_note(64, 0)
        '64 drawn at random with seed 0, in index order'
    """
    return f"{count} drawn at random with seed {seed}, in index order"
