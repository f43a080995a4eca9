"""Analyses built on the spectral core: one concept per module, each registered with the analysis contract.

Importing this package imports every module on its path (:func:`discover`, through :mod:`pkgutil`), so an analysis
module registers itself just by being here; :func:`list_analyses` and :func:`get_analysis` look them up,
:func:`audit_analyses` lists those of the default audit.

Example:
    >>> audit_analyses()[:3]
    ('hfc', 'heatmap', 'sensitivity')
"""

from __future__ import annotations

import importlib
import pkgutil

from freqlens.contract import AnalysisSpec, registered_analyses
from freqlens.errors import FreqlensError

__all__ = ["audit_analyses", "discover", "get_analysis", "list_analyses"]


def discover() -> list[str]:
    """Import every module on this package's ``__path__`` (each registers its analysis); the modules' names.

    Run once on import; again after a folder was added to ``__path__`` (how a test adds an analysis module)."""
    names = [m.name for m in pkgutil.iter_modules(__path__)]
    for name in names:
        importlib.import_module(f"{__name__}.{name}")
    return names


discover()


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
