"""Building blocks shared by the model definitions: input normalisation and the activation/norm switches."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from freqlens.errors import FreqlensError

# Per-channel statistics of the CIFAR training sets in [0, 1] pixel units (the usual published values).
STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, with mean and std as buffers (saved with the weights).

    Example:
        >>> norm = Normalize([0.5], [0.25])
        >>> norm(torch.ones(1, 1, 2, 2)).flatten().tolist()
        [2.0, 2.0, 2.0, 2.0]
    """

    mean: Tensor
    std: Tensor

    def __init__(self, mean: Sequence[float], std: Sequence[float], from_data: bool = False) -> None:
        super().__init__()
        if len(mean) != len(std) or any(s <= 0 for s in std):
            raise FreqlensError("normalisation needs one mean and one positive std per channel")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.from_data = from_data  # the trainer sets mean and std from the training images (fit_input_statistics)

    @torch.no_grad()
    def fit(self, images: Tensor) -> None:
        """Set mean and std to the per-channel statistics of ``images`` ``(N, C, H, W)`` (computed in float64)."""
        x = images.detach().to(torch.float64)
        mean, std = x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))
        if (std <= 0).any():
            raise FreqlensError("a channel of the training images is constant, so it cannot be standardised")
        self.mean.copy_(mean.view_as(self.mean))
        self.std.copy_(std.view_as(self.std))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        mean = [round(v, 4) for v in self.mean.flatten().tolist()]
        std = [round(v, 4) for v in self.std.flatten().tolist()]
        return f"mean={mean}, std={std}"


def make_normalize(normalize: str, in_channels: int) -> Normalize:
    """The input normalisation named by ``normalize``.

    ``"auto"``: CIFAR-10 statistics for 3 channels, mean 0.5 / std 0.5 otherwise; ``"cifar10"``, ``"cifar100"``,
    ``"imagenet"``: those statistics; ``"none"``: identity (mean 0, std 1), i.e. the network sees [0, 1] pixels;
    ``"data"``: the per-channel statistics of the images the model is trained on, as seen through the training view
    (Godfrey's ``dataloader_stats``), set by the trainer (:func:`fit_input_statistics`); identity until then.
    """
    if normalize == "auto":
        normalize = "cifar10" if in_channels == 3 else "half"
    if normalize in ("none", "data"):
        return Normalize([0.0] * in_channels, [1.0] * in_channels, from_data=normalize == "data")
    if normalize == "half":
        return Normalize([0.5] * in_channels, [0.5] * in_channels)
    if normalize not in STATS:
        raise FreqlensError(f"unknown normalize {normalize!r}; use auto, none, half, data, {', '.join(STATS)}")
    mean, std = STATS[normalize]
    if len(mean) != in_channels:
        raise FreqlensError(f"normalize {normalize!r} has {len(mean)} channels but the model takes {in_channels}")
    return Normalize(mean, std)


def parse_normalize(text: str, in_channels: int) -> Normalize | None:
    """The standardisation a foreign model expects, from ``--normalize``; None for ``none`` ([0, 1] pixels).

    Accepts ``imagenet``, ``cifar10``, ``cifar100``, ``none``, or ``MEAN,STD`` where each is one number (every
    channel) or one per channel separated by ``/`` (``0.485/0.456/0.406,0.229/0.224/0.225``).

    Example:
        >>> parse_normalize("0.5,0.25", 3).std.flatten().tolist()
        [0.25, 0.25, 0.25]
    """
    text = text.strip().lower()
    if text == "none":
        return None
    if text in STATS:
        return make_normalize(text, in_channels)
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        mean, std = ([float(v) for v in part.split("/")] for part in parts)
    except ValueError:
        raise FreqlensError(
            f"--normalize {text!r} is not imagenet, cifar10, cifar100, none or MEAN,STD (e.g. 0.5,0.5 or "
            "0.485/0.456/0.406,0.229/0.224/0.225)"
        ) from None
    mean, std = (v * in_channels if len(v) == 1 else v for v in (mean, std))
    if len(mean) != in_channels or len(std) != in_channels:
        raise FreqlensError(
            f"--normalize {text!r} gives {len(mean)} means and {len(std)} stds for {in_channels} channels"
        )
    return Normalize(mean, std)


class NormalizedModel(nn.Module):
    """Input standardisation followed by a network that expects standardised input: takes [0, 1] images.

    The standardisation is the first submodule (``normalize``), so filters and perturbations applied to the input of
    this module act in pixel space. Outputs with a ``logits`` attribute (torchvision's Inception/GoogLeNet) are
    unwrapped.
    """

    def __init__(self, normalize: Normalize, net: nn.Module) -> None:
        super().__init__()
        self.normalize = normalize
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        out = self.net(self.normalize(x))
        return out if isinstance(out, Tensor) else out.logits


def leading_normalize(model: nn.Module) -> Normalize | None:
    """The :class:`Normalize` a model applies first (freqlens models, wrapped models), or None."""
    first = next(iter(model.children()), None)
    while first is not None and not isinstance(first, Normalize):
        if isinstance(first, nn.Sequential):  # e.g. a stem Sequential whose first layer normalises
            first = next(iter(first.children()), None)
        else:
            return None
    return first


def fit_input_statistics(model: nn.Module, images: Tensor) -> dict[str, list[float]] | None:
    """Fit every ``normalize="data"`` input normalisation of ``model`` to ``images``; return the statistics set
    (``None`` when the model has no such normalisation).

    Example:
        >>> norm = make_normalize("data", 1)
        >>> fit_input_statistics(nn.Sequential(norm), torch.tensor([0.0, 2.0]).view(2, 1, 1, 1))
        {'mean': [1.0], 'std': [1.4142135381698608]}
    """
    fitted = [m for m in model.modules() if isinstance(m, Normalize) and m.from_data]
    for module in fitted:
        module.fit(images)
    if not fitted:
        return None
    return {"mean": fitted[0].mean.flatten().tolist(), "std": fitted[0].std.flatten().tolist()}


def norm2d(channels: int, batchnorm: bool, batch_stats: bool = False, eps: float = 1e-5) -> nn.Module:
    """BatchNorm (optionally always using the current batch's statistics, as the HFC code does) or identity."""
    if not batchnorm:
        return nn.Identity()
    return nn.BatchNorm2d(channels, eps=eps, track_running_stats=not batch_stats)


def check_dropout(p: float) -> float:
    if not 0.0 <= p < 1.0:
        raise FreqlensError(f"dropout must lie in [0, 1), got {p}")
    return p
