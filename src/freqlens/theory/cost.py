"""Representation cost: the least weight norm of a linear circular CNN with a given end-to-end map.

With the conventions of :mod:`freqlens.spectral_layers` (``N = H*W`` pixels), a depth-L network's end-to-end
matrices are ``M[xi] = A[xi] W_{L-1}[xi] ... W_1[xi]`` and its decayed weights have
``sum_l ||w_l||^2 = sum_xi (||A[xi]||_F^2 + N^-1 sum_l ||W_l[xi]||_F^2)``. Writing ``W_l = sqrt(N) V_l`` makes every
factor unitary-scaled, ``M = N^((L-1)/2) A V_{L-1} ... V_1``, and the arithmetic-geometric mean inequality on singular
values gives (Gunasekar et al. 2018 in 1-D, one channel; here any channels, 2-D)::

    R_L(M) = min sum_l ||w_l||^2 = L * N^(-(L-1)/L) * sum_xi ||M[xi]||_{S_{2/L}}^{2/L}

attained by the balanced factorisation (:func:`balanced_spectrum`) whenever every hidden width is at least
``rank M[xi]`` (``min(K, C)`` suffices). Weight decay ``wd`` in freqlens's trainer adds ``(wd / 2) sum ||w||^2`` to the
loss, so at a balanced network it is the penalty ``mu * sum_xi ||M[xi]||_{S_{2/L}}^{2/L}`` with ``mu`` from
:func:`penalty_coefficient`: the same ``wd`` is a weaker penalty on the end-to-end map for deeper networks by the factor
``N^(-(L-1)/L)`` (1/181 at L = 4 on 32x32 images).

Example:
    >>> import torch
    >>> m = torch.randn(4, 4, 2, 3, dtype=torch.complex128)
    >>> round(representation_cost(m, 1, 16) / float(m.abs().pow(2).sum()), 12)  # L = 1: the squared norm
    1.0
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from freqlens.errors import FreqlensError
from freqlens.spectral_layers import LinearSpectrum


def weight_penalty(model: nn.Module) -> float:
    """``sum ||w||^2`` over the parameters freqlens's trainer decays (two or more dimensions: conv and linear
    weights)."""
    return float(sum(p.detach().double().pow(2).sum() for p in model.parameters() if p.ndim > 1))


def _check_depth(depth: int) -> None:
    if depth < 1:
        raise FreqlensError(f"depth must be >= 1 (the number of weight layers), got {depth}")


def representation_cost(product: Tensor, depth: int, pixels: int) -> float:
    """``R_L = L * N^(-(L-1)/L) * sum_xi ||M[xi]||_{S_{2/L}}^{2/L}`` of end-to-end matrices ``product``
    ``(H, W, K, C)`` (:meth:`LinearSpectrum.product`), ``N = pixels``."""
    _check_depth(depth)
    singular = torch.linalg.svdvals(product.to(torch.complex128))
    # Singular values at rounding level are zeros (numpy's matrix_rank cut-off): sigma^(2/L) would lift them to
    # sqrt(1e-16) = 1e-8 at L = 4.
    floor = float(singular.max()) * max(product.shape[-2:]) * torch.finfo(torch.float64).eps if singular.numel() else 0
    singular = torch.where(singular > floor, singular, torch.zeros_like(singular))
    return float(depth * pixels ** (-(depth - 1) / depth) * singular.pow(2 / depth).sum())


def penalty_coefficient(weight_decay: float, depth: int, pixels: int) -> float:
    """``mu`` such that ``(wd / 2) * R_L(M) = mu * sum_xi ||M[xi]||_{S_{2/L}}^{2/L}``: ``(wd / 2) L N^(-(L-1)/L)``."""
    _check_depth(depth)
    return weight_decay / 2 * depth * pixels ** (-(depth - 1) / depth)


def _self_conjugate(h: int, w: int) -> Tensor:
    """Bins whose frequency equals its own negative (DC and Nyquist rows/columns), fft2 order ``(H, W)``."""
    rows = (2 * torch.arange(h)) % h == 0
    cols = (2 * torch.arange(w)) % w == 0
    return rows[:, None] & cols[None, :]


def _mirror(h: int, w: int) -> tuple[Tensor, Tensor]:
    """Index of ``-xi`` for every bin in fft2 order, and a mask of one representative per conjugate pair."""
    rows = (-torch.arange(h)) % h
    cols = (-torch.arange(w)) % w
    flat = torch.arange(h * w).view(h, w)
    partner = flat[rows][:, cols]
    return partner, flat <= partner


def balanced_spectrum(product: Tensor, depth: int, widths: int | None = None) -> LinearSpectrum:
    """A depth-L factorisation of ``product`` ``(H, W, K, C)`` whose weight norm is ``R_L`` (every factor holds
    ``sigma^(1/L)`` of each singular value), hidden layers ``widths`` wide (default ``min(K, C)``).

    Factors are computed on one bin of each conjugate pair and mirrored, and from a real SVD on self-conjugate bins,
    so that they are spectra of real kernels.
    """
    _check_depth(depth)
    h, w, k, c = product.shape
    width = min(k, c) if widths is None else widths
    pixels = h * w
    scaled = product.to(torch.complex128) / pixels ** ((depth - 1) / 2)
    u, s, vh = torch.linalg.svd(scaled, full_matrices=False)
    rank = min(k, c, width)
    if float(s[..., rank:].sum()) > 1e-12 * float(s.sum()):
        raise FreqlensError(f"hidden width {width} is below the rank of the end-to-end map; use a wider network")
    real = _self_conjugate(h, w)
    ur, sr, vhr = torch.linalg.svd(scaled[real].real, full_matrices=False)
    u[real], s[real], vh[real] = ur.to(u.dtype), sr, vhr.to(vh.dtype)
    partner, keep = _mirror(h, w)
    for t in (u, vh):
        flat = t.view(pixels, *t.shape[2:])
        flat[~keep.flatten()] = flat[partner.flatten()[~keep.flatten()]].conj()
    root = s.pow(1 / depth).to(torch.complex128)
    if depth == 1:
        return LinearSpectrum([product.to(torch.complex128)], torch.ones(c, dtype=torch.float64), (c, h, w))
    first = torch.zeros(h, w, width, c, dtype=torch.complex128)
    first[:, :, :rank] = root[..., :rank, None] * vh[..., :rank, :]
    middle = torch.zeros(h, w, width, width, dtype=torch.complex128)
    middle[:, :, range(rank), range(rank)] = root[..., :rank]
    last = torch.zeros(h, w, k, width, dtype=torch.complex128)
    last[:, :, :, :rank] = u[..., :rank] * root[..., None, :rank]
    convs = [first * pixels**0.5] + [middle * pixels**0.5 for _ in range(depth - 2)]
    return LinearSpectrum([*convs, last], torch.ones(c, dtype=torch.float64), (c, h, w))
