"""A data set's per-frequency second moments, the inputs of the predicted optimum (:mod:`freqlens.theory.solve`).

With a free (undecayed) bias the squared-loss problem sees centred data: ``x - mean image`` and ``y - mean target``.
Its data term is ``E||f(x) - y||^2 = sum_xi [tr(B S B^H) - 2 Re tr(B G^H)] + E||y||^2`` with, per frequency ``xi``,
``S[xi] = E[x_hat x_hat^H]`` (``C x C``, the input-channel covariance) and ``G[xi] = E[y x_hat^H]`` (``K x C``)
*provided* the unitary spectra of different frequencies are uncorrelated (``E[x_hat[xi] x_hat[xi']^H] = 0``). That
holds exactly for data closed under circular shifts (every shift of every image in the set, targets recomputed for
the shifted image: e.g. a planted linear target) and for stationary random fields in expectation; for natural images
it is an approximation, whose size :func:`offdiagonal_mass` measures. The linear term is exact for any data.

Example:
    >>> import torch
    >>> x = torch.randn(64, 1, 4, 4, dtype=torch.float64)
    >>> m = frequency_moments(x, x.flatten(1)[:, :1])
    >>> tuple(m.second.shape), tuple(m.cross.shape)
    ((4, 4, 1, 1), (4, 4, 1, 1))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from freqlens import fourier
from freqlens.contract import batch_slices
from freqlens.errors import FreqlensError


@dataclass
class FrequencyMoments:
    """``second`` ``S`` ``(H, W, C, C)``, ``cross`` ``G`` ``(H, W, K, C)`` (complex128, fft2 order), the centred
    targets' ``E||y||^2`` and the number of images; inputs multiplied per channel by ``input_scale`` first."""

    second: Tensor
    cross: Tensor
    target_power: float
    images: int
    input_scale: Tensor

    @property
    def pixels(self) -> int:
        return int(self.second.shape[0] * self.second.shape[1])

    def power_map(self) -> Tensor:
        """The per-channel power ``S[xi]_{cc}``, centred ``(C, H, W)``."""
        power = torch.diagonal(self.second, dim1=-2, dim2=-1).real.permute(2, 0, 1)
        return torch.fft.fftshift(power, dim=(-2, -1))


def shift_closed(images: Tensor) -> Tensor:
    """Every circular shift of every image ``(N * H * W, C, H, W)``, shift-major: a data set whose Fourier-basis
    covariance is exactly per-frequency blocks (targets must be recomputed for each shifted image)."""
    h, w = images.shape[-2:]
    return torch.cat([torch.roll(images, (i, j), dims=(-2, -1)) for i in range(h) for j in range(w)])


def _means(images: Tensor, targets: Tensor, batch_size: int) -> tuple[Tensor, Tensor]:
    """The mean image (float64, summed chunk by chunk: no float64 copy of the data set) and the mean target."""
    fourier.check_images(images)
    if targets.dim() != 2 or targets.shape[0] != images.shape[0]:
        raise FreqlensError(
            f"targets must be (N, K) with one row per image, got {tuple(targets.shape)} for {images.shape[0]} images"
        )
    total = torch.zeros(images.shape[1:], dtype=torch.float64)
    for part in batch_slices(images.shape[0], batch_size, desc="mean image", progress=False):
        total += images[part].cpu().sum(dim=0).to(torch.float64)  # in the images' precision per chunk
    return total / images.shape[0], targets.to(torch.float64).cpu().mean(dim=0)


def full_spectrum(half: Tensor, width: int) -> Tensor:
    """Per-frequency matrices on the ``rfft2`` half ``(H, W//2+1, ...)`` completed to the full grid ``(H, W, ...)``
    by the symmetry of real data, ``M[-xi] = conj(M[xi])``."""
    h = half.shape[0]
    out = torch.empty(h, width, *half.shape[2:], dtype=half.dtype)
    out[:, : half.shape[1]] = half
    rows = (-torch.arange(h)) % h
    for v in range(half.shape[1], width):
        out[:, v] = half[rows, width - v].conj()
    return out


