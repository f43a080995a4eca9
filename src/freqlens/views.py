"""Filtered views of images, named by short strings the config files and CLI share.

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

Example:
    >>> import torch
    >>> v = parse_view("hfc:8:max")
    >>> y = v(torch.rand(2, 3, 32, 32))
    >>> [round(float(m), 6) for m in y.amax(dim=(1, 2, 3))]
    [1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from freqlens import fourier
from freqlens.errors import FreqlensError


@dataclass(frozen=True)
class View:
    """A named image transform ``(N, C, H, W) -> (N, C, H, W)`` acting in [0, 1] pixel space."""

    name: str
    fn: Callable[[Tensor], Tensor]
    description: str

    def __call__(self, x: Tensor) -> Tensor:
        return self.fn(x)


def _number(text: str, spec: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise FreqlensError(f"view {spec!r}: {text!r} is not a number") from None


def _contrast_stretch(x: Tensor) -> Tensor:
    """The HFC code's training images (papers.md §1.2(5) quirk (a)): ``uint8(x / max(x) * 255) / 255`` per image."""
    return torch.floor(fourier.normalize_per_image_max(x) * 255) / 255


def parse_view(spec: str) -> View:
    """Build a :class:`View` from its name (see the module docstring)."""
    parts = spec.strip().lower().split(":")
    kind, args = parts[0], parts[1:]
    if kind == "original" and not args:
        return View("original", lambda x: x, "unfiltered images")
    if kind == "original" and args == ["max"]:
        return View(spec, _contrast_stretch, "contrast-stretched per image and truncated to 8 bits (HFC code)")
    if kind in ("lfc", "hfc") and 1 <= len(args) <= 3 and set(args[1:]) <= {"max", "incl"}:
        radius = _number(args[0], spec)
        if radius <= 0:
            raise FreqlensError(f"view {spec!r}: radius must be positive")
        inclusive, rescale = "incl" in args[1:], "max" in args[1:]
        part = 0 if kind == "lfc" else 1

        def filtered(x: Tensor) -> Tensor:
            y = fourier.split(x, radius, inclusive)[part]
            return fourier.normalize_per_image_max(y) if rescale else y

        desc = f"{kind.upper()} at radius {radius:g} ({'|k| <= r' if inclusive else '|k| < r'})"
        return View(spec, filtered, desc + (", rescaled by per-image max" if rescale else ""))
    if kind == "band" and len(args) == 2:
        inner, outer = _number(args[0], spec), _number(args[1], spec)

        def band(x: Tensor) -> Tensor:
            h, w = x.shape[-2:]
            return fourier.apply_gain(x, fourier.band_mask(h, w, inner, outer, device=x.device))

        return View(spec, band, f"band-pass {inner:g} <= |k| < {outer:g}")
    if kind == "hpsquare" and 1 <= len(args) <= 2 and set(args[1:]) <= {"sym"}:
        cutoff = int(_number(args[0], spec))
        symmetric = "sym" in args[1:]
        return View(
            spec,
            lambda x: fourier.square_highpass(x, cutoff, symmetric),
            f"high-pass: centred {'symmetric' if symmetric else 'asymmetric (Godfrey)'} square of half-width {cutoff} "
            "removed",
        )
    raise FreqlensError(
        f"unknown view {spec!r}; use original, original:max, lfc:R, hfc:R, lfc:R:max, hfc:R:max, band:A:B or hpsquare:C"
    )


def apply_in_chunks(view: View, x: Tensor, chunk: int = 4096) -> Tensor:
    """Apply a view to a large tensor chunk by chunk (bounded memory), on the tensor's own device."""
    if view.name == "original":
        return x
    return torch.cat([view(x[i : i + chunk]) for i in range(0, x.shape[0], chunk)])
