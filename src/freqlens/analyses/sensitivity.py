"""Fourier gradient sensitivity (Godfrey et al. ``fourier_grad_sens``; Krishnamachari et al.'s Fourier sensitivity).

For an image ``x`` and output ``f_k`` (a logit, or the loss), the sensitivity of ``f_k`` to the Fourier coefficient
``x_hat[xi]`` of the unitary DFT is ``|FFT_ortho(grad_x f_k)[xi]|``: treating the spectrum as the input and evaluating
the model at ``real(ifft2(x_hat))`` gives exactly this magnitude. So we never build a Jacobian with respect to the
spectrum: one backward pass per output (one for the loss) and one FFT per batch suffice.

Per-image maps, per channel, over the outputs ``k``:

* ``meannorm`` (Godfrey's default): ``m = sqrt(sum_k |G_k|^2)``, averaged over images; std over images.
* ``rms``: ``q = mean_k |G_k|^2``; the map is ``sqrt(mean_images q)`` and its std comes from the delta method.

Maps are centred (DC at ``(H//2, W//2)``). The model is evaluated in eval mode (batch statistics would couple images)
and its train/eval mode is restored afterwards; parameter gradients are never accumulated.

Example:
    >>> import torch
    >>> beta = torch.randn(1, 1, 4, 4, dtype=torch.float64)
    >>> model = lambda x: (x * beta).sum(dim=(1, 2, 3)).unsqueeze(1)  # f(x) = <beta, x>
    >>> maps = fourier_sensitivity(model, torch.rand(3, 1, 4, 4, dtype=torch.float64))
    >>> expected = torch.fft.fftshift(torch.fft.fft2(beta[0], norm="ortho").abs(), dim=(-2, -1))
    >>> bool(torch.allclose(maps.mean, expected)), float(maps.std.abs().max()) < 1e-12
    (True, True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from freqlens import fourier
from freqlens.checks import check_labels, check_logits
from freqlens.errors import FreqlensError

__all__ = ["METRICS", "TARGETS", "SensitivityMaps", "fourier_sensitivity", "gradient_power", "model_placement"]

TARGETS: tuple[str, ...] = ("logits", "loss")
METRICS: tuple[str, ...] = ("meannorm", "rms")


@dataclass(frozen=True)
class SensitivityMaps:
    """Mean and std (over images) of the per-channel Fourier sensitivity, centred, shape ``(C, H, W)``, float64."""

    mean: Tensor
    std: Tensor
    metric: str
    target: str
    images: int

    def summary(self) -> dict[str, Any]:
        """The parameters that define these maps (for result files)."""
        return {
            "metric": self.metric,
            "target": self.target,
            "images": self.images,
            "definition": "|FFT_ortho(grad_x f)| per channel; meannorm = L2 over outputs then mean over images; "
            "rms = sqrt(mean over images and outputs of |.|^2)",
        }


def _eval_mode(model: Callable[[Tensor], Tensor]) -> tuple[nn.Module | None, bool]:
    if isinstance(model, nn.Module):
        was_training = model.training
        model.eval()
        return model, was_training
    return None, False


def model_placement(model: Callable[[Tensor], Tensor], images: Tensor) -> tuple[torch.device, torch.dtype]:
    """Device and floating dtype of the model's first floating parameter (those of ``images`` for a plain function)."""
    if isinstance(model, nn.Module):
        for p in model.parameters():
            if p.is_floating_point():
                return p.device, p.dtype
    return images.device, images.dtype


def gradient_power(
    model: Callable[[Tensor], Tensor], x: Tensor, labels: Tensor | None = None, target: str = "logits"
) -> tuple[Tensor, int]:
    """Per-image ``sum_k |FFT_ortho(grad_x f_k)|^2`` for one batch: ``(N, C, H, W)`` (not centred), and the number
    of outputs ``K`` summed over (the number of logits, or 1 for the summed cross-entropy loss).

    The model must already be in the mode you want (use :func:`fourier_sensitivity` for eval mode handling).
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = check_logits(model(x), x.shape[0], labels.to(x.device) if labels is not None else None)
        if target == "loss":
            if labels is None:
                raise FreqlensError("target='loss' needs labels; pass the labels or use target='logits'")
            outputs = [F.cross_entropy(out, labels.to(out.device), reduction="sum")]
        else:
            outputs = [out[:, k].sum() for k in range(out.shape[1])]
        grads = [torch.autograd.grad(o, x, retain_graph=i < len(outputs) - 1)[0] for i, o in enumerate(outputs)]
    spectra = torch.fft.fft2(torch.stack(grads), norm="ortho")
    return (spectra.real**2 + spectra.imag**2).sum(dim=0), len(outputs)


def fourier_sensitivity(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    labels: Tensor | None = None,
    *,
    target: str = "logits",
    metric: str = "meannorm",
    batch_size: int = 64,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> SensitivityMaps:
    """Mean and std over ``images`` of the Fourier gradient sensitivity maps (see the module docstring).

    ``images`` are ``(N, C, H, W)`` in the model's input space ([0, 1] for freqlens models), moved batch by batch to
    ``device`` (default: where the model's parameters are) in the model's parameter dtype.
    """
    fourier.check_images(images)
    if target not in TARGETS:
        raise FreqlensError(f"unknown target {target!r}; use one of {', '.join(TARGETS)}")
    if metric not in METRICS:
        raise FreqlensError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    if target == "loss" and labels is None:
        raise FreqlensError("target='loss' needs labels; pass the labels or use target='logits'")
    if labels is not None:
        check_labels(labels, images.shape[0])
    if batch_size <= 0:
        raise FreqlensError(f"batch_size must be positive, got {batch_size}")
    module, was_training = _eval_mode(model)
    home, dtype = model_placement(model, images)
    device = home if device is None else device
    n = images.shape[0]
    mean = torch.zeros(images.shape[1:], dtype=torch.float64, device=device)
    m2 = torch.zeros_like(mean)  # sum of squared deviations from the mean (Chan et al.'s parallel update)
    seen = 0
    outputs = 1
    try:
        for start in tqdm(range(0, n, batch_size), desc="sensitivity", unit="batch", disable=not progress):
            x = images[start : start + batch_size].to(device=device, dtype=dtype)
            y = labels[start : start + batch_size].to(device) if labels is not None else None
            power, outputs = gradient_power(model, x, y, target)
            per_image = power.sqrt() if metric == "meannorm" else power / outputs
            per_image = per_image.to(torch.float64)
            b = per_image.shape[0]
            batch_mean = per_image.mean(dim=0)
            delta = batch_mean - mean
            m2 += ((per_image - batch_mean) ** 2).sum(dim=0) + delta**2 * (seen * b / (seen + b))
            mean += delta * (b / (seen + b))
            seen += b
    finally:
        if module is not None:
            module.train(was_training)
    var = m2 / n
    if metric == "meannorm":
        m, s = mean, var.sqrt()
    else:
        m = mean.sqrt()
        s = torch.where(m > 0, var.sqrt() / (2 * m.clamp(min=torch.finfo(m.dtype).tiny)), torch.zeros_like(m))
    return SensitivityMaps(_centred(m), _centred(s), metric, target, n)


def _centred(t: Tensor) -> Tensor:
    return torch.fft.fftshift(t, dim=(-2, -1)).cpu()
