"""The ``spectral`` analysis: a CNN's convolutions in frequency space and, for a linear circular CNN, the theory.

For any CNN: every convolution as a circular convolution at its feature-map size (:func:`layer_responses`), its RMS
gain per radius and the error of that circular approximation on Gaussian inputs. For a linear circular CNN
(:func:`linear_spectrum`): its exact Fourier sensitivity map from the weights (checked against the autograd gradient
of :func:`~freqlens.analyses.sensitivity.fourier_sensitivity` on a few images), the representation-cost ratio
``sum ||w||^2 / R_L`` (1 at a balanced network, as weight decay leaves it at an optimum), and, given the weight decay
it was trained with, the map the theory predicts for squared loss on these images with one-hot labels
(:func:`freqlens.theory.predict`) and its distance from the measured map.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from freqlens import fourier
from freqlens.analyses.datastats import map_axes
from freqlens.analyses.sensitivity import fourier_sensitivity
from freqlens.contract import AnalysisResult, register_analysis, subsample
from freqlens.errors import FreqlensError
from freqlens.plotting import Figure, plt
from freqlens.spectral_layers import conventions, gain_figure_axes, layer_responses, linear_spectrum
from freqlens.theory import frequency_moments, predict, representation_cost, weight_penalty

GRADIENT_IMAGES = 4  # images on which the exact map is checked against autograd


def _relative(a: Tensor, b: Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp(min=1e-300))


@register_analysis(
    "spectral",
    "Convolutions in frequency space: gain per radius of every conv (circular approximation and its error); for a "
    "linear circular CNN its exact sensitivity map, representation-cost ratio and the theory's predicted map",
    test_params={"n": 6},
)
def spectral_analysis(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    weight_decay: float | None = None,
    n: int | None = None,
    seed: int = 0,
    probes: int = 4,
) -> AnalysisResult:
    """Layer responses of ``model`` on images shaped like ``images``; for a linear circular CNN also the theory
    (``weight_decay``: the decay it was trained with, freqlens's convention ``loss + wd/2 sum ||w||^2``)."""
    x, y = subsample(images, labels, n, seed)
    shape = tuple(int(v) for v in x.shape[1:])
    responses = layer_responses(model, shape, probes, seed)
    metrics: dict[str, Any] = {
        "conv_layers": len(responses),
        "max_circular_error": max(r.circular_error for r in responses),
    }
    arrays: dict[str, Any] = {f"gain_{i}": r.radial for i, r in enumerate(responses)}
    details: dict[str, Any] = {"layers": [r.to_dict() for r in responses]}
    try:
        spectrum = linear_spectrum(model, shape)
    except FreqlensError as exc:
        spectrum = None
        details["linear_circular"] = f"no: {exc}"
    maps: dict[str, Tensor] = {}
    if spectrum is not None:
        details["linear_circular"] = "yes"
        exact = spectrum.sensitivity_map()
        measured = fourier_sensitivity(model, x[:GRADIENT_IMAGES]).mean
        cost = representation_cost(spectrum.product(), spectrum.depth, shape[1] * shape[2])
        metrics.update(
            depth=spectrum.depth,
            gradient_check=_relative(measured, exact),
            weight_norm=weight_penalty(model),
            representation_cost=cost,
            cost_ratio=weight_penalty(model) / cost if cost > 0 else float("nan"),
        )
        maps["exact"] = exact
        if weight_decay is not None:
            classes = spectrum.layers[-1].shape[2]
            moments = frequency_moments(x, F.one_hot(y, classes).to(torch.float64), spectrum.input_scale)
            solution = predict(moments, weight_decay, spectrum.depth)
            predicted = solution.sensitivity_map()
            maps["predicted"] = predicted
            metrics.update(predicted_relative_error=_relative(exact, predicted))
            details["prediction"] = solution.to_dict()
        arrays.update(maps)

    def figure() -> Figure:
        fig, axes = plt.subplots(1, 1 + len(maps), figsize=(6.4 + 3.4 * len(maps), 4.0), squeeze=False)
        gain_figure_axes(axes[0][0], responses)
        for ax, (name, values) in zip(axes[0][1:], maps.items(), strict=True):
            map_axes(ax, values.sum(dim=0), f"{name} sensitivity map (channels summed)")
        fig.tight_layout()
        return fig

    return AnalysisResult(
        "spectral",
        metrics=metrics,
        arrays=arrays,
        figures={"spectral": figure},
        conventions={
            **conventions(),
            **fourier.conventions(),
            "circular_error": f"||conv(x) - circular(x)|| / ||conv(x)|| on {probes} Gaussian inputs, biases left out",
            "theory_loss": "mean_i ||f(x_i) - onehot(y_i)||^2 + (wd/2) sum ||w||^2 (squared loss, centred data)",
        },
        params={"weight_decay": weight_decay, "n": int(x.shape[0]), "seed": seed, "probes": probes},
        details=details,
    )
