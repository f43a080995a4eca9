"""Attacks on tiny analytic models whose adversarial examples are known in closed form."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from freqlens import fourier
from freqlens.attacks import bind_attack, fgsm, pgd, robust_accuracy
from freqlens.errors import FreqlensError


def linear_model(weight: torch.Tensor, bias: torch.Tensor | None = None) -> nn.Module:
    """``logits = W flatten(x) + b`` in float64."""
    k, d = weight.shape
    lin = nn.Linear(d, k).double()
    with torch.no_grad():
        lin.weight.copy_(weight)
        lin.bias.copy_(torch.zeros(k) if bias is None else bias)
    return nn.Sequential(nn.Flatten(), lin)


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 16 * 16, 3),
    ).double()


@pytest.fixture
def binary():
    """Two-class linear model on 2x4x4 images with nonzero weight differences v = W1 - W0."""
    g = torch.Generator().manual_seed(1)
    d = 2 * 4 * 4
    v = torch.randint(1, 4, (d,), generator=g).double() * (torch.randint(0, 2, (d,), generator=g) * 2 - 1)
    weight = torch.stack([torch.zeros(d, dtype=torch.float64), v]) * 0.05
    x = 0.3 + 0.4 * torch.rand(16, 2, 4, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 2, (16,), generator=g)
    return linear_model(weight), x, y, weight[1] - weight[0]


def expected_linf(x: torch.Tensor, y: torch.Tensor, v: torch.Tensor, eps) -> torch.Tensor:
    """The worst case for a binary linear model: move along -sign(v) for class 1 and +sign(v) for class 0."""
    direction = torch.where(y.view(-1, 1) == 1, -v.sign(), v.sign()).view_as(x)
    eps = torch.as_tensor(eps, dtype=x.dtype).reshape(-1, 1, 1, 1)
    return (x + eps * direction).clamp(0, 1)


def test_fgsm_on_a_linear_model_is_exactly_the_sign_step(binary):
    model, x, y, v = binary
    assert torch.equal(fgsm(model, x, y, 0.05), expected_linf(x, y, v, 0.05))


def test_fgsm_clips_to_the_image_range(binary):
    model, _, y, v = binary
    x = torch.rand(16, 2, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    x_adv = fgsm(model, x, y, 0.4)
    assert torch.equal(x_adv, expected_linf(x, y, v, 0.4))
    assert x_adv.min() == 0 and x_adv.max() == 1


def test_per_sample_eps(binary):
    model, x, y, v = binary
    eps = torch.linspace(0, 0.2, 16, dtype=torch.float64)
    assert torch.equal(fgsm(model, x, y, eps), expected_linf(x, y, v, eps))
    assert torch.equal(
        pgd(model, x, y, eps, steps=12, generator=torch.Generator().manual_seed(0)), expected_linf(x, y, v, eps)
    )


def test_pgd_linf_reaches_the_corner_from_a_random_start(binary):
    model, x, y, v = binary
    x_adv = pgd(model, x, y, 0.08, steps=10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x_adv, expected_linf(x, y, v, 0.08))


def test_pgd_l2_converges_to_the_scaled_weight_direction(binary):
    model, x, y, v = binary
    x_adv = pgd(model, x, y, 0.3, steps=5, step_size=0.1, norm="l2", random_start=False)
    direction = torch.where(y.view(-1, 1) == 1, -v, v) / v.norm()
    assert torch.allclose(x_adv, x + 0.3 * direction.view_as(x), atol=1e-12)


def test_targeted_fgsm_descends_the_target_loss():
    g = torch.Generator().manual_seed(2)
    weight = torch.randn(3, 12, generator=g, dtype=torch.float64)
    model = linear_model(weight)
    x = 0.3 + 0.4 * torch.rand(6, 3, 2, 2, generator=g, dtype=torch.float64)
    target = torch.tensor([0, 1, 2, 2, 1, 0])
    p = torch.softmax(x.flatten(1) @ weight.T, dim=1)
    grad = p @ weight - weight[target]  # d CE(target) / dx for a linear model
    expected = (x - 0.05 * grad.sign().view_as(x)).clamp(0, 1)
    assert torch.equal(fgsm(model, x, target, 0.05, targeted=True), expected)
    far = pgd(model, x, target, 1.0, steps=20, step_size=0.1, targeted=True, random_start=False)
    assert torch.equal(model(far).argmax(dim=1), target)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_perturbation_stays_in_the_ball_and_image_range(norm):
    model = small_cnn()
    x = torch.rand(8, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    y = torch.arange(8) % 3
    eps = 0.03 if norm == "linf" else 0.5
    x_adv = pgd(model, x, y, eps, steps=5, step_size=eps, norm=norm, generator=torch.Generator().manual_seed(0))
    delta = (x_adv - x).flatten(1)
    size = delta.abs().amax(dim=1) if norm == "linf" else delta.norm(dim=1)
    assert (size <= eps + 1e-12).all() and (size > 0.5 * eps).all()
    assert x_adv.min() >= 0 and x_adv.max() <= 1


@pytest.mark.parametrize(
    "attack",
    [
        lambda m, x, y, e: fgsm(m, x, y, e),
        lambda m, x, y, e: fgsm(m, x, y, e, random_start=True),
        lambda m, x, y, e: pgd(m, x, y, e),
        lambda m, x, y, e: pgd(m, x, y, e, norm="l2"),
        lambda m, x, y, e: pgd(m, x, y, e, band="lfc:4"),
    ],
)
def test_eps_zero_returns_the_images_exactly(attack):
    x = torch.rand(4, 3, 16, 16, dtype=torch.float64)
    assert torch.equal(attack(small_cnn(), x, torch.tensor([0, 1, 2, 0]), 0.0), x)


BANDS = {
    "lfc:5": lambda: fourier.disk_mask(16, 16, 5),
    "hfc:9": lambda: ~fourier.disk_mask(16, 16, 9),
    "band:3:7": lambda: fourier.band_mask(16, 16, 3, 7),
}


@pytest.mark.parametrize(("band", "norm"), [("lfc:5", "linf"), ("hfc:9", "linf"), ("band:3:7", "l2"), ("mask", "linf")])
def test_band_projection_leaves_no_energy_outside_the_band(band, norm):
    inside = fourier.disk_mask(16, 16, 5) if band == "mask" else BANDS[band]()
    x = 0.4 + 0.2 * torch.rand(6, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    eps = 0.02 if norm == "linf" else 0.3
    model = small_cnn()
    x_adv = pgd(
        model,
        x,
        torch.arange(6) % 3,
        eps,
        steps=4,
        norm=norm,
        band=inside if band == "mask" else band,
        generator=torch.Generator().manual_seed(1),
    )
    delta = x_adv - x
    power = torch.fft.fftshift(torch.fft.fft2(delta, norm="ortho").abs() ** 2, dim=(-2, -1))
    assert power[..., ~inside].sum() < 1e-20 * power.sum()
    assert power.sum() > 0
    size = delta.abs().amax() if norm == "linf" else delta.flatten(1).norm(dim=1).max()
    assert eps / 4 < size <= eps + 1e-12


def test_model_mode_and_parameter_gradients_are_untouched():
    model = small_cnn()
    x, y = torch.rand(4, 3, 16, 16, dtype=torch.float64), torch.tensor([0, 1, 2, 0])
    for training in (True, False):
        model.train(training)
        pgd(model, x, y, 0.03, steps=2)
        fgsm(model, x, y, 0.03)
        assert all(m.training == training for m in model.modules())
        assert all(p.grad is None for p in model.parameters())
    with torch.no_grad():  # attacks work inside no_grad blocks too
        assert not torch.equal(fgsm(model, x, y, 0.03), x)


def test_random_start_is_deterministic_under_a_generator():
    model = small_cnn().eval()
    x, y = torch.rand(4, 3, 16, 16, dtype=torch.float64), torch.tensor([0, 1, 2, 0])

    def run(seed: int, norm: str) -> torch.Tensor:
        return pgd(model, x, y, 0.03, steps=1, norm=norm, generator=torch.Generator().manual_seed(seed))

    for norm in ("linf", "l2"):
        assert torch.equal(run(0, norm), run(0, norm))
        assert not torch.equal(run(0, norm), run(1, norm))


def test_default_fgsm_rs_step_is_one_and_a_quarter_eps(binary):
    model, x, y, v = binary
    # FGSM-RS (Wong et al.): uniform start in the ball, one sign step of 1.25 eps, clamp into the ball.
    g = torch.Generator().manual_seed(7)
    start = (2 * torch.rand(x.shape, generator=torch.Generator().manual_seed(7), dtype=x.dtype) - 1) * 0.1
    direction = (expected_linf(x, y, v, 1.0) - x).sign()
    expected = (x + (start + 0.125 * direction).clamp(-0.1, 0.1)).clamp(0, 1)
    assert torch.allclose(fgsm(model, x, y, 0.1, random_start=True, generator=g), expected, atol=1e-15)


def test_robust_accuracy_matches_the_linear_margin_formula(binary):
    model, x, y, v = binary
    with torch.no_grad():
        model[1].bias[1] = -model(x)[:, 1].median()  # balance the two classes
        logits = model(x)
    margin = (logits[torch.arange(16), y] - logits[torch.arange(16), 1 - y]).double()
    eps_list = [0.0, 0.002, 0.005, 0.01, 0.02, 0.05]
    expected = {e: float((margin > e * v.abs().sum()).double().mean()) for e in eps_list}
    assert len(set(expected.values())) >= 4  # the grid resolves several margins
    for attack in ("fgsm", "pgd"):
        got = robust_accuracy(model, x, y, eps_list, attack=attack, batch_size=5, progress=False)
        assert got == expected


def test_robust_accuracy_restores_modes_and_takes_callables():
    model = small_cnn().train()
    x, y = torch.rand(10, 3, 16, 16, dtype=torch.float64), torch.arange(10) % 3
    seen = []

    def attack(m, xs, ys, eps):
        seen.append(m.training)
        return fgsm(m, xs, ys, eps)

    a = robust_accuracy(model, x, y, [0, 0.05], attack=attack, batch_size=4, progress=False)
    b = robust_accuracy(model, x, y, [0, 0.05], attack="fgsm", batch_size=10, progress=False)
    assert a == b
    assert model.training and not any(seen)
    with torch.no_grad():
        clean = float((model.eval()(x).argmax(1) == y).double().mean())
    assert a[0.0] == clean


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m, x, y: pgd(m, x, y, -0.1), "eps"),
        (lambda m, x, y: pgd(m, x, y, float("nan")), "eps"),
        (lambda m, x, y: pgd(m, x, y, torch.ones(3)), "shape"),
        (lambda m, x, y: pgd(m, x, y, 0.1, steps=0), "steps"),
        (lambda m, x, y: pgd(m, x, y, 0.1, norm="l1"), "norm"),
        (lambda m, x, y: pgd(m, x, y, 0.1, step_size=-1.0), "step_size"),
        (lambda m, x, y: pgd(m, x * 255, y, 0.1), r"\[0, 1\]"),
        (lambda m, x, y: pgd(m, x, y[:2], 0.1), "labels"),
        (lambda m, x, y: pgd(m, x, y, 0.1, band="hfc:4:max"), "band"),
        (lambda m, x, y: pgd(m, x, y, 0.1, band=torch.ones(4, 4)), "band"),
        (lambda m, x, y: robust_accuracy(m, x, y, [0.1, -1.0]), "ε"),
        (lambda m, x, y: robust_accuracy(m, x, y, [0.1], attack="cw"), "unknown attack"),
        (lambda m, x, y: robust_accuracy(m, x, y, [0.1], batch_size=0), "batch_size"),
    ],
)
def test_bad_input_is_rejected(call, match):
    x, y = torch.rand(4, 3, 16, 16, dtype=torch.float64), torch.tensor([0, 1, 2, 0])
    with pytest.raises(FreqlensError, match=match):
        call(small_cnn(), x, y)


@pytest.mark.parametrize("targeted", [False, True])
def test_early_stop_returns_the_first_fooling_iterate(targeted):
    model = small_cnn().eval()
    x = torch.rand(12, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    y = (model(x).argmax(dim=1) + int(targeted)) % 3  # targeted: aim at another class
    kwargs = {"step_size": 0.001, "random_start": False, "targeted": targeted}
    got = pgd(model, x, y, 0.004, steps=6, early_stop=True, **kwargs)
    iterates = [x] + [pgd(model, x, y, 0.004, steps=k, **kwargs) for k in range(1, 7)]
    with torch.no_grad():
        done = torch.stack([(model(it).argmax(dim=1) == y) == targeted for it in iterates])  # (7, N)
    first = torch.where(done.any(dim=0), done.double().argmax(dim=0), torch.tensor(6)).long()
    assert (first < 4).any() and not done[-1].all()  # some are fooled before reaching the ball's corner, some never
    assert not torch.allclose(got, iterates[-1])
    expected = torch.stack([iterates[k][i] for i, k in enumerate(first.tolist())])
    assert torch.allclose(got, expected, atol=1e-12)


def test_bind_attack_is_pgd_with_its_step_a_fraction_of_each_eps():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 3))
    x, y = torch.rand(5, 3, 4, 4), torch.tensor([0, 1, 2, 0, 1])
    eps = torch.tensor([0.01, 0.02, 0.05, 0.1, 0.2])
    bound = bind_attack("pgd", steps=3, step_fraction=0.25, norm="l2", generator=torch.Generator().manual_seed(4))
    direct = pgd(net, x, y, eps, steps=3, step_size=0.25 * eps, norm="l2", generator=torch.Generator().manual_seed(4))
    assert torch.equal(bound(net, x, y, eps), direct)
    assert torch.equal(bind_attack("fgsm", band="lfc:1")(net, x, y, eps), fgsm(net, x, y, eps, band="lfc:1"))
    with pytest.raises(FreqlensError, match="unknown attack"):
        bind_attack("cw")
