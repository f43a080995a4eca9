"""The regularised squared-loss optimum of a linear circular CNN, frequency by frequency, and its sensitivity map.

Per frequency (moments from :mod:`freqlens.theory.moments`, penalty ``mu`` from
:func:`freqlens.theory.cost.penalty_coefficient`) the end-to-end matrix ``B`` (``K x C``) minimises::

    J(B) = tr(B S B^H) - 2 Re tr(B G^H) + mu * ||B||_{S_{2/L}}^{2/L}

* ``L = 1`` (ridge): ``B = G (S + mu I)^-1``, closed form.
* one input channel, any ``L``: ``B = t G / ||G||`` with ``t >= 0`` minimising ``s t^2 - 2 ||G|| t + mu t^(2/L)``
  (:func:`scalar_minimiser`: closed form for L = 2, the soft threshold ``t = max(0, ||G|| - mu/2) / s``; for L >= 3
  the larger root of a convex stationarity function by monotone Newton steps, to rounding, compared with t = 0).
* several channels, ``L >= 2``: proximal gradient (FISTA with gradient-based restart), step ``1 / (2 lambda_max(S))``
  per frequency; the proximal map of the Schatten penalty applies :func:`scalar_minimiser` to the singular values
  (von Neumann's trace inequality makes that a global minimiser of the proximal problem even for L >= 3). For L = 2
  the problem is convex (nuclear norm) and this converges to the optimum; for L >= 3 it is not, and the result is a
  stationary point reached from the ridge solution. All frequencies are iterated as one batch (SVDs of the small
  ``K x C`` matrices batched, products of the small matrices as elementwise operations); each frequency stops when its
  proximal-gradient fixed-point residual ``||B - prox(B - eta grad J(B))|| / eta`` (0 exactly at a stationary point)
  is below ``tol`` times ``max |G|``. ``Solution.residual`` is that relative residual, the largest over frequencies,
  at the returned point.

Example:
    >>> import torch
    >>> t = scalar_minimiser(torch.tensor([2.0]), torch.tensor([3.0]), 1.0, 2)  # (3 - 1/2) / 2
    >>> float(t)
    1.25
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

from freqlens.errors import FreqlensError
from freqlens.spectral_layers import sensitivity_map
from freqlens.theory.cost import penalty_coefficient, representation_cost
from freqlens.theory.moments import FrequencyMoments, full_spectrum

NEWTON_STEPS = 60  # at most this many monotone Newton steps for L >= 3 (quadratic convergence near the root)
NEWTON_TOL = 1e-15  # ... stopping once no root moves by more than this relative amount


def scalar_minimiser(s: Tensor, g: Tensor, mu: float, depth: int) -> Tensor:
    """``argmin_{t >= 0} s t^2 - 2 g t + mu t^(2/L)`` elementwise (``s > 0``, ``g >= 0``; ``t = 0`` where
    ``s = 0``)."""
    s, g = s.to(torch.float64), g.to(torch.float64)
    safe = torch.where(s > 0, s, torch.ones_like(s))
    if depth == 1:
        t = g / (safe + mu)
    elif depth == 2:
        t = (g - mu / 2).clamp(min=0) / safe
    else:
        t = _nonconvex_scalar(safe, g, mu, depth)
    return torch.where(s > 0, t, torch.zeros_like(t))


def _nonconvex_scalar(s: Tensor, g: Tensor, mu: float, depth: int) -> Tensor:
    """L >= 3 (``p = 2/L < 1``): the stationarity function ``phi(t) = 2 s t - 2 g + mu p t^(p-1)`` is convex on
    ``t > 0`` and tends to +inf at both ends, so ``h`` has at most one local minimum at ``t > 0``: the larger root of
    ``phi``, which Newton's method reaches monotonically from ``t = g / s`` (where ``phi > 0``). It is the answer if
    ``h`` is negative there, else ``t = 0``."""
    p = 2 / depth
    t = g / s
    for _ in range(NEWTON_STEPS):
        tc = t.clamp(min=1e-300)
        phi = 2 * s * tc - 2 * g + mu * p * tc.pow(p - 1)
        slope = 2 * s + mu * p * (p - 1) * tc.pow(p - 2)
        t = torch.where(slope > 0, (tc - phi / slope).clamp(min=0), torch.zeros_like(tc))
        if bool((((t - tc).abs() <= NEWTON_TOL * tc) | (t == 0)).all()):  # every root to rounding (0 stays 0)
            break
    value = s * t**2 - 2 * g * t + mu * t.pow(p)
    return torch.where(value < 0, t, torch.zeros_like(t))


@dataclass
class Solution:
    """The predicted optimum: end-to-end matrices ``beta_hat`` ``(H, W, K, C)`` on the model's normalised inputs,
    how they were found, and the objective at them."""

    beta_hat: Tensor
    depth: int
    weight_decay: float
    mu: float
    method: str
    iterations: int
    residual: float
    objective: float
    input_scale: Tensor

    def sensitivity_map(self) -> Tensor:
        """The predicted Fourier sensitivity map on raw inputs (meannorm over outputs), centred ``(C, H, W)``."""
        return sensitivity_map(self.beta_hat * self.input_scale.to(torch.complex128))

    def to_dict(self) -> dict[str, object]:
        return {
            "depth": self.depth,
            "weight_decay": self.weight_decay,
            "mu": self.mu,
            "method": self.method,
            "iterations": self.iterations,
            "residual": self.residual,
            "objective": self.objective,
        }


def objective(moments: FrequencyMoments, beta_hat: Tensor, weight_decay: float, depth: int) -> float:
    """``E||f(x) - y||^2 + (wd / 2) R_L(B)`` from the moments (exact when they are per-frequency blocks): the least
    regularised objective of any depth-L network with end-to-end map ``B``."""
    quad = torch.einsum("hwkc,hwcd,hwkd->", beta_hat, moments.second, beta_hat.conj()).real
    lin = torch.einsum("hwkc,hwkc->", beta_hat, moments.cross.conj()).real
    cost = representation_cost(beta_hat, depth, moments.pixels)
    return float(quad - 2 * lin) + moments.target_power + weight_decay / 2 * cost


def _mm(a: Tensor, b: Tensor) -> Tensor:
    """Batched product of tiny matrices, summed over the (short) inner dimension: elementwise products of whole
    batches, much faster on CPUs than a batched complex matmul that dispatches one tiny product per frequency."""
    out = a[..., :, :1] * b[..., :1, :]
    for j in range(1, a.shape[-1]):
        out = out + a[..., :, j : j + 1] * b[..., j : j + 1, :]
    return out


def _prox(a: Tensor, eta: Tensor, mu: float, depth: int) -> Tensor:
    """``argmin_B ||B - a||^2 / (2 eta) + mu ||B||_{S_{2/L}}^{2/L}`` per frequency (singular values shrunk)."""
    u, sv, vh = torch.linalg.svd(a, full_matrices=False)
    half = 1 / (2 * eta)
    t = scalar_minimiser(half[..., None].expand_as(sv), sv * half[..., None], mu, depth)
    return _mm(u * t.to(u.dtype)[..., None, :], vh)


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run the solver's many tiny batched operations on one CPU thread: for matrices this small, intra-op
    parallelism costs more in synchronisation than it saves (several times slower on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _proximal_gradient(
    s: Tensor, g: Tensor, mu: float, depth: int, start: Tensor, tol: float, max_iter: int
) -> tuple[Tensor, int, float]:
    """FISTA with per-frequency gradient restarts on ``J``, all frequencies ``(F, K, C)`` batched; a frequency
    stops once its gradient-mapping residual ``||z - prox(z - eta grad(z))|| / eta`` is below ``tol * max|G|``
    (0 exactly at a stationary point), so the iterations work only on the frequencies still moving. Returns the
    solution, the iterations, and its relative residual (the largest over frequencies, at the returned point)."""
    eta_all = 1 / (2 * torch.linalg.eigvalsh(s)[..., -1].clamp(min=1e-300))
    scale = max(float(g.abs().max()), 1e-300)
    done = start.clone()
    active = torch.arange(s.shape[0])
    b, z = start, start
    momentum = torch.ones(s.shape[0], dtype=torch.float64)
    iterations = 0
    while iterations < max_iter and active.numel() > 0:
        iterations += 1
        ss, gg, eta = s[active], g[active], eta_all[active]
        step = eta[..., None, None]
        new = _prox(z - step * 2 * (_mm(z, ss) - gg), eta, mu, depth)
        moving = (z - new).abs().pow(2).sum(dim=(-2, -1)).sqrt() / eta > tol * scale
        # O'Donoghue & Candes: where momentum points uphill, reset it (per frequency).
        restart = ((z - new).conj() * (new - b)).real.sum(dim=(-2, -1)) > 0
        following = torch.where(restart, torch.ones_like(momentum), (1 + (1 + 4 * momentum**2).sqrt()) / 2)
        weight = torch.where(restart, torch.zeros_like(momentum), (momentum - 1) / following)
        z = new + weight.to(new.dtype)[..., None, None] * (new - b)
        done[active] = new
        b, z, momentum, active = new[moving], z[moving], following[moving], active[moving]
    step = eta_all[..., None, None]
    fixed = _prox(done - step * 2 * (_mm(done, s) - g), eta_all, mu, depth)
    residual = float(((done - fixed) / step).abs().pow(2).sum(dim=(-2, -1)).sqrt().max()) / scale
    return done, iterations, residual


def predict(
    moments: FrequencyMoments, weight_decay: float, depth: int, tol: float = 1e-9, max_iter: int = 20000
) -> Solution:
    """The regularised squared-loss optimum of a depth-``depth`` linear circular CNN trained with weight decay
    ``weight_decay`` (freqlens's convention: ``loss + wd/2 sum ||w||^2``) on data with these moments."""
    if weight_decay < 0:
        raise FreqlensError(f"weight decay must be >= 0, got {weight_decay}")
    if depth >= 2 and weight_decay == 0:
        raise FreqlensError("depth >= 2 needs weight decay > 0: without it the optimum is not unique")
    mu = penalty_coefficient(weight_decay, depth, moments.pixels)
    s, g = moments.second, moments.cross
    c = s.shape[-1]
    eye = torch.eye(c, dtype=s.dtype)
    ridge = torch.linalg.solve(s + mu * eye, g.transpose(-2, -1).conj()).transpose(-2, -1).conj()
    iterations, residual = 0, 0.0
    if depth == 1:
        beta, method = ridge, "ridge, closed form"
    elif c == 1:
        norm = g.abs().pow(2).sum(dim=(-2, -1)).sqrt()
        t = scalar_minimiser(s[..., 0, 0].real, norm, mu, depth)
        direction = g / torch.where(norm > 0, norm, torch.ones_like(norm)).to(g.dtype)[..., None, None]
        beta, method = t.to(g.dtype)[..., None, None] * direction, "one channel, closed form"
    else:  # on the rfft half of the grid; the other half is its conjugate
        h, half, k = s.shape[0], s.shape[1] // 2 + 1, g.shape[-2]
        with _one_thread():
            solved, iterations, residual = _proximal_gradient(
                s[:, :half].reshape(-1, c, c),
                g[:, :half].reshape(-1, k, c),
                mu,
                depth,
                ridge[:, :half].reshape(-1, k, c),
                tol,
                max_iter,
            )
        beta = full_spectrum(solved.view(h, half, k, c), s.shape[1])
        method = "proximal gradient (FISTA, restarts), from the ridge solution"
    value = objective(moments, beta, weight_decay, depth)
    return Solution(beta, depth, weight_decay, mu, method, iterations, residual, value, moments.input_scale)
