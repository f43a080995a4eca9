"""Analyses built on the spectral core: one concept per module, each registered with the analysis contract.

Importing this package registers every built-in analysis; :func:`list_analyses` and :func:`get_analysis` look them up.
"""

from __future__ import annotations

from freqlens.analyses import (
    band_attacks,
    datastats,
    defence,
    feature_spectra,
    heatmap,
    hfc,
    kernels,
    perturbations,
    robustness,
    sensitivity,
    spectral,
)
from freqlens.contract import AnalysisSpec, registered_analyses
from freqlens.errors import FreqlensError

__all__ = [
    "band_attacks",
    "datastats",
    "defence",
    "feature_spectra",
    "get_analysis",
    "heatmap",
    "hfc",
    "kernels",
    "list_analyses",
    "perturbations",
    "robustness",
    "sensitivity",
    "spectral",
]


def list_analyses() -> list[str]:
    """Names of the registered analyses."""
    return list(registered_analyses())


def get_analysis(name: str) -> AnalysisSpec:
    """The registered analysis ``name``."""
    found = registered_analyses()
    if name not in found:
        raise FreqlensError(f"unknown analysis {name!r}; choose one of: {', '.join(found)}")
    return found[name]
