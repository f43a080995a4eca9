"""The offline demo: catch a model reading a planted, imperceptible high-frequency label cue (known ground truth).

Synthetic power-law images (:mod:`freqlens.data.synthetic`) with identical spectra in every class carry one planted
Fourier pattern per class at radius ~13 (peak amplitude ~6/255, under 2 % of the image energy): the cue is the only
thing that tells the classes apart. A small CNN learns it; the toolkit must then show that the model reads high
frequencies only: right on the HFC at r = 12, at chance on the LFC at r = 12 (which holds everything but the cue),
right again on the LFC once the disk takes in the cue (r = 14), and Fourier sensitivity peaking at the cue's own
frequencies. The model uses BatchNorm with batch statistics at test time, as the HFC code does: it normalises away
the DC offset an HFC view lacks (with running statistics the model still reads the cue, but the zero-mean HFC views
fall outside what it has seen). Run with ``freqlens demo``; it is not part of ``reproduce all``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from freqlens import fourier, provenance, runs
from freqlens.analyses import datastats, hfc, sensitivity
from freqlens.contract import Estimate, count_correct
from freqlens.data import open_dataset
from freqlens.experiments.base import Cell, CellResult, Comparison, Context, Figure, Recipe, Summary, register_recipe
from freqlens.plotting import image_grid, plt

CLASSES, CUE, CUE_RADIUS = 4, 0.5, 13
SPEC = f"synthetic:powerlaw?alpha=2&classes={CLASSES}&spread=0&n=3000&cue={CUE:g}&cue_radius={CUE_RADIUS}&seed=0"
RADII = [4, 8, 12, 14, 16]
TRAIN = {
    "model": "small_cnn",
    "model_kwargs": {"width": 16, "batchnorm": True, "batch_stats": True},
    "data": SPEC,
    "test_subset": 500,
    "epochs": 3,
    "batch_size": 64,
    "optimizer": "adam",
    "lr": 2e-3,
    "weight_decay": 0.0,
    "label_smoothing": 0.0,
    "augment": "none",  # a flip would move the cue to another frequency
    "eval_radii": [12, 14],
    "seed": 0,
}


def _without_cue(spec: str) -> str:
    return spec.replace(f"&cue={CUE:g}", "")


@register_recipe
class Demo(Recipe):
    name = "demo"
    title = "Demo: catching a model that reads a planted high-frequency cue (synthetic, known ground truth)"
    paper_refs = ("HFC E1 logic on synthetic data", "Godfrey-style Fourier sensitivity")
    in_all = False

    def cells(self, profile: str) -> list[Cell]:
        return [Cell("cue", {"train": TRAIN, "radii": RADII, "images": 500, "sensitivity_images": 128})]

    def run_cell(self, cell: Cell, run_dir: Path, ctx: Context) -> dict[str, Any]:
        model, _ = ctx.trained_model(cell.config["train"])
        spec = cell.config["train"]["data"]
        test = ctx.dataset(spec, "test").subset(cell.config["images"], seed=0)
        result = hfc.evaluate_hfc(model, test, cell.config["radii"], normalize="none", progress=False)
        k = cell.config["sensitivity_images"]
        measured = sensitivity.model_vs_data(
            model, test.images[:k], test.labels[:k], data_images=test.images, data_spectrum="power", standardize=False
        )
        total = measured.arrays["mean"].sum(dim=0)  # (H, W), channels summed
        h, w = total.shape
        distance = fourier.radial_distance(h, w)
        peak = int(torch.where(distance >= 2, total, torch.zeros_like(total)).argmax())
        cues = [(int(i), int(j)) for i, j in test.meta["cue_positions"]]  # type: ignore[attr-defined]
        mirrors = [((h - p[0]) % h, (w - p[1]) % w) for p in cues]
        plain = open_dataset(_without_cue(spec), "test").subset(len(test), seed=0)
        without_cue = count_correct(model, plain.images, plain.labels) / len(plain)
        data_power = measured.arrays["data_spectrum"].sum(dim=0)
        sens_profile, data_profile = measured.arrays["profile"], measured.arrays["data_profile"]
        runs.save_arrays(
            run_dir, sensitivity=total, data_power=data_power, sens_profile=sens_profile, data_profile=data_profile
        )
        self._figures(run_dir, test, spec, result, total, cues, sens_profile, data_profile)
        at = {r: i for i, r in enumerate(result.radii)}
        return {
            "clean": float(result.accuracy("original")),
            "clean_without_cue": without_cue,
            "lfc": {f"{r:g}": float(result.accuracy("lfc")[i]) for r, i in at.items()},
            "hfc": {f"{r:g}": float(result.accuracy("hfc")[i]) for r, i in at.items()},
            "hfc_explained_12": int(result.hfc_explained_counts()[at[12.0]]),
            "images": result.num_images,
            "lfc_hfc_normalize": result.normalize,
            "chance": 1 / test.num_classes,
            "sensitivity_peak": [peak // w, peak % w],
            "peak_is_cue": (peak // w, peak % w) in cues + mirrors,
            "cue_positions": [list(p) for p in cues],
            "sensitivity_mass_at_cue_radius": datastats.radial_mass(sens_profile, CUE_RADIUS - 0.5, CUE_RADIUS + 1.5),
            "data_power_at_cue_radius": datastats.radial_mass(data_profile, CUE_RADIUS - 0.5, CUE_RADIUS + 1.5),
            "cue_energy_fraction": _cue_energy_fraction(test.images, spec),
        }

    def _figures(
        self,
        run_dir: Path,
        test: Any,
        spec: str,
        result: Any,
        total: torch.Tensor,
        cues: list[Any],
        sens_profile: torch.Tensor,
        data_profile: torch.Tensor,
    ) -> None:
        plain = open_dataset(_without_cue(spec), "test").subset(len(test), seed=0).images
        rows = [[plain[i], test.images[i], (test.images[i] - plain[i]) * 10 + 0.5] for i in range(4)]
        fig = image_grid(
            rows,
            [test.classes[int(test.labels[i])] for i in range(4)],
            ["without cue", "with cue (trained on)", "difference x10"],
        )
        provenance.save_figure(fig, run_dir / "cue.png")
        provenance.save_figure(hfc.plot_accuracy_vs_radius(result, "planted cue at |k| ≈ 13"), run_dir / "radius.png")
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
        h, w = total.shape
        extent = (-w // 2 - 0.5, w - w // 2 - 0.5, h - h // 2 - 0.5, -h // 2 - 0.5)
        im = axes[0].imshow(total.log10(), cmap="magma", extent=extent)
        for i, j in cues:
            for ky, kx in ((i - h // 2, j - w // 2), (h // 2 - i, w // 2 - j)):
                axes[0].add_patch(plt.Circle((kx, ky), 1.2, fill=False, color="cyan", lw=1))
        axes[0].set_title("log10 Fourier sensitivity (cues circled)", fontsize=9)
        fig.colorbar(im, ax=axes[0], fraction=0.046)
        axes[1].semilogy(sens_profile, "o-", ms=3, label="model sensitivity")
        axes[1].semilogy(data_profile, "s-", ms=3, label="data power")
        axes[1].axvline(CUE_RADIUS, color="gray", ls=":", label="cue radius")
        axes[1].set_xlabel("radius round(|k|)")
        axes[1].set_ylabel("share (normalised)")
        axes[1].legend(fontsize=8)
        fig.tight_layout()
        provenance.save_figure(fig, run_dir / "sensitivity.png")

    def summarize(self, results: list[CellResult], out_dir: Path, ctx: Context) -> Summary:
        (res,) = results
        s = res.summary
        for name in ("cue.png", "radius.png", "sensitivity.png"):
            (out_dir / name).write_bytes((res.run_dir / name).read_bytes())
        chance, n = s["chance"], s["images"]

        def acc(value: float) -> Estimate:
            return Estimate.proportion(round(value * n), n)

        lfc12, hfc12 = acc(s["lfc"]["12"]), acc(s["hfc"]["12"])
        comparisons = [
            Comparison.measured(
                "clean test accuracy",
                acc(s["clean"]),
                ">",
                0.9,
                "high: the cue is learnable",
                "I",
                control=acc(s["clean_without_cue"]),
                control_label="the same model on the test images without the cue",
            ),
            Comparison.measured(
                "accuracy on the HFC at r = 12 (holds the cue)",
                hfc12,
                ">",
                0.9,
                "high",
                "I",
                control=lfc12,
                control_label="accuracy on the LFC at r = 12",
            ),
            Comparison.measured(
                "accuracy on the LFC at r = 12 (everything but the cue), above chance",
                lfc12 - chance,
                "<",
                0.1,
                f"chance ({chance:g})",
                "I",
                control=hfc12 - chance,
                control_label="accuracy on the HFC at r = 12, above chance",
            ),
            Comparison.measured(
                "accuracy on the LFC at r = 14 (takes in the cue)",
                acc(s["lfc"]["14"]),
                ">",
                0.9,
                "high",
                "I",
                control=lfc12,
                control_label="accuracy on the LFC at r = 12",
            ),
            Comparison(
                "Fourier sensitivity peaks at a cue frequency",
                str(s["sensitivity_peak"]),
                f"one of {s['cue_positions']} or mirrors",
                "I",
                "argmax over |k| ≥ 2 is a cue",
                s["peak_is_cue"],
            ),
            Comparison(
                "sensitivity share at the cue radius vs the data's power share there",
                f"{s['sensitivity_mass_at_cue_radius']:.3f} vs {s['data_power_at_cue_radius']:.4f}",
                "sensitivity ≫ data power",
                "I",
                "ratio > 10",
                s["sensitivity_mass_at_cue_radius"] > 10 * s["data_power_at_cue_radius"],
            ),
        ]
        text = (
            f"{CLASSES} classes of synthetic 1/|k|^2 images with identical spectra; each class carries one planted "
            f"Fourier pattern at radius ≈ {CUE_RADIUS} of L2 norm {CUE:g} per channel "
            f"({s['cue_energy_fraction']:.1%} of the non-DC image energy; invisible without the x10 difference). "
            f"{s['hfc_explained_12']} of {s['images']} test images are HFC-explained at r = 12: right on x and on its "
            "HFC, wrong on the LFC that looks the same. The toolkit finds the cue without being told where it is."
        )
        figures = [
            Figure("cue.png", "Test images without and with the planted cue, and their difference x10"),
            Figure("radius.png", "Accuracy on LFC/HFC views against the radius: the jump is at the cue radius"),
            Figure("sensitivity.png", "Fourier sensitivity of the trained model: the peaks sit on the planted cues"),
        ]
        return Summary(self.name, self.title, self.paper_refs, text, figures, [], comparisons)


def _cue_energy_fraction(images: torch.Tensor, spec: str) -> float:
    """Energy of the planted cue over the non-DC energy of the images (per channel, averaged)."""
    plain = open_dataset(_without_cue(spec), "test").subset(len(images), seed=0).images.double()
    cue = images.double() - plain
    centred = plain - plain.mean(dim=(2, 3), keepdim=True)
    return float(cue.pow(2).sum() / centred.pow(2).sum())
