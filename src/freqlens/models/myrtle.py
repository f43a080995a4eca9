"""The Myrtle CNN (``mCNN_k`` in Godfrey et al.'s code): four 3x3 convs with doubling widths and max pools."""

from __future__ import annotations

from torch import nn

from freqlens.models.layers import check_dropout, make_normalize, norm2d
from freqlens.models.registry import register_model


@register_model
def myrtle_cnn(
    num_classes: int = 10,
    in_channels: int = 3,
    image_size: int = 32,
    width: int = 64,
    batchnorm: bool = False,
    dropout: float = 0.0,
    normalize: str = "auto",
) -> nn.Module:
    """Myrtle CNN: conv c, then 3 x [conv to 2c/4c/8c, ReLU, max pool 2], global max pool, linear (no BN by default)."""
    layers: list[nn.Module] = [
        make_normalize(normalize, in_channels),
        nn.Conv2d(in_channels, width, 3, padding=1),
        norm2d(width, batchnorm),
        nn.ReLU(inplace=True),
    ]
    for i in range(3):
        cin, cout = width * 2**i, width * 2 ** (i + 1)
        layers += [nn.Conv2d(cin, cout, 3, padding=1), norm2d(cout, batchnorm), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
    layers += [
        nn.AdaptiveMaxPool2d(1),  # the reference's MaxPool2d(4) on the 4x4 map of a 32x32 input
        nn.Flatten(),
        nn.Dropout(check_dropout(dropout)),
        nn.Linear(width * 8, num_classes),
    ]
    return nn.Sequential(*layers)
