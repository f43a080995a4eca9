"""Benchmark: training throughput (images/s) of freqlens' loop against a plain PyTorch reference loop.

Both train the same model (the small CNN by default) with the same optimizer, loss and augmentation (random flip and
a random shift of up to 2 px of the reflect-padded image) on the same images, in one process:

* ``freqlens``: :func:`freqlens.train.train` — the dataset resident on the device as one tensor, batches gathered by
  index, augmentation as batched tensor ops, channels-last layout;
* ``reference``: a ``torch.utils.data.DataLoader`` over a ``Dataset`` that augments each sample in ``__getitem__``
  (torchvision-free: ``flip`` and ``F.pad`` + slicing per image), default memory layout, ``num_workers`` as given;
* ``reference + channels_last``: the same with the model and batches in channels-last layout (how much of the gain is
  the memory layout alone).

The input pipelines are also timed alone (no model), which is where the two loops differ by design.

freqlens is timed with its default settings (``cpu_amp="auto"``: bfloat16 autocast where the CPU computes bfloat16 in
hardware, AMX or AVX512-BF16) and in float32 (``cpu_amp="off"``), like for like with the float32 reference. On a CPU
the small CNN's step is compute-bound (the DataLoader's per-sample augmentation is a few per cent of it), so in
float32 the loop design alone gains little; the gain comes from mixed precision, or on a GPU from keeping the data on
the device.

Each method trains ``--epochs`` epochs (the first is a warm-up); the last epoch's images/s counts, best of
``--repeats`` interleaved runs. Target: freqlens >= 1.5x the reference.

    python benchmarks/bench_train.py [--data-dir ../shared/data/cifar10] [--images 10000] [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from freqlens.data import ImageSet, open_dataset
from freqlens.models import create_model
from freqlens.train import TrainConfig, train
from freqlens.train.augment import parse_augment
from freqlens.train.loop import _optimizer, cpu_autocast, native_cpu_bfloat16


class PerSampleAugmented(Dataset[tuple[Tensor, Tensor]]):
    """CIFAR-style per-image augmentation in ``__getitem__``: random flip, reflect pad, random crop."""

    def __init__(self, images: Tensor, labels: Tensor, pad: int) -> None:
        self.images, self.labels, self.pad = images, labels, pad

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        img = self.images[i]
        if torch.rand(()) < 0.5:
            img = img.flip(-1)
        p, (h, w) = self.pad, img.shape[-2:]
        dy, dx = torch.randint(0, 2 * p + 1, (2,)).tolist()
        img = F.pad(img, (p, p, p, p), mode="reflect")[:, dy : dy + h, dx : dx + w]
        return img, self.labels[i]


def reference_rate(config: TrainConfig, data: ImageSet, workers: int, channels_last: bool) -> float:
    """Images/s of the last epoch of a plain DataLoader loop."""
    torch.manual_seed(config.seed)
    c, h, _ = data.image_shape
    model = create_model(config.model, data.num_classes, c, h, **config.model_kwargs)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = _optimizer(config, model)
    loader = DataLoader(
        PerSampleAugmented(data.images, data.labels, 2), batch_size=config.batch_size, shuffle=True, num_workers=workers
    )
    model.train()
    rate = 0.0
    for _ in range(config.epochs):
        start, seen = time.perf_counter(), 0
        for x, y in loader:
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(model(x), y, label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seen += len(y)
        rate = seen / (time.perf_counter() - start)
    return rate


def pipeline_rates(config: TrainConfig, data: ImageSet, workers: int) -> tuple[float, float]:
    """Images/s of the input pipelines alone (no model): freqlens' batched gather + augmentation, and the DataLoader."""
    augment, gen = parse_augment(config.augment), torch.Generator().manual_seed(0)
    start = time.perf_counter()
    order = torch.randperm(len(data), generator=gen)
    for i in range(0, len(data), config.batch_size):
        idx = order[i : i + config.batch_size]
        augment(data.images[idx], gen).contiguous(memory_format=torch.channels_last)
        data.labels[idx]
    ours = len(data) / (time.perf_counter() - start)
    loader = DataLoader(
        PerSampleAugmented(data.images, data.labels, 2), batch_size=config.batch_size, shuffle=True, num_workers=workers
    )
    start = time.perf_counter()
    for _ in loader:
        pass
    return ours, len(data) / (time.perf_counter() - start)


