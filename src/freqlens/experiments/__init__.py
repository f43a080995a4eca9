"""Experiment recipes: one module per paper figure or table (see :mod:`freqlens.experiments.base`).

Every module in this package other than ``base`` and ``common`` is a recipe module; :func:`load_all` imports them
so their ``@register_recipe`` decorators run (``hfc_*`` first, which sets the order of ``reproduce all`` and of the
report). Adding a recipe is adding a module.
"""

from __future__ import annotations

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
    load_all,
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
