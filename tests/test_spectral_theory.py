"""The theory computed (issue 25): layers in frequency space, representation cost and the predicted optimum.

Every check is an identity that a wrong convention (conjugate, offset, FFT norm, 1/N factor) or a wrong solver breaks:
the frequency-space formula against the network itself and its autograd gradient, the balanced factorisation's weight
norm against the closed-form cost, the L = 1 solution against a direct ridge solve in pixel space, the one-channel
L >= 2 solution against its optimality conditions and against gradient descent on the factorised problem.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from freqlens.data.synthetic import powerlaw_fields
from freqlens.models import create_model
from freqlens.models.layers import Normalize
from freqlens.spectral_layers import layer_responses, linear_spectrum, load_spectrum
from freqlens.theory import (
    balanced_spectrum,
    frequency_moments,
    objective,
    offdiagonal_mass,
    predict,
    representation_cost,
    scalar_minimiser,
    shift_closed,
    weight_penalty,
)

CASES = [(1, 1, 5, 1, 3), (2, 3, 6, 4, 2), (3, 2, 7, 3, 4), (4, 3, 8, 2, 10)]  # depth, C, size, width, K


def linear_cnn(depth: int, channels: int, size: int, width: int, classes: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = create_model(
        "circular_cnn",
        num_classes=classes,
        in_channels=channels,
        image_size=size,
        depth=depth,
        width=width,
        linear=True,
        normalize="none",
    ).double()
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 1:
                p.normal_()  # non-zero biases: the formula is for f(x) - f(0)
    return model


@pytest.mark.parametrize(("depth", "channels", "size", "width", "classes"), CASES)
def test_frequency_formula_equals_network_and_autograd_gradient(depth, channels, size, width, classes):
    model = linear_cnn(depth, channels, size, width, classes)
    model[0] = Normalize([0.3] * channels, [0.5 + 0.2 * c for c in range(channels)]).double()
    spectrum = linear_spectrum(model, (channels, size, size))
    x = torch.randn(5, channels, size, size, dtype=torch.float64)
    offset = model(torch.zeros_like(x))
    assert torch.allclose(spectrum.apply(x) + offset, model(x), atol=1e-10, rtol=0)
    beta = spectrum.beta_hat()
    for k in range(classes):
        xr = x[:1].clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(xr)[0, k], xr)
        expected = torch.fft.fft2(grad[0], norm="ortho").conj().permute(1, 2, 0)  # (H, W, C)
        assert torch.allclose(beta[:, :, k, :], expected, atol=1e-10, rtol=0)


def test_direct_circular_conv_and_dilation_and_groups():
    """nn.Conv2d with circular padding: offsets of 'same' and explicit padding, dilation, groups."""
    torch.manual_seed(0)
    for conv in (
        nn.Conv2d(4, 6, 3, padding=1, padding_mode="circular"),
        nn.Conv2d(4, 6, 4, padding="same", padding_mode="circular"),
        nn.Conv2d(4, 6, 3, padding=2, dilation=2, padding_mode="circular"),
        nn.Conv2d(4, 6, 3, padding=1, groups=2, padding_mode="circular"),
    ):
        model = nn.Sequential(conv, nn.Flatten(), nn.Linear(6 * 7 * 7, 2)).double()
        x = torch.randn(3, 4, 7, 7, dtype=torch.float64)
        spectrum = linear_spectrum(model, (4, 7, 7))
        assert torch.allclose(spectrum.apply(x) + model(torch.zeros_like(x)), model(x), atol=1e-10, rtol=0)


def test_layer_responses_are_exact_for_circular_and_approximate_for_zero_padding():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, padding_mode="circular"),
        nn.ReLU(),
        nn.Conv2d(8, 8, 5, padding=2),
        nn.ReLU(),
        nn.Conv2d(8, 4, 3, stride=2, padding=1),
    )
    circ, zero, strided = layer_responses(model, (3, 16, 16))
    assert circ.circular_error < 1e-5
    assert 0.05 < zero.circular_error < 1  # the border rows differ: 4 of 16 rows and columns
    assert 0.05 < strided.circular_error < 1
    assert strided.out_shape == (4, 8, 8) and strided.in_shape == (8, 16, 16)
    # The DC gain of a conv is the kernel's sum: the rms gain at the centred DC bin equals ||sum_q w||_F / sqrt(C_in).
    dc = model[2].weight.detach().double().sum(dim=(2, 3))
    assert math.isclose(float(zero.rms_gain[8, 8]), float(dc.norm() / math.sqrt(8)), rel_tol=1e-5)


@pytest.mark.parametrize(("depth", "channels", "size", "width", "classes"), CASES)
def test_balanced_factorisation_attains_the_representation_cost(depth, channels, size, width, classes):
    model = linear_cnn(depth, channels, size, width, classes)
    product = linear_spectrum(model, (channels, size, size)).product()
    cost = representation_cost(product, depth, size * size)
    assert weight_penalty(model) >= cost * (1 - 1e-12)  # a random factorisation costs at least R_L
    balanced = balanced_spectrum(product, depth, width)
    rebuilt = load_spectrum(linear_cnn(depth, channels, size, width, classes, seed=1), balanced)
    again = linear_spectrum(rebuilt, (channels, size, size)).product()
    assert torch.allclose(again, product, atol=1e-10, rtol=0)
    assert abs(weight_penalty(rebuilt) - cost) <= 1e-10 * max(1.0, cost)
    for seed in range(3):  # other factorisations of the same map: rescale hidden channels at random
        if depth == 1:
            break
        scaled = [m.clone() for m in balanced.layers]
        d = torch.exp(torch.randn(width, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
        scaled[0] = scaled[0] * d[:, None].to(scaled[0].dtype)
        scaled[1] = scaled[1] / d[None, :].to(scaled[1].dtype)
        other = type(balanced)(scaled, balanced.input_scale, balanced.shape)
        assert torch.allclose(other.product(), product, atol=1e-10, rtol=0)
        assert other.weight_norm() >= cost * (1 - 1e-12)


@pytest.mark.parametrize(("size", "width", "batch"), [(7, 8, 37), (6, 5, 500)])
def test_chunked_moments_equal_the_direct_full_grid_definition(size, width, batch):
    """One rfft2 pass, frequency-major batched Gram and cross products, chunked: equal to ``E[x_hat x_hat^H]`` and
    ``E[y x_hat^H]`` of the centred, scaled data on the full fft2 grid, computed directly in float64."""
    g = torch.Generator().manual_seed(4)
    n, c, k = 301, 3, 10
    x = 3 * torch.randn(n, c, size, width, generator=g, dtype=torch.float64) + 1
    y = torch.nn.functional.one_hot(torch.randint(0, k, (n,), generator=g), k).double()
    scale = torch.rand(c, generator=g, dtype=torch.float64) + 0.5
    moments = frequency_moments(x, y, scale, batch_size=batch)
    xc = (x - x.mean(0)) * scale.view(1, c, 1, 1)
    yc = y - y.mean(0)
    spectra = torch.fft.fft2(xc, norm="ortho").permute(2, 3, 0, 1)  # (H, W, n, C)
    second = torch.einsum("hwnc,hwnd->hwcd", spectra, spectra.conj()) / n
    cross = torch.einsum("nk,hwnc->hwkc", yc.to(torch.complex128), spectra.conj()) / n
    assert torch.allclose(moments.second, second, atol=1e-10, rtol=0)
    assert torch.allclose(moments.cross, cross, atol=1e-10, rtol=0)
    assert math.isclose(moments.target_power, float(yc.pow(2).sum(1).mean()), rel_tol=1e-12)


def test_ridge_solution_equals_direct_least_squares_on_shift_closed_data():
    g = torch.Generator().manual_seed(0)
    x = shift_closed(powerlaw_fields(3, 2, 6, 6, 2.0, g))  # 108 images, 72 pixels
    beta_star = torch.randn(2, 2 * 36, generator=g, dtype=torch.float64)
    y = x.flatten(1) @ beta_star.T + 0.1 * torch.randn(x.shape[0], 2, generator=g, dtype=torch.float64)
    moments = frequency_moments(x, y)
    assert offdiagonal_mass(x)["mass"] < 1e-10
    wd = 0.3
    sol = predict(moments, wd, 1)
    xc, yc = x.flatten(1) - x.flatten(1).mean(0), y - y.mean(0)
    n, d = xc.shape
    direct = torch.linalg.solve(xc.T @ xc / n + wd / 2 * torch.eye(d, dtype=torch.float64), xc.T @ yc / n).T
    expected = torch.fft.fft2(direct.view(2, 2, 6, 6), norm="ortho").conj().permute(2, 3, 0, 1)
    assert torch.allclose(sol.beta_hat, expected, atol=1e-10, rtol=0)
    residual = ((xc @ direct.T - yc) ** 2).sum(1).mean() + wd / 2 * direct.pow(2).sum()
    assert math.isclose(sol.objective, float(residual), rel_tol=1e-10)


def test_scalar_minimiser_is_the_global_minimum_on_a_grid():
    s = torch.tensor([0.5, 1.0, 2.0, 3.0, 0.1])
    g = torch.tensor([0.1, 1.0, 0.4, 3.0, 2.0])
    grid = torch.linspace(0, 30, 300001, dtype=torch.float64)
    for depth in (1, 2, 3, 4, 6):
        for mu in (0.05, 0.5, 2.0):
            t = scalar_minimiser(s, g, mu, depth)
            values = s.double()[:, None] * grid**2 - 2 * g.double()[:, None] * grid + mu * grid.pow(2 / depth)
            found = s.double() * t**2 - 2 * g.double() * t + mu * t.pow(2 / depth)
            assert torch.all(found <= values.min(dim=1).values + 1e-9), (depth, mu)


@pytest.mark.parametrize("depth", [2, pytest.param(3, marks=pytest.mark.slow)])
def test_one_channel_optimum_meets_its_conditions_and_gradient_descent_finds_it(depth):
    g = torch.Generator().manual_seed(1)
    size, wd = 5, 0.05
    x = shift_closed(powerlaw_fields(4, 1, size, size, 2.0, g))
    beta_star = torch.randn(size * size, generator=g, dtype=torch.float64)
    y = (x.flatten(1) @ beta_star)[:, None]
    moments = frequency_moments(x, y)
    sol = predict(moments, wd, depth)
    b, s, gg = sol.beta_hat[..., 0, 0], moments.second[..., 0, 0].real, moments.cross[..., 0, 0]
    kept = b.abs() > 0
    assert 0 < int(kept.sum()) < size * size  # some frequencies are dropped, some kept
    # Kept bins: stationary, with the phase of G; dropped bins: zero beats every t > 0 along G.
    p = 2 / depth
    t = b.abs()
    stationary = 2 * s * t - 2 * gg.abs() + sol.mu * p * t.clamp(min=1e-300).pow(p - 1)
    assert torch.all(stationary[kept].abs() < 1e-8)
    assert torch.allclose((b / gg)[kept].imag, torch.zeros(int(kept.sum()), dtype=torch.float64), atol=1e-10)
    grid = torch.linspace(1e-6, 5, 20001, dtype=torch.float64)
    dropped = ~kept
    h = s[dropped, None] * grid**2 - 2 * gg.abs()[dropped, None] * grid + sol.mu * grid.pow(p)
    assert torch.all(h > -1e-12)
    # Gradient descent on the factorised problem (the network's own weights), run to convergence.
    model = linear_cnn(depth, 1, size, 1, 1, seed=3)
    opt = torch.optim.LBFGS(
        model.parameters(),
        lr=1,
        max_iter=4000,
        tolerance_grad=1e-12,
        tolerance_change=1e-15,
        history_size=50,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).sum(1).mean() + wd / 2 * sum(
            (p**2).sum() for p in model.parameters() if p.ndim > 1
        )
        loss.backward()
        return loss

    for _ in range(5):
        final = float(opt.step(closure).detach())
    trained = linear_spectrum(model, (1, size, size)).beta_hat()
    assert final >= sol.objective - 1e-9
    assert math.isclose(final, sol.objective, rel_tol=1e-6)
    assert torch.allclose(trained.abs(), sol.beta_hat.abs(), atol=1e-4 * float(sol.beta_hat.abs().max()))


def test_several_channels_depth_two_beats_every_perturbation_and_matches_isotropic_closed_form():
    """L = 2 is convex (nuclear norm): the solver's point is the minimum; with S = s I per frequency the optimum is
    singular value soft-thresholding of G / s."""
    g = torch.Generator().manual_seed(2)
    x = shift_closed(powerlaw_fields(5, 3, 4, 4, 1.0, g))
    y = x.flatten(1) @ torch.randn(3 * 16, 2, generator=g, dtype=torch.float64)
    moments = frequency_moments(x, y)
    sol = predict(moments, 0.2, 2)
    assert sol.residual < 1e-6
    for seed in range(5):
        noise = torch.randn(sol.beta_hat.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        worse = objective(moments, sol.beta_hat + 1e-3 * noise.to(torch.complex128), 0.2, 2)
        assert worse > sol.objective
    s = torch.ones(4, 4, dtype=torch.float64) * 1.7
    iso = type(moments)(
        s[..., None, None] * torch.eye(3, dtype=torch.complex128), moments.cross, 1.0, 1, moments.input_scale
    )
    iso_sol = predict(iso, 0.2, 2)
    u, sv, vh = torch.linalg.svd(moments.cross, full_matrices=False)
    shrunk = scalar_minimiser(s[..., None].expand_as(sv), sv, iso_sol.mu, 2)
    expected = (u * shrunk.to(u.dtype)[..., None, :]) @ vh
    assert torch.allclose(iso_sol.beta_hat, expected, atol=1e-8)
