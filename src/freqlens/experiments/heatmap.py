"""Yin et al.'s Fourier heat map of the natural and the adversarially trained model (papers.md §3.1, check A12).

Each test image is perturbed by one Fourier basis vector of L2 norm 4 (random sign per image and channel, clipped to
[0, 1]) and the error rate is mapped over frequencies. Yin et al.: naturally trained models fail at mid and high
frequencies; adversarial training makes them robust at high frequencies but less so at low ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from freqlens import fourier, provenance, runs
from freqlens.analyses import heatmap
from freqlens.contract import subsample
from freqlens.experiments import common
from freqlens.experiments.base import Cell, CellResult, Comparison, Context, Figure, Recipe, Summary, register_recipe
from freqlens.plotting import plt

EPS = 4.0  # L2 norm of the perturbation for CIFAR-10 (Yin et al., [M])
BANDS = {"low": (1, 4), "mid": (6, 11), "high": (12, 23)}  # integer radii round(|k|), inclusive


@register_recipe
class FourierHeatMap(Recipe):
    name = "heatmap"
    title = "Fourier heat map of natural vs adversarially trained models (Yin et al. 2019, check A12)"
    paper_refs = ("Yin et al. 2019", "papers.md §3.1, §4.1 A12")

    def cells(self, profile: str) -> list[Cell]:
        return [
            Cell(
                name,
                {
                    "train": common.heuristic(profile, name),
                    "images": common.HEATMAP_IMAGES[profile],
                    "eps": EPS,
                    "seed": 0,
                },
            )
            for name in ("vanilla", "adversarial")
        ]

    def run_cell(self, cell: Cell, run_dir: Path, ctx: Context) -> dict[str, Any]:
        model, _ = ctx.trained_model(cell.config["train"])
        test = ctx.dataset(cell.config["train"]["data"], "test")
        x, y = subsample(test.images, test.labels, cell.config["images"], cell.config["seed"])
        hm = heatmap.fourier_heatmap(
            model, x, y, cell.config["eps"], seed=cell.config["seed"], device=ctx.device, progress=ctx.progress
        )
        profile, _ = fourier.radial_profile(hm.error)
        runs.save_arrays(run_dir, error=hm.error, loss=hm.loss, radial_error=profile)
        h, w = hm.error.shape
        bands = {}
        distance = fourier.radial_distance(h, w).round()
        for band, (lo, hi) in BANDS.items():
            bands[band] = float(hm.error[(distance >= lo) & (distance <= hi)].mean())
        return {
            **hm.summary(),
            "dc_error": float(hm.error[h // 2, w // 2]),
            "band_error": bands,
            "radial_error": profile.tolist(),
        }

    def summarize(self, results: list[CellResult], out_dir: Path, ctx: Context) -> Summary:
        by = {r.cell.name: r for r in results}
        maps = {name: r.arrays()["error"] for name, r in by.items()}
        fig, axes = plt.subplots(1, 3, figsize=(11, 3.3))
        for ax, (name, m) in zip(axes, maps.items(), strict=False):
            h, w = m.shape
            im = ax.imshow(
                m, vmin=0, vmax=1, cmap="jet", extent=(-w // 2 - 0.5, w - w // 2 - 0.5, h - h // 2 - 0.5, -h // 2 - 0.5)
            )
            ax.set_title(f"{name}: error rate (clean {by[name].summary['clean_error']:.2f})", fontsize=9)
            ax.set_xlabel("frequency (cycles / image)")
            fig.colorbar(im, ax=ax, fraction=0.046)
        for name, r in by.items():
            axes[2].plot(r.summary["radial_error"], "o-", ms=3, label=name)
        axes[2].set_xlabel("radius round(|k|)")
        axes[2].set_ylabel("mean error rate")
        axes[2].legend(fontsize=8)
        fig.tight_layout()
        provenance.save_figure(fig, out_dir / "heatmap.png")
        nat, adv = by["vanilla"].summary, by["adversarial"].summary
        comparisons = [
            Comparison(
                "A12: natural model: error at DC below error at mid frequencies",
                f"{nat['dc_error']:.3f} vs {nat['band_error']['mid']:.3f}",
                "fails at mid/high frequencies",
                "W, I",
                "error(0,0) < mean error at 6 ≤ |k| ≤ 11",
                nat["dc_error"] < nat["band_error"]["mid"],
            ),
            Comparison(
                "adversarial training improves high-frequency robustness",
                f"{adv['band_error']['high']:.3f} vs {nat['band_error']['high']:.3f}",
                "more robust at high frequencies",
                "W",
                "adversarial < natural error at |k| ≥ 12",
                adv["band_error"]["high"] < nat["band_error"]["high"],
            ),
            Comparison(
                "adversarial training reduces low-frequency robustness",
                f"{adv['band_error']['low']:.3f} vs {nat['band_error']['low']:.3f}",
                "less robust at low frequencies",
                "W",
                "adversarial > natural error at 1 ≤ |k| ≤ 4",
                adv["band_error"]["low"] > nat["band_error"]["low"],
            ),
        ]
        text = (
            f"Perturbation L2 norm {nat['eps_l2']:g} on {nat['images']} test images; each symmetric pair of "
            "frequencies is evaluated once. The adversarially trained model is E6's (quick profile: FGSM with random "
            "start). Clean error: natural "
            f"{nat['clean_error']:.3f}, adversarial {adv['clean_error']:.3f}."
        )
        return Summary(
            self.name,
            self.title,
            self.paper_refs,
            text,
            [Figure("heatmap.png", "Fourier heat maps (error rate per perturbing frequency) and their radial means")],
            [],
            comparisons,
        )
