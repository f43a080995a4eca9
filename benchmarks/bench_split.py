"""Benchmark: LFC/HFC split of the 10,000 CIFAR-10 test images.

Compares ``freqlens.fourier.split`` against (a) the official HFC per-image NumPy loop and (b) the fastest bare forward +
inverse real FFT of the same tensor on this device (torch.fft, and scipy.fft with workers when scipy is installed).
Prints times and ratios from one process. Targets: one radius >= 10x faster than (a) and within 1.5x of (b); four radii
>= 30x faster than (a).

    python benchmarks/bench_split.py [--data-dir ../shared/data/cifar10] [--official-images 1000] [--repeats 5]

The official loop is timed on ``--official-images`` images and scaled linearly to 10,000 (it is a per-image loop).
"""

from __future__ import annotations

import argparse
import math
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from freqlens import fourier
from timing import best_time


def official_split(images_nhwc: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
    """The HFC repository's algorithm (binary mask built per pixel, per-image per-channel complex FFTs)."""
    n = images_nhwc.shape[1]
    mask = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            mask[i, j] = 1.0 if math.sqrt((i - n / 2) ** 2 + (j - n / 2) ** 2) < r else 0.0
    low, high = [], []
    for img in images_nhwc:
        lo = np.zeros(img.shape)
        hi = np.zeros(img.shape)
        for c in range(img.shape[2]):
            spectrum = np.fft.fftshift(np.fft.fft2(img[:, :, c]))
            lo[:, :, c] = np.real(np.fft.ifft2(np.fft.ifftshift(spectrum * mask)))
            hi[:, :, c] = np.real(np.fft.ifft2(np.fft.ifftshift(spectrum * (1 - mask))))
        low.append(lo)
        high.append(hi)
    return np.array(low), np.array(high)


def load_images(data_dir: str | None) -> torch.Tensor:
    if data_dir and (Path(data_dir) / "test_batch").is_file():
        from freqlens.data import load_cifar

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load_cifar("cifar10", "test", data_dir).images
    print("(no CIFAR-10 directory given: using random uint8 images of the same shape)")
    return torch.randint(0, 256, (10000, 3, 32, 32), generator=torch.Generator().manual_seed(0)).float() / 255


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_dir = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"
    parser.add_argument("--data-dir", default=str(default_dir))
    parser.add_argument("--official-images", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    x = load_images(args.data_dir).to(args.device)
    n = x.shape[0]
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    print(
        f"{n} images {tuple(x.shape[1:])} float32 on {args.device}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )

    subset = x[: args.official_images].cpu().permute(0, 2, 3, 1).double().numpy() * 255
    t_official = best_time(lambda: official_split(subset, 8), 1) * n / len(subset)

    def ours(radii):
        def run():
            fourier.split(x, radii)
            sync()

        return run

    def bare_torch():
        torch.fft.irfft2(torch.fft.rfft2(x), s=x.shape[-2:])
        sync()

    t_one = best_time(ours(8), args.repeats)
    t_four = best_time(ours([4, 8, 12, 16]), args.repeats)
    baselines = {"torch.fft rfft2+irfft2": best_time(bare_torch, args.repeats)}
    if not x.is_cuda:
        try:
            import scipy.fft as sfft

            xn = x.numpy()
            workers = os.cpu_count() or 1
            baselines[f"scipy.fft rfft2+irfft2 (workers={workers})"] = best_time(
                lambda: sfft.irfft2(sfft.rfft2(xn, workers=workers), s=xn.shape[-2:], workers=workers), args.repeats
            )
        except ImportError:
            print("(scipy not installed: skipping the scipy.fft baseline)")
    fastest_name, fastest = min(baselines.items(), key=lambda kv: kv[1])

    print(f"(a) official per-image NumPy loop, 1 radius (scaled from {len(subset)} images): {t_official:8.3f} s")
    for name, t in baselines.items():
        print(f"(b) bare {name}: {t:8.3f} s")
    print(f"freqlens split, 1 radius:            {t_one:8.3f} s")
    print(f"freqlens split, 4 radii (4,8,12,16): {t_four:8.3f} s")
    print()
    print(f"1 radius  vs (a): {t_official / t_one:7.1f}x faster   (target >= 10x)")
    print(f"1 radius  vs (b) {fastest_name}: {t_one / fastest:5.2f}x its time (target <= 1.5x)")
    print(f"4 radii   vs (a) x 4 radii: {4 * t_official / t_four:7.1f}x faster   (target >= 30x)")


if __name__ == "__main__":
    main()
