"""A11: a regularised linear circular CNN inherits the data's power spectrum, more so with depth and weight decay.

Theory (papers.md §2.2): for an L-layer linear CNN with full-width circular kernels, weight decay is an l_{2/L} penalty
on the Fourier coefficients of the end-to-end functional beta, so |beta_hat| concentrates on high-power frequencies
as L or lambda grows. The toy: 1-D signals (n = 64, stored as 1 x 64 images), Gaussian with power ~ 1/|k|^2, a target
with a flat spectrum, Adam on squared loss + lambda * sum of squared kernels. |beta_hat| is read off with
:func:`fourier_sensitivity` (the map of a linear model is |FFT_ortho(beta)|).

The depth comparison uses convolutions scaled to be unitary (see :class:`CircularLinearCNN`): with plain circular
convolutions (the registry's ``circular_cnn``) each layer multiplies by ``sqrt(n)`` times its kernel's unitary spectrum,
so the same lambda is an effectively weaker penalty ``lambda * n^(-(L-1)/L)`` on beta for deeper nets, and equal-lambda
depth comparisons mix the two effects. The weight-decay trend is also checked on the registry's linear ``circular_cnn``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from freqlens import fourier
from freqlens.analyses.datastats import spearman
from freqlens.analyses.sensitivity import fourier_sensitivity
from freqlens.data.synthetic import powerlaw_amplitude, powerlaw_fields
from freqlens.models import create_model

N = 64


class CircularLinearCNN(nn.Module):
    """depth - 1 one-channel circular convolutions with full-width kernels, then a linear read-out (depth = L).

    Convolutions act as multiplication by the kernel's unitary spectrum (circular convolution scaled by 1/sqrt(n)),
    so beta_hat is exactly the product of the layers' kernel spectra and the theory's constants are 1.
    """

    def __init__(self, depth: int, generator: torch.Generator) -> None:
        super().__init__()
        self.kernels = nn.ParameterList(
            [nn.Parameter(torch.randn(N, generator=generator, dtype=torch.float64)) for _ in range(depth)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.fft.rfft(x.reshape(x.shape[0], N), norm="ortho")
        for w in self.kernels[:-1]:
            z = z * torch.fft.rfft(w, norm="ortho")
        return torch.fft.irfft(z, n=N, norm="ortho") @ self.kernels[-1].unsqueeze(1)


def data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = powerlaw_fields(512, 1, 1, N, 2.0, g)  # (512, 1, 1, 64)
    phase = torch.rand(N // 2 + 1, generator=g, dtype=torch.float64) * 2 * math.pi
    flat = torch.polar(torch.ones_like(phase), phase)
    flat[0] = flat[-1] = 1.0  # real DC and Nyquist bins
    beta_star = torch.fft.irfft(flat, n=N, norm="ortho")  # |FFT_ortho(beta_star)| == 1 everywhere
    power = powerlaw_amplitude(1, N, 2.0)[0] ** 2  # expected power, rfft half
    power_full = torch.fft.fftshift(torch.cat([power, power[1:-1].flip(0)]))  # centred, like the maps
    return x, x.reshape(-1, N) @ beta_star, power_full


def train(depth: int, lam: float, x: torch.Tensor, y: torch.Tensor) -> CircularLinearCNN:
    model = CircularLinearCNN(depth, torch.Generator().manual_seed(1))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(1500):
        opt.zero_grad()
        penalty = sum((w**2).sum() for w in model.kernels)
        loss = ((model(x).squeeze(1) - y) ** 2).mean() + lam * penalty
        loss.backward()
        opt.step()
    return model


def test_sensitivity_follows_power_and_concentrates_with_depth_and_weight_decay(one_thread):
    x, y, power = data()
    top = power >= power.sort(descending=True).values[5]  # the 6 highest-power bins (|k| <= 3), ~10 % of 64
    keep = power > 0  # DC carries no power (the fields have zero mean)
    results = {}
    for depth, lam in [(1, 0.03), (2, 0.03), (4, 0.03), (2, 0.01), (2, 0.1)]:
        beta_hat = fourier_sensitivity(train(depth, lam, x, y), x[:2]).mean[0, 0]
        results[depth, lam] = (spearman(beta_hat[keep], power[keep]), float(beta_hat[top].sum() / beta_hat.sum()))
    for rho, _ in results.values():
        assert rho > 0.5
    depth_sweep = [results[d, 0.03][1] for d in (1, 2, 4)]
    decay_sweep = [results[2, lam][1] for lam in (0.01, 0.03, 0.1)]
    assert depth_sweep[0] < depth_sweep[1] < depth_sweep[2], depth_sweep
    assert decay_sweep[0] < decay_sweep[1] < decay_sweep[2], decay_sweep
    assert decay_sweep[2] > 2 * (6 / 63)  # far above the share of a flat spectrum


def test_registry_linear_circular_cnn_concentrates_with_weight_decay(one_thread):
    """2-D, 8x8, one channel: ``circular_cnn(depth=2, width=1, linear=True)``, weight decay on the weights only."""
    g = torch.Generator().manual_seed(0)
    x = powerlaw_fields(512, 1, 8, 8, 2.0, g)
    phases = torch.fft.fft2(torch.randn(8, 8, generator=g, dtype=torch.float64), norm="ortho")
    beta_star = torch.fft.ifft2(phases / phases.abs(), norm="ortho").real  # flat |spectrum|
    y = (x[:, 0] * beta_star).sum(dim=(1, 2))
    radius = fourier.radial_distance(8, 8)
    power = torch.where(radius > 0, radius.clamp(min=1) ** -2.0, torch.zeros_like(radius))
    top = power >= power.flatten().sort(descending=True).values[7]  # the 8 bins with |k| <= sqrt(2)
    shares = []
    for lam in (0.3, 1.0, 3.0):
        torch.manual_seed(1)
        model = create_model(
            "circular_cnn", num_classes=1, in_channels=1, image_size=8, depth=2, width=1, linear=True, normalize="none"
        ).double()
        opt = torch.optim.Adam(model.parameters(), lr=0.02)
        for _ in range(1500):
            opt.zero_grad()
            penalty = sum((p**2).sum() for name, p in model.named_parameters() if "weight" in name)
            loss = ((model(x).squeeze(1) - y) ** 2).mean() + lam * penalty
            loss.backward()
            opt.step()
        beta_hat = fourier_sensitivity(model, x[:2]).mean[0]
        assert spearman(beta_hat[power > 0], power[power > 0]) > 0.5
        shares.append(float(beta_hat[top].sum() / beta_hat.sum()))
    assert shares[0] < shares[1] < shares[2], shares
