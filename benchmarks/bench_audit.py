"""Benchmark: ``freqlens audit`` of a ResNet-18-sized network on 500 images at 224x224 (and the same at 32x32).

Builds a temporary image folder of random 224 px (or 32 px) PNGs in 10 classes, then runs the audit with its default
settings on ``resnet18 --model-arg stem=imagenet`` at 224x224 and on ``resnet18`` (the CIFAR stem) at 32x32: registry
models, which standardise their input themselves, untrained (the speed does not depend on the weights, but the attacks
stop early on misclassified images, so an untrained model's attacks are cheaper than a trained one's). It prints the
heat map's cost estimate (the audit prints it before starting), the machine's load, the seconds of every analysis
cell, the total wall time and the process' CPU time: on a shared machine the wall time on an idle one is about
``cpu_s / threads``. The target of issue 14: at most 15 minutes at 224x224 on a 2-core CPU, heat map included.

    python benchmarks/bench_audit.py [--size 224] [--size 32] [--images 500] [--threads 2]
        [--analyses hfc,heatmap,...] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from freqlens.audit import DEFAULT_ANALYSES, ModelSpec, audit


def make_folder(root: Path, size: int, images: int, classes: int = 10) -> Path:
    """``images`` random RGB PNGs of ``size`` px spread over ``classes`` class folders."""
    rng = np.random.default_rng(0)
    for i in range(images):
        folder = root / f"class{i % classes:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i:04d}.png")
    return root


def run(size: int, images: int, analyses: list[str], work: Path) -> dict[str, object]:
    folder = make_folder(work / f"images{size}", size, images)
    if size >= 224:
        model = ModelSpec("resnet18", "resnet18-imagenet-stem", kwargs={"stem": "imagenet"})
    else:
        model = ModelSpec("resnet18", "resnet18-cifar-stem")
    load = os.getloadavg()[0]
    start, cpu = time.perf_counter(), time.process_time()
    result = audit([model], str(folder), work / f"out{size}", analyses=analyses, n=images, progress=True)
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    cells = {}
    for summary in (work / f"out{size}" / "runs" / "audit").glob("*/summary.json"):
        analysis = json.loads((summary.parent / "config.json").read_text())["config"]["analysis"]
        cells[analysis] = json.loads(summary.read_text())["_seconds"]  # the run folder's own timing
    return {
        "size": size,
        "total_s": round(total, 1),
        "cpu_s": round(cpu, 1),  # CPU time of all threads: the wall time on an idle machine is about cpu_s / threads
        "idle_estimate_s": round(cpu / torch.get_num_threads(), 1),
        "load_before": load,
        "load_after": os.getloadavg()[0],
        "report": str(result.html),
        "cells_s": cells,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, action="append", help="image size (repeat); default 224 and 32")
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--analyses", default=",".join(DEFAULT_ANALYSES))
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temporary one)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    analyses = [a for a in args.analyses.split(",") if a]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        for size in args.size or [224, 32]:
            print(json.dumps(run(size, args.images, analyses, work), indent=1), flush=True)


if __name__ == "__main__":
    main()
