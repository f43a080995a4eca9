"""Where in frequency a model is attacked: the spectrum of adversarial perturbations ``δ = x_adv − x``.

For each image the perturbation's orthonormal 2-D FFT is taken per channel; ``|FFT_ortho(δ)|²`` is averaged over
images and channels into a centred ``(H, W)`` map, then over bins of equal integer radius ``round(|k|)``
(:func:`freqlens.fourier.radial_profile`). By Parseval, ``power.sum() * C`` is the mean squared L2 norm of δ.

Example:
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4))
    >>> x, y = torch.rand(6, 3, 8, 8), torch.arange(6) % 4
    >>> s = perturbation_spectrum(model, x, y, attack="fgsm", eps=0.01, progress=False)
    >>> tuple(s.power.shape), s.profile.shape[0], s.images
    ((8, 8), 7, 6)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from freqlens import fourier
from freqlens.attacks import Attack, attack_eps, resolve_attack
from freqlens.checks import check_labels, check_logits
from freqlens.contract import (
    AnalysisResult,
    Estimate,
    batch_slices,
    check_batch_size,
    evaluating,
    placement,
    register_analysis,
    subsample,
    subsample_note,
)
from freqlens.errors import FreqlensError
from freqlens.plotting import plt

__all__ = ["PerturbationSpectrum", "perturbation_spectrum", "perturbations_analysis", "spectrum_figure"]


@dataclass(frozen=True)
class PerturbationSpectrum:
    """Mean perturbation power: centred map ``(H, W)``, radial profile ``(R,)`` with bin counts, and summaries."""

    power: Tensor
    profile: Tensor
    counts: Tensor
    images: int
    eps: float
    fooled: float
    mean_l2: float
    mean_linf: float
    l2: Tensor | None = None
    linf: Tensor | None = None

    def energy_fraction(self) -> Tensor:
        """Share of the perturbation energy at each integer radius (sums to 1)."""
        energy = self.profile * self.counts.to(self.profile.dtype)
        return energy / energy.sum().clamp_min(torch.finfo(energy.dtype).tiny)

    def to_json(self) -> dict[str, object]:
        return {
            "images": self.images,
            "eps": self.eps,
            "fooled": self.fooled,
            "mean_l2": self.mean_l2,
            "mean_linf": self.mean_linf,
            "profile": self.profile,
            "counts": self.counts,
            "energy_fraction": self.energy_fraction(),
        }


@torch.no_grad()
def perturbation_spectrum(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    attack: str | Attack = "pgd",
    eps: float = 0.03,
    batch_size: int = 256,
    *,
    progress: bool = True,
    **attack_kwargs: object,
) -> PerturbationSpectrum:
    """Attack every image (model in eval mode, modes restored) and average the power of ``δ = x_adv − x``.

    ``attack`` and ``attack_kwargs`` as :func:`freqlens.attacks.robust_accuracy`. ``fooled`` is the fraction of
    images whose attacked prediction differs from the label.
    """
    fourier.check_images(images)
    check_labels(labels, images.shape[0])
    check_batch_size(batch_size)
    run = resolve_attack(attack, dict(attack_kwargs))
    device, dtype = placement(model, images)
    n, h, w = images.shape[0], *images.shape[-2:]
    power = torch.zeros(h, w, dtype=torch.float64, device=device)
    fooled, l2s, linfs = 0, [], []
    with evaluating(model):
        for part in batch_slices(n, batch_size, desc="perturbation spectrum", progress=progress):
            x = images[part].to(device, dtype)
            y = labels[part].to(device)
            eps_t = torch.full((x.shape[0],), float(eps), dtype=x.dtype, device=device)
            x_adv = run(model, x, y, eps_t)
            delta = (x_adv - x).to(torch.float64)
            power += fourier.power_map(delta).mean(dim=0) * x.shape[0]
            fooled += int((check_logits(model(x_adv), len(y), y).argmax(dim=1) != y).sum())
            l2s.append(delta.flatten(1).norm(dim=1).cpu())
            linfs.append(delta.flatten(1).abs().amax(dim=1).cpu())
    power = (power / n).cpu()
    profile, counts = fourier.radial_profile(power)
    l2, linf = torch.cat(l2s), torch.cat(linfs)
    return PerturbationSpectrum(
        power, profile, counts, n, float(eps), fooled / n, float(l2.sum()) / n, float(linf.sum()) / n, l2, linf
    )


def log_power_range(powers: Sequence[Tensor]) -> tuple[float, float]:
    """The colour range of log10 power maps: the 1st to 99.5th percentile of every bin of every map, so the few
    strongest bins (DC) do not turn the rest black.

    Example:
        >>> low, high = log_power_range([torch.logspace(-4, 0, 1000)])
        >>> round(low, 2), round(high, 2)
        (-3.96, -0.02)
    """
    values = torch.cat([p.flatten().double().clamp_min(1e-30).log10() for p in powers])
    low, high = torch.quantile(values, torch.tensor([0.01, 0.995], dtype=torch.float64)).tolist()
    return float(low), float(max(high, low + 1e-6))


def spectrum_figure(spectra: Mapping[str, PerturbationSpectrum]) -> Figure:
    """Radial profiles of several models' perturbations (raw power and energy share) and their centred log maps."""
    if not spectra:
        raise FreqlensError("spectrum_figure needs at least one spectrum")
    n = len(spectra)
    fig, axes = plt.subplots(1, 2 + n, figsize=(3.6 * 2 + 3.2 * n, 3.4), squeeze=False)
    prof_ax, share_ax, map_axes = axes[0][0], axes[0][1], axes[0][2:]
    low, high = log_power_range([s.power for s in spectra.values()])
    for (name, s), ax in zip(spectra.items(), map_axes, strict=True):
        radius = torch.arange(len(s.profile))
        prof_ax.semilogy(radius, s.profile.clamp_min(1e-30), "o-", ms=3, label=name)
        share_ax.plot(radius, s.energy_fraction(), "o-", ms=3, label=name)
        h, w = s.power.shape[-2:]
        im = ax.imshow(
            s.power.clamp_min(1e-30).log10().numpy(),
            vmin=low,
            vmax=high,
            cmap="magma",
            extent=(-w // 2 - 0.5, w - w // 2 - 0.5, h - h // 2 - 0.5, -h // 2 - 0.5),  # centred: DC at (0, 0)
        )
        ax.set_title(f"{name}: fooled {s.fooled:.2f}", fontsize=9)
        ax.set_xlabel("horizontal frequency", fontsize=8)
        ax.set_ylabel("vertical frequency", fontsize=8)
        ax.tick_params(labelsize=7)
        bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        bar.set_label("log10 power (1-99.5 % of bins)", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    prof_ax.set_xlabel("radius |k| (cycles / image)")
    prof_ax.set_ylabel("mean |FFT_ortho(δ)|²")
    share_ax.set_xlabel("radius |k| (cycles / image)")
    share_ax.set_ylabel("share of perturbation energy")
    prof_ax.legend(fontsize=7)
    share_ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


@register_analysis(
    "perturbations",
    "Spectrum of adversarial perturbations (PGD-L∞ by default): where in frequency the model is attacked",
    test_params={"eps": 0.03, "steps": 2, "n": 4, "batch_size": 4},
    audit_order=4,
    images_at_224=32,
    max_images=200,
    defaults=lambda h, w, classes, device: {"eps": attack_eps(h, w), "steps": 5, "batch_size": 32},
)
def perturbations_analysis(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    attack: str = "pgd",
    eps: float = 0.03,
    steps: int = 10,
    norm: str = "linf",
    n: int | None = None,
    seed: int = 0,
    batch_size: int = 256,
    progress: bool = False,
) -> AnalysisResult:
    """:func:`perturbation_spectrum` on ``n`` images drawn under ``seed`` (also the seed of the random starts).

    Metrics: ``fooled`` (binomial over the images), ``mean_l2`` and ``mean_linf`` of δ (means over the images with
    their standard errors), and ``low_energy_fraction``: the share of the perturbation energy below radius H/4.
    """
    x, y = subsample(images, labels, n, seed)
    options: dict[str, object] = {"generator": torch.Generator().manual_seed(seed)}
    if attack == "pgd":
        options.update(steps=steps, norm=norm)
    spectrum = perturbation_spectrum(model, x, y, attack, eps, batch_size, progress=progress, **options)
    total = spectrum.images
    assert spectrum.l2 is not None and spectrum.linf is not None
    share = spectrum.energy_fraction()
    cut = min(x.shape[-2:]) // 4
    return AnalysisResult(
        "perturbations",
        metrics={
            "fooled": Estimate.proportion(round(spectrum.fooled * total), total),
            "mean_l2": Estimate.mean_of(spectrum.l2, method="images"),
            "mean_linf": Estimate.mean_of(spectrum.linf, method="images"),
            "low_energy_fraction": float(share[: cut + 1].sum()),
        },
        arrays={"power": spectrum.power, "profile": spectrum.profile, "counts": spectrum.counts, "energy": share},
        figures={"perturbation_spectrum": lambda: spectrum_figure({"model": spectrum})},
        conventions={
            **fourier.conventions(),
            "power": "|FFT_ortho(x_adv - x)|^2 averaged over images and channels; profile: mean per round(|k|) bin",
            "low_energy_fraction": f"share of the perturbation energy at round(|k|) <= {cut}",
            "image_subsample": subsample_note(total, seed),
        },
        params={"attack": attack, "eps": eps, "steps": steps if attack == "pgd" else 1, "norm": norm, "n": total},
    )
