"""Convolutional layers in frequency space: per-frequency channel matrices, the end-to-end map of a linear circular
CNN, and the frequency responses of the convolutions of any CNN.

Conventions (recorded by :func:`conventions`):

* PyTorch's ``conv2d`` is a cross-correlation: ``out[o, p] = sum_{c, q} w[o, c, q] in[c, p + d*q - s]`` with
  dilation ``d`` and offset ``s`` (the left padding; for ``padding='same'``: ``d*(k-1)//2``), indices taken modulo
  the feature-map size for a circular convolution.
* Signals are transformed with the unitary DFT ``x_hat[xi] = N^-1/2 sum_p x[p] exp(-2 pi i xi.p / n)``
  (``torch.fft.fft2(norm="ortho")``, ``N = H*W``), frequencies in ``fft2`` order (uncentred) unless a map says
  *centred*. A circular cross-correlation then acts, frequency by frequency, as the matrix
  ``W[xi][o, c] = sum_q w[o, c, q] exp(+2 pi i xi.(d*q - s) / n)`` (``C_out x C_in``): ``out_hat[xi] = W[xi]
  in_hat[xi]`` exactly, and ``sum ||w||^2 = N^-1 sum_xi ||W[xi]||_F^2``.
* A final linear map ``f = <a, z>`` (``z`` flattened ``(C, H, W)``) is ``f = sum_xi A[xi] z_hat[xi]`` with
  ``A[xi] = conj(FFT_ortho(a)[xi])`` (Parseval), and ``sum ||a||^2 = sum_xi ||A[xi]||_F^2``.
* The end-to-end map of a linear circular CNN is ``f(x) = f(0) + sum_xi B[xi] x_hat[xi]`` with
  ``B[xi] = A[xi] W_{L-1}[xi] ... W_1[xi] diag(1/std)`` (``K x C``); ``B[xi] = conj(FFT_ortho(grad_x f)[xi])``, so
  ``|B|`` is Godfrey's Fourier sensitivity map of the network.

Example:
    >>> import torch
    >>> from freqlens.models import create_model
    >>> net = create_model("circular_cnn", num_classes=2, in_channels=1, image_size=6, depth=2, width=3,
    ...                    linear=True, normalize="none").double()
    >>> spectrum = linear_spectrum(net, (1, 6, 6))
    >>> x = torch.randn(4, 1, 6, 6, dtype=torch.float64)
    >>> bool(torch.allclose(spectrum.apply(x) + net(torch.zeros_like(x)), net(x)))
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from freqlens import fourier, provenance
from freqlens.contract import evaluating
from freqlens.errors import FreqlensError
from freqlens.models.circular import CircularConv
from freqlens.models.layers import Normalize
from freqlens.plotting import plt

__all__ = [
    "LayerResponse",
    "LinearSpectrum",
    "conv_matrices",
    "conventions",
    "gain_figure",
    "gain_figure_axes",
    "layer_responses",
    "linear_matrices",
    "linear_spectrum",
    "load_spectrum",
    "sensitivity_map",
]

# Modules a linear circular CNN may contain besides its convolutions, normalisation and final linear map.
_PASS_THROUGH = (nn.Identity, nn.Flatten, nn.Dropout)


def conventions() -> dict[str, str]:
    """The conventions of this module, for result files."""
    return {
        "fft_norm": "ortho (unitary DFT of signals); per-frequency layer matrices act on unitary spectra",
        "frequency_layout": "fft2 order (DC at [0, 0]) for matrices, centred (DC at [H//2, W//2]) for maps",
        "convolution": "PyTorch cross-correlation, W[xi] = sum_q w[q] exp(+2 pi i xi.(d*q - s)/n), s = left pad",
        "linear": "A[xi] = conj(FFT_ortho(a)[xi]); end-to-end B[xi] = conj(FFT_ortho(grad_x f)[xi])",
    }


def conv_matrices(
    weight: Tensor,
    size: tuple[int, int],
    offset: tuple[int, int],
    dilation: tuple[int, int] = (1, 1),
    groups: int = 1,
    dtype: torch.dtype = torch.complex128,
) -> Tensor:
    """The per-frequency channel matrices ``(H, W, C_out, C_in)`` of the circular cross-correlation with ``weight``
    ``(C_out, C_in / groups, kh, kw)`` on ``size = (H, W)`` feature maps, left offset ``offset`` (the padding).

    Taps that wrap onto the same position (a kernel larger than the map) add up, as the circular conv adds them.

    Example:
        >>> w = torch.zeros(1, 1, 3, 3, dtype=torch.float64); w[0, 0, 1, 2] = 1.0  # reads the right neighbour
        >>> m = conv_matrices(w, (4, 4), (1, 1))
        >>> bool(torch.allclose(m[0, 1, 0, 0], torch.tensor(1j, dtype=torch.complex128)))  # exp(2 pi i / 4)
        True
    """
    cout, cin_g, kh, kw = weight.shape
    h, w = size
    real = torch.float64 if dtype == torch.complex128 else torch.float32
    rows = (torch.arange(kh) * dilation[0] - offset[0]) % h
    cols = (torch.arange(kw) * dilation[1] - offset[1]) % w
    index = (rows[:, None] * w + cols[None, :]).flatten().to(weight.device)
    embedded = torch.zeros(cout, cin_g, h * w, dtype=real, device=weight.device)
    embedded.index_add_(2, index, weight.detach().to(real).reshape(cout, cin_g, kh * kw))
    blocks = torch.fft.ifft2(embedded.view(cout, cin_g, h, w), norm="forward").permute(2, 3, 0, 1)
    if groups == 1:
        return blocks
    out = torch.zeros(h, w, cout, cin_g * groups, dtype=blocks.dtype, device=blocks.device)
    per = cout // groups
    for g in range(groups):
        out[:, :, g * per : (g + 1) * per, g * cin_g : (g + 1) * cin_g] = blocks[:, :, g * per : (g + 1) * per]
    return out


def linear_matrices(weight: Tensor, shape: tuple[int, int, int]) -> Tensor:
    """``A[xi]`` ``(H, W, K, C)`` of a linear map ``weight`` ``(K, C*H*W)`` on flattened ``(C, H, W)`` maps."""
    c, h, w = shape
    if weight.shape[1] != c * h * w:
        raise FreqlensError(f"the final linear layer takes {weight.shape[1]} features, not C*H*W = {c * h * w}")
    a = weight.detach().to(torch.float64).reshape(-1, c, h, w)
    return torch.fft.fft2(a, norm="ortho").conj().permute(2, 3, 0, 1)


def _offset(conv: nn.Conv2d) -> tuple[int, int]:
    """The left offset ``s`` of a conv: its padding (``'same'``: ``d*(k-1)//2``, as PyTorch splits it)."""
    if conv.padding == "valid":
        return (0, 0)
    if conv.padding == "same":
        (d0, d1), (k0, k1) = conv.dilation, conv.kernel_size
        return (d0 * (k0 - 1) // 2, d1 * (k1 - 1) // 2)
    return (int(conv.padding[0]), int(conv.padding[1]))


@dataclass
class LinearSpectrum:
    """A linear circular CNN in frequency space: the matrices of its decayed layers (convs, then the final linear
    map), in forward order, each ``(H, W, out, in)``, and the per-channel input scale ``1/std`` of its
    normalisation."""

    layers: list[Tensor]
    input_scale: Tensor
    shape: tuple[int, int, int]

    @property
    def depth(self) -> int:
        """L: the number of weight layers (convs plus the final linear map)."""
        return len(self.layers)

    def product(self) -> Tensor:
        """``A W_{L-1} ... W_1`` ``(H, W, K, C)``: the end-to-end map on normalised inputs (what weight decay sees)."""
        out = self.layers[0]
        for m in self.layers[1:]:
            out = m @ out
        return out

    def beta_hat(self) -> Tensor:
        """``B[xi]`` ``(H, W, K, C)`` on raw inputs: ``conj(FFT_ortho(grad_x f))`` per output and channel."""
        return self.product() * self.input_scale.to(torch.complex128)

    def apply(self, x: Tensor) -> Tensor:
        """``f(x) - f(0)`` computed in frequency space: ``Re sum_xi B[xi] x_hat[xi]`` ``(N, K)``."""
        spectrum = torch.fft.fft2(x.to(torch.float64), norm="ortho")
        return torch.einsum("hwkc,nchw->nk", self.beta_hat(), spectrum).real

    def weight_norm(self) -> float:
        """``sum_l ||w_l||^2`` of the decayed weights, from the matrices (``N^-1 ||W||_F^2`` for convs)."""
        pixels = self.shape[1] * self.shape[2]
        convs = sum(float(m.abs().pow(2).sum()) / pixels for m in self.layers[:-1])
        return convs + float(self.layers[-1].abs().pow(2).sum())

    def sensitivity_map(self) -> Tensor:
        """The network's Fourier sensitivity map (meannorm over outputs), centred ``(C, H, W)``."""
        return sensitivity_map(self.beta_hat())


def sensitivity_map(beta_hat: Tensor) -> Tensor:
    """``sqrt(sum_k |B[xi]_{k,c}|^2)``, centred ``(C, H, W)``, from ``B`` ``(H, W, K, C)``: the meannorm map of
    :func:`freqlens.analyses.sensitivity.fourier_sensitivity` of the linear model ``B``."""
    magnitude = beta_hat.abs().pow(2).sum(dim=2).sqrt().permute(2, 0, 1)
    return torch.fft.fftshift(magnitude, dim=(-2, -1))


def load_spectrum(model: nn.Module, spectrum: LinearSpectrum) -> nn.Module:
    """Write ``spectrum``'s layers into ``model``'s circular convs and final linear layer as spatial weights (the
    inverse of :func:`linear_spectrum`; the layers' matrices must be spectra of real kernels). Returns ``model``.
    """
    _, h, w = spectrum.shape
    weighted = [m for _, m in _leaves(model) if isinstance(m, (CircularConv, nn.Linear))]
    if len(weighted) != spectrum.depth:
        raise FreqlensError(f"the model has {len(weighted)} weight layers, the spectrum {spectrum.depth}")
    with torch.no_grad():
        for m, matrices in zip(weighted, spectrum.layers, strict=True):
            if isinstance(m, nn.Linear):
                a = torch.fft.ifft2(matrices.conj().permute(2, 3, 0, 1), norm="ortho").real
                m.weight.copy_(a.reshape(a.shape[0], -1))
                continue
            if m.size != h or h != w:
                raise FreqlensError(f"load_spectrum needs full-width square kernels, got {m.size} on {h}x{w}")
            embedded = torch.fft.fft2(matrices.permute(2, 3, 0, 1)).real / (h * w)
            m.weight.copy_(torch.roll(embedded, shifts=((h - 1) // 2, (w - 1) // 2), dims=(-2, -1)))
    return model


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules() if not list(m.children())]


def linear_spectrum(model: nn.Module, image_shape: Sequence[int]) -> LinearSpectrum:
    """The frequency-space form of a linear circular CNN: normalisation, circular convolutions that keep the map
    size (freqlens's :class:`CircularConv`, or ``nn.Conv2d`` with ``padding_mode='circular'``, stride 1), identity
    activations, flatten and one final ``nn.Linear``, in that order (``image_shape = (C, H, W)``)."""
    c, h, w = (int(v) for v in image_shape)
    scale = torch.ones(c, dtype=torch.float64)
    layers: list[Tensor] = []
    channels = c
    final = False
    for name, m in _leaves(model):
        if final and not isinstance(m, _PASS_THROUGH):
            raise FreqlensError(
                f"{name} ({type(m).__name__}) follows the final linear layer; a linear circular CNN ends with it"
            )
        if isinstance(m, Normalize):
            if layers:
                raise FreqlensError(f"{name}: the normalisation must come first")
            scale = 1.0 / m.std.detach().to(torch.float64).flatten()
        elif isinstance(m, CircularConv):
            size = m.size
            layers.append(conv_matrices(m.weight, (h, w), ((size - 1) // 2, (size - 1) // 2)))
            channels = m.weight.shape[0]
        elif isinstance(m, nn.Conv2d):
            if m.padding_mode != "circular" or m.stride != (1, 1) or _out_size(m, (h, w)) != (h, w):
                raise FreqlensError(
                    f"{name} is not a size-keeping circular conv (padding_mode={m.padding_mode!r}, stride={m.stride});"
                    " use linear_spectrum for linear circular CNNs and layer_responses for any other CNN"
                )
            offset, dilation, groups, _, _ = _geometry(m)
            layers.append(conv_matrices(m.weight, (h, w), offset, dilation, groups))
            channels = m.weight.shape[0]
        elif isinstance(m, nn.Linear):
            layers.append(linear_matrices(m.weight, (channels, h, w)))
            final = True
        elif not isinstance(m, _PASS_THROUGH):
            raise FreqlensError(
                f"{name} ({type(m).__name__}) is not linear: linear_spectrum takes linear circular CNNs only "
                "(use layer_responses for the convolutions of any CNN)"
            )
    if not final:
        raise FreqlensError("the model has no final nn.Linear layer; a linear circular CNN ends with one")
    return LinearSpectrum(layers, scale, (c, h, w))


def _out_size(conv: nn.Conv2d, size: tuple[int, int]) -> tuple[int, int]:
    pad = _offset(conv)
    if isinstance(conv.padding, str) and conv.padding == "same":
        return size
    return tuple(  # type: ignore[return-value]
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, p, d, k, s in zip(size, pad, conv.dilation, conv.kernel_size, conv.stride, strict=True)
    )


@dataclass
class LayerResponse:
    """One convolution of a CNN seen as a circular convolution at its input size: its gains per frequency and how
    far that circular approximation is from the layer itself.

    ``rms_gain`` is ``||W[xi]||_F / sqrt(C_in)`` (the gain averaged over input-channel directions), centred
    ``(H, W)``; ``circular_error`` is
    ``||conv(x) - circ(x)|| / ||conv(x)||`` on Gaussian inputs (0 for circular convs: exact).
    """

    name: str
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding_mode: str
    rms_gain: Tensor
    circular_error: float
    radial: Tensor = field(init=False)

    def __post_init__(self) -> None:
        self.radial = fourier.radial_profile(self.rms_gain)[0]

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "in_shape": list(self.in_shape),
            "out_shape": list(self.out_shape),
            "kernel": list(self.kernel),
            "stride": list(self.stride),
            "padding_mode": self.padding_mode,
            "circular_error": self.circular_error,
            "radial_rms_gain": self.radial.tolist(),
        }


def apply_matrices(matrices: Tensor, x: Tensor) -> Tensor:
    """The circular convolution given by ``matrices`` ``(H, W, out, in)`` applied to ``x`` ``(N, in, H, W)``."""
    spectrum = torch.fft.fft2(x.to(matrices.real.dtype), norm="ortho")
    return torch.fft.ifft2(torch.einsum("hwoc,nchw->nohw", matrices, spectrum), norm="ortho").real


def layer_responses(
    model: nn.Module, image_shape: Sequence[int], probes: int = 4, seed: int = 0
) -> list[LayerResponse]:
    """Every ``nn.Conv2d`` (and :class:`CircularConv`) of ``model`` as a circular convolution at the size of the
    feature map it sees on a ``(C, H, W)`` input, with the error of that approximation measured on ``probes``
    Gaussian inputs (zero padding differs from circular wrap at the borders; a stride subsamples the output).

    Example:
        >>> conv = nn.Conv2d(2, 3, 3, padding=1)
        >>> [r.circular_error < 1 for r in layer_responses(nn.Sequential(conv), (2, 8, 8))]
        [True]
    """
    sizes: dict[str, tuple[int, ...]] = {}
    hooks = []
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, CircularConv))]
    if not convs:
        raise FreqlensError("the model has no convolution (nn.Conv2d) to show in frequency space")
    for name, m in convs:
        hooks.append(m.register_forward_hook(lambda mod, inp, out, name=name: sizes.__setitem__(name, inp[0].shape)))
    try:
        param = next(model.parameters())
        with evaluating(model), torch.no_grad():
            model(torch.zeros(1, *image_shape, dtype=param.dtype, device=param.device))
    finally:
        for hook in hooks:
            hook.remove()
    generator = torch.Generator().manual_seed(seed)
    out = []
    for name, m in convs:
        if name not in sizes:
            continue  # not on the forward path
        _, cin, h, w = sizes[name]
        out.append(_response(name, m, (int(cin), int(h), int(w)), probes, generator))
    return out


def _geometry(m: nn.Conv2d | CircularConv) -> tuple[tuple[int, int], tuple[int, int], int, tuple[int, int], str]:
    """Offset, dilation, groups, stride and padding mode of a convolution."""
    if isinstance(m, CircularConv):
        left = (m.size - 1) // 2
        return (left, left), (1, 1), 1, (1, 1), "circular"
    d, s = m.dilation, m.stride
    return _offset(m), (int(d[0]), int(d[1])), m.groups, (int(s[0]), int(s[1])), m.padding_mode


def _response(
    name: str, m: nn.Conv2d | CircularConv, shape: tuple[int, int, int], probes: int, g: torch.Generator
) -> LayerResponse:
    cin, h, w = shape
    weight = m.weight.detach().cpu()
    offset, dilation, groups, stride, mode = _geometry(m)
    matrices = conv_matrices(weight, (h, w), offset, dilation, groups, torch.complex64)
    x = torch.randn(probes, cin, h, w, generator=g)
    with torch.no_grad():
        exact = _conv_without_bias(m, x)
        approx = apply_matrices(matrices, x)[:, :, :: stride[0], :: stride[1]][
            ..., : exact.shape[-2], : exact.shape[-1]
        ]
    error = float((exact - approx).norm() / exact.norm().clamp_min(1e-30))
    rms = matrices.abs().pow(2).sum(dim=(2, 3)).div(cin).sqrt()
    rms_gain = torch.fft.fftshift(rms.to(torch.float64), dim=(0, 1))
    return LayerResponse(
        name,
        shape,
        (int(exact.shape[1]), int(exact.shape[2]), int(exact.shape[3])),
        (int(weight.shape[2]), int(weight.shape[3])),
        stride,
        mode,
        rms_gain,
        error,
    )


def _conv_without_bias(m: nn.Conv2d | CircularConv, x: Tensor) -> Tensor:
    weight = m.weight.detach().cpu().float()
    if isinstance(m, CircularConv):
        left = (m.size - 1) // 2
        pads = (left, m.size - 1 - left, left, m.size - 1 - left)
        return F.conv2d(F.pad(x, pads, mode="circular"), weight)
    if m.padding_mode != "zeros":
        return m._conv_forward(x, weight, None)
    return F.conv2d(x, weight, None, m.stride, m.padding, m.dilation, m.groups)


def gain_figure_axes(ax: Any, responses: Sequence[LayerResponse], title: str = "") -> None:
    """Each layer's RMS gain per radius (log y) against radius as a fraction of its map's Nyquist radius."""
    for i, r in enumerate(responses):
        nyquist = min(r.in_shape[1], r.in_shape[2]) / 2
        radius = torch.arange(len(r.radial), dtype=torch.float64) / nyquist
        label = f"{r.name} {r.kernel[0]}x{r.kernel[1]} @{r.in_shape[1]}px (err {r.circular_error:.2f})"
        colour = plt.cm.viridis(i / max(1, len(responses) - 1))
        ax.semilogy(radius.numpy(), r.radial.clamp_min(1e-30).numpy(), "-", lw=1.0, color=colour, label=label)
    ax.set_xlabel("radius |k| / (n/2) (fraction of the layer's Nyquist radius)", fontsize=8)
    ax.set_ylabel("RMS gain ||W[k]||_F / sqrt(C_in), ring mean", fontsize=8)
    ax.set_title(title or "Layer frequency responses (circular approximation at each feature-map size)", fontsize=9)
    ax.tick_params(labelsize=7)
    if len(responses) <= 24:
        ax.legend(fontsize=5, ncol=2 if len(responses) > 10 else 1)


def gain_figure(responses: Sequence[LayerResponse], path: str | Path, title: str = "") -> Path:
    """:func:`gain_figure_axes` saved as a figure at ``path``."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    gain_figure_axes(ax, responses, title)
    fig.tight_layout()
    return provenance.save_figure(fig, path)
