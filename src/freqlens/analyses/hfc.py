"""Which images a model reads through their high frequencies (Wang et al. 2020, Fig. 2 and the test-set sweeps).

For every radius r of a sweep, each image x is split into its low-frequency component x_l (centred disk ``|k| < r``)
and its high-frequency component x_h = x - x_l, and the model classifies x, x_l and x_h. We record accuracy and mean
confidence (the softmax probability of the predicted class) per view and per class, and the *HFC-explained* images:
those the model gets right on x and on x_h but wrong on x_l, which looks almost identical to x.

A view that is empty or below numerical noise (:func:`freqlens.views.empty_views`: e.g. the HFC of a 32x32 image at
r >= 22.7, where the disk holds every bin) measures nothing: it is left out of that view's accuracy and confidence and
of the HFC-explained images, and the result counts the views it left out (:meth:`HFCResult.excluded`).

Everything runs in batches on the model's device, with one forward FFT per batch for all radii
(:func:`freqlens.fourier.split`).

Example:
    >>> import torch
    >>> from freqlens.data import ImageSet
    >>> data = ImageSet.from_tensors(torch.rand(6, 3, 16, 16), torch.tensor([0, 1, 0, 1, 0, 1]))
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 2))
    >>> result = evaluate_hfc(model, data, [2, 4, 8], progress=False)
    >>> result.accuracy("lfc").shape, len(result.hfc_explained(4)) <= 6
    (torch.Size([3]), True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from freqlens import fourier
from freqlens.checks import check_logits
from freqlens.contract import (
    AnalysisResult,
    Estimate,
    Metric,
    autocast,
    batch_slices,
    check_batch_size,
    evaluating,
    placement,
    precision_name,
    register_analysis,
    subsample,
    subsample_indices,
    subsample_note,
)
from freqlens.data import ImageSet
from freqlens.errors import FreqlensError
from freqlens.plotting import image_grid, plt
from freqlens.radii import default_radii
from freqlens.views import EMPTY_DEFINITION, NORMALISATIONS, PARTS, classify_views, empty_views

__all__ = [
    "CONFIDENCE_DEFINITION",
    "HFC_EXPLAINED_DEFINITION",
    "NORMALIZATIONS",
    "RANKING",
    "HFCExample",
    "HFCResult",
    "conventions",
    "default_example_radius",
    "evaluate_hfc",
    "hfc_analysis",
    "plot_accuracy_vs_radius",
    "plot_examples",
]

NORMALIZATIONS = NORMALISATIONS  # per-image-max rescaling of the LFC/HFC, or none
HFC_EXPLAINED_DEFINITION = "correct on the original x and on its HFC x_h, wrong on its LFC x_l (same radius)"
RANKING = "descending HFC confidence, then descending original confidence, then ascending image index"
CONFIDENCE_DEFINITION = "softmax probability of the predicted class (max softmax), averaged over images"
VIEWS = ("original", "lfc", "hfc")


@dataclass(frozen=True)
class HFCExample:
    """One HFC-explained image: its index in the dataset, label, and prediction/confidence on x, x_l and x_h."""

    index: int
    label: int
    pred_original: int
    conf_original: float
    pred_low: int
    conf_low: float
    pred_high: int
    conf_high: float

    COLUMNS = (
        "index",
        "label",
        "pred_original",
        "conf_original",
        "pred_low",
        "conf_low",
        "pred_high",
        "conf_high",
    )

    def row(self) -> list[int | float]:
        """The fields in :attr:`COLUMNS` order (compact JSON)."""
        return [getattr(self, name) for name in self.COLUMNS]


@dataclass(frozen=True)
class HFCResult:
    """Per-image predictions on original, LFC and HFC views for a sweep of radii; summaries are derived from them.

    ``pred_*``/``conf_*`` of the filtered views have shape ``(R, N)`` (radius, image); those of the original ``(N,)``.
    All tensors live on the CPU. ``blank_pred``/``blank_conf`` are the model's answer on an all-zero image, the limit
    of x_h as r grows: HFC-explained images of that class may reflect this default answer rather than their HFC.
    ``empty_low``/``empty_high`` ``(R, N)`` mark the views that are empty or below numerical noise; summaries over a
    view leave them out.
    """

    radii: tuple[float, ...]
    inclusive: bool
    normalize: str
    labels: Tensor
    classes: tuple[str, ...]
    pred_original: Tensor
    conf_original: Tensor
    pred_low: Tensor
    conf_low: Tensor
    pred_high: Tensor
    conf_high: Tensor
    empty_low: Tensor
    empty_high: Tensor
    dataset: str
    device: str
    dtype: str
    blank_pred: int
    blank_conf: float
    precision: str = "float32"

    @property
    def num_images(self) -> int:
        return int(self.labels.shape[0])

    def class_name(self, label: int) -> str:
        """The name of class ``label`` (its number if the model predicts beyond the dataset's classes)."""
        return self.classes[label] if 0 <= label < len(self.classes) else str(label)

    def radius_index(self, radius: float) -> int:
        """Position of ``radius`` in the sweep."""
        for i, r in enumerate(self.radii):
            if math.isclose(r, float(radius)):
                return i
        raise FreqlensError(f"radius {radius:g} is not in the sweep {list(self.radii)}; choose one of those")

    def _views(self, view: str) -> tuple[Tensor, Tensor]:
        if view == "original":
            return self.pred_original, self.conf_original
        if view == "lfc":
            return self.pred_low, self.conf_low
        if view == "hfc":
            return self.pred_high, self.conf_high
        raise FreqlensError(f"unknown view {view!r}; use one of {', '.join(VIEWS)}")

    def correct(self, view: str) -> Tensor:
        """Boolean correctness per image: ``(N,)`` for the original, ``(R, N)`` for ``lfc``/``hfc``."""
        return self._views(view)[0] == self.labels

    def measured(self, view: str) -> Tensor:
        """Which images' ``view`` holds something to classify: ``(N,)`` all True for the original, ``(R, N)``
        without the empty views (:func:`freqlens.views.empty_views`) for ``lfc``/``hfc``."""
        if view == "original":
            return torch.ones_like(self.labels, dtype=torch.bool)
        self._views(view)
        return ~(self.empty_low if view == "lfc" else self.empty_high)

    def excluded(self, view: str) -> Tensor:
        """How many images' ``view`` was empty and left out: ``(R,)`` for ``lfc``/``hfc`` (0 for the original)."""
        return (~self.measured(view)).sum(dim=-1)

    def accuracy(self, view: str) -> Tensor:
        """Fraction of the measured images classified correctly: a scalar for the original, ``(R,)`` for
        ``lfc``/``hfc`` (NaN at a radius where every view was empty)."""
        kept = self.measured(view)
        return (self.correct(view) & kept).double().sum(dim=-1) / kept.double().sum(dim=-1)

    def confidence(self, view: str) -> Tensor:
        """Mean confidence (softmax probability of the predicted class) over the measured images; scalar or
        ``(R,)``."""
        kept = self.measured(view)
        return (self._views(view)[1].double() * kept).sum(dim=-1) / kept.double().sum(dim=-1)

    def class_counts(self) -> Tensor:
        """Number of images per class, ``(num_classes,)``."""
        return torch.bincount(self.labels, minlength=len(self.classes))

    def per_class_accuracy(self, view: str) -> Tensor:
        """Accuracy per class over the measured images: ``(num_classes,)`` or ``(R, num_classes)``; NaN for classes
        without (measured) images."""
        kept = self.measured(view)
        correct = (self.correct(view) & kept).double()

        def by_class(values: Tensor) -> Tensor:
            flat = values.reshape(-1, self.num_images)
            return torch.zeros(flat.shape[0], len(self.classes), dtype=torch.float64).index_add_(1, self.labels, flat)

        per_class = by_class(correct) / by_class(kept.double())
        return per_class.reshape(*correct.shape[:-1], len(self.classes))

    def hfc_explained_mask(self) -> Tensor:
        """``(R, N)`` boolean: right on x and on x_h, wrong on x_l, with neither view empty."""
        both = self.measured("lfc") & self.measured("hfc")
        return self.correct("original") & self.correct("hfc") & ~self.correct("lfc") & both

    def hfc_explained_counts(self) -> Tensor:
        """Number of HFC-explained images per radius, ``(R,)``."""
        return self.hfc_explained_mask().sum(dim=-1)

    def hfc_explained_per_class(self) -> Tensor:
        """Number of HFC-explained images per radius and true class, ``(R, num_classes)``."""
        mask = self.hfc_explained_mask().long()
        return torch.zeros(mask.shape[0], len(self.classes), dtype=torch.long).index_add_(1, self.labels, mask)

    def hfc_explained(self, radius: float) -> list[HFCExample]:
        """The HFC-explained images at one radius of the sweep, ranked (see :data:`RANKING`)."""
        r = self.radius_index(radius)
        index = torch.nonzero(self.hfc_explained_mask()[r]).flatten().tolist()
        found = [
            HFCExample(
                index=i,
                label=int(self.labels[i]),
                pred_original=int(self.pred_original[i]),
                conf_original=float(self.conf_original[i]),
                pred_low=int(self.pred_low[r, i]),
                conf_low=float(self.conf_low[r, i]),
                pred_high=int(self.pred_high[r, i]),
                conf_high=float(self.conf_high[r, i]),
            )
            for i in index
        ]
        return sorted(found, key=lambda e: (-e.conf_high, -e.conf_original, e.index))

    def to_dict(self) -> dict[str, Any]:
        """Summaries, per-class breakdown and ranked HFC-explained lists, ready for JSON."""
        return {
            "dataset": self.dataset,
            "images": self.num_images,
            "classes": list(self.classes),
            "radii": list(self.radii),
            "mask": "|k| <= r" if self.inclusive else "|k| < r",
            "normalize": self.normalize,
            "precision": self.precision,
            "blank_image": {"pred": self.blank_pred, "conf": self.blank_conf, "note": "model output on all-zero input"},
            "original": {
                "accuracy": float(self.accuracy("original")),
                "confidence": float(self.confidence("original")),
            },
            **{
                view: {
                    "accuracy": _finite(self.accuracy(view).tolist()),
                    "confidence": _finite(self.confidence(view).tolist()),
                    "excluded": self.excluded(view).tolist(),
                }
                for view in ("lfc", "hfc")
            },
            "excluded_definition": EMPTY_DEFINITION,
            "per_class": {
                "count": self.class_counts().tolist(),
                **{view: _finite(self.per_class_accuracy(view).tolist()) for view in VIEWS},
                "hfc_explained": self.hfc_explained_per_class().tolist(),
            },
            "hfc_explained": {
                "definition": HFC_EXPLAINED_DEFINITION,
                "ranking": RANKING,
                "columns": list(HFCExample.COLUMNS),
                "by_radius": {
                    f"{r:g}": {
                        "count": len(found),
                        "count_outside_blank_class": sum(e.label != self.blank_pred for e in found),
                        "images": [e.row() for e in found],
                    }
                    for r in self.radii
                    for found in [self.hfc_explained(r)]
                },
            },
        }


def _finite(values: Any) -> Any:
    """Nested lists with NaN (nothing measured) as None, for JSON."""
    if isinstance(values, list):
        return [_finite(v) for v in values]
    return None if isinstance(values, float) and math.isnan(values) else values


def _probe(model: nn.Module, data: ImageSet, device: torch.device, dtype: torch.dtype) -> None:
    """Run the model on two images and check that it returns logits for every class of ``data``."""
    x = data.images[:2].to(device=device, dtype=dtype)
    try:
        logits = model(x)
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FreqlensError(
            f"the model cannot read images of shape {tuple(x.shape[1:])} from {data.name} ({reason}); "
            "use a dataset matching the model's input size and channels"
        ) from exc
    check_logits(logits, len(x))
    if logits.shape[1] < data.num_classes:
        raise FreqlensError(
            f"the model returns {logits.shape[1]} logits but {data.name} has {data.num_classes} classes; "
            "use the dataset the model was trained for"
        )


def _check_radii(radii: Sequence[float], h: int, w: int) -> tuple[float, ...]:
    values = tuple(float(r) for r in radii)
    if not values:
        raise FreqlensError("the radius sweep is empty; give at least one radius, e.g. 4,8,12,16")
    for r in values:
        fourier.check_radius(r, h, w)
    if len(set(values)) != len(values):
        raise FreqlensError(f"radii {list(values)} contain duplicates; list each radius once")
    return values


def evaluate_hfc(
    model: nn.Module,
    data: ImageSet,
    radii: Sequence[float],
    *,
    inclusive: bool = False,
    normalize: str = "per_image_max",
    batch_size: int = 256,
    amp: bool = False,
    progress: bool = True,
) -> HFCResult:
    """Classify every image, its LFC and its HFC at each radius, in batches on the model's device.

    ``model`` is any module mapping ``(B, C, H, W)`` images in [0, 1] to logits ``(B, K)`` with K at least the
    number of classes. ``normalize="per_image_max"`` (the default, as the HFC code and the training curves) rescales
    each LFC and HFC by its own maximum before the model sees it (the original is never rescaled); ``"none"`` feeds
    them as computed. ``amp`` runs the model under the contract's autocast (:func:`freqlens.contract.autocast`). The
    model is put in eval mode and every submodule's mode restored afterwards.
    """
    if normalize not in NORMALIZATIONS:
        raise FreqlensError(f"unknown normalisation {normalize!r}; use one of {', '.join(NORMALIZATIONS)}")
    check_batch_size(batch_size)
    _, h, w = data.image_shape
    rs = _check_radii(radii, h, w)
    device, dtype = placement(model)
    n = len(data)
    pred = torch.empty(1 + 2 * len(rs), n, dtype=torch.long, device=device)
    conf = torch.empty(1 + 2 * len(rs), n, dtype=torch.float32, device=device)
    empty = torch.empty(2 * len(rs), n, dtype=torch.bool, device=device)
    with evaluating(model), torch.no_grad():
        _probe(model, data, device, dtype)
        with autocast(device, amp):
            blank_conf, blank_pred = (
                model(torch.zeros_like(data.images[:1], device=device, dtype=dtype)).float().softmax(1).max(1)
            )

        def forward(image: Tensor) -> Tensor:
            with autocast(device, amp):
                return check_logits(model(image), len(image))

        for part in batch_slices(n, batch_size, desc="hfc sweep", progress=progress):
            x = data.images[part].to(device=device, dtype=dtype, non_blocking=True)
            found = classify_views(forward, x, rs, inclusive=inclusive, normalize=normalize)
            conf[:, part] = torch.cat([found[p][0] for p in PARTS])
            pred[:, part] = torch.cat([found[p][1] for p in PARTS])
            empty[:, part] = torch.cat(empty_views(x, rs, inclusive))
    pred, conf, empty = pred.cpu(), conf.cpu(), empty.cpu()
    r = len(rs)
    return HFCResult(
        radii=rs,
        inclusive=inclusive,
        normalize=normalize,
        labels=data.labels.cpu(),
        classes=data.classes,
        pred_original=pred[0],
        conf_original=conf[0],
        pred_low=pred[1 : 1 + r],
        conf_low=conf[1 : 1 + r],
        pred_high=pred[1 + r :],
        conf_high=conf[1 + r :],
        empty_low=empty[:r],
        empty_high=empty[r:],
        dataset=data.name,
        device=str(device),
        dtype=str(dtype).replace("torch.", ""),
        precision=precision_name(device, amp, dtype),
        blank_pred=int(blank_pred),
        blank_conf=float(blank_conf),
    )


def default_example_radius(radii: Sequence[float], h: int, w: int, counts: Sequence[int] | None = None) -> float:
    """The sweep radius closest to 3/8 of the smaller image side (12 for 32x32): the LFC keeps ~40 % of the bins
    and looks like the original, as in the paper's Fig. 2. With ``counts`` (HFC-explained images per radius), the
    closest radius that has any (the target itself when none has).

    Example:
        >>> radii = [28, 56, 84, 112]
        >>> default_example_radius(radii, 224, 224), default_example_radius(radii, 224, 224, [0, 0, 2, 2])
        (84, 84)
        >>> default_example_radius(radii, 224, 224, [0, 0, 0, 2])
        112
        >>> default_example_radius([4, 8, 12, 16], 32, 32, [3, 1, 0, 0])
        8
    """
    target = 0.375 * min(h, w)
    having = [r for r, c in zip(radii, counts, strict=True) if c > 0] if counts is not None else []
    return min(having or radii, key=lambda r: (abs(r - target), r))


def plot_examples(
    result: HFCResult,
    data: ImageSet,
    radius: float,
    k: int = 8,
    names: Sequence[str] | None = None,
    label_word: str = "true",
) -> Figure | None:
    """Fig. 2 of the paper: for the top-k HFC-explained images at ``radius``, the original, its LFC and its HFC
    (min-max rescaled to be visible) with the predicted class and confidence under each. None if there are none.

    ``data`` must be the dataset the result was computed on (same order); ``names`` (one per image, e.g. file
    names) label the rows instead of the image index; ``label_word`` names the label ("clean" when the labels are
    the model's clean predictions).
    """
    if len(data) != result.num_images:
        raise FreqlensError(f"the dataset has {len(data)} images but the result {result.num_images}; pass the same")
    found = result.hfc_explained(radius)[:k]
    if not found:
        return None
    x = data.images[[e.index for e in found]].double()
    low, high = fourier.split(x, float(radius), result.inclusive)
    rows = [[x[i], low[i], high[i]] for i in range(len(found))]
    captions = [
        [
            f"{result.class_name(e.pred_original)} {e.conf_original:.2f}",
            f"{result.class_name(e.pred_low)} {e.conf_low:.2f}",
            f"{result.class_name(e.pred_high)} {e.conf_high:.2f}",
        ]
        for e in found
    ]
    labels = [
        f"{names[e.index] if names else f'#{e.index}'}\n{label_word}: {result.class_name(e.label)}" for e in found
    ]
    fig = image_grid(
        rows,
        row_labels=labels,
        col_labels=["original x", f"LFC x_l (r={radius:g})", "HFC x_h (rescaled)"],
        rescale=[False, False, True],
        captions=captions,
        cell=1.6,
    )
    seen = " (model saw per-image-max rescaled views)" if result.normalize == "per_image_max" else ""
    verdict = "right on x and x_h, wrong on x_l" if label_word == "true" else "x_h agrees with x, x_l does not"
    fig.suptitle(f"HFC-explained: {verdict}{seen}", fontsize=8, y=1.01)
    return fig


def plot_accuracy_vs_radius(result: HFCResult, title: str | None = None, score_name: str = "accuracy") -> Figure:
    """Accuracy (``score_name``) on LFC and HFC views against the radius, with the clean accuracy and chance as
    reference lines."""
    order = sorted(range(len(result.radii)), key=lambda i: result.radii[i])
    rs = [result.radii[i] for i in order]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.plot(rs, result.accuracy("lfc")[order].tolist(), "o-", ms=4, label="LFC x_l")
    ax.plot(rs, result.accuracy("hfc")[order].tolist(), "s-", ms=4, label="HFC x_h")
    gone = [r for r, count in zip(rs, result.excluded("hfc")[order].tolist(), strict=True) if count]
    if gone:  # radii whose HFC is empty for some images: those images are left out (no point where all are)
        ax.plot(gone, [0.0] * len(gone), "x", color="gray", label="HFC empty for some or all images")
    clean = float(result.accuracy("original"))
    ax.axhline(clean, color="k", ls="--", lw=1, label=f"original ({clean:.3f})")
    ax.axhline(1 / len(result.classes), color="gray", ls=":", lw=1, label="chance")
    ax.set_xlabel(f"radius r ({'|k| <= r' if result.inclusive else '|k| < r'}, cycles / image)")
    ax.set_ylabel(score_name)
    ax.set_ylim(0, 1.02)
    ax.set_title(title or f"{result.dataset}: {result.num_images} images, normalize={result.normalize}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _share(count: int, n: int) -> Estimate | None:
    """``count / n`` as a binomial estimate; None when nothing was measured."""
    return Estimate.proportion(count, n) if n else None


def conventions(inclusive: bool, normalize: str) -> dict[str, str]:
    """What a reader needs to reproduce an HFC evaluation's numbers."""
    return {
        **fourier.conventions(inclusive),
        "mask_inequality": "<=" if inclusive else "<",
        "normalize": normalize,
        "normalize_note": "per_image_max: LFC/HFC divided by their per-image maximum, original untouched (HFC code, "
        "training curves)"
        if normalize == "per_image_max"
        else "views fed as computed, no rescaling",
        "confidence": CONFIDENCE_DEFINITION,
        "hfc_explained_definition": HFC_EXPLAINED_DEFINITION,
        "hfc_explained_ranking": RANKING,
        "accuracy_uncertainty": "binomial over the evaluated images, Wilson 95 % interval",
        "empty_views": EMPTY_DEFINITION,
    }


def defaults(h: int, w: int, classes: int, device: str) -> dict[str, Any]:
    """The audit's HFC parameters: radii at fixed fractions of the Nyquist radius (:func:`freqlens.radii.
    default_radii`)."""
    return {"radii": default_radii(h, w), "batch_size": 64}


@register_analysis(
    "hfc",
    "Accuracy on LFC and HFC views per radius and the HFC-explained images (Wang et al. 2020)",
    test_params={"radii": [2, 3], "n": 6, "batch_size": 4},
    audit_order=0,
    defaults=defaults,
)
def hfc_analysis(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    radii: Sequence[float] = (4, 8, 12, 16),
    inclusive: bool = False,
    normalize: str = "per_image_max",
    n: int | None = None,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    dataset: str = "tensors",
    examples: int = 8,
    example_radius: float | None = None,
    batch_size: int = 256,
    amp: bool = False,
    progress: bool = False,
    names: Sequence[str] | None = None,
    score_name: str = "accuracy",
) -> AnalysisResult:
    """:func:`evaluate_hfc` on ``n`` images drawn under ``seed``, as an :class:`AnalysisResult`. ``names`` (one per
    image of ``images``, e.g. file names) label the examples; ``score_name`` names the accuracy in the figure.

    Metrics (binomial estimates over the images): ``accuracy_original``, and per radius r ``accuracy_lfc_r<r>``,
    ``accuracy_hfc_r<r>`` and ``hfc_explained_r<r>`` (the share of HFC-explained images), each over the images whose
    views are not empty (``None`` where none is; the details count the views left out).
    """
    x, y = subsample(images, labels, n, seed)
    picked = subsample_indices(len(images), n, seed)
    if names is not None:
        names = list(names) if picked is None else [names[i] for i in picked.tolist()]
    data = ImageSet.from_tensors(x, y, tuple(classes) if classes is not None else None, dataset)
    result = evaluate_hfc(
        model,
        data,
        radii,
        inclusive=inclusive,
        normalize=normalize,
        batch_size=batch_size,
        amp=amp,
        progress=progress,
    )
    total = result.num_images
    metrics: dict[str, Metric] = {
        "accuracy_original": Estimate.proportion(int(result.correct("original").sum()), total)
    }
    right = {view: (result.correct(view) & result.measured(view)).sum(1).tolist() for view in ("lfc", "hfc")}
    kept = {view: result.measured(view).sum(1).tolist() for view in ("lfc", "hfc")}
    both = (result.measured("lfc") & result.measured("hfc")).sum(1).tolist()
    explained = result.hfc_explained_counts().tolist()
    for i, r in enumerate(result.radii):
        metrics[f"accuracy_lfc_r{r:g}"] = _share(right["lfc"][i], kept["lfc"][i])
        metrics[f"accuracy_hfc_r{r:g}"] = _share(right["hfc"][i], kept["hfc"][i])
        metrics[f"hfc_explained_r{r:g}"] = _share(explained[i], both[i])
    _, h, w = data.image_shape
    counts = explained
    shown = default_example_radius(result.radii, h, w, counts) if example_radius is None else float(example_radius)
    result.radius_index(shown)
    figures: dict[str, Any] = {
        "accuracy_vs_radius": lambda: plot_accuracy_vs_radius(result, score_name=score_name),
    }
    if examples > 0 and result.hfc_explained(shown):
        word = "true" if score_name == "accuracy" else "clean"
        figures["hfc_examples"] = lambda: plot_examples(result, data, shown, examples, names, word)
    return AnalysisResult(
        "hfc",
        metrics=metrics,
        arrays={
            "radii": torch.tensor(result.radii, dtype=torch.float64),
            "accuracy_lfc": result.accuracy("lfc"),
            "accuracy_hfc": result.accuracy("hfc"),
            "confidence_lfc": result.confidence("lfc"),
            "confidence_hfc": result.confidence("hfc"),
            "hfc_explained": result.hfc_explained_counts(),
            "labels": result.labels,
            "pred_original": result.pred_original,
            "pred_lfc": result.pred_low,
            "pred_hfc": result.pred_high,
        },
        figures=figures,
        conventions={
            **conventions(inclusive, normalize),
            "image_subsample": subsample_note(total, seed),
            "precision": result.precision,
            "device": result.device,
        },
        params={"radii": list(result.radii), "inclusive": inclusive, "normalize": normalize, "n": total, "seed": seed},
        details={**result.to_dict(), "example_radius": shown},
    )
