"""Fourier gradient sensitivity: parity with the direct definition, the linear identity, finite differences."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.autograd.functional import jacobian

from freqlens.analyses.sensitivity import fourier_sensitivity
from freqlens.errors import FreqlensError


def small_cnn(smooth: bool = False, classes: int = 5) -> nn.Module:
    act = nn.Tanh if smooth else nn.ReLU
    pool = nn.AvgPool2d(2) if smooth else nn.MaxPool2d(2)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        act(),
        pool,
        nn.Conv2d(6, 8, 3, padding=1),
        act(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32, classes),
    ).double()
    # Non-trivial running statistics, so eval-mode BN is not the identity.
    with torch.no_grad():
        model[1].running_mean.uniform_(-0.2, 0.2)
        model[1].running_var.uniform_(0.5, 2.0)
    return model.eval()


def direct_maps(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """Godfrey's definition: per-image Jacobian of the logits (or loss) w.r.t. the complex unitary spectrum, through
    ``real(ifft2(.))``; per-image map = L2 norm of |J| over outputs. Returns (N, C, H, W), not centred."""
    maps = []
    for i in range(x.shape[0]):

        def f(v: torch.Tensor, i: int = i) -> torch.Tensor:
            out = model(torch.fft.ifft2(v[None], norm="ortho").real)
            if y is None:
                return out
            return nn.functional.cross_entropy(out, y[i : i + 1], reduction="sum").reshape(1, 1)

        jac = jacobian(f, torch.fft.fft2(x[i], norm="ortho"))  # (1, K, C, H, W), complex
        maps.append(jac.abs().norm(dim=(0, 1)))
    return torch.stack(maps)


def centred(t: torch.Tensor) -> torch.Tensor:
    return torch.fft.fftshift(t, dim=(-2, -1))


@pytest.mark.parametrize("target", ["logits", "loss"])
def test_batched_fft_of_gradient_equals_jacobian_wrt_spectrum(target):
    model = small_cnn()
    x = torch.rand(5, 3, 12, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 3, 1, 4, 2])
    ref = direct_maps(model, x, y if target == "loss" else None)
    maps = fourier_sensitivity(model, x, y, target=target, metric="meannorm", batch_size=2)
    assert maps.images == 5
    torch.testing.assert_close(maps.mean, centred(ref.mean(0)), rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(maps.std, centred(ref.std(0, correction=0)), rtol=1e-8, atol=1e-12)


def test_rms_metric_matches_definition():
    model = small_cnn()
    x = torch.rand(4, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    ref_power = direct_maps(model, x) ** 2 / 5  # mean over the 5 logits of |J_k|^2, per image
    maps = fourier_sensitivity(model, x, metric="rms", batch_size=3)
    torch.testing.assert_close(maps.mean, centred(ref_power.mean(0).sqrt()), rtol=1e-10, atol=1e-14)
    delta_std = ref_power.std(0, correction=0) / (2 * ref_power.mean(0).sqrt())
    torch.testing.assert_close(maps.std, centred(delta_std), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_linear_model_map_is_the_unitary_spectrum_of_beta(dtype):
    g = torch.Generator().manual_seed(3)
    c, h, w = 3, 10, 7
    linear = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 1, bias=True)).to(dtype)
    with torch.no_grad():
        linear[1].weight.copy_(torch.randn(1, c * h * w, generator=g))
    beta = linear[1].weight.detach().double().view(c, h, w)
    expected = centred(torch.fft.fft2(beta, norm="ortho").abs())
    maps = fourier_sensitivity(linear, torch.rand(6, c, h, w, generator=g, dtype=dtype))
    rel = (maps.mean - expected).abs().max() / expected.abs().max()
    assert rel < (1e-12 if dtype == torch.float64 else 1e-5)
    assert float(maps.std.max()) < (1e-12 if dtype == torch.float64 else 1e-5)


def test_finite_difference_along_a_fourier_coordinate():
    """|d f / d Re x_hat[xi] + i d f / d Im x_hat[xi]| by central differences equals the map at xi."""
    model = small_cnn(smooth=True, classes=1)
    x = torch.rand(1, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    maps = fourier_sensitivity(model, x)
    spec = torch.fft.fft2(x, norm="ortho")
    h = 1e-5
    for c, u, v in [(0, 1, 2), (2, 0, 3), (1, 5, 7), (0, 4, 4)]:
        direction = torch.zeros_like(spec)
        parts = []
        for unit in (1.0, 1j):
            direction[0, c, u, v] = unit
            plus = model(torch.fft.ifft2(spec + h * direction, norm="ortho").real)
            minus = model(torch.fft.ifft2(spec - h * direction, norm="ortho").real)
            parts.append(float((plus - minus).item()) / (2 * h))
        fd = abs(complex(parts[0], parts[1]))
        value = float(torch.fft.ifftshift(maps.mean, dim=(-2, -1))[c, u, v])  # uncentred layout
        assert abs(fd - value) / value < 1e-3


def test_model_mode_is_restored_and_no_parameter_gradients_accumulate():
    model = small_cnn().train()
    fourier_sensitivity(model, torch.rand(2, 3, 8, 8, dtype=torch.float64))
    assert model.training
    assert all(p.grad is None for p in model.parameters())


def test_bad_arguments_are_rejected():
    model = small_cnn()
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    with pytest.raises(FreqlensError):
        fourier_sensitivity(model, x, target="loss")
    with pytest.raises(FreqlensError):
        fourier_sensitivity(model, x, metric="max")  # type: ignore[arg-type]
    with pytest.raises(FreqlensError):
        fourier_sensitivity(model, x[0])
