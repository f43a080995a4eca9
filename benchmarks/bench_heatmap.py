"""Benchmark: batched Fourier heat map vs the straightforward per-frequency loop, same images, same seed.

Two per-frequency loops serve as baselines:

* ``public-style loop``: how the public implementations work (gatheluck/FourierHeatmap's ``eval_fourier_heatmap``):
  for each basis a test set whose ``__getitem__`` turns one stored 8-bit image into a float tensor (``ToTensor``),
  adds the basis with a random sign per channel and clamps (``AddFourierNoise``), read through a ``DataLoader`` in
  batches of 512, and the model run on each batch;
* ``tensor loop``: :func:`freqlens.analyses.heatmap.loop_heatmap`, the same loop with the images already held as one
  float tensor and perturbed a batch at a time (a stronger baseline than the public code).

``freqlens.analyses.heatmap.fourier_heatmap`` instead perturbs B images x K bases with one broadcasted add and runs
cache-sized NHWC batches. All evaluate the 514 symmetric pairs of a 32x32 spectrum with the same signs, so the error
maps must be identical. Prints the times, the ratios (target >= 3x the public-style loop) and the max abs difference
of the maps. ``--amp`` adds the batched run under autocast and times both loops under the same autocast, like for like
(on a CPU with native bfloat16 the float32 forward passes are near the machine's float32 peak, which caps what batching
alone can gain).

    python benchmarks/bench_heatmap.py [--model small_cnn | --model path/to/model.pt]
        [--data-dir ../shared/data/cifar10] [--images 200] [--eps 4] [--loop-batch 512]
        [--batch-size N] [--threads 2] [--device cpu] [--compile] [--amp]

Without ``--data-dir`` (or when it holds no CIFAR-10) the images are ``synthetic:powerlaw`` fields with 10 classes.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from freqlens import fourier
from freqlens.analyses.heatmap import HeatMap, fourier_heatmap, heatmap_signs, loop_heatmap, mirror_pairs, subsample
from freqlens.data import ImageSet, open_dataset


class PerturbedTestSet(Dataset[tuple[Tensor, Tensor]]):
    """One basis' test set, public-code style: per item, 8-bit HWC image -> float CHW (``ToTensor``), + signed basis
    per channel, clamp to [0, 1] (``AddFourierNoise``)."""

    def __init__(self, images_hwc: Tensor, labels: Tensor, basis: Tensor, signs: Tensor) -> None:
        self.images, self.labels, self.basis, self.signs = images_hwc, labels, basis, signs

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        img = self.images[i].permute(2, 0, 1).float().div(255)
        noise = self.basis.unsqueeze(0).repeat(img.shape[0], 1, 1) * self.signs[i][:, None, None]
        return torch.clamp(img + noise, 0.0, 1.0), self.labels[i]


def public_style_heatmap(model: torch.nn.Module, x: Tensor, y: Tensor, eps: float, seed: int, batch: int) -> HeatMap:
    """The per-frequency loop of the public code over a per-sample ``DataLoader`` (signs shared with freqlens)."""
    n, c, h, w = x.shape
    images_hwc = (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()  # what the dataset stores
    positions = fourier.symmetric_positions(h, w)
    signs = heatmap_signs(len(positions), n, c, seed).float()
    err = torch.zeros(len(positions), dtype=torch.float64)
    loss = torch.zeros_like(err)
    with torch.no_grad():
        for k in range(len(positions)):
            basis = fourier.fourier_basis(h, w, positions[k : k + 1])[0] * eps
            for xb, yb in DataLoader(PerturbedTestSet(images_hwc, y, basis, signs[k]), batch_size=batch):
                logits = model(xb)
                err[k] += (logits.argmax(1) != yb).sum().item()
                loss[k] += F.cross_entropy(logits, yb, reduction="none").double().sum().item()
    return HeatMap(mirror_pairs(err / n, h, w), mirror_pairs(loss / n, h, w), 0.0, 0.0, eps, n, seed)


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
    parser.add_argument("--batch-size", type=int, default=None, help="fourier_heatmap's batch (default: its own)")
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

    public, t_public = timed(lambda: public_style_heatmap(model, x, y, args.eps, args.seed, args.loop_batch))
    print(f"{'public-style loop':>28} (batch {args.loop_batch}): {t_public:8.1f} s")
    loop, t_loop = timed(
        lambda: loop_heatmap(model, x, y, args.eps, seed=args.seed, batch_size=args.loop_batch, device=args.device)
    )
    same = float((loop.error - public.error).abs().max())
    print(f"{'tensor loop':>28} (batch {args.loop_batch}): {t_loop:8.1f} s   max |d error| vs public-style {same:.3g}")
    runs: list[tuple[str, dict[str, bool]]] = [
        ("batched, NCHW", {"channels_last": False}),
        ("batched, NHWC (default)", {}),
    ]
    if args.compile:
        runs.append(("batched, NHWC, compiled", {"compile": True}))
    if args.amp:
        runs.append(("batched, NHWC, autocast", {"amp": True}))
    batch = {} if args.batch_size is None else {"batch_size": args.batch_size}
    for name, options in runs:
        hm, t = timed(
            lambda o=options: fourier_heatmap(model, x, y, args.eps, seed=args.seed, device=args.device, **batch, **o)
        )
        err = float((hm.error - public.error).abs().max())
        loss = float((hm.loss - public.loss).abs().max())
        print(
            f"{name:>28}: {t:8.1f} s   vs public-style {t_public / t:5.2f}x (target >= 3x), vs tensor loop "
            f"{t_loop / t:5.2f}x   max |d error| {err:.3g}   max |d loss| {loss:.3g}"
        )
    if args.amp:  # like for like in low precision: both loops under the same autocast as the batched run
        dev_type = torch.device(args.device).type
        low_precision = torch.float16 if dev_type == "cuda" else torch.bfloat16
        with torch.autocast(dev_type, dtype=low_precision):
            amp_public, t_amp_public = timed(
                lambda: public_style_heatmap(model, x, y, args.eps, args.seed, args.loop_batch)
            )
            amp_loop, t_amp_loop = timed(
                lambda: loop_heatmap(model, x, y, args.eps, seed=args.seed, batch_size=args.loop_batch)
            )
        print(
            f"{'public-style loop, autocast':>28}: {t_amp_public:8.1f} s   vs batched autocast {t_amp_public / t:5.2f}x"
        )
        print(f"{'tensor loop, autocast':>28}: {t_amp_loop:8.1f} s   vs batched autocast {t_amp_loop / t:5.2f}x")
        for name, other in (("public-style", amp_public), ("tensor loop", amp_loop)):
            err = float((hm.error - other.error).abs().max())
            loss = float((hm.loss - other.loss).abs().max())
            print(f"  batched autocast vs {name} autocast: max |d error| {err:.3g}   max |d loss| {loss:.3g}")
    low, high = float(loop.error.min()), float(loop.error.max())
    print(f"clean error {loop.clean_error:.4f}; heat-map error range {low:.3f}..{high:.3f}")


if __name__ == "__main__":
    main()
