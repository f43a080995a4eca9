"""Benchmark: Fourier gradient sensitivity against a bare batched implementation, same model, same images.

``freqlens.analyses.sensitivity.fourier_sensitivity`` (every logit, ``meannorm``, batches of 64) against the floor of
its method written out bare: per batch, one forward pass, one ``autograd.grad`` per logit, one ``fft2`` of the stacked
gradients, ``|.|`` summed over logits, no checks, no running statistics. The ratio (bare time / freqlens time) shows
the cost of validation, eval-mode handling and the streaming mean and std. Target: >= 0.8 (within 1.25x of bare).

    python benchmarks/bench_sensitivity.py [--model small_cnn] [--images 512] [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from torch import Tensor, nn

from freqlens.analyses.sensitivity import fourier_sensitivity
from freqlens.models import create_model
from timing import best_times

BATCH = 64


def bare_sensitivity(model: nn.Module, x: Tensor) -> Tensor:
    """Mean over images of ``sqrt(sum_k |FFT_ortho(grad_x f_k)|^2)``, batch by batch, nothing else."""
    total = torch.zeros(x.shape[1:], dtype=torch.float64)
    for start in range(0, x.shape[0], BATCH):
        xb = x[start : start + BATCH].detach().requires_grad_(True)
        out = model(xb)
        grads = [torch.autograd.grad(out[:, k].sum(), xb, retain_graph=True)[0] for k in range(out.shape[1])]
        spectra = torch.fft.fft2(torch.stack(grads), norm="ortho")
        total += (spectra.real**2 + spectra.imag**2).sum(dim=0).sqrt().sum(dim=0).double()
    return total / x.shape[0]


def sensitivity_fns(model: nn.Module, x: Tensor) -> dict[str, Callable[[], object]]:
    """The two timed calls: ``freqlens`` and ``bare``."""
    return {
        "freqlens": lambda: fourier_sensitivity(model, x, batch_size=BATCH),
        "bare": lambda: bare_sensitivity(model, x),
    }


def sensitivity_setup(model_name: str, images: int) -> tuple[nn.Module, Tensor]:
    """An untrained registry model in eval mode (the speed does not depend on the weights) and random 32 px images."""
    torch.manual_seed(0)
    return create_model(model_name).eval(), torch.rand(images, 3, 32, 32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="small_cnn")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, x = sensitivity_setup(args.model, args.images)
    maps = fourier_sensitivity(model, x, batch_size=BATCH)
    bare = torch.fft.fftshift(bare_sensitivity(model, x), dim=(-2, -1))
    times = best_times(sensitivity_fns(model, x), args.repeats)
    print(
        f"Fourier sensitivity, {args.model}, {args.images} images, every logit: freqlens {times['freqlens']:.3f} s, "
        f"bare {times['bare']:.3f} s, ratio bare / freqlens {times['bare'] / times['freqlens']:.2f} (target >= 0.8); "
        f"max |d mean map| {float((maps.mean - bare).abs().max()):.2g}"
    )


if __name__ == "__main__":
    main()
