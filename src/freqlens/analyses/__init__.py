"""Analyses built on the spectral core: one concept per module, each registered with the analysis contract.

Importing this package imports every module in it (:mod:`pkgutil`), so an analysis module registers itself just by
being here; :func:`list_analyses` and :func:`get_analysis` look them up, :func:`audit_analyses` lists those of the
default audit.

Example:
    >>> audit_analyses()[:3]
    ('hfc', 'heatmap', 'sensitivity')
"""

from __future__ import annotations

import importlib
import pkgutil

from freqlens.contract import AnalysisSpec, registered_analyses
from freqlens.errors import FreqlensError

__all__ = ["audit_analyses", "get_analysis", "list_analyses"]

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")


def list_analyses() -> list[str]:
    """Names of the registered analyses."""
    return list(registered_analyses())


def get_analysis(name: str) -> AnalysisSpec:
    """The registered analysis ``name``."""
    found = registered_analyses()
    if name not in found:
        raise FreqlensError(f"unknown analysis {name!r}; choose one of: {', '.join(found)}")
    return found[name]


def audit_analyses() -> tuple[str, ...]:
    """The analyses of the default audit, in their declared order (:attr:`AnalysisSpec.audit_order`)."""
    specs = [s for s in registered_analyses().values() if s.audit_order is not None]
    return tuple(s.name for s in sorted(specs, key=lambda s: (s.audit_order, s.name)))
