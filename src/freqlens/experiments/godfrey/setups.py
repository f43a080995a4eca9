"""The Godfrey experiments' set-ups: model families, training and measurement per profile, and the sweeps.

Every model standardises its inputs with the per-channel statistics of the images it is trained on, seen through its
training view (``normalize="data"``; Godfrey's ``dataloader_stats``): zero-mean high-pass images would otherwise enter
about two standard deviations off centre.

Profiles, and why each is sized as it is:

* ``paper``: Godfrey's families and sweeps (papers.md §2.5): SGD with momentum 0.9, his batch sizes and learning
  rates, 64-wide circular CNNs, the Myrtle CNN, full CIFAR-10, 5 seeds, for a GPU.
* ``cpu`` (``--seeds 3`` on two cores): the smallest set-up at which each effect is expected. The theory (papers.md
  §2.2) is about the *regularised optimum*: weight decay zeroes the frequencies where the data carry little signal.
  The circular CNNs keep Godfrey's depth 4 and his SGD (momentum 0.9, learning rate 1e-4, decay on weights only) but
  are 16 wide (the theory holds for any width). Full-width kernels see the learning rate multiplied by their
  H*W = 1024 taps, so 1e-4 is also the largest stable rate (3e-4 diverges); the optimum is then reached by weight
  decay removing the initial weights' components the data do not constrain, ``lr * wd / (1 - momentum)`` e-folds per
  step and layer. A model the decay has not reached keeps its random initial function where the data have little
  power, and its sensitivity ends up *anti*-correlated with the data (Spearman -0.86 with 240 Adam steps and He's
  gain; -0.49 after one epoch of SGD at decay 1e-5; +0.69 after one epoch at decay 2). Godfrey ran ~24k steps; on a
  CPU we take small batches (16, for many steps per image seen) and raise the base decay to 2, so each layer loses
  2.25 e-folds of its initial component (the product of four layers 9) in 3 epochs of 6k images, reported per model
  as ``decay_efolds`` with the training-loss plateau and the objective's gradient norm (quick: 1.25 per layer). The
  decay sweep keeps 1e-5 (decay not in effect) and 0.2 beside it; the depth sweep trains at the base decay (Godfrey:
  1e-5, where only his 24k steps of implicitly regularised SGD separate the depths). The conventional CNN is the
  small CNN (the Myrtle CNN is ~20x slower on a CPU) *without BatchNorm*, as Godfrey's Myrtle and VGG: after a
  BatchNorm the function ignores the scale of the conv weights, so decaying them does not regularise it (with BN
  and Adam, the decay sweep's rise of low-frequency mass could not be told from its control). It trains as Myrtle
  does, SGD with momentum 0.9 and decay on weights, at learning rate 5e-2 (batch 128) on 20k images for 10 epochs,
  so that decay 1e-2 removes ~8 e-folds of the initial weights (``decay_efolds``) and 1e-5 almost none. Sensitivity
  on 256 test images per seed (the seeds draw different images, so their spread holds the image noise too).
* ``quick`` (one seed, a share of the 25-minute quick run): the same families on 5k (circular) or 10k (small CNN,
  10 epochs: ~4 e-folds at decay 1e-2) images, two decays and depths 1 and 4; verdicts inside its noise are
  inconclusive.
"""

from __future__ import annotations

import json
from typing import Any

from freqlens.errors import FreqlensError
from freqlens.experiments.base import PROFILES

HIGHPASS = "hpsquare:8"  # Godfrey's PassFilter(mode='high', ratio=0.5) on 32x32 CIFAR: cutoff 8
CUTOFF = 8
LOW_BAND = 8.0  # "low frequencies" for the mass statistics: radii round(|k|) < 8
NEAR_CUTOFF = (8.0, 12.0)  # where high-pass data have most power: radii 8..11
NORMALIZE = {"normalize": "data"}  # standardise with the training view's own statistics (Godfrey)

# Model families: registry name and builder options per profile.
_CIRCULAR = {"depth": 4, "width": 16}
_NO_BN = {"batchnorm": False}  # as Godfrey's Myrtle and VGG (the module docstring says why)
_FAMILIES: dict[str, dict[str, dict[str, Any]]] = {
    "small_cnn": {
        "quick": {"model": "small_cnn", "model_kwargs": _NO_BN},
        "cpu": {"model": "small_cnn", "model_kwargs": _NO_BN},
        "paper": {"model": "myrtle_cnn", "model_kwargs": {}},
    },
    "circular_relu": {
        "quick": {"model": "circular_cnn", "model_kwargs": {**_CIRCULAR, "linear": False}},
        "cpu": {"model": "circular_cnn", "model_kwargs": {**_CIRCULAR, "linear": False}},
        "paper": {"model": "circular_cnn", "model_kwargs": {"depth": 4, "width": 64, "linear": False}},
    },
    "circular_linear": {
        "quick": {"model": "circular_cnn", "model_kwargs": {**_CIRCULAR, "linear": True}},
        "cpu": {"model": "circular_cnn", "model_kwargs": {**_CIRCULAR, "linear": True}},
        "paper": {"model": "circular_cnn", "model_kwargs": {"depth": 4, "width": 64, "linear": True}},
    },
}
FAMILIES = tuple(_FAMILIES)
LABELS = {
    "small_cnn": "small CNN (paper profile: Myrtle CNN)",
    "circular_relu": "ReLU circular CNN",
    "circular_linear": "linear circular CNN",
}