def frequency_moments(
    images: Tensor, targets: Tensor, input_scale: Tensor | None = None, batch_size: int = 2000
) -> FrequencyMoments:
    """Per-frequency second moments of centred ``images`` ``(N, C, H, W)`` (times ``input_scale`` ``(C,)``, the
    model's ``1/std``) and targets ``(N, K)`` (one-hot classes, or regression targets).

    One pass over the data in chunks of ``batch_size``: each chunk is centred, transformed once (``rfft2`` in the
    images' precision: half the grid, completed by symmetry) and laid out frequency-major, so that the per-frequency
    ``2C x 2C`` real Gram matrices of all frequencies are one batched matrix product and the cross-moments with the
    targets another (for one-hot targets: per-class sums of spectra); chunk results are summed in float64.
    """
    mean_x, mean_y = _means(images, targets, batch_size)
    n, c, h, w = images.shape
    k = targets.shape[1]
    scale = torch.ones(c, dtype=torch.float64) if input_scale is None else input_scale.to(torch.float64).cpu()
    half = w // 2 + 1
    gram = torch.zeros(h * half, 2 * c, 2 * c, dtype=torch.float64)
    cross = torch.zeros(c * h * half * 2, k, dtype=torch.float64)
    power = 0.0
    work = images.dtype if images.dtype in (torch.float32, torch.float64) else torch.float32
    factor = scale.to(work).view(1, c, 1, 1)
    shift = -mean_x.to(work) * factor
    for part in batch_slices(n, batch_size, desc="moments", progress=False):
        x = torch.addcmul(shift, images[part].cpu().to(work), factor)  # (x - mean) * scale in one pass
        y = targets[part].to(torch.float64).cpu() - mean_y
        spectra = torch.view_as_real(torch.fft.rfft2(x, norm="ortho"))  # (m, c, h, half, 2): real, imaginary
        # One 2-D transpose to (channel, frequency, part) x image, then whole rows of images regrouped per frequency:
        # both copies move contiguous runs (a 5-D permute straight to frequency-major is several times slower).
        columns = spectra.reshape(spectra.shape[0], -1).T.contiguous()
        rows = columns.view(c, h * half, 2, -1).transpose(0, 1).reshape(h * half, 2 * c, -1)
        gram += torch.bmm(rows, rows.transpose(1, 2)).to(torch.float64)
        cross += (columns @ y.to(work)).to(torch.float64)
        power += float(y.pow(2).sum())
    gram = gram.view(h * half, c, 2, c, 2)
    rr, ri, ir, ii = (gram[:, :, a, :, b] for a, b in ((0, 0), (0, 1), (1, 0), (1, 1)))
    second = torch.complex(rr + ii, ir - ri).view(h, half, c, c) / n
    parts = cross.view(c, h, half, 2, k)
    g = torch.complex(parts[..., 0, :], -parts[..., 1, :]).permute(1, 2, 3, 0) / n  # (h, half, k, c)
    return FrequencyMoments(full_spectrum(second, w), full_spectrum(g, w), power / n, n, scale)


def offdiagonal_mass(images: Tensor, max_images: int = 1000, seed: int = 0) -> dict[str, float]:
    """How far the Fourier-basis covariance of centred ``images`` is from per-frequency blocks.

    ``mass``: share of its squared Frobenius norm outside the ``(xi, xi)`` blocks (``C x C`` each), on up to
    ``max_images`` images; ``sampling_floor``: the share a stationary Gaussian sample of the same size and per-frequency
    covariance would show from sampling noise alone (``E|S_hat[a,b]|^2 = S[a,a] S[b,b] / n`` for ``a``, ``b`` at
    different frequencies); ``images``: how many were used. Data closed under circular shifts give 0.
    """
    n = images.shape[0]
    take = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[: min(n, max_images)]
    x = images[take].to(torch.float64).cpu()
    x = x - x.mean(dim=0)
    m, c, h, w = x.shape
    spectrum = torch.fft.fft2(x, norm="ortho").permute(0, 2, 3, 1).reshape(m, h * w * c)
    cov = spectrum.T @ spectrum.conj() / m  # (d, d), frequency-major, channels inner
    total = float(cov.abs().pow(2).sum())
    blocks = cov.view(h * w, c, h * w, c).diagonal(dim1=0, dim2=2)  # (c, c, h*w)
    inside = float(blocks.abs().pow(2).sum())
    variance = torch.diagonal(cov).real.double().view(h * w, c)
    per_freq = variance.sum(dim=1)
    floor = (float(per_freq.sum()) ** 2 - float(per_freq.pow(2).sum())) / m
    return {
        "mass": 1.0 - inside / total,
        "sampling_floor": floor / (floor + inside),
        "images": float(m),
    }
