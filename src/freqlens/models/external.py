"""``torchvision:NAME`` and ``timm:NAME`` models, imported lazily, wrapped with input normalisation so they take
[0, 1] images like every freqlens model."""

from __future__ import annotations

import importlib
from typing import Any

from torch import nn

from freqlens.errors import FreqlensError
from freqlens.models.layers import Normalize, NormalizedModel, parse_normalize

_EXTRAS = {"torchvision": "vision", "timm": "timm"}


def create_external(
    name: str,
    num_classes: int,
    in_channels: int,
    image_size: int,
    normalize: str = "auto",
    pretrained: bool = False,
    **kwargs: Any,
) -> nn.Module:
    """Build ``torchvision:NAME`` (``torchvision.models.get_model``) or ``timm:NAME`` (``timm.create_model``).

    ``pretrained`` fetches the package's own weights (torchvision's ``DEFAULT``, timm's default tag) through the
    package, on this machine. ``normalize="auto"`` standardises with the statistics the package states for the model
    (torchvision: ImageNet's; timm: the model's ``pretrained_cfg``); anything :func:`parse_normalize` accepts
    overrides it. The result takes [0, 1] images (:class:`NormalizedModel`).
    """
    source, _, model_name = name.partition(":")
    if source not in _EXTRAS or not model_name:
        raise FreqlensError(f"unknown model source in {name!r}; use torchvision:NAME or timm:NAME")
    try:
        lib = importlib.import_module(source)
    except Exception as exc:  # not installed, or built for another torch (then import fails in many ways)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FreqlensError(
            f"model {name!r} needs {source}, which does not import here ({first}); "
            f"pip install 'freqlens[{_EXTRAS[source]}]' matching your torch"
        ) from None
    try:
        if source == "torchvision":
            if in_channels != 3:
                raise FreqlensError(f"torchvision models take 3 input channels, not {in_channels}")
            weights = "DEFAULT" if pretrained else None
            net = lib.models.get_model(model_name, weights=weights, num_classes=num_classes, **kwargs)
            stats: Normalize | None = parse_normalize("imagenet", 3)
        else:
            net = lib.create_model(model_name, pretrained=pretrained, in_chans=in_channels, **kwargs)
            if net.num_classes != num_classes:
                if pretrained:
                    raise FreqlensError(
                        f"{name} with pretrained weights has {net.num_classes} classes, not the {num_classes} asked "
                        "for; map the image set onto its classes (--class-index)"
                    )
                net.reset_classifier(num_classes)
            cfg = getattr(net, "pretrained_cfg", None) or {}
            mean, std = cfg.get("mean"), cfg.get("std")
            stats = Normalize(mean, std) if mean and std and len(mean) == in_channels else None
    except (ValueError, RuntimeError, TypeError, KeyError) as exc:
        if isinstance(exc, FreqlensError):
            raise
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FreqlensError(f"{source} could not build {model_name!r}: {first}") from None
    if normalize != "auto":
        stats = parse_normalize(normalize, in_channels)
    elif stats is None:
        raise FreqlensError(f"{name} states no input statistics; say them with --normalize (e.g. imagenet, none)")
    return NormalizedModel(stats if stats is not None else Normalize([0.0] * in_channels, [1.0] * in_channels), net)
