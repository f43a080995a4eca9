"""What one Godfrey cell measures: a model's Fourier sensitivity per test image, the data's spectrum, and whether
training converged.

The sensitivity of one image is Godfrey's meannorm map ``sqrt(sum_k |FFT_ortho(grad_x f_k)|^2)`` per channel
(:func:`freqlens.analyses.sensitivity.fourier_sensitivity`); the cell keeps, per image, its radial profile (bin
means over ``round(|k|)``, channels summed) and its mass inside and outside the high-pass square. Every statistic the
claims read (profile shares, Spearman and Jensen-Shannon against the data's profile) is a function of the mean of
these per-image rows, so the summaries can bootstrap over test images without running the model again.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from freqlens import fourier, runs, views
from freqlens.analyses import datastats
from freqlens.analyses.sensitivity import fourier_sensitivity
from freqlens.contract import Estimate, batch_slices, count_correct, evaluating, placement, subsample
from freqlens.data import ImageSet
from freqlens.experiments.base import Cell, Context
from freqlens.experiments.common import epochs
from freqlens.experiments.godfrey.setups import CUTOFF
from freqlens.models.layers import fit_input_statistics

PLATEAU = 0.02  # training has converged when its loss changed by less than 2 % over the last epoch


def untrained_model(spec: dict[str, Any], data: ImageSet, train_view_images: Tensor, device: str) -> nn.Module:
    """The family's model at initialisation (seeded), its input statistics fitted as training would fit them."""
    from freqlens.models import create_model

    c, h, _ = data.image_shape
    torch.manual_seed(spec["seed"])
    model = create_model(
        spec["model"], num_classes=data.num_classes, in_channels=c, image_size=h, **spec["model_kwargs"]
    )
    fit_input_statistics(model, train_view_images)
    return model.to(device).eval()


def per_image_sensitivity(
    model: nn.Module, images: Tensor, batch_size: int = 64, progress: bool = False
) -> dict[str, Tensor]:
    """Per-image radial profiles ``(N, R)``, square and total masses ``(N,)`` of the meannorm maps of
    :func:`~freqlens.analyses.sensitivity.fourier_sensitivity` (logits), and their mean map ``(C, H, W)``.

    The model runs in eval mode; every submodule gets its own mode back afterwards.
    """
    _, _, h, w = images.shape
    square = fourier.square_mask(h, w, CUTOFF)
    radial, inside, total = [], [], []

    def keep(maps: Tensor) -> None:
        summed = maps.sum(dim=1)  # channels summed, (B, H, W), centred
        radial.append(fourier.radial_profile(summed)[0])
        inside.append(summed[:, square].sum(dim=1))
        total.append(summed.sum(dim=(1, 2)))

    maps = fourier_sensitivity(model, images, batch_size=batch_size, progress=progress, each_batch=keep)
    return {"radial": torch.cat(radial), "square": torch.cat(inside), "total": torch.cat(total), "mean": maps.mean}


def objective_gradient_norm(
    model: nn.Module, images: Tensor, labels: Tensor, weight_decay: float, batch_size: int = 500
) -> float:
    """Norm of the gradient of the regularised training objective (mean cross-entropy + wd/2 * |weights|^2, weights
    being the parameters with 2+ dimensions, as the trainer decays them) at the model's current weights."""
    device, dtype = placement(model, images)
    params = [p for p in model.parameters() if p.requires_grad]
    grads = [torch.zeros_like(p) for p in params]
    with evaluating(model), torch.enable_grad():
        for s in batch_slices(images.shape[0], batch_size, desc="gradient", progress=False):
            loss = F.cross_entropy(model(images[s].to(device, dtype)), labels[s].to(device), reduction="sum")
            for g, d in zip(grads, torch.autograd.grad(loss, params), strict=True):
                g += d / images.shape[0]
    for g, p in zip(grads, params, strict=True):
        if p.ndim > 1:
            g += weight_decay * p.detach()
    return math.sqrt(sum(float(g.pow(2).sum()) for g in grads))


def decay_efolds(train: dict[str, Any]) -> float | None:
    """How many e-folds SGD's weight decay has removed from each weight's initial component that the data do not
    constrain: ``lr * wd * steps / (1 - momentum)`` (``None`` for Adam, whose coupled decay has no such scale, or for
    the full training set, whose size the config does not say)."""
    if train["optimizer"] != "sgd" or not train["train_subset"]:
        return None
    steps = train["epochs"] * math.ceil(train["train_subset"] / train["batch_size"])
    return float(train["lr"] * train["weight_decay"] * steps / (1 - train["momentum"]))


def convergence(train_dir: Path, model: nn.Module, x: Tensor, y: Tensor, train: dict[str, Any]) -> dict[str, Any]:
    """The training loss per epoch (from the training run folder ``train_dir``), its relative change over the last
    epoch, whether that is a plateau, the gradient norm of the regularised objective on ``x`` (training images as
    trained on, not augmented), and the decay e-folds per weight (:func:`decay_efolds`)."""
    losses = [float(r["train_loss"]) for r in epochs(train_dir)]
    change = abs(losses[-1] - losses[-2]) / max(abs(losses[-1]), 1e-12) if len(losses) >= 2 else math.inf
    return {
        "train_loss": losses,
        "loss_change_last_epoch": change if math.isfinite(change) else None,
        "converged": bool(change < PLATEAU),
        "objective_gradient_norm": objective_gradient_norm(model, x, y, train["weight_decay"]),
        "decay_efolds": decay_efolds(train),
    }


def run_cell(cell: Cell, run_dir: Path, ctx: Context) -> dict[str, Any]:
    """Train (or build) the cell's model, measure its per-image sensitivity and the data's spectrum."""
    cfg = cell.config
    view = views.parse_view(cfg["view"])
    test = ctx.dataset(cfg["data"], "test")
    train = ctx.dataset(cfg["data"], "train")
    x, y = subsample(test.images, test.labels, cfg["images"], cfg["seed"])
    x = views.apply_in_chunks(view, x)
    data_x, data_y = subsample(train.images, train.labels, cfg["data_images"], cfg["seed"])
    data_x = views.apply_in_chunks(view, data_x)
    result: dict[str, Any] = {"family": cfg["family"], "view": view.name, "trained": cfg["train"] is not None}
    if cfg["train"] is not None:
        model, train_dir = ctx.trained_model(cfg["train"])
        result["convergence"] = convergence(train_dir, model, data_x[:1000], data_y[:1000], cfg["train"])
    else:
        model = untrained_model(cfg["untrained"], test, data_x, ctx.device)
    sens = per_image_sensitivity(model, x, progress=ctx.progress)
    correct = count_correct(model, x, y)
    amplitude = datastats.spectrum_map(data_x, "amplitude", standardize=True)
    data_profile = datastats.radial_distribution(amplitude)
    # A network whose ReLUs never fire has zero input gradient: no profile to normalise.
    dead = not float(sens["total"].sum()) > 0
    result.update(
        images=int(x.shape[0]),
        accuracy=Estimate.proportion(correct, int(x.shape[0])).to_dict(),
        dead=dead,
        data_profile=data_profile.tolist(),
        data_mass_below_8=datastats.radial_mass(data_profile, 0, 8.0),
    )
    if not dead:
        result["profile"] = datastats.radial_distribution(sens["mean"]).tolist()
    runs.save_arrays(
        run_dir,
        radial=sens["radial"],
        square=sens["square"],
        total=sens["total"],
        mean=sens["mean"],
        data_profile=data_profile,
        data_amplitude=amplitude,
    )
    return result
