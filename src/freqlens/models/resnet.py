"""CIFAR ResNets: the HFC paper's 16-wide 32-layer network and the common CIFAR ResNet-18."""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from freqlens.errors import FreqlensError
from freqlens.models.layers import check_dropout, make_normalize, norm2d
from freqlens.models.registry import register_model


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class PreActBlockA(nn.Module):
    """The HFC code's residual block: ``[BN]-ReLU-conv, [BN]-ReLU-conv`` plus an option-A shortcut.

    When the width doubles, the first conv has stride 2 and the shortcut is a 2x2 average pool followed by zero
    channel padding (no parameters). The very first block of the network skips its leading BN-ReLU.
    """

    def __init__(self, cin: int, cout: int, first: bool, batchnorm: bool, batch_stats: bool) -> None:
        super().__init__()
        if cout not in (cin, 2 * cin):
            raise ValueError("option-A blocks keep or double the width")
        self.downsample = cout == 2 * cin
        self.pre1: nn.Module = (
            nn.Identity() if first else nn.Sequential(norm2d(cin, batchnorm, batch_stats, 1e-3), nn.ReLU())
        )
        self.conv1 = _conv3x3(cin, cout, 2 if self.downsample else 1)
        self.pre2 = nn.Sequential(norm2d(cout, batchnorm, batch_stats, 1e-3), nn.ReLU())
        self.conv2 = _conv3x3(cout, cout)
        self.pad = (cout - cin) // 2

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(self.pre2(self.conv1(self.pre1(x))))
        shortcut = x
        if self.downsample:
            shortcut = F.pad(F.avg_pool2d(x, 2), (0, 0, 0, 0, self.pad, self.pad))
        return out + shortcut


class HFCResNet(nn.Module):
    """conv0 (3x3, 16) - [BN] - ReLU, 3 stages of ``blocks`` option-A blocks (16/32/64), ReLU, [dropout], GAP, FC."""

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        blocks: int,
        width: int,
        batchnorm: bool,
        batch_stats: bool,
        dropout: float,
        normalize: str,
    ) -> None:
        super().__init__()
        self.normalize = make_normalize(normalize, in_channels)
        self.stem = nn.Sequential(_conv3x3(in_channels, width), norm2d(width, batchnorm, batch_stats, 1e-3), nn.ReLU())
        layers: list[nn.Module] = []
        cin = width
        for stage in range(3):
            cout = width * 2**stage
            for b in range(blocks):
                layers.append(PreActBlockA(cin, cout, stage == 0 and b == 0, batchnorm, batch_stats))
                cin = cout
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Dropout(check_dropout(dropout)),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(cin, num_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
        fc = self.head[-1]
        assert isinstance(fc, nn.Linear)
        bound = math.sqrt(3.0 / fc.in_features)  # TF uniform_unit_scaling_initializer(factor=1)
        nn.init.uniform_(fc.weight, -bound, bound)
        nn.init.zeros_(fc.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.blocks(self.stem(self.normalize(x))))


@register_model
def hfc_resnet32(
    num_classes: int = 10,
    in_channels: int = 3,
    image_size: int = 32,
    batchnorm: bool = False,
    batch_stats: bool = True,
    dropout: float = 0.0,
    blocks: int = 5,
    width: int = 16,
    normalize: str = "none",
) -> nn.Module:
    """The HFC paper's network: 16-wide 32-layer pre-activation CIFAR ResNet, option-A shortcuts, no BN by default.

    As in the authors' code (``scripts/resnet.py``): Xavier-uniform convs without bias, a uniform-unit-scaling FC,
    no input standardisation (``normalize="none"``: the network sees [0, 1] pixels), and, when ``batchnorm`` is on,
    BatchNorm with eps 1e-3 that uses the current batch's moments also at test time (``batch_stats=True``; set it to
    False for the usual running averages). ``dropout`` acts on the last feature map before the global pool.
    One known difference: stride-2 convs pad one pixel on every side (PyTorch), where TF's ``SAME`` pads only the
    bottom and right, so the sampling grid is shifted by one pixel.
    """
    return HFCResNet(num_classes, in_channels, blocks, width, batchnorm, batch_stats, dropout, normalize)


class BasicBlock(nn.Module):
    """``conv-BN-ReLU-conv-BN`` plus identity, or a 1x1 conv-BN projection when the shape changes (option B)."""

    def __init__(self, cin: int, cout: int, stride: int, batchnorm: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv3x3(cin, cout, stride),
            norm2d(cout, batchnorm),
            nn.ReLU(inplace=True),
            _conv3x3(cout, cout),
            norm2d(cout, batchnorm),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), norm2d(cout, batchnorm))

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


@register_model
def resnet18(
    num_classes: int = 10,
    in_channels: int = 3,
    image_size: int = 32,
    batchnorm: bool = True,
    dropout: float = 0.0,
    width: int = 64,
    normalize: str = "auto",
    stem: str = "cifar",
) -> nn.Module:
    """ResNet-18: a stem, 4 stages of 2 basic blocks (64-512), global average pool, FC.

    ``stem="cifar"`` (default): a 3x3 conv without pooling, for 32x32 images. ``stem="imagenet"``: torchvision's
    7x7 stride-2 conv and 3x3 stride-2 max pool, for 224x224 images (the same layer shapes as torchvision's
    ``resnet18``, so audits at ImageNet resolution need no extra package).
    """
    if stem not in ("cifar", "imagenet"):
        raise FreqlensError(f"unknown ResNet stem {stem!r}; use cifar (32x32 images) or imagenet (224x224)")
    first: list[nn.Module] = (
        [_conv3x3(in_channels, width)]
        if stem == "cifar"
        else [nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)]
    )
    layers: list[nn.Module] = [
        make_normalize(normalize, in_channels),
        *first,
        norm2d(width, batchnorm),
        nn.ReLU(inplace=True),
    ]
    if stem == "imagenet":
        layers.append(nn.MaxPool2d(3, stride=2, padding=1))
    cin = width
    for stage in range(4):
        cout = width * 2**stage
        for b in range(2):
            layers.append(BasicBlock(cin, cout, 2 if (stage > 0 and b == 0) else 1, batchnorm))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(check_dropout(dropout)), nn.Linear(cin, num_classes)]
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return model
