"""``torchvision:NAME`` and ``timm:NAME`` models, imported lazily, wrapped with input normalisation so they take
[0, 1] images like every freqlens model."""

from __future__ import annotations

import importlib
from typing import Any

from torch import Tensor, nn

from freqlens.errors import FreqlensError
from freqlens.models.layers import Normalize, make_normalize

_EXTRAS = {"torchvision": "vision", "timm": "timm"}


class Wrapped(nn.Module):
    """Normalisation followed by a third-party network."""

    def __init__(self, normalize: Normalize, net: nn.Module) -> None:
        super().__init__()
        self.normalize = normalize
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        out = self.net(self.normalize(x))
        return out if isinstance(out, Tensor) else out.logits  # torchvision's Inception/GoogLeNet outputs


def create_external(
    name: str, num_classes: int, in_channels: int, image_size: int, normalize: str = "auto", **kwargs: Any
) -> nn.Module:
    """Build ``torchvision:NAME`` (``torchvision.models.get_model``) or ``timm:NAME`` (``timm.create_model``)."""
    source, _, model_name = name.partition(":")
    if source not in _EXTRAS or not model_name:
        raise FreqlensError(f"unknown model source in {name!r}; use torchvision:NAME or timm:NAME")
    try:
        lib = importlib.import_module(source)
    except ImportError:
        raise FreqlensError(
            f"model {name!r} needs {source}, which is not installed; pip install 'freqlens[{_EXTRAS[source]}]'"
        ) from None
    try:
        if source == "torchvision":
            if in_channels != 3:
                raise FreqlensError(f"torchvision models take 3 input channels, not {in_channels}")
            net = lib.models.get_model(model_name, num_classes=num_classes, **kwargs)
        else:
            net = lib.create_model(model_name, num_classes=num_classes, in_chans=in_channels, **kwargs)
    except (ValueError, RuntimeError, TypeError, KeyError) as exc:
        if isinstance(exc, FreqlensError):
            raise
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FreqlensError(f"{source} could not build {model_name!r}: {first}") from None
    default_stats = "imagenet" if in_channels == 3 else "auto"
    return Wrapped(make_normalize(default_stats if normalize == "auto" else normalize, in_channels), net)
