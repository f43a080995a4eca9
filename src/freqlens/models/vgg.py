"""VGG-11/13/16/19 for CIFAR, as in ``chengyangfu/pytorch-vgg-cifar10`` (the models Godfrey et al. train)."""

from __future__ import annotations

import math

from torch import nn

from freqlens.errors import FreqlensError
from freqlens.models.layers import check_dropout, make_normalize, norm2d
from freqlens.models.registry import Builder, register_model

# Conv widths per layer; "M" is a 2x2 max pool.
CONFIGS: dict[int, list[int | str]] = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def _vgg(
    depth: int, num_classes: int, in_channels: int, image_size: int, batchnorm: bool, dropout: float, normalize: str
) -> nn.Module:
    if image_size < 32:
        raise FreqlensError(f"CIFAR VGGs pool 5 times and need images of at least 32x32, not {image_size}")
    layers: list[nn.Module] = [make_normalize(normalize, in_channels)]
    cin = in_channels
    for item in CONFIGS[depth]:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
            continue
        assert isinstance(item, int)
        layers += [nn.Conv2d(cin, item, 3, padding=1), norm2d(item, batchnorm), nn.ReLU(inplace=True)]
        cin = item
    p = check_dropout(dropout)
    layers += [
        nn.AdaptiveAvgPool2d(1),  # 1x1 already for 32x32 inputs; makes other sizes work
        nn.Flatten(),
        nn.Dropout(p),
        nn.Linear(512, 512),
        nn.ReLU(inplace=True),
        nn.Dropout(p),
        nn.Linear(512, 512),
        nn.ReLU(inplace=True),
        nn.Linear(512, num_classes),
    ]
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):  # the reference's He-style init with fan = k*k*out_channels
            fan = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan))
            assert m.bias is not None
            nn.init.zeros_(m.bias)
    return model


def _vgg_builder(depth: int) -> Builder:
    """Register and return the builder of the CIFAR VGG of ``depth`` layers (``vgg11`` ... ``vgg19``)."""

    def build(
        num_classes: int = 10,
        in_channels: int = 3,
        image_size: int = 32,
        batchnorm: bool = False,
        dropout: float = 0.5,
        normalize: str = "auto",
    ) -> nn.Module:
        return _vgg(depth, num_classes, in_channels, image_size, batchnorm, dropout, normalize)

    build.__name__ = build.__qualname__ = f"vgg{depth}"
    build.__doc__ = f"CIFAR VGG-{depth} (no BN by default, dropout 0.5 in the 512-512-classes head)."
    return register_model(build)


vgg11 = _vgg_builder(11)
vgg13 = _vgg_builder(13)
vgg16 = _vgg_builder(16)
vgg19 = _vgg_builder(19)
