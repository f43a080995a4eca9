"""Synthetic images with a known power spectrum: Gaussian fields with power proportional to ``1 / |k|^alpha``.

Natural images have power falling roughly as ``1 / |k|^2``; these fields give the same kind of statistics with a
chosen exponent and no download, so "sensitivity follows the data" can be tested against ground truth.

A field is white Gaussian noise filtered in the Fourier domain by the amplitude ``|k|^(-alpha / 2)`` (integer
frequencies, DC removed), scaled to unit pixel variance; channels are independent. As images in [0, 1] they are
``clip(0.5 + contrast * field, 0, 1)`` (the default contrast 0.12 puts the clip at 4.2 standard deviations, so the
spectrum is essentially unchanged; the clipped fraction is recorded in ``meta``). With ``classes > 1`` each class has
its own exponent, spread evenly over ``alpha - spread / 2 .. alpha + spread / 2``, so the label is a property of the
spectrum.

Spec grammar for :func:`freqlens.data.open_dataset` (all keys optional)::

    synthetic:powerlaw?alpha=2&n=2000&size=32&channels=3&classes=1&spread=1&contrast=0.12&seed=0

=============  =========  ===============================================================
key            default    meaning
=============  =========  ===============================================================
``alpha``      2          power-law exponent of the power spectrum (mean over classes)
``n``          2000       number of images in the split
``size``       32         image height and width
``channels``   3          independent channels per image
``classes``    1          number of classes (balanced); each has its own exponent
``spread``     1          range of the class exponents (ignored with one class)
``contrast``   0.12       pixel standard deviation before clipping
``seed``       0          seed; the train and test splits use different streams of it
``cue``        0          L2 norm (per channel) of a planted class cue; 0 = none
``cue_radius`` 13         frequency radius of the cue (cycles per image)
=============  =========  ===============================================================

With ``cue > 0`` every image of class ``c`` gets the real Fourier basis image of :func:`freqlens.fourier.fourier_basis`
at frequency ``cue_radius * (sin, cos)(pi * c / classes)`` (rounded), scaled to L2 norm ``cue`` and added to every
channel before clipping: a label-bearing high-frequency pattern of known position. With ``spread=0`` the class
spectra are identical, so the cue is the only thing that tells the classes apart (``freqlens demo``).

Example:
    >>> from freqlens.data import open_dataset
    >>> s = open_dataset("synthetic:powerlaw?alpha=2&n=8&size=16&classes=2", "train")
    >>> tuple(s.images.shape), s.num_classes, s.meta["alphas"]
    ((8, 3, 16, 16), 2, [1.5, 2.5])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from urllib.parse import parse_qsl

import torch
from torch import Tensor

from freqlens import fourier
from freqlens.data.imageset import ImageSet
from freqlens.errors import FreqlensError

__all__ = [
    "DEFAULTS",
    "cue_positions",
    "flat_teacher",
    "from_spec",
    "plant_cue",
    "powerlaw_amplitude",
    "powerlaw_fields",
    "powerlaw_images",
]

DEFAULTS: dict[str, float] = {
    "alpha": 2.0,
    "n": 2000,
    "size": 32,
    "channels": 3,
    "classes": 1,
    "spread": 1.0,
    "contrast": 0.12,
    "seed": 0,
    "cue": 0.0,
    "cue_radius": 13.0,
}
_INTEGER_KEYS = ("n", "size", "channels", "classes", "seed")


def powerlaw_amplitude(h: int, w: int, alpha: float, dtype: torch.dtype = torch.float64) -> Tensor:
    """Amplitude filter ``|k|^(-alpha/2)`` on the ``rfft2`` layout ``(H, W//2+1)``, DC zero, unit pixel variance.

    Filtering white noise of unit variance with it gives a field whose expected unitary power at ``k`` is
    ``|k|^-alpha / mean_k'(|k'|^-alpha)`` and whose pixels have unit variance.
    """
    ky = torch.fft.fftfreq(h, dtype=torch.float64) * h
    kx = torch.fft.fftfreq(w, dtype=torch.float64) * w
    radius = torch.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)
    amp = torch.where(radius > 0, radius.clamp(min=1e-12) ** (-alpha / 2), torch.zeros_like(radius))
    amp = amp / amp.pow(2).mean().sqrt()
    return amp[:, : w // 2 + 1].to(dtype)


def powerlaw_fields(
    n: int, channels: int, h: int, w: int, alpha: float, generator: torch.Generator | None = None
) -> Tensor:
    """``n`` zero-mean, unit-variance Gaussian fields ``(n, channels, h, w)`` (float64) with power ``~ 1/|k|^alpha``."""
    noise = torch.randn(n, channels, h, w, generator=generator, dtype=torch.float64)
    spectrum = torch.fft.rfft2(noise, norm="ortho") * powerlaw_amplitude(h, w, alpha)
    return torch.fft.irfft2(spectrum, s=(h, w), norm="ortho")


def powerlaw_images(
    n: int = 2000,
    size: int = 32,
    alpha: float | Sequence[float] = 2.0,
    channels: int = 3,
    contrast: float = 0.12,
    seed: int = 0,
    name: str = "synthetic:powerlaw",
) -> ImageSet:
    """Images in [0, 1] from power-law fields; one exponent, or one per class (balanced, shuffled labels)."""
    alphas = [float(alpha)] if isinstance(alpha, (int, float)) else [float(a) for a in alpha]
    if n <= 0 or size < 2 or channels <= 0 or not alphas:
        raise FreqlensError(
            f"synthetic images need n > 0, size >= 2, channels > 0 and an exponent, got n={n}, size={size}, "
            f"channels={channels}, alphas={alphas}"
        )
    if not all(math.isfinite(a) for a in alphas) or not contrast > 0:
        raise FreqlensError(f"exponents must be finite and contrast positive, got {alphas} and {contrast}")
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % len(alphas)
    labels = labels[torch.randperm(n, generator=g)]
    fields = torch.empty(n, channels, size, size, dtype=torch.float64)
    for cls, a in enumerate(alphas):
        index = (labels == cls).nonzero().flatten()
        if index.numel():
            fields[index] = powerlaw_fields(index.numel(), channels, size, size, a, g)
    raw = 0.5 + contrast * fields
    images = raw.clamp(0, 1).float()
    classes = tuple(f"alpha={a:g}" for a in alphas)
    meta: dict[str, object] = {
        "alphas": alphas,
        "contrast": contrast,
        "seed": seed,
        "clipped_fraction": float(((raw < 0) | (raw > 1)).double().mean()),
    }
    return ImageSet(images, labels, classes, name, meta)


def flat_teacher(outputs: int, channels: int, h: int, w: int, generator: torch.Generator) -> Tensor:
    """Linear maps ``(outputs, channels, h, w)`` (float64) whose unitary spectrum has modulus 1 at every frequency,
    with random phases (real maps, so the phases are Hermitian-symmetric)."""
    noise = torch.randn(outputs, channels, h, w, generator=generator, dtype=torch.float64)
    phases = torch.fft.fft2(noise, norm="ortho")
    return torch.fft.ifft2(phases / phases.abs().clamp(min=1e-12), norm="ortho").real


def cue_positions(classes: int, size: int, radius: float) -> Tensor:
    """Centred positions ``(classes, 2)`` of the class cues: radius ``radius``, angles ``pi * c / classes``.

    Example:
        >>> cue_positions(2, 32, 13).tolist()
        [[16, 29], [29, 16]]
    """
    if not 0 < radius < size // 2:
        raise FreqlensError(f"cue_radius must lie in (0, {size // 2}) for {size}x{size} images, got {radius:g}")
    angles = torch.arange(classes, dtype=torch.float64) * math.pi / classes
    offsets = torch.stack([torch.sin(angles), torch.cos(angles)], dim=1) * radius
    positions = offsets.round().long() + size // 2
    if len({tuple(p) for p in positions.tolist()}) < classes:
        raise FreqlensError(f"{classes} cues do not fit on a circle of radius {radius:g}; use a larger cue_radius")
    return positions


def plant_cue(images: ImageSet, amplitude: float, radius: float) -> ImageSet:
    """Add each class's cue (see the module docstring) at L2 norm ``amplitude`` per channel, then clip to [0, 1]."""
    if not amplitude >= 0:
        raise FreqlensError(f"cue must be >= 0, got {amplitude}")
    _, h, w = images.image_shape
    positions = cue_positions(images.num_classes, h, radius)
    basis = fourier.fourier_basis(h, w, positions, dtype=torch.float64)  # (classes, H, W), unit norm
    raw = images.images.double() + amplitude * basis[images.labels].unsqueeze(1)
    meta = {**images.meta, "cue": amplitude, "cue_radius": radius, "cue_positions": positions.tolist()}
    offsets = (positions - torch.tensor([h // 2, w // 2])).tolist()
    classes = tuple(f"{name}, cue ({ky},{kx})" for name, (ky, kx) in zip(images.classes, offsets, strict=True))
    return ImageSet(raw.clamp(0, 1).float(), images.labels, classes, images.name, meta)


def _parse(spec: str) -> dict[str, float]:
    head, _, query = spec.partition("?")
    if head not in ("synthetic", "synthetic:powerlaw"):
        raise FreqlensError(f"unknown synthetic source {head!r}; use synthetic:powerlaw?alpha=2&n=2000&...")
    values = dict(DEFAULTS)
    for key, text in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        if key not in DEFAULTS:
            raise FreqlensError(f"unknown synthetic key {key!r}; use {', '.join(DEFAULTS)}")
        try:
            values[key] = int(text) if key in _INTEGER_KEYS else float(text)
        except ValueError:
            kind = "an integer" if key in _INTEGER_KEYS else "a number"
            raise FreqlensError(f"synthetic key {key}={text!r} must be {kind}") from None
    return values


def from_spec(spec: str, split: str = "train") -> ImageSet:
    """Build the split ``train`` or ``test`` of a ``synthetic:powerlaw?...`` spec (see the module docstring)."""
    if split not in ("train", "test"):
        raise FreqlensError(f"split must be train or test, got {split!r}")
    try:
        v = _parse(spec)
    except ValueError as exc:
        if isinstance(exc, FreqlensError):
            raise
        raise FreqlensError(f"cannot parse synthetic spec {spec!r}: write key=value pairs joined by '&'") from None
    classes = int(v["classes"])
    if classes < 1:
        raise FreqlensError(f"classes must be at least 1, got {classes}")
    if classes == 1:
        alphas = [v["alpha"]]
    else:
        alphas = [v["alpha"] + v["spread"] * (c / (classes - 1) - 0.5) for c in range(classes)]
    seed = 2 * int(v["seed"]) + (split == "test")
    images = powerlaw_images(int(v["n"]), int(v["size"]), alphas, int(v["channels"]), v["contrast"], seed, name=spec)
    return plant_cue(images, v["cue"], v["cue_radius"]) if v["cue"] > 0 else images
