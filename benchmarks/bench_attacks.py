"""Benchmark: PGD-L∞ and kernel smoothing against independent reference implementations.

(a) ``freqlens.attacks.pgd`` against foolbox 3's ``LinfPGD`` (same model, images, ε, steps and step size, no random
start) and against a bare hand-written PGD loop (``loss.backward()`` on the input, no checks): the time ratio shows the
cost of our validation and band/ball handling. (b) ``freqlens.analyses.kernels.smooth_kernels`` against the official
per-(out, in) ``scipy.signal.convolve2d(boundary='symm')`` loop on a 64x64x3x3 layer. Prints times and ratios from one
process; targets: PGD within 1.2x of the bare loop and no slower than foolbox; smoothing faster than the scipy loop.

    python benchmarks/bench_attacks.py [--images 256] [--steps 10] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import importlib.util

import numpy as np
import torch
from torch import nn

from freqlens.analyses.kernels import smooth_kernels
from freqlens.attacks import pgd
from timing import best_time


def bare_pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int, alpha: float) -> torch.Tensor:
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = nn.functional.cross_entropy(model(x_adv), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = (x + (x_adv.detach() + alpha * grad.sign() - x).clamp(-eps, eps)).clamp(0, 1)
    return x_adv


def pgd_setup(images: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small untrained CNN in eval mode, random 32 px images and labels (seed 0)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(64 * 16, 10),
    ).eval()
    return model, torch.rand(images, 3, 32, 32), torch.randint(0, 10, (images,))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, x, y = pgd_setup(args.images)
    eps, alpha = 8 / 255, 2 / 255
    ours = best_time(lambda: pgd(model, x, y, eps, steps=args.steps, step_size=alpha, random_start=False), args.repeats)
    bare = best_time(lambda: bare_pgd(model, x, y, eps, args.steps, alpha), args.repeats)
    print(
        f"PGD-Linf, {args.images} images, {args.steps} steps: freqlens {ours:.3f} s, bare loop {bare:.3f} s, "
        f"ratio {ours / bare:.2f}x"
    )
    if importlib.util.find_spec("foolbox") is not None:
        import foolbox as fb

        attack = fb.attacks.LinfPGD(abs_stepsize=alpha, steps=args.steps, random_start=False)
        fmodel = fb.PyTorchModel(model, bounds=(0, 1))
        theirs = best_time(lambda: attack(fmodel, x, y, epsilons=eps), args.repeats)
        print(f"  foolbox LinfPGD {theirs:.3f} s: freqlens is {theirs / ours:.2f}x faster")
    else:
        print("  foolbox not installed: skipped")

    from scipy.signal import convolve2d

    w = torch.randn(64, 64, 3, 3, dtype=torch.float64)
    mask = np.full((3, 3), 0.5)
    mask[1, 1] = 1.0
    wn = w.numpy()

    def official() -> np.ndarray:
        return np.stack([[convolve2d(k, mask, boundary="symm", mode="same") for k in row] for row in wn])

    t_ref = best_time(official, args.repeats)
    t_ours = best_time(lambda: smooth_kernels(w, 0.5), args.repeats)
    assert np.allclose(official(), smooth_kernels(w, 0.5).numpy())
    print(
        f"kernel smoothing 64x64x3x3: freqlens {t_ours * 1e3:.2f} ms, scipy loop {t_ref * 1e3:.2f} ms, "
        f"{t_ref / t_ours:.1f}x faster"
    )


if __name__ == "__main__":
    main()
