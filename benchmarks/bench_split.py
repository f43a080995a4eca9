"""Benchmark: LFC/HFC split of the 10,000 CIFAR-10 test images.

Compares ``freqlens.fourier.split`` against (a) the official HFC per-image NumPy loop and (b) the fastest bare forward +
inverse real FFT of the same tensor on this device (torch.fft, and scipy.fft with workers when scipy is installed).
Prints times and ratios from one process (the split and the bare FFTs timed in interleaved rounds, best of
``--repeats``, ``--threads`` torch threads and scipy workers). Targets (issue 28): one radius >= 10x faster than (a)
and within 1.1x of (b); four radii >= 40x faster than (a); with two busy processes on the cores, still within 1.3x
of (b).

    python benchmarks/bench_split.py [--data-dir ../shared/data/cifar10] [--official-images 1000] [--repeats 5]
        [--threads 2]

The official loop is timed on ``--official-images`` images and scaled linearly to 10,000 (it is a per-image loop).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from freqlens import fourier
from timing import best_time, best_times


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


def bare_round_trips(x: torch.Tensor) -> dict[str, Callable[[], object]]:
    """The split's floor candidates: a bare forward + inverse real FFT of ``x`` with torch.fft, and with scipy.fft
    (one worker per torch thread) when scipy is installed and ``x`` is on the CPU. The floor is the faster."""
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)

    def bare_torch() -> None:
        torch.fft.irfft2(torch.fft.rfft2(x), s=x.shape[-2:])
        sync()

    fns: dict[str, Callable[[], object]] = {"torch.fft rfft2+irfft2": bare_torch}
    if not x.is_cuda and importlib.util.find_spec("scipy") is not None:
        import scipy.fft as sfft

        xn, workers = x.numpy(), torch.get_num_threads()
        fns[f"scipy.fft rfft2+irfft2 (workers={workers})"] = lambda: sfft.irfft2(
            sfft.rfft2(xn, workers=workers), s=xn.shape[-2:], workers=workers
        )
    return fns


def split_fns(x: torch.Tensor) -> dict[str, Callable[[], object]]:
    """freqlens' split of ``x`` at one radius (8) and at four (4, 8, 12, 16)."""
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)

    def ours(radii: float | list[float]) -> Callable[[], object]:
        def run() -> None:
            fourier.split(x, radii)
            sync()

        return run

    return {"1 radius": ours(8), "4 radii": ours([4, 8, 12, 16])}


def official_seconds(x: torch.Tensor, images: int) -> float:
    """Seconds of the official loop at one radius over all of ``x``, timed on ``images`` of them and scaled."""
    subset = x[:images].cpu().permute(0, 2, 3, 1).double().numpy() * 255
    return best_time(lambda: official_split(subset, 8), 1) * x.shape[0] / len(subset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_dir = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"
    parser.add_argument("--data-dir", default=str(default_dir))
    parser.add_argument("--official-images", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    x = load_images(args.data_dir).to(args.device)
    print(
        f"{x.shape[0]} images {tuple(x.shape[1:])} float32 on {args.device}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}"
    )
    t_official = official_seconds(x, args.official_images)
    floors = bare_round_trips(x)
    times = best_times({**floors, **split_fns(x)}, args.repeats)
    fastest_name = min(floors, key=times.__getitem__)
    fastest, t_one, t_four = times[fastest_name], times["1 radius"], times["4 radii"]

    print(f"(a) official per-image NumPy loop, 1 radius (from {args.official_images} images): {t_official:8.3f} s")
    for name in floors:
        print(f"(b) bare {name}: {times[name]:8.3f} s")
    print(f"freqlens split, 1 radius:            {t_one:8.3f} s")
    print(f"freqlens split, 4 radii (4,8,12,16): {t_four:8.3f} s")
    print()
    print(f"1 radius  vs (a): {t_official / t_one:7.1f}x faster   (target >= 10x)")
    print(f"1 radius  vs (b) {fastest_name}: {t_one / fastest:5.2f}x its time (target <= 1.1x)")
    print(f"4 radii   vs (a) x 4 radii: {4 * t_official / t_four:7.1f}x faster   (target >= 40x)")


if __name__ == "__main__":
    main()
