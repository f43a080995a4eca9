"""Experiment recipes: one module per paper figure or table (see :mod:`freqlens.experiments.base`).

Every module in this package other than ``base`` and ``common`` is a recipe module; :func:`load_all` imports them
so their ``@register_recipe`` decorators run (``hfc_*`` first, which sets the order of ``reproduce all`` and of the
report). Adding a recipe is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil

from freqlens.experiments.base import (
    Cell,
    CellResult,
    Comparison,
    Context,
    Figure,
    Recipe,
    Summary,
    Table,
    get_recipe,
    list_recipes,
    register_recipe,
)

__all__ = [
    "Cell",
    "CellResult",
    "Comparison",
    "Context",
    "Figure",
    "Recipe",
    "Summary",
    "Table",
    "get_recipe",
    "list_recipes",
    "load_all",
    "register_recipe",
]

_NOT_RECIPES = {"base", "common"}


def load_all() -> None:
    """Import every recipe module of this package (idempotent): the HFC paper's first, then alphabetically."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: (not m.name.startswith("hfc"), m.name)):
        if info.name not in _NOT_RECIPES and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
