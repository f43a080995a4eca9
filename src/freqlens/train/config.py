"""The one training configuration: a frozen dataclass whose fields are the paper's heuristics as switches.

Build it from a dict (:meth:`TrainConfig.from_dict`), a JSON or TOML file (:func:`load_config`), or both with
overrides; unknown keys and ill-typed values are one-line :class:`~freqlens.errors.FreqlensError`\\ s.

Example:
    >>> cfg = TrainConfig.from_dict({"model": "hfc_resnet32", "optimizer": "adam", "lr": 1e-4, "eval_radii": [4, 8]})
    >>> cfg.model, cfg.eval_radii
    ('hfc_resnet32', (4.0, 8.0))
    >>> TrainConfig.from_dict({"epoch": 3})
    Traceback (most recent call last):
    ...
    freqlens.errors.FreqlensError: unknown config key 'epoch' (did you mean epochs?)
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freqlens.errors import FreqlensError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("triangle", "cosine", "constant")
ADVERSARIAL = ("none", "pgd", "fgsm_rs")
AMP_DTYPES = ("bfloat16", "float16")
CPU_AMP = ("auto", "on", "off")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. The defaults train the small CNN stably from a couple of thousand
    images up (Adam 2e-3, the quick profile's optimiser: with the 15 % warm-up a small subset gets a warm-up of one or
    two steps, after which SGD at lr 0.2 diverged); ``configs/small_cnn_bn.toml`` is the fast SGD recipe for the full
    CIFAR-10 (about 85% test accuracy in 10 epochs on a CPU). The HFC paper's set-up is ``model=hfc_resnet32,
    optimizer=adam, lr=1e-4, batch_size=100, epochs=100, schedule=constant, warmup=0, weight_decay=0,
    label_smoothing=0, augment=none``."""

    # --- model -------------------------------------------------------------------------------------------------
    model: str = "small_cnn"  # registry name (freqlens.models.list_models()), or torchvision:NAME / timm:NAME
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # builder options, e.g. {"batchnorm": false}
    # --- data --------------------------------------------------------------------------------------------------
    data: str = "cifar10"  # a freqlens.data.open_dataset name: cifar10, cifar100, a folder, synthetic:...
    data_dir: str | None = None  # where the dataset lives (None: $FREQLENS_DATA, the cache, or download)
    train_subset: int | None = None  # train on this many images drawn under `seed` (None: all)
    test_subset: int | None = None  # evaluate on this many test images drawn under `seed` (None: all)
    train_view: str = "original"  # freqlens.views name applied once to the training images, e.g. "lfc:8:max"
    shuffle_labels: bool = False  # train on one fixed random permutation of the labels (HFC Fig. 3)
    augment: str = (
        "flip,translate:2"  # "none" or a comma list of flip, crop:P, translate:P (reflect pad), roll:P (circular)
    )
    # --- optimisation ------------------------------------------------------------------------------------------
    epochs: int = 10
    batch_size: int | None = None  # None: auto_batch_size(n) = 256, or fewer so that an epoch has >= 50 steps
    optimizer: str = "adam"  # sgd (with momentum), adam, adamw
    lr: float = 2e-3  # peak learning rate
    momentum: float = 0.9  # SGD momentum, or Adam's beta1
    nesterov: bool = True  # Nesterov momentum (SGD only)
    weight_decay: float = 5e-4  # on conv and linear weights only (not biases, BN or the input normalisation)
    schedule: str = "triangle"  # after warm-up: triangle (linear decay to 0), cosine (to 0), constant
    warmup: float = 0.15  # fraction of all steps with a linear warm-up from 0 to `lr`
    label_smoothing: float = 0.1
    mixup_alpha: float = 0.0  # mix-up with lambda ~ Beta(alpha, alpha) per batch; 0 = off (paper 0.5, HFC code 1)
    # --- adversarial training (Madry: train on the attacked batch only) ----------------------------------------
    adversarial: str = "none"  # none, pgd (L-inf, as the HFC code), fgsm_rs (FGSM with random start, Wong et al.)
    adv_eps: float = 0.03  # L-inf radius in [0, 1] pixels
    adv_steps: int = 10  # PGD steps
    adv_step_size: float | None = None  # None: eps / 10 for pgd (0.003, the HFC code), 1.25 * eps for fgsm_rs
    adv_random_start: bool = False  # PGD random start (the HFC code has none); fgsm_rs always starts at random
    # --- per-epoch evaluation ----------------------------------------------------------------------------------
    eval_radii: tuple[float, ...] = (4.0, 8.0, 12.0, 16.0)  # accuracy on test LFC/HFC at these radii; () = off
    eval_normalize: bool = True  # rescale LFC/HFC eval images by their per-image max, as the HFC code does
    train_eval_subset: int = 10000  # training images for train-set LFC accuracy (when shuffle_labels)
    eval_batch_size: int = 1000
    # --- run ---------------------------------------------------------------------------------------------------
    seed: int = 0  # fixes initialisation, data order, augmentation, subsets, label shuffle and attack starts
    device: str = "auto"  # cpu, cuda, cuda:N, or auto
    amp: bool = True  # mixed precision: autocast on CUDA, and on CPU as cpu_amp says; False = float32 everywhere
    amp_dtype: str = "bfloat16"  # bfloat16, or float16 (with a gradient scaler); CUDA only
    cpu_amp: str = (
        "auto"  # bfloat16 autocast on CPU: auto (where the CPU has native bfloat16: AMX or AVX512-BF16), on, off
    )
    channels_last: bool = True  # NHWC memory layout (faster convs on CPU and CUDA)

    def __post_init__(self) -> None:
        _check(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Build from a mapping, rejecting unknown keys and values of the wrong type."""
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            if key not in hints:
                close = difflib.get_close_matches(key, names, n=1)
                hint = f" (did you mean {close[0]}?)" if close else "; see `freqlens train --help` for the keys"
                raise FreqlensError(f"unknown config key {key!r}{hint}")
            kwargs[key] = _coerce(key, value, hints[key])
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (checked like :meth:`from_dict`)."""
        return TrainConfig.from_dict({**dataclasses.asdict(self), **changes})

    def digest(self) -> str:
        """A short hash of the resolved config."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def describe(self) -> str:
        """The resolved config, one ``key = value`` line per field."""
        width = max(len(f.name) for f in dataclasses.fields(self))
        return "\n".join(f"{k:<{width}} = {json.dumps(v)}" for k, v in self.to_dict().items())


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Check ``value`` against the field type ``tp`` (int -> float allowed, lists -> tuples)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        inner = [t for t in options if t is not type(None)]
        return _coerce(key, value, inner[0])
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise FreqlensError(f"config key {key!r} must be a list of numbers, got {value!r}")
        return tuple(_coerce(key, v, typing.get_args(tp)[0]) for v in value)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise FreqlensError(f"config key {key!r} must be a table/object, got {value!r}")
        return dict(value)
    ok = (
        (tp is bool and isinstance(value, bool))
        or (tp is int and isinstance(value, int) and not isinstance(value, bool))
        or (tp is float and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (tp is str and isinstance(value, str))
    )
    if not ok:
        raise FreqlensError(f"config key {key!r} must be {_type_name(tp)}, got {value!r}")
    return float(value) if tp is float else value


def _choice(key: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise FreqlensError(f"config key {key!r} must be one of {', '.join(options)}, got {value!r}")


# The automatic batch size: this many images per step at most, and at least MIN_STEPS steps per epoch (but never under
# MIN_BATCH images). With 2000 images, batch 256 gave 8 steps an epoch: BatchNorm's running statistics (momentum 0.1)
# still held 43 % of their initial values after one epoch, and the model scored chance in eval mode (issue 12).
MAX_BATCH, MIN_STEPS, MIN_BATCH = 256, 50, 16


def auto_batch_size(n: int) -> int:
    """The batch size used when ``batch_size`` is None, for a training set of ``n`` images.

    Example:
        >>> auto_batch_size(50000), auto_batch_size(2000), auto_batch_size(100)
        (256, 40, 16)
    """
    return max(MIN_BATCH, min(MAX_BATCH, n // MIN_STEPS))


def _check(c: TrainConfig) -> None:
    for f in dataclasses.fields(c):
        value = getattr(c, f.name)
        if any(isinstance(v, float) and not math.isfinite(v) for v in (value if isinstance(value, tuple) else [value])):
            raise FreqlensError(f"config key {f.name!r} must be a finite number, got {value!r}")
    _choice("optimizer", c.optimizer, OPTIMIZERS)
    _choice("schedule", c.schedule, SCHEDULES)
    _choice("adversarial", c.adversarial, ADVERSARIAL)
    _choice("amp_dtype", c.amp_dtype, AMP_DTYPES)
    _choice("cpu_amp", c.cpu_amp, CPU_AMP)
    for key in ("epochs", "eval_batch_size", "train_eval_subset", "adv_steps"):
        if getattr(c, key) <= 0:
            raise FreqlensError(f"config key {key!r} must be positive, got {getattr(c, key)}")
    for key in ("batch_size", "train_subset", "test_subset"):
        if getattr(c, key) is not None and getattr(c, key) <= 0:
            raise FreqlensError(f"config key {key!r} must be positive or null, got {getattr(c, key)}")
    if c.lr <= 0:
        raise FreqlensError(f"lr must be positive, got {c.lr}")
    for key in ("weight_decay", "mixup_alpha", "adv_eps"):
        if getattr(c, key) < 0:
            raise FreqlensError(f"config key {key!r} must be >= 0, got {getattr(c, key)}")
    if not 0 <= c.momentum < 1 or not 0 <= c.warmup < 1 or not 0 <= c.label_smoothing < 1:
        raise FreqlensError("momentum, warmup and label_smoothing must lie in [0, 1)")
    if c.adv_eps > 1 or (c.adv_step_size is not None and not 0 < c.adv_step_size <= 1):
        raise FreqlensError("adv_eps and adv_step_size are in [0, 1] pixel units: adv_eps <= 1, 0 < adv_step_size <= 1")
    if c.adversarial != "none" and c.mixup_alpha > 0:
        raise FreqlensError("adversarial training and mix-up cannot be combined; set one of them off")
    if any(r <= 0 for r in c.eval_radii) or len(set(c.eval_radii)) != len(c.eval_radii):
        raise FreqlensError(f"eval_radii must be distinct positive numbers, got {list(c.eval_radii)}")
    from freqlens.train.augment import parse_augment
    from freqlens.views import View

    parse_augment(c.augment)
    View.parse(c.train_view)


def load_config(
    path: str | Path | None = None, overrides: Mapping[str, Any] | None = None, base: Mapping[str, Any] | None = None
) -> TrainConfig:
    """Read a JSON or TOML config file (optional) over ``base`` (default: the defaults), then apply ``overrides``
    (e.g. from CLI flags)."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FreqlensError(f"config file {path} does not exist")
        text = path.read_text()
        try:
            if path.suffix == ".toml":
                if sys.version_info < (3, 11):
                    raise FreqlensError("TOML configs need Python 3.11 or newer; use a JSON config instead")
                import tomllib

                values = tomllib.loads(text)
            elif path.suffix == ".json":
                values = json.loads(text)
            else:
                raise FreqlensError(f"config file {path} must end in .json or .toml")
        except (ValueError, TypeError) as exc:  # json.JSONDecodeError and tomllib.TOMLDecodeError are ValueErrors
            if isinstance(exc, FreqlensError):
                raise
            raise FreqlensError(f"cannot parse {path}: {str(exc).splitlines()[0]}") from None
        if not isinstance(values, dict):
            raise FreqlensError(f"config file {path} must hold one object/table of keys")
    return TrainConfig.from_dict({**(base or {}), **values, **(overrides or {})})
