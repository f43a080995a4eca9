"""Filtered views of images: a small structured type, parsed once from the short strings configs and the CLI share.

=================  ==========================================================================================
``original``       the images themselves
``original:max``   contrast-stretched per image as the HFC code's training images (quirk (a)): ``x / max(x)``, then
                   truncated to 8 bits (``floor(255 x / max) / 255``)
``lfc:R``          low-frequency component at disk radius R (strict ``<``; ``lfc:R:incl`` for ``<=``)
``hfc:R``          high-frequency component at radius R
``lfc:R:max``      ... rescaled per image by its maximum, as the HFC code does before training (also ``hfc:R:max``)
``band:A:B``       band-pass ``A <= |k| < B``
``hpsquare:C``     Godfrey's high-pass filter: zero the asymmetric centred square of half-width C
``hpsquare:C:sym`` the symmetric variant
=================  ==========================================================================================

A :class:`View` knows its kind, radius, band bounds, whether the disk is inclusive, and its normalisation (``none``
or ``per_image_max``); ``str(view)`` is the canonical spec (today's spelling of every spec above, so configs that hash
on the string keep their hashes), :meth:`View.gain` its linear filter on an H x W grid, and calling it filters images.

Example:
    >>> import torch
    >>> v = View.parse("hfc:8:max")
    >>> v.kind, v.radius, v.normalisation, str(v)
    ('hfc', 8.0, 'per_image_max', 'hfc:8:max')
    >>> y = v(torch.rand(2, 3, 32, 32))
    >>> [round(float(m), 6) for m in y.amax(dim=(1, 2, 3))]
    [1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from freqlens import fourier
from freqlens.errors import FreqlensError

KINDS = ("original", "lfc", "hfc", "band", "hpsquare")
NORMALISATIONS = ("none", "per_image_max")
_USAGE = (
    "use original, original:max, lfc:R, hfc:R, lfc:R:max, hfc:R:max, lfc:R:incl, band:A:B, hpsquare:C or hpsquare:C:sym"
)


def _number(text: str, spec: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise FreqlensError(f"view {spec!r}: {text!r} is not a number") from None


@dataclass(frozen=True)
class View:
    """A filtered view ``(N, C, H, W) -> (N, C, H, W)`` acting in [0, 1] pixel space.

    ``radius``: disk radius (``lfc``/``hfc``) or square half-width (``hpsquare``); ``inner``/``outer``: band bounds;
    ``inclusive``: ``|k| <= r`` instead of ``< r``; ``symmetric``: the symmetric square; ``normalisation``:
    ``per_image_max`` rescales each filtered image by its maximum.
    """

    kind: str = "original"
    radius: float | None = None
    normalisation: str = "none"
    inclusive: bool = False
    inner: float | None = None
    outer: float | None = None
    symmetric: bool = False

    @classmethod
    def parse(cls, spec: str | View) -> View:
        """The view a spec string names (a :class:`View` passes through); a one-line error for anything else."""
        if isinstance(spec, View):
            return spec
        if not isinstance(spec, str):
            raise FreqlensError(f"a view is a string such as 'lfc:8:max', got {type(spec).__name__}")
        parts = spec.strip().lower().split(":")
        kind, args = parts[0], parts[1:]
        if kind == "original" and not args:
            return cls()
        if kind == "original" and args == ["max"]:
            return cls(normalisation="per_image_max")
        if kind in ("lfc", "hfc") and 1 <= len(args) <= 3 and set(args[1:]) <= {"max", "incl"}:
            if len(set(args[1:])) != len(args[1:]):
                raise FreqlensError(f"view {spec!r}: a flag is repeated; {_USAGE}")
            radius = _number(args[0], spec)
            if not radius > 0:
                raise FreqlensError(f"view {spec!r}: radius must be positive")
            norm = "per_image_max" if "max" in args[1:] else "none"
            return cls(kind, radius, norm, inclusive="incl" in args[1:])
        if kind == "band" and len(args) == 2:
            inner, outer = _number(args[0], spec), _number(args[1], spec)
            if not 0 <= inner < outer:
                raise FreqlensError(f"view {spec!r}: a band needs 0 <= A < B")
            return cls("band", inner=inner, outer=outer)
        if kind == "hpsquare" and 1 <= len(args) <= 2 and set(args[1:]) <= {"sym"}:
            cutoff = _number(args[0], spec)
            if cutoff != int(cutoff) or cutoff <= 0:
                raise FreqlensError(f"view {spec!r}: the square half-width must be a positive integer")
            return cls("hpsquare", float(int(cutoff)), symmetric="sym" in args[1:])
        raise FreqlensError(f"unknown view {spec!r}; {_USAGE}")

    def __str__(self) -> str:
        """The canonical spec, e.g. ``lfc:8:max``; ``View.parse(str(v)) == v``."""
        if self.kind == "original":
            return "original" + (":max" if self.normalisation == "per_image_max" else "")
        if self.kind == "band":
            return f"band:{self.inner:g}:{self.outer:g}"
        if self.kind == "hpsquare":
            return f"hpsquare:{self.radius:g}" + (":sym" if self.symmetric else "")
        flags = (":incl" if self.inclusive else "") + (":max" if self.normalisation == "per_image_max" else "")
        return f"{self.kind}:{self.radius:g}{flags}"

    @property
    def name(self) -> str:
        """The canonical spec (:meth:`__str__`)."""
        return str(self)

    @property
    def is_linear(self) -> bool:
        """Whether the view is a pure Fourier filter (no per-image rescaling), so :meth:`gain` describes it fully."""
        return self.normalisation == "none"

    @property
    def description(self) -> str:
        """One human-readable line."""
        if self.kind == "original":
            if self.normalisation == "per_image_max":
                return "contrast-stretched per image and truncated to 8 bits (HFC code's training images)"
            return "unfiltered images"
        if self.kind == "band":
            return f"band-pass {self.inner:g} <= |k| < {self.outer:g}"
        if self.kind == "hpsquare":
            variant = "symmetric" if self.symmetric else "asymmetric (Godfrey)"
            return f"high-pass: centred {variant} square of half-width {self.radius:g} removed"
        desc = f"{self.kind.upper()} at radius {self.radius:g} ({'|k| <= r' if self.inclusive else '|k| < r'})"
        return desc + (", rescaled by per-image max" if self.normalisation == "per_image_max" else "")

    def gain(self, h: int, w: int, device: torch.device | str | None = None) -> Tensor:
        """The view's centred linear gain on an ``h x w`` grid, float64 (the filter before any normalisation)."""
        if self.kind == "original":
            return torch.ones(h, w, dtype=torch.float64, device=device)
        if self.kind == "band":
            assert self.inner is not None and self.outer is not None
            mask = fourier.band_mask(h, w, self.inner, self.outer, device=device)
        elif self.kind == "hpsquare":
            assert self.radius is not None
            mask = ~fourier.square_mask(h, w, int(self.radius), self.symmetric, device)
        else:
            assert self.radius is not None
            low = fourier.disk_mask(h, w, self.radius, self.inclusive, device)
            mask = low if self.kind == "lfc" else ~low
        return mask.to(torch.float64)

    def __call__(self, x: Tensor) -> Tensor:
        if self.kind == "original":  # with per_image_max: the HFC code's uint8(x / max(x) * 255) / 255 (quirk (a))
            return torch.floor(fourier.normalize_per_image_max(x) * 255) / 255 if not self.is_linear else x
        if self.kind in ("lfc", "hfc"):
            assert self.radius is not None
            y = fourier.split(x, self.radius, self.inclusive)[0 if self.kind == "lfc" else 1]
        elif self.kind == "hpsquare":
            assert self.radius is not None
            y = fourier.square_highpass(x, int(self.radius), self.symmetric)
        else:
            h, w = x.shape[-2:]
            y = fourier.apply_gain(x, self.gain(h, w, x.device).to(torch.bool))
        return fourier.normalize_per_image_max(y) if self.normalisation == "per_image_max" else y