def freqlens_rate(config: TrainConfig) -> float:
    with tempfile.TemporaryDirectory() as out:
        result = train(config, out, progress=False)
    return float(result.metrics[-1]["train_images_per_s"])


def train_setup(
    data_dir: str | None, images: int, model: str, batch_size: int, epochs: int
) -> tuple[TrainConfig, ImageSet]:
    """The training configuration both loops follow and its training images (CIFAR-10 with ``data_dir``, else
    synthetic power-law images)."""
    data_spec = "cifar10" if data_dir else f"synthetic:powerlaw?n={images}&size=32&classes=10"
    common: dict[str, Any] = {
        "data": data_spec,
        "data_dir": data_dir,
        "model": model,
        "batch_size": batch_size,
        "epochs": epochs,
        "train_subset": images,
        "test_subset": 100,
        "eval_radii": [],
        "augment": "flip,translate:2",
        "device": "cpu",
    }
    config = TrainConfig.from_dict(common)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the JPEG-decoded CIFAR copy's checksum note
        data = open_dataset(data_spec, "train", data_dir).subset(images, config.seed)
    return config, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="CIFAR-10 folder (default: synthetic images)")
    parser.add_argument("--images", type=int, default=10000, help="training images per epoch")
    parser.add_argument("--model", default="small_cnn")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run; the last one is timed")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers of the reference")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config, data = train_setup(args.data_dir, args.images, args.model, args.batch_size, args.epochs)
    print(f"{args.model} on {len(data)} {data.name} images, batch {args.batch_size}, {torch.get_num_threads()} threads")
    amp = "on" if cpu_autocast(config.cpu_amp) else "off"
    print(f"freqlens default cpu_amp=auto resolves to {amp} here (native bfloat16: {native_cpu_bfloat16()})")
    best: dict[str, float] = {"freqlens": 0.0, "freqlens, float32": 0.0, "reference": 0.0}
    best["reference + channels_last"] = 0.0
    for _ in range(args.repeats):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            best["freqlens"] = max(best["freqlens"], freqlens_rate(config))
            best["freqlens, float32"] = max(best["freqlens, float32"], freqlens_rate(config.replace(cpu_amp="off")))
        best["reference"] = max(best["reference"], reference_rate(config, data, args.workers, False))
        best["reference + channels_last"] = max(
            best["reference + channels_last"], reference_rate(config, data, args.workers, True)
        )
        ours, theirs = pipeline_rates(config, data, args.workers)
        best["input pipeline only: freqlens"] = max(best.get("input pipeline only: freqlens", 0.0), ours)
        best["input pipeline only: DataLoader"] = max(best.get("input pipeline only: DataLoader", 0.0), theirs)
    for name, rate in best.items():
        print(f"{name:32s} {rate:8.0f} images/s")
    ratio = best["freqlens"] / best["reference"]
    pipeline = best["input pipeline only: freqlens"] / best["input pipeline only: DataLoader"]
    print(f"input pipeline alone: freqlens / DataLoader {pipeline:.2f}x")
    print(f"freqlens (default settings) / reference: {ratio:.2f}x (target >= 1.5x)")
    print(
        f"like for like in float32: freqlens / reference {best['freqlens, float32'] / best['reference']:.2f}x, "
        f"/ reference+channels_last {best['freqlens, float32'] / best['reference + channels_last']:.2f}x"
    )


if __name__ == "__main__":
    main()
