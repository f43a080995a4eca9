"""A name -> builder registry in the style of timm's ``@register_model``, and the one way to build a model.

Every registered builder takes ``num_classes``, ``in_channels`` and ``image_size`` plus its own keyword arguments and
returns a module mapping images in [0, 1] to logits (its input normalisation inside). :func:`create_model` checks the
name and the keyword arguments and records them on the module (:func:`model_spec`), so a saved model can be rebuilt.

Example:
    >>> import torch
    >>> model = create_model("small_cnn", width=8)
    >>> tuple(model(torch.rand(2, 3, 32, 32)).shape)
    (2, 10)
    >>> model_spec(model)["name"], model_spec(model)["kwargs"]
    ('small_cnn', {'width': 8})
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import nn

from freqlens.errors import FreqlensError

Builder = Callable[..., nn.Module]
B = TypeVar("B", bound=Builder)

_SPEC_ATTR = "freqlens_spec"
_COMMON = ("num_classes", "in_channels", "image_size")


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its name, builder and the keyword arguments the builder accepts beyond the common ones."""

    name: str
    builder: Builder
    description: str
    options: dict[str, Any]


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(fn: B | None = None, *, name: str | None = None) -> Any:
    """Decorator adding a builder to the registry under ``name`` (default: the function's name)."""

    def add(builder: B) -> B:
        key = name or builder.__name__
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} is registered twice")
        params = inspect.signature(builder).parameters
        missing = [p for p in _COMMON if p not in params]
        if missing:
            raise TypeError(f"builder {key!r} must accept {', '.join(missing)}")
        options = {p.name: p.default for p in params.values() if p.name not in _COMMON}
        doc = inspect.getdoc(builder) or ""
        _REGISTRY[key] = ModelEntry(key, builder, doc.splitlines()[0] if doc else "", options)
        return builder

    return add(fn) if fn is not None else add


def list_models() -> list[str]:
    """Names of all registered models (external ``torchvision:``/``timm:`` names are not listed)."""
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``, or a one-line error suggesting close names."""
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise FreqlensError(
            f"unknown model {name!r}; {hint}known: {', '.join(sorted(_REGISTRY))}, or torchvision:NAME / timm:NAME"
        )
    return _REGISTRY[name]


def create_model(
    name: str, num_classes: int = 10, in_channels: int = 3, image_size: int = 32, **kwargs: Any
) -> nn.Module:
    """Build a registered model (or ``torchvision:NAME`` / ``timm:NAME``) taking [0, 1] images and returning logits."""
    for value, what in ((num_classes, "num_classes"), (in_channels, "in_channels"), (image_size, "image_size")):
        if not isinstance(value, int) or value <= 0:
            raise FreqlensError(f"{what} must be a positive integer, got {value!r}")
    if ":" in name:
        from freqlens.models.external import create_external

        model = create_external(name, num_classes, in_channels, image_size, **kwargs)
    else:
        entry = get_entry(name)
        unknown = sorted(set(kwargs) - set(entry.options))
        if unknown:
            accepted = ", ".join(entry.options) or "none"
            raise FreqlensError(f"model {name!r} has no option {', '.join(unknown)}; it accepts: {accepted}")
        model = entry.builder(num_classes=num_classes, in_channels=in_channels, image_size=image_size, **kwargs)
    spec = {
        "name": name,
        "num_classes": num_classes,
        "in_channels": in_channels,
        "image_size": image_size,
        "kwargs": dict(kwargs),
    }
    object.__setattr__(model, _SPEC_ATTR, spec)
    return model


def model_spec(model: nn.Module) -> dict[str, Any]:
    """The ``create_model`` arguments a model was built with (name, num_classes, in_channels, image_size, kwargs)."""
    spec = getattr(model, _SPEC_ATTR, None)
    if spec is None:
        raise FreqlensError("this model was not built by freqlens.models.create_model, so it cannot be saved by name")
    return dict(spec)