def parse_view(spec: str | View) -> View:
    """:meth:`View.parse` (kept as a function: configs, the CLI and attacks call it)."""
    return View.parse(spec)


def apply_in_chunks(view: View, x: Tensor, chunk: int = 4096) -> Tensor:
    """Apply a view to a large tensor chunk by chunk (bounded memory), on the tensor's own device."""
    if view.kind == "original" and view.is_linear:
        return x
    return torch.cat([view(x[i : i + chunk]) for i in range(0, x.shape[0], chunk)])


PARTS = ("original", "lfc", "hfc")
# A filtered view whose L2 norm is at most this share of its image's is empty: it holds no more than the float32
# round-off of the split (~1e-7 of the image's scale), which per-image-max rescaling would blow up to unit scale. The
# HFC of a 32x32 image at r >= 22.7 (every bin inside the disk) is exactly such a view.
EMPTY_TOLERANCE = 1e-6
EMPTY_DEFINITION = (
    f"a LFC/HFC view whose L2 norm (float64, from the spectrum) is at most {EMPTY_TOLERANCE:g} of its image's: "
    "empty or below numerical noise; excluded from that view's accuracy, confidence and HFC-explained counts"
)


def empty_views(x: Tensor, radii: Sequence[float], inclusive: bool = False) -> tuple[Tensor, Tensor]:
    """Which LFC and which HFC views of ``x`` are empty or below numerical noise (:data:`EMPTY_TOLERANCE`), as two
    ``(R, N)`` boolean tensors on ``x``'s device.

    Computed in float64 from the spectrum, with the real filter the split applies (:func:`freqlens.fourier.
    effective_gain`), so a view is judged by what it truly holds, not by the round-off the model would see.

    Example:
        >>> import torch
        >>> low, high = empty_views(torch.rand(2, 3, 32, 32), [8, 23])   # every bin of a 32x32 image is within 22.7
        >>> high.tolist(), low.any().item()
        ([[False, False], [True, True]], False)
    """
    h, w = x.shape[-2:]
    spectrum = torch.fft.fft2(x.double(), norm="ortho")
    power = torch.fft.fftshift(spectrum.real**2 + spectrum.imag**2, dim=(-2, -1)).sum(dim=1)  # (N, H, W)
    gains = torch.stack([fourier.effective_gain(fourier.disk_mask(h, w, r, inclusive, x.device)) for r in radii])
    floor = EMPTY_TOLERANCE**2 * power.flatten(1).sum(dim=1)
    low = torch.einsum("rhw,nhw->rn", gains**2, power)
    high = torch.einsum("rhw,nhw->rn", (1 - gains) ** 2, power)
    return low <= floor, high <= floor


