"""``freqlens decompose``: original / LFC / HFC images for chosen radii, optionally saving the filtered dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer
from tqdm import tqdm

from freqlens import fourier, provenance
from freqlens.cli import app
from freqlens.cli.common import DataDirOpt, DataOpt, LimitOpt, OutOpt, RadiiOpt, SplitOpt, load
from freqlens.plotting import image_grid
from freqlens.radii import DEFAULT_RADII, parse_radii


@app.command()
def decompose(
    data: DataOpt = "cifar10",
    data_dir: DataDirOpt = None,
    split: SplitOpt = "test",
    radii: RadiiOpt = DEFAULT_RADII,
    examples: Annotated[int, typer.Option(help="Images shown in the grid.")] = 6,
    inclusive: Annotated[bool, typer.Option(help="Use |k| <= r (paper text) instead of |k| < r (HFC code).")] = False,
    save_dataset: Annotated[bool, typer.Option(help="Also write the filtered images to filtered.npz.")] = False,
    limit: LimitOpt = None,
    out: OutOpt = Path("out/decompose"),
) -> None:
    """Split images into low- and high-frequency components and draw them.

    Examples:
      freqlens decompose --data-dir ../shared/data/cifar10 --radii 4,8,12 --examples 6 -o out/decompose
      freqlens decompose --data ./my_images --radii 8 --save-dataset -o out/filtered
    """
    images = load(data, split, data_dir, limit)
    rs = parse_radii(radii, *images.image_shape[1:])
    x = images.images
    h, w = images.image_shape[1:]
    for r in rs:
        fourier.check_radius(r, h, w)
    k = min(examples, len(images))
    low, high = fourier.split(x[:k].double(), rs, inclusive)
    rows = [[x[i]] + [t for r in range(len(rs)) for t in (low[r, i], high[r, i])] for i in range(k)]
    cols = ["original"] + [f"{kind} r={r:g}" for r in rs for kind in ("LFC", "HFC")]
    rescale = [False] + [flag for _ in rs for flag in (False, True)]
    fig = image_grid(rows, col_labels=cols, rescale=rescale)
    out.mkdir(parents=True, exist_ok=True)
    provenance.save_figure(fig, out / "decompose.png")
    meta = provenance.record(
        fourier.conventions(inclusive),
        dtype=torch.float64,
        dataset=images.name,
        split=split,
        radii=rs,
        hfc_display="min-max rescaled per image for visibility",
    )
    provenance.write_json(out / "decompose.json", meta)
    typer.echo(f"wrote {out / 'decompose.png'}")
    if save_dataset:
        arrays: dict[str, np.ndarray] = {"original": x.numpy(), "labels": images.labels.numpy()}
        for start in tqdm(range(0, len(images), 2000), desc="filtering", unit="chunk"):
            lo, hi = fourier.split(x[start : start + 2000], rs, inclusive)
            for j, r in enumerate(rs):
                arrays.setdefault(f"lfc_r{r:g}", np.empty_like(x.numpy()))[start : start + 2000] = lo[j].numpy()
                arrays.setdefault(f"hfc_r{r:g}", np.empty_like(x.numpy()))[start : start + 2000] = hi[j].numpy()
        tmp = out / ".filtered.tmp.npz"
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        tmp.replace(out / "filtered.npz")
        typer.echo(f"wrote {out / 'filtered.npz'} ({len(images)} images x {len(rs)} radii, float32)")
