"""Analyses built on the spectral core: one concept per module, each registered with the analysis contract."""

from __future__ import annotations

from freqlens.analyses import band_attacks, feature_spectra  # noqa: F401  (registers)
from freqlens.contract import AnalysisSpec, registered_analyses
from freqlens.errors import FreqlensError


def list_analyses() -> list[str]:
    """Names of the registered analyses."""
    return list(registered_analyses())


def get_analysis(name: str) -> AnalysisSpec:
    """The registered analysis ``name``."""
    found = registered_analyses()
    if name not in found:
        raise FreqlensError(f"unknown analysis {name!r}; choose one of: {', '.join(found)}")
    return found[name]
