"""Cross-check robust accuracy against an independent implementation (foolbox 3 or torchattacks), when installed."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import nn

from freqlens.attacks import fgsm, pgd, robust_accuracy

pytestmark = pytest.mark.slow

EPS = [0.005, 0.02]
HAVE_FOOLBOX = importlib.util.find_spec("foolbox") is not None
HAVE_TORCHATTACKS = importlib.util.find_spec("torchattacks") is not None


def setup() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A random CNN labelling random smooth images with its own predictions (clean accuracy 1 by construction)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(32 * 16, 10),
    ).eval()
    g = torch.Generator().manual_seed(1)
    x = nn.functional.avg_pool2d(torch.rand(256, 3, 34, 34, generator=g), 3, stride=1)
    x = (x - x.amin()) / (x.amax() - x.amin())
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    return model, x, y


def reference(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Adversarial images from the independent library, same attack configuration as ours (no random start)."""
    if HAVE_FOOLBOX:
        import foolbox as fb

        fmodel = fb.PyTorchModel(model, bounds=(0, 1))
        attack = {
            "fgsm": fb.attacks.FGSM(),
            "pgd": fb.attacks.LinfPGD(abs_stepsize=eps / 4, steps=20, random_start=False),
            "pgd_l2": fb.attacks.L2PGD(abs_stepsize=eps * 8, steps=20, random_start=False),
        }[name]
        return attack(fmodel, x, y, epsilons=eps if name != "pgd_l2" else eps * 32)[1]
    import torchattacks

    if name == "fgsm":
        return torchattacks.FGSM(model, eps=eps)(x, y)
    if name == "pgd":
        return torchattacks.PGD(model, eps=eps, alpha=eps / 4, steps=20, random_start=False)(x, y)
    return torchattacks.PGDL2(model, eps=eps * 32, alpha=eps * 8, steps=20, random_start=False)(x, y)


ATTACKS = {
    "fgsm": lambda m, x, y, e: fgsm(m, x, y, e),
    "pgd": lambda m, x, y, e: pgd(m, x, y, e, steps=20, step_size=e / 4, random_start=False),
    "pgd_l2": lambda m, x, y, e: pgd(m, x, y, e * 32, steps=20, step_size=e * 8, norm="l2", random_start=False),
}


@pytest.mark.skipif(not (HAVE_FOOLBOX or HAVE_TORCHATTACKS), reason="neither foolbox nor torchattacks is installed")
@pytest.mark.parametrize("name", list(ATTACKS))
def test_robust_accuracy_matches_an_independent_library(name):
    model, x, y = setup()
    ours = robust_accuracy(model, x, y, EPS, attack=ATTACKS[name], batch_size=128, progress=False)
    assert ours[EPS[0]] > ours[EPS[-1]]  # the grid spans a real drop
    for eps in EPS:
        ref_adv = reference(name, model, x, y, eps)
        with torch.no_grad():
            theirs = float((model(ref_adv).argmax(dim=1) == y).float().mean())
        assert abs(ours[eps] - theirs) <= 0.01, (name, eps, ours[eps], theirs)
    mine = ATTACKS[name](model, x, y, torch.full((len(x),), EPS[-1]))
    same_pixels = float((mine - ref_adv).abs().lt(1e-5).float().mean())
    assert same_pixels > 0.98, (name, same_pixels)
