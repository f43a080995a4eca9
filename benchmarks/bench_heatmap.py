"""Benchmark: batched Fourier heat map vs the straightforward per-frequency loop, same images, same seed.

The loop is how the public implementations work (google-research ``freq_heatmap.py``, gatheluck/FourierHeatmap): for
each basis, perturb the test images mini-batch by mini-batch (gatheluck's default batch is 512) and run the model.
``freqlens.analyses.heatmap.fourier_heatmap`` instead perturbs B images x K bases with one broadcasted add and one
forward pass (NHWC layout). Both evaluate the 514 symmetric pairs of a 32x32 spectrum with the same signs, so the
maps must be identical. Prints both times, their ratio (target >= 3x) and the max abs difference of the maps.

    python benchmarks/bench_heatmap.py [--model small_cnn | --model path/to/model.pt]
        [--data-dir ../shared/data/cifar10] [--images 200] [--eps 4] [--loop-batch 512]
        [--batch-size 2048] [--threads 2] [--device cpu] [--compile] [--amp]

Without ``--data-dir`` (or when it holds no CIFAR-10) the images are ``synthetic:powerlaw`` fields with 10 classes.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import torch

from freqlens.analyses.heatmap import fourier_heatmap, loop_heatmap, subsample
from freqlens.data import ImageSet, open_dataset


def load_images(data_dir: str | None, n: int, seed: int) -> ImageSet:
    if data_dir and (Path(data_dir) / "test_batch").is_file():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a re-encoded copy warns that checksums differ
            images = open_dataset(data_dir, "test")
    else:
        images = open_dataset(f"synthetic:powerlaw?n={n}&classes=10&seed={seed}", "test")
    x, y = subsample(images.images, images.labels, n, seed)
    return ImageSet(x, y, images.classes, images.name)


def load_model(spec: str, device: str, seed: int) -> torch.nn.Module:
    if Path(spec).is_file():
        from freqlens.checkpoint import load_model as load_checkpoint

        model, _ = load_checkpoint(Path(spec), device=device)
        return model.eval()
    from freqlens.models import create_model

    torch.manual_seed(seed)
    return create_model(spec).to(device).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="small_cnn", help="registry name (untrained) or a model.pt")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--eps", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--loop-batch", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile", action="store_true", help="also time compile=True (includes compilation)")
    parser.add_argument("--amp", action="store_true", help="also time amp=True (bfloat16/float16: maps may differ)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images = load_images(args.data_dir, args.images, args.seed)
    model = load_model(args.model, args.device, args.seed)
    x, y = images.images, images.labels
    print(f"{args.model} on {images.name}: {len(x)} images, eps {args.eps:g}, device {args.device}")

    def timed(fn):  # type: ignore[no-untyped-def]
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = fn()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return result, time.perf_counter() - start

    loop, t_loop = timed(
        lambda: loop_heatmap(model, x, y, args.eps, seed=args.seed, batch_size=args.loop_batch, device=args.device)
    )
    print(f"per-frequency loop (batch {args.loop_batch}): {t_loop:8.1f} s")
    runs: list[tuple[str, dict[str, bool]]] = [
        ("batched, NCHW", {"channels_last": False}),
        ("batched, NHWC (default)", {}),
    ]
    if args.compile:
        runs.append(("batched, NHWC, compiled", {"compile": True}))
    if args.amp:
        runs.append(("batched, NHWC, autocast", {"amp": True}))
    for name, options in runs:
        hm, t = timed(
            lambda o=options: fourier_heatmap(
                model, x, y, args.eps, seed=args.seed, batch_size=args.batch_size, device=args.device, **o
            )
        )
        err = float((hm.error - loop.error).abs().max())
        loss = float((hm.loss - loop.loss).abs().max())
        print(
            f"{name:>24} (batch {args.batch_size}): {t:8.1f} s   speed-up {t_loop / t:5.2f}x   "
            f"max |d error| {err:.3g}   max |d loss| {loss:.3g}"
        )
    low, high = float(loop.error.min()), float(loop.error.max())
    print(f"clean error {loop.clean_error:.4f}; heat-map error range {low:.3f}..{high:.3f}")


if __name__ == "__main__":
    main()
