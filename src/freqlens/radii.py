"""Radii that read alike at every image size: cycles per image, or fractions of the Nyquist radius.

A radius is a number of cycles per image (the integer frequency unit of :mod:`freqlens.fourier`: ``4`` is 4 cycles
across the image), or a fraction of the Nyquist radius written with a trailing ``n``: ``0.25n`` is a quarter of
``min(H, W) / 2``, so 4 at 32x32 and 28 at 224x224. Lists are comma-separated and may mix both (``4,0.5n``). View
specs take the same tokens (``lfc:0.25n``, ``hpsquare:0.5n``) through :func:`resolve_view`.

Example:
    >>> parse_radii("0.25n,0.5n,12", 32, 32), parse_radii("0.25n,0.5n", 224, 224)
    ([4.0, 8.0, 12.0], [28.0, 56.0])
    >>> resolve_view("lfc:0.25n:max", 224, 224)
    'lfc:28:max'
"""

from __future__ import annotations

import re

from freqlens.errors import FreqlensError

DEFAULT_RADII = "0.25n,0.5n,0.75n,1n"
_TOKEN = re.compile(r"^(?:\d+\.?\d*|\.\d+)n$")


def nyquist_radius(h: int, w: int) -> float:
    """The largest radius every direction of an ``h`` x ``w`` spectrum reaches: ``min(h, w) / 2`` cycles per image."""
    return min(h, w) / 2


def parse_radius(text: str, h: int, w: int) -> float:
    """``"8"`` -> 8.0 cycles per image; ``"0.25n"`` -> a quarter of the Nyquist radius of ``h`` x ``w`` images."""
    token = text.strip().lower()
    try:
        if _TOKEN.match(token):
            return float(token[:-1]) * nyquist_radius(h, w)
        return float(token)
    except ValueError:
        pass
    raise FreqlensError(f"radius {text!r} is neither cycles per image (8) nor a fraction of Nyquist (0.25n)")


def parse_radii(text: str, h: int, w: int) -> list[float]:
    """A comma-separated list of radii (each as :func:`parse_radius`); ``DEFAULT_RADII`` scales with the size."""
    radii = [parse_radius(part, h, w) for part in text.split(",") if part.strip()]
    if not radii:
        raise FreqlensError(f"radius list {text!r} is empty; give e.g. 4,8 or 0.25n,0.5n")
    return radii


def default_radii(h: int, w: int) -> list[float]:
    """Quarter, half, three quarters and all of the Nyquist radius: 4, 8, 12, 16 at 32x32; 28, 56, 84, 112 at 224."""
    return parse_radii(DEFAULT_RADII, h, w)


def to_nyquist(radius: float, h: int, w: int) -> float:
    """A radius in cycles per image as a fraction of the Nyquist radius (the inverse of the ``n`` suffix)."""
    return radius / nyquist_radius(h, w)


def resolve_view(spec: str, h: int, w: int) -> str:
    """A view spec with every ``<fraction>n`` argument replaced by cycles per image (``%g``) for ``h`` x ``w``."""
    parts = spec.split(":")
    return ":".join(f"{parse_radius(p, h, w):g}" if _TOKEN.match(p.strip().lower()) else p for p in parts)
