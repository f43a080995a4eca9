"""Training: one config object (:class:`TrainConfig`), one loop (:func:`train`), per-epoch callbacks, exact resume.

Example:
    >>> import tempfile
    >>> cfg = TrainConfig.from_dict({"data": "synthetic:powerlaw?n=64&size=16&classes=2", "epochs": 1,
    ...     "batch_size": 32, "model_kwargs": {"width": 4}, "eval_radii": [4]})
    >>> result = train(cfg, tempfile.mkdtemp(), progress=False)
    >>> sorted(result.final)[:4], len(result.metrics)
    (['epoch', 'epoch_time_s', 'lr', 'radii'], 1)
"""

from freqlens.train.callbacks import Callback, EpochContext, default_callbacks
from freqlens.train.config import TrainConfig, load_config
from freqlens.train.loop import TrainResult, lr_factor, resolve_device, train

__all__ = [
    "Callback",
    "EpochContext",
    "TrainConfig",
    "TrainResult",
    "default_callbacks",
    "load_config",
    "lr_factor",
    "resolve_device",
    "train",
]