def classify_views(
    forward: Callable[[Tensor], Tensor],
    x: Tensor,
    radii: Sequence[float],
    *,
    inclusive: bool = False,
    normalize: str = "per_image_max",
    parts: Sequence[str] = PARTS,
) -> dict[str, tuple[Tensor, Tensor]]:
    """The model's confidence and label on a batch and on its LFC and HFC at every radius: the one LFC/HFC pass
    behind the HFC evaluation (:func:`freqlens.analyses.hfc.evaluate_hfc`) and the per-epoch training curves.

    ``forward`` maps images to float logits; one FFT serves all radii. ``normalize="per_image_max"`` rescales each
    LFC and HFC by its own maximum (the HFC code); the original is never rescaled. Returns ``{part: (confidence,
    label)}`` for the requested ``parts``, each ``(V, B)``: V = 1 for ``original``, one row per radius otherwise.

    Example:
        >>> import torch
        >>> out = classify_views(lambda v: v.flatten(1)[:, :3], torch.rand(4, 1, 8, 8), [2, 3], parts=("lfc",))
        >>> [tuple(t.shape) for t in out["lfc"]]
        [(2, 4), (2, 4)]
    """
    if normalize not in NORMALISATIONS:
        raise FreqlensError(f"unknown normalisation {normalize!r}; use one of {', '.join(NORMALISATIONS)}")
    if unknown := set(parts) - set(PARTS):
        raise FreqlensError(f"unknown parts {sorted(unknown)}; use {', '.join(PARTS)}")
    views: dict[str, Tensor] = {"original": x.unsqueeze(0)} if "original" in parts else {}
    if {"lfc", "hfc"} & set(parts):
        low, high = fourier.split(x, list(radii), inclusive)
        for part, stack in (("lfc", low), ("hfc", high)):
            if part in parts:
                views[part] = (
                    fourier.normalize_per_image_max(stack.flatten(0, 1)).view_as(stack)
                    if normalize == "per_image_max"
                    else stack
                )
    out = {}
    for part in (p for p in PARTS if p in views):
        best = [forward(image).float().softmax(dim=1).max(dim=1) for image in views[part]]
        out[part] = (torch.stack([b.values for b in best]), torch.stack([b.indices for b in best]))
    return out
