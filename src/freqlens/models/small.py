"""A small, fast CNN for CPU work (about 0.3 M parameters at the default width)."""

from __future__ import annotations

from torch import nn

from freqlens.models.layers import check_dropout, make_normalize, norm2d
from freqlens.models.registry import register_model


def _conv(cin: int, cout: int, batchnorm: bool, batch_stats: bool) -> list[nn.Module]:
    conv = nn.Conv2d(cin, cout, 3, padding=1, bias=not batchnorm)
    return [conv, norm2d(cout, batchnorm, batch_stats), nn.ReLU(inplace=True)]


@register_model
def small_cnn(
    num_classes: int = 10,
    in_channels: int = 3,
    image_size: int = 32,
    width: int = 24,
    batchnorm: bool = True,
    batch_stats: bool = False,
    dropout: float = 0.0,
    normalize: str = "auto",
) -> nn.Module:
    """Small VGG-style CNN: 6 3x3 convs (w, 2w, 2w, 4w, 4w, 8w) with 3 max pools, global max pool, linear.

    The first conv is followed at once by a pool, so most of the compute runs at 16x16 and below; this is what makes
    it quick on a CPU. ``batchnorm`` toggles BN after every conv (convs get biases when it is off); ``batch_stats``
    makes BN use the current batch's statistics in evaluation too, as the HFC code does; ``dropout`` acts before the
    linear layer.
    """
    layers: list[nn.Module] = [make_normalize(normalize, in_channels)]
    bn = (batchnorm, batch_stats)
    layers += [*_conv(in_channels, width, *bn), nn.MaxPool2d(2)]
    layers += [*_conv(width, 2 * width, *bn), *_conv(2 * width, 2 * width, *bn), nn.MaxPool2d(2)]
    layers += [*_conv(2 * width, 4 * width, *bn), *_conv(4 * width, 4 * width, *bn), nn.MaxPool2d(2)]
    layers += [*_conv(4 * width, 8 * width, *bn)]
    layers += [
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
        nn.Dropout(check_dropout(dropout)),
        nn.Linear(8 * width, num_classes),
    ]
    return nn.Sequential(*layers)
