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
from freqlens.contract import Estimate
from freqlens.experiments import common
from freqlens.experiments.base import (
    Cell,
    CellResult,
    Comparison,
    Context,
    Figure,
    Recipe,
    Summary,
    by_cell,
    register_recipe,
)
from freqlens.plotting import plt

EPS = 4.0  # L2 norm of the perturbation for CIFAR-10 (Yin et al., [M])
BANDS = {"low": (1, 4), "mid": (6, 11), "high": (12, 23)}  # integer radii round(|k|), inclusive


def _band(summary: dict[str, Any], band: str) -> float:
    return float(summary["dc_error"] if band == "dc" else summary["band_error"][band])


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
        data = common.sample_test_images(ctx, cell.config["train"]["data"], cell.config["images"], cell.config["seed"])
        hm = heatmap.fourier_heatmap(
            model,
            data.images,
            data.labels,
            cell.config["eps"],
            seed=cell.config["seed"],
            device=ctx.device,
            progress=ctx.progress,
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
        groups = by_cell(results)
        nat, adv = by["vanilla"].summary, by["adversarial"].summary
        seeds = common.seeds_of(list(groups.values()))
        n = int(nat["images"])

        replicates = [{name: group[i].summary for name, group in groups.items()} for i in range(seeds)]

        def error(f: dict[str, Any], model: str, key: str) -> Estimate:
            return common.proportion(f[model]["clean_error"] if key == "clean" else _band(f[model], key), n)

        def gap(model: str, a: str, b: str) -> Estimate:  # error at ``a`` minus error at ``b``, one model
            return common.combine([error(f, model, a) - error(f, model, b) for f in replicates])

        def rise(first: str, second: str, band: str) -> Estimate:  # rise over clean error, first minus second
            return common.combine(
                [
                    (error(f, first, band) - error(f, first, "clean"))
                    - (error(f, second, band) - error(f, second, "clean"))
                    for f in replicates
                ]
            )

        comparisons = [
            common.judged(
                Comparison.measured(
                    "A12: natural model: error at mid frequencies (6 ≤ |k| ≤ 11) minus error at DC",
                    gap("vanilla", "mid", "dc"),
                    ">",
                    0.0,
                    "fails at mid/high frequencies",
                    "W, I",
                    control=gap("adversarial", "mid", "dc"),
                    control_label="the adversarially trained model, robust at mid frequencies",
                    seeds=seeds,
                ),
                "genuine non-replication if it disagrees; if the control passes too, our adversarial training "
                "(FGSM with random start, few epochs) has not made the model robust at mid frequencies",
            ),
            common.judged(
                Comparison.measured(
                    "adversarial training improves high-frequency robustness: rise of error over clean at "
                    "|k| ≥ 12, adversarial minus natural",
                    rise("adversarial", "vanilla", "high"),
                    "<",
                    0.0,
                    "more robust at high frequencies",
                    "W",
                    control=rise("vanilla", "adversarial", "high"),
                    control_label="models swapped",
                    seeds=seeds,
                ),
                "genuine non-replication if it disagrees",
            ),
            common.judged(
                Comparison.measured(
                    "adversarial training reduces low-frequency robustness: rise of error over clean at "
                    "1 ≤ |k| ≤ 4, adversarial minus natural",
                    rise("adversarial", "vanilla", "low"),
                    ">",
                    0.0,
                    "less robust at low frequencies",
                    "W",
                    control=rise("vanilla", "adversarial", "low"),
                    control_label="models swapped",
                    seeds=seeds,
                    note=f"absolute error at 1 ≤ |k| ≤ 4: adversarial {adv['band_error']['low']:.3f}, natural "
                    f"{nat['band_error']['low']:.3f}; clean error {adv['clean_error']:.3f} vs {nat['clean_error']:.3f}",
                ),
                "scale and protocol: Yin et al. train with PGD to convergence; a few epochs of FGSM with random "
                "start on a 16-wide CNN leave the model's low-frequency error rising less than the natural "
                "model's over their different clean errors, so the trade-off is not visible at this scale",
            ),
        ]
        text = (
            f"Perturbation L2 norm {nat['eps_l2']:g} on {nat['images']} test images; each symmetric pair of "
            "frequencies is evaluated once. Errors carry a binomial uncertainty over the test images (a band mean "
            "is given that of one frequency, which is conservative); robustness changes are judged as the rise of "
            "the error over each model's own clean error, since the two models' clean errors differ. The "
            "adversarially trained model is E6's (quick and cpu profiles: FGSM with random start). Clean error: "
            "natural "
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
