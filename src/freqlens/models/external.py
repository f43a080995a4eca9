"""``torchvision:NAME`` and ``timm:NAME`` models, imported lazily, wrapped with input normalisation so they take
[0, 1] images like every freqlens model."""

from __future__ import annotations

import importlib
from typing import Any

from torch import nn

from freqlens.errors import FreqlensError
from freqlens.models.layers import Normalize, NormalizedModel, parse_normalize
from freqlens.weights import fetch_hub_file, torchvision_tag, weights_record

_EXTRAS = {"torchvision": "vision", "timm": "timm"}


def import_package(source: str, name: str) -> Any:
    """``torchvision`` or ``timm``, or a one-line error saying how to install it (any import failure: a package built
    for another torch fails in many ways, e.g. ``torchvision::nms`` missing)."""
    try:
        return importlib.import_module(source)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FreqlensError(
            f"model {name!r} needs {source}, which does not import here ({first}); "
            f"pip install 'freqlens[{_EXTRAS[source]}]' matching your torch, or use `bash scripts/setup.sh vision`"
        ) from None


def create_external(
    name: str,
    num_classes: int,
    in_channels: int,
    image_size: int,
    normalize: str = "auto",
    weights: str | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build ``torchvision:NAME`` (``torchvision.models.get_model``) or ``timm:NAME`` (``timm.create_model``).

    ``weights`` is None (fresh), ``pretrained`` or a package tag (:mod:`freqlens.weights`); a weights *file* is
    loaded by the caller into the fresh model. Pretrained models keep their own number of outputs. The chosen
    weights are recorded on the module as ``freqlens_weights`` (tag and file). ``normalize="auto"`` standardises with
    the statistics the package states for the model (torchvision: ImageNet's; timm: the model's ``pretrained_cfg``);
    anything :func:`parse_normalize` accepts overrides it. The result takes [0, 1] images (:class:`NormalizedModel`).
    """
    source, _, model_name = name.partition(":")
    if source not in _EXTRAS or not model_name:
        raise FreqlensError(f"unknown model source in {name!r}; use torchvision:NAME or timm:NAME")
    lib = import_package(source, name)
    record: dict[str, Any] = {"tag": None}
    try:
        if source == "torchvision":
            if in_channels != 3:
                raise FreqlensError(f"torchvision models take 3 input channels, not {in_channels}")
            if weights is None:
                net = lib.models.get_model(model_name, weights=None, num_classes=num_classes, **kwargs)
            else:
                tag = torchvision_tag(lib, model_name, weights)
                path = fetch_hub_file(tag.url, f"the {tag.name} weights of torchvision:{model_name}")
                net = lib.models.get_model(model_name, weights=tag, **kwargs)
                record = weights_record(tag.name, path)
                record["classes"] = len(tag.meta.get("categories") or [])
            stats: Normalize | None = parse_normalize("imagenet", 3)
        else:
            net = _timm_model(lib, model_name, weights, in_channels, kwargs)
            if weights is None and net.num_classes != num_classes:
                net.reset_classifier(num_classes)
            if weights is not None:
                record = {"tag": (getattr(net, "pretrained_cfg", None) or {}).get("tag") or weights}
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
    model = NormalizedModel(stats if stats is not None else Normalize([0.0] * in_channels, [1.0] * in_channels), net)
    object.__setattr__(model, "freqlens_weights", record)
    return model


def _timm_model(lib: Any, model_name: str, weights: str | None, in_channels: int, kwargs: dict[str, Any]) -> Any:
    """timm's model, fresh or with pretrained weights (``pretrained``: the default tag; else ``NAME.TAG``)."""
    if weights is None:
        return lib.create_model(model_name, pretrained=False, in_chans=in_channels, **kwargs)
    full = model_name if weights == "pretrained" else f"{model_name}.{weights}"
    try:
        return lib.create_model(full, pretrained=True, in_chans=in_channels, **kwargs)
    except Exception as exc:  # offline: huggingface_hub / urllib errors of many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FreqlensError(
            f"timm could not load the pretrained weights of {full} ({first}); download its weights file (see "
            f"https://huggingface.co/timm/{full}) and pass it: timm:{model_name},weights=FILE"
        ) from None