_SGD = {"optimizer": "sgd", "lr": 1e-4, "momentum": 0.9, "nesterov": False}
_SMALL_SGD = {"optimizer": "sgd", "lr": 5e-2, "batch_size": 128, "epochs": 10}  # the small CNN, as Myrtle trains
# Training per profile and family (papers.md §2.5 for the paper profile; the module docstring says why).
_TRAINING: dict[str, dict[str, dict[str, Any]]] = {
    "quick": {
        "small_cnn": {**_SMALL_SGD, "train_subset": 10000},
        "circular_relu": {**_SGD, "batch_size": 16, "epochs": 2, "train_subset": 5000},
        "circular_linear": {**_SGD, "batch_size": 16, "epochs": 2, "train_subset": 5000},
    },
    "cpu": {
        "small_cnn": {**_SMALL_SGD, "train_subset": 20000},
        "circular_relu": {**_SGD, "batch_size": 16, "epochs": 3, "train_subset": 6000},
        "circular_linear": {**_SGD, "batch_size": 16, "epochs": 3, "train_subset": 6000},
    },
    "paper": {
        "small_cnn": {"optimizer": "sgd", "lr": 1e-2, "batch_size": 512, "epochs": 200, "train_subset": None},
        "circular_relu": {**_SGD, "batch_size": 1024, "epochs": 200, "train_subset": None},
        "circular_linear": {**_SGD, "batch_size": 1024, "epochs": 200, "train_subset": None},
    },
}
_SCALE: dict[str, dict[str, Any]] = {
    "quick": {"test_subset": 1000, "schedule": "constant", "warmup": 0.0},
    "cpu": {"test_subset": 2000, "schedule": "constant", "warmup": 0.0},
    "paper": {"test_subset": None, "schedule": "cosine", "warmup": 0.0},
}
SENSITIVITY_IMAGES = {"quick": 256, "cpu": 256, "paper": 10000}
DATA_IMAGES = 5000  # training images for the data's spectrum (Godfrey: a subsample of 5000)
SEEDS = {"quick": (0,), "cpu": (0,), "paper": (0,)}  # more with `reproduce --seeds N` (cpu: 3, paper: 5)

# Sweeps (papers.md §2.5): weight decay per family, depths of the circular CNNs. The first decay is the one the
# high-pass recipe and the depth sweep train at (so their models are shared).
DECAYS: dict[str, dict[str, tuple[float, ...]]] = {
    "quick": {"small_cnn": (1e-5, 1e-2), "circular_relu": (2.0, 1e-5), "circular_linear": (2.0, 1e-5)},
    "cpu": {
        "small_cnn": (1e-5, 1e-3, 1e-2),
        "circular_relu": (2.0, 1e-5, 0.2),
        "circular_linear": (2.0, 1e-5, 0.2),
    },
    "paper": {
        "small_cnn": tuple(float(f"{10 ** (-5 + 3 * i / 9):.3g}") for i in range(10)),
        "circular_relu": (1e-5, 2.15e-4, 4.64e-3, 0.1),
        "circular_linear": (1e-5, 2.15e-4, 4.64e-3, 0.1),
    },
}
DEPTHS = {"quick": (1, 4), "cpu": (1, 2, 4), "paper": (1, 2, 4, 8)}


def base_decay(profile: str, family: str) -> float:
    """The weight decay of the high-pass recipe's and the depth sweep's models (shared with the decay sweep)."""
    return DECAYS[profile][family][0]


def check_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise FreqlensError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")


def model_spec(profile: str, family: str, depth: int | None = None) -> dict[str, Any]:
    """Registry name and builder options of a family (``depth`` overrides a circular CNN's depth)."""
    check_profile(profile)
    if family not in _FAMILIES:
        raise FreqlensError(f"unknown family {family!r}; use one of {', '.join(FAMILIES)}")
    spec = json.loads(json.dumps(_FAMILIES[family][profile]))
    spec["model_kwargs"].update(NORMALIZE)
    if depth is not None:
        if spec["model"] != "circular_cnn":
            raise FreqlensError(f"depth sweeps are for the circular CNNs, not {family}")
        spec["model_kwargs"]["depth"] = depth
    return spec


def train_setup(
    profile: str,
    family: str,
    weight_decay: float,
    view: str = "original",
    depth: int | None = None,
    seed: int = 0,
    data: str = "cifar10",
) -> dict[str, Any]:
    """A :class:`freqlens.train.TrainConfig` dict for one model of these experiments."""
    return {
        **model_spec(profile, family, depth),
        "data": data,
        **_SCALE[profile],
        "momentum": 0.9,
        "nesterov": False,
        **_TRAINING[profile][family],
        "weight_decay": weight_decay,
        "label_smoothing": 0.0,
        # Godfrey's flip and 2-px translation, but circular: a shift of a padded image puts about 1 % of a high-pass
        # image's power back inside the removed square, and a linear CNN trained with decay put all its sensitivity
        # on one frequency there (the measured cause of its "barely learned" Q3/Q6 under the cpu profile).
        "augment": "flip,roll:2",
        "train_view": view,
        "eval_radii": [],
        "seed": seed,
    }


def cell_config(
    profile: str,
    family: str,
    weight_decay: float | None,
    view: str = "original",
    depth: int | None = None,
    seed: int = 0,
    data: str = "cifar10",
    init_seed: int | None = None,
) -> dict[str, Any]:
    """A cell: a training set-up (``weight_decay=None``: the untrained model, drawn under ``init_seed``, default
    ``seed``) and how to measure it."""
    untrained = {**model_spec(profile, family, depth), "seed": seed if init_seed is None else init_seed}
    return {
        "data": data,
        "family": family,
        "train": None if weight_decay is None else train_setup(profile, family, weight_decay, view, depth, seed, data),
        "untrained": untrained if weight_decay is None else None,
        "view": view,
        "images": SENSITIVITY_IMAGES[profile],
        "data_images": DATA_IMAGES,
        "metric": "meannorm",
        "target": "logits",
        "seed": seed,
    }
