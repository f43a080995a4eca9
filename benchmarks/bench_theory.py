"""Benchmark: the predicted Fourier sensitivity map of Godfrey's linear circular CNN for CIFAR-10, before training.

Times :func:`freqlens.theory.frequency_moments` (per-frequency second moments of the 50k training images, 3 channels,
10 one-hot classes, 32x32) and :func:`freqlens.theory.predict` at depths 1, 2 and 4, against a floor measured in the
same process: one ``rfft2`` pass over the same images in their own precision (what the moments start from).
Target (issue 25): moments + predicted map under 10 s on 2 cores for each depth.

    python benchmarks/bench_theory.py [--data-dir ../shared/data/cifar10] [--images 50000] [--threads 2]

Without CIFAR-10 in ``--data-dir`` the images are ``synthetic:powerlaw`` fields with 10 classes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from freqlens.data import open_dataset
from freqlens.theory import frequency_moments, predict

TARGET_S = 10.0
WEIGHT_DECAY = 1e-2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/cifar10")
    parser.add_argument("--images", type=int, default=50000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    path = Path(args.data_dir)
    spec = "cifar10" if (path / "data_batch_1").exists() else f"synthetic:powerlaw?n={args.images}&classes=10"
    data = open_dataset(spec, "train", path).subset(args.images, 0)
    x, y = data.images, F.one_hot(data.labels, data.num_classes).double()
    print(f"data: {spec}, {tuple(x.shape)}, {data.num_classes} classes, {args.threads} threads")

    start = time.perf_counter()
    for i in range(0, x.shape[0], 2000):
        torch.fft.rfft2(x[i : i + 2000], norm="ortho")
    floor = time.perf_counter() - start
    start = time.perf_counter()
    moments = frequency_moments(x, y)
    t_moments = time.perf_counter() - start
    print(f"floor (one rfft2 pass): {floor:.2f} s; moments: {t_moments:.2f} s ({t_moments / floor:.1f}x floor)")
    for depth in (1, 2, 4):
        start = time.perf_counter()
        solution = predict(moments, WEIGHT_DECAY, depth)
        solution.sensitivity_map()
        t_solve = time.perf_counter() - start
        total = t_moments + t_solve
        verdict = "OK" if total < TARGET_S else "OVER TARGET"
        print(
            f"depth {depth}: solve {t_solve:.2f} s ({solution.method}, {solution.iterations} iterations, residual "
            f"{solution.residual:.2e}); moments + solve {total:.2f} s (target < {TARGET_S:g} s: {verdict})"
        )


if __name__ == "__main__":
    main()
