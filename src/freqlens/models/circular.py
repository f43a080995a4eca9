"""Godfrey et al.'s full-width circular CNNs ("ConvActually"): the linear CNN of the representation-cost theory and
its ReLU variant.

Each conv has a kernel as large as the image, ``padding='same'`` and ``padding_mode='circular'``, so it is a circular
convolution, diagonal in the 2-D DFT. ``depth`` counts the convs plus the final linear layer (depth 1 is a linear
classifier on the normalised pixels). The convs run through the FFT by default (hundreds of times faster than the
direct conv; same weights, same result up to rounding): ``fft=False`` uses ``nn.Conv2d`` itself.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from freqlens.errors import FreqlensError
from freqlens.models.layers import make_normalize
from freqlens.models.registry import register_model


class CircularConv(nn.Module):
    """``nn.Conv2d(cin, cout, size, padding='same', padding_mode='circular')`` with weights of that exact layout.

    Example:
        >>> conv = CircularConv(2, 3, 8)
        >>> x = torch.randn(4, 2, 8, 8)
        >>> direct = F.conv2d(F.pad(x, (3, 4, 3, 4), mode="circular"), conv.weight, conv.bias)
        >>> bool(torch.allclose(conv(x), direct, atol=1e-5))
        True
    """

    def __init__(
        self, cin: int, cout: int, size: int, fft: bool = True, nonlinearity: Literal["relu", "linear"] = "relu"
    ) -> None:
        super().__init__()
        reference = nn.Conv2d(cin, cout, size, padding="same", padding_mode="circular")
        nn.init.kaiming_normal_(reference.weight, nonlinearity=nonlinearity)
        self.weight = reference.weight
        self.bias = reference.bias
        self.size = size
        self.fft = fft

    def _pads(self) -> tuple[int, int, int, int]:
        left = (self.size - 1) // 2  # how torch splits the 'same' padding of an even kernel
        return (left, self.size - 1 - left, left, self.size - 1 - left)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        if (h, w) != (self.size, self.size):
            raise FreqlensError(f"this circular conv was built for {self.size}x{self.size} images, got {h}x{w}")
        assert self.bias is not None
        if not self.fft:
            return F.conv2d(F.pad(x, self._pads(), mode="circular"), self.weight, self.bias)
        # Cross-correlation with a 'same' offset equals circular convolution with the flipped kernel rolled so that
        # its tap for offset 0 sits at index 0.
        left = self._pads()[0]
        shift = left - self.size + 1
        kernel = torch.roll(self.weight.flip(-2, -1), shifts=(shift, shift), dims=(-2, -1))
        work = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32  # no half-precision FFTs
        spectrum = torch.einsum("nchw,ochw->nohw", torch.fft.rfft2(x.to(work)), torch.fft.rfft2(kernel.to(work)))
        out = torch.fft.irfft2(spectrum, s=(h, w))
        return (out + self.bias.view(1, -1, 1, 1)).to(x.dtype)

    def extra_repr(self) -> str:
        cout, cin = self.weight.shape[:2]
        return f"{cin}, {cout}, kernel_size={self.size}, circular, fft={self.fft}"


@register_model
def circular_cnn(
    num_classes: int = 10,
    in_channels: int = 3,
    image_size: int = 32,
    depth: int = 4,
    width: int = 64,
    linear: bool = False,
    fft: bool = True,
    normalize: str = "auto",
) -> nn.Module:
    """Godfrey's full-width circular CNN: ``depth - 1`` image-sized circular convs (ReLU, or identity when ``linear``),
    flatten, linear.

    Weights are drawn with He's gain for the ReLU network and with gain 1 for the linear one (variance 1/fan_in), so
    that every layer preserves the signal's variance in both: He's gain would double it per layer of a network
    without activations.
    """
    if depth < 1 or width < 1:
        raise FreqlensError(f"circular_cnn needs depth >= 1 and width >= 1, got depth={depth}, width={width}")
    layers: list[nn.Module] = [make_normalize(normalize, in_channels)]
    cin = in_channels
    gain: Literal["relu", "linear"] = "linear" if linear else "relu"
    for _ in range(depth - 1):
        layers += [CircularConv(cin, width, image_size, fft, gain), nn.Identity() if linear else nn.ReLU()]
        cin = width
    head = nn.Linear(cin * image_size * image_size, num_classes)
    nn.init.kaiming_normal_(head.weight, nonlinearity="relu" if depth > 1 and not linear else "linear")
    layers += [nn.Flatten(), head]
    return nn.Sequential(*layers)
