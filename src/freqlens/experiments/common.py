"""Training set-ups shared by the recipes, per profile, so each model is trained once and reused.

A training set-up is a plain dict of :class:`freqlens.train.TrainConfig` fields; equal dicts hash to the same
training run, so the natural model of the ``quick`` profile is trained once and read by E1, E6 (vanilla), E8/E9 and
the heat map, and E7's vanilla LFC models are E4's.

``quick``: the 16-wide small CNN without BatchNorm (the HFC code's vanilla net has none), Adam, all 50k CIFAR-10
training images, 4 epochs, on a CPU (about 30 s a model with bfloat16 autocast on a 2-core AMX CPU). ``paper``: the
HFC code's set-up (papers.md §1.3): the 16-wide 32-layer option-A ResNet without BatchNorm, Adam 1e-4, batch 100,
100 epochs, no augmentation, no weight decay, plain cross-entropy, full CIFAR-10, for a GPU.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from freqlens.errors import FreqlensError

RADII = (4, 8, 12, 16)  # the HFC paper's radii (train data and Fig. 3/5 curves)
# The HFC code's BatchNorm normalises with the current batch's statistics, at test time too.
BATCHNORM = {"batchnorm": True, "batch_stats": True}

_QUICK: dict[str, Any] = {
    "model": "small_cnn",
    "model_kwargs": {"width": 16, "batchnorm": False},
    "data": "cifar10",
    "train_subset": None,
    "test_subset": 1000,
    "epochs": 4,
    "batch_size": 128,
    "optimizer": "adam",
    "lr": 2e-3,
    "weight_decay": 0.0,
    "label_smoothing": 0.0,
    "augment": "none",
    "eval_radii": list(RADII),
    "seed": 0,
}

_PAPER: dict[str, Any] = {
    "model": "hfc_resnet32",
    "model_kwargs": {"batchnorm": False},
    "data": "cifar10",
    "train_subset": None,
    "test_subset": None,
    "epochs": 100,
    "batch_size": 100,
    "optimizer": "adam",
    "lr": 1e-4,
    "schedule": "constant",
    "warmup": 0.0,
    "weight_decay": 0.0,
    "label_smoothing": 0.0,
    "augment": "none",
    "eval_radii": list(RADII),
    "seed": 0,
}

# Per-profile test-set sizes for analyses run after training (attacks and heat maps are the costly ones).
EVAL_IMAGES = {"quick": 1000, "paper": 10000}
ATTACK_IMAGES = {"quick": 200, "paper": 1000}
HEATMAP_IMAGES = {"quick": 100, "paper": 1000}


def _check_profile(profile: str) -> None:
    if profile not in ("quick", "paper"):
        raise FreqlensError(f"unknown profile {profile!r}; use quick or paper")


def vanilla(profile: str, **overrides: Any) -> dict[str, Any]:
    """The vanilla training set-up of ``profile`` with some fields changed (``model_kwargs`` are merged)."""
    _check_profile(profile)
    config = json.loads(json.dumps(_QUICK if profile == "quick" else _PAPER))
    kwargs = overrides.pop("model_kwargs", {})
    config["model_kwargs"] = {**config["model_kwargs"], **kwargs}
    config.update(overrides)
    return config


HEURISTICS = ("vanilla", "dropout", "mixup", "batchnorm", "adversarial")


def heuristic(profile: str, name: str) -> dict[str, Any]:
    """The set-up of one heuristic of HFC Fig. 5, switched on over the vanilla set-up.

    Mix-up uses the code's Beta(1, 1) (the paper says α = 0.5). BatchNorm uses batch statistics at test time too, as
    the code. Adversarial training follows ``trainMadry``: PGD-L∞,
    ε = 0.03, 10 steps of 0.003, no random start, pad-4 crop and flip, LFC/HFC test views not max-normalised; the
    quick profile uses FGSM with random start (same ε) to stay within CPU minutes.
    """
    if name == "vanilla":
        return vanilla(profile)
    if name == "dropout":
        return vanilla(profile, model_kwargs={"dropout": 0.5})
    if name == "mixup":
        return vanilla(profile, mixup_alpha=1.0)
    if name == "batchnorm":
        return vanilla(profile, model_kwargs=BATCHNORM)
    if name == "adversarial":
        if profile == "quick":
            return vanilla(profile, adversarial="fgsm_rs", adv_eps=0.03)
        return vanilla(
            profile, adversarial="pgd", adv_eps=0.03, adv_steps=10, augment="crop:4,flip", eval_normalize=False
        )
    raise FreqlensError(f"unknown heuristic {name!r}; use one of {', '.join(HEURISTICS)}")


def filtered(profile: str, part: str, radius: int, **overrides: Any) -> dict[str, Any]:
    """Training on the LFC or HFC at ``radius``, max-normalised per image as the HFC code (Table 1, E7).

    The quick profile trains these on 20k images so that all twelve filtered models (Table 1, E7) fit the CPU
    budget. No per-epoch LFC/HFC evaluation: the recipes test these models on the views they need once training is
    done.
    """
    if part not in ("lfc", "hfc"):
        raise FreqlensError(f"part must be lfc or hfc, got {part!r}")
    extra: dict[str, Any] = {"train_subset": 20000} if profile == "quick" else {}
    return vanilla(profile, train_view=f"{part}:{radius}:max", eval_radii=[], **{**extra, **overrides})


def epochs(run_dir: Path) -> list[dict[str, Any]]:
    """The per-epoch records the training loop wrote for a training run folder (from ``ctx.trained_model``)."""
    from freqlens.runs import TRAIN_KIND, load_metrics

    return [r for r in load_metrics(Path(run_dir) / TRAIN_KIND) if "epoch" in r]


def series(records: Sequence[dict[str, Any]], key: str, index: int | None = None) -> list[float]:
    """One metric over epochs; ``index`` picks an entry of a per-radius list."""
    values = [r[key] if index is None else r[key][index] for r in records if key in r]
    return [float(v) for v in values]
