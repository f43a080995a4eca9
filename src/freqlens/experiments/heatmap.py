"""Yin et al.'s Fourier heat map of the natural and the adversarially trained model (papers.md §3.1, check A12).

Each test image is perturbed by one Fourier basis vector of L2 norm 4 (random sign per image and channel, clipped to
[0, 1]) and the error rate is mapped over frequencies. Yin et al.: naturally trained models fail at mid and high
frequencies; adversarial training makes them robust at high frequencies but less so at low ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from freqlens import fourier, provenance, runs
from freqlens.analyses import heatmap
from freqlens.contract import Estimate
from freqlens.experiments import common
from freqlens.experiments.base import (
    Cell,
    CellResult,
    Context,
    Figure,
    Recipe,
    Summary,
    by_cell,
    register_recipe,
)
from freqlens.experiments.contrasts import Contrast, Draw, aa, aa_between, judge_all
from freqlens.plotting import plt

EPS = 4.0  # L2 norm of the perturbation for CIFAR-10 (Yin et al., [M])
BANDS = {"low": (1, 4), "mid": (6, 11), "high": (12, 23)}  # integer radii round(|k|), inclusive
MODELS = {"natural": "vanilla", "adversarial": "adversarial"}  # cell name -> E6 heuristic


def _band(summary: dict[str, Any], band: str) -> float:
    return float(summary["dc_error"] if band == "dc" else summary["band_error"][band])


@register_recipe
class FourierHeatMap(Recipe):
    name = "heatmap"
    title = "Fourier heat map of natural vs adversarially trained models (Yin et al. 2019, check A12)"
    paper_refs = ("Yin et al. 2019", "docs/claims.md: A12")

    min_seeds: ClassVar[dict[str, int]] = {"quick": 2}  # the spread over seeds, and an A/A pair, in every run

    def cells(self, profile: str) -> list[Cell]:
        return [
            Cell(
                name,
                {
                    "train": common.heuristic(profile, heuristic),
                    "images": common.HEATMAP_IMAGES[profile],
                    "eps": EPS,
                    "seed": 0,
                },
            )
            for name, heuristic in MODELS.items()
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

    def contrasts(self) -> list[Contrast]:
        """Yin et al.'s claims: band errors of one model against DC, and rises over clean error between models."""

        def error(d: Draw, model: str, key: str) -> Estimate:
            s = d[model]
            return common.proportion(s["clean_error"] if key == "clean" else _band(s, key), int(s["images"]))

        def rise(d: Draw, model: str, band: str) -> Estimate:  # a band's error over the model's own clean error
            return error(d, model, band) - error(d, model, "clean")

        def gap(d: Draw) -> Estimate:
            return error(d, "natural", "mid") - error(d, "natural", "dc")

        def low_note(draws: Sequence[Draw]) -> str:
            d = draws[0]
            adv, nat = d["adversarial"], d["natural"]
            return (
                f"first seed: absolute error at 1 ≤ |k| ≤ 4: adversarial {adv['band_error']['low']:.3f}, natural "
                f"{nat['band_error']['low']:.3f}; clean error {adv['clean_error']:.3f} vs {nat['clean_error']:.3f}"
            )

        to_natural = aa({"adversarial": "natural"})
        return [
            Contrast(
                "A12: natural model: error at mid frequencies (6 ≤ |k| ≤ 11) minus error at DC",
                gap,
                "natural model, perturbations at 6 ≤ |k| ≤ 11",
                "the same model, perturbation at DC",
                ">",
                0.0,
                "fails at mid/high frequencies",
                "W, I",
                "A/A",
                "the DC error of a second natural seed minus the first's",
                aa_between(lambda a, b: error(b, "natural", "dc") - error(a, "natural", "dc")),
                diagnosis="the natural model's error at mid frequencies is not above its error at DC (value in "
                "the row)",
            ),
            Contrast(
                "adversarial training improves high-frequency robustness: rise of error over clean at "
                "|k| ≥ 12, adversarial minus natural",
                lambda d: rise(d, "adversarial", "high") - rise(d, "natural", "high"),
                "adversarially trained model, error rise over clean at |k| ≥ 12",
                "natural model, the same",
                "<",
                0.0,
                "more robust at high frequencies",
                "W",
                "A/A",
                "a second natural seed in place of the adversarially trained model",
                to_natural,
                diagnosis="the adversarially trained model's error rises as much as the natural one's at |k| ≥ 12",
            ),
            Contrast(
                "adversarial training reduces low-frequency robustness: rise of error over clean at "
                "1 ≤ |k| ≤ 4, adversarial minus natural",
                lambda d: rise(d, "adversarial", "low") - rise(d, "natural", "low"),
                "adversarially trained model, error rise over clean at 1 ≤ |k| ≤ 4",
                "natural model, the same",
                ">",
                0.0,
                "less robust at low frequencies",
                "W",
                "A/A",
                "a second natural seed in place of the adversarially trained model",
                to_natural,
                diagnosis="scale and protocol: Yin et al. train with PGD to convergence; after a few epochs of FGSM "
                "with random start on a 16-wide CNN, the adversarial model's low-frequency error rises less over "
                "its clean error than the natural model's does",
                note=low_note,
            ),
        ]

    def summarize(self, results: list[CellResult], out_dir: Path, ctx: Context) -> Summary:
        groups = by_cell(results)
        by = {name: group[0] for name, group in groups.items()}
        maps = {name: r.arrays()["error"] for name, r in by.items()}
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
        for ax, (name, m) in zip(axes, maps.items(), strict=False):
            h, w = m.shape
            im = ax.imshow(
                m, vmin=0, vmax=1, cmap="jet", extent=(-w // 2 - 0.5, w - w // 2 - 0.5, h - h // 2 - 0.5, -h // 2 - 0.5)
            )
            ax.set_title(f"{name}: error rate (clean {by[name].summary['clean_error']:.2f})", fontsize=10)
            ax.set_xlabel("horizontal frequency (cycles / image)")
            ax.set_ylabel("vertical frequency")
            fig.colorbar(im, ax=ax, fraction=0.046, label="error rate")
        for name, r in by.items():
            axes[2].plot(r.summary["radial_error"], "o-", ms=3, label=name)
        axes[2].set_xlabel("radius round(|k|)")
        axes[2].set_ylabel("mean error rate")
        axes[2].legend(fontsize=9)
        fig.tight_layout()
        provenance.save_figure(fig, out_dir / "heatmap.png")
        nat, adv = by["natural"].summary, by["adversarial"].summary
        seeds = common.seeds_of(list(groups.values()))
        comparisons = judge_all(self.contrasts(), {name: [r.summary for r in g] for name, g in groups.items()})
        text = (
            f"Perturbation L2 norm {nat['eps_l2']:g} on {nat['images']} test images; each symmetric pair of "
            "frequencies is evaluated once. Errors carry a binomial uncertainty over the test images (a band mean "
            "is given that of one frequency, which is conservative), combined over the seeds; robustness changes "
            "are judged as the rise of the error over each model's own clean error, since the two models' clean "
            "errors differ. The adversarially trained model is E6's (quick and cpu profiles: FGSM with random "
            f"start). Clean error, first seed: natural {nat['clean_error']:.3f}, adversarial "
            f"{adv['clean_error']:.3f}."
        )
        return Summary(
            self.name,
            self.title,
            self.paper_refs,
            text,
            [
                Figure(
                    "heatmap.png",
                    "Fourier heat maps (error rate per perturbing frequency) and their radial means, first seed "
                    f"of {seeds}",
                )
            ],
            [],
            comparisons,
            models=common.models(groups),
        )
