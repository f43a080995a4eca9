"""Run recipes end to end: train the shared models, run the cells, summarise each recipe, index, report.

Phase 1 trains every distinct model the cells need (a training config is a cached run, so a model several recipes
use is trained once). Phase 2 runs the cells not finished yet. Both phases go through the chosen executor. Then each
recipe's ``summarize`` writes ``<out>/<recipe>/summary.json`` and its figures, the index is synced and the report
built. A failing cell or recipe is reported and the others go on.
"""

from __future__ import annotations

import importlib
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from freqlens import provenance
from freqlens.executors import Executor
from freqlens.experiments.base import Cell, Context, Recipe, get_recipe
from freqlens.runs import Index, ensure_trained, execute_cell, is_done, run_dir, train_run_dir


@dataclass
class Outcome:
    """How one recipe went: its cells, failures and where its summary is."""

    recipe: str
    cells: int
    errors: list[str] = field(default_factory=list)
    summary: str | None = None


def _error(exc: BaseException) -> str:
    from freqlens.errors import FreqlensError

    if isinstance(exc, FreqlensError):
        return f"{type(exc).__name__}: {exc}"
    return "".join(traceback.format_exception(exc)).strip()


def train_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Executor job: make sure one training config has a finished run."""
    try:
        _, path = ensure_trained(payload["train"], Context.from_dict(payload["ctx"]))
        return {"ok": True, "path": str(path)}
    except Exception as exc:
        return {"ok": False, "error": _error(exc)}


def cell_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Executor job: run one cell of a recipe (skipped if finished)."""
    try:
        importlib.import_module(payload["module"])  # registers recipes defined outside freqlens.experiments
        recipe = get_recipe(payload["recipe"])
        result = execute_cell(recipe, Cell(**payload["cell"]), Context.from_dict(payload["ctx"]))
        return {"ok": True, "path": str(result.run_dir)}
    except Exception as exc:
        return {"ok": False, "error": _error(exc)}


def reproduce(names: Sequence[str], ctx: Context, executor: Executor, out_dir: Path) -> list[Outcome]:
    """Run the named recipes under ``ctx.profile`` and summarise them into ``out_dir``; returns one outcome each."""
    started = time.perf_counter()
    recipes: list[Recipe] = [get_recipe(name) for name in names]
    plan = [
        (recipe, cell.with_replicate(seed))
        for recipe in recipes
        for cell in recipe.cells(ctx.profile)
        for seed in range(ctx.seeds)
    ]
    outcomes = {r.name: Outcome(r.name, sum(1 for rr, _ in plan if rr is r)) for r in recipes}

    needs: dict[tuple[str, str], list[Path]] = {}
    trainings: dict[Path, dict[str, Any]] = {}
    for recipe, cell in plan:
        for config in recipe.trainings(cell):
            path = train_run_dir(ctx.runs_root, config)
            trainings.setdefault(path, config)
            needs.setdefault((recipe.name, cell.name), []).append(path)
    pending = [(path, cfg) for path, cfg in trainings.items() if not is_done(path)]
    payloads = [{"train": cfg, "ctx": ctx.to_dict()} for _, cfg in pending]
    t0 = time.perf_counter()
    failed_trainings = {
        path: result["error"]
        for (path, _), result in zip(pending, executor.map(train_job, payloads, desc="training"), strict=True)
        if not result["ok"]
    }
    train_seconds = time.perf_counter() - t0

    runnable = []
    for recipe, cell in plan:
        broken = [failed_trainings[p] for p in needs.get((recipe.name, cell.name), []) if p in failed_trainings]
        if broken:
            outcomes[recipe.name].errors.append(f"cell {cell.name}: its training failed: {broken[0]}")
        elif not is_done(run_dir(ctx.runs_root, recipe.name, cell.name, cell.config)):
            runnable.append((recipe, cell))
    cell_payloads = [
        {"recipe": r.name, "module": type(r).__module__, "cell": c.to_dict(), "ctx": ctx.to_dict()} for r, c in runnable
    ]
    t0 = time.perf_counter()
    for (recipe, cell), result in zip(runnable, executor.map(cell_job, cell_payloads, desc="cells"), strict=True):
        if not result["ok"]:
            outcomes[recipe.name].errors.append(f"cell {cell.name}: {result['error']}")
    cell_seconds = time.perf_counter() - t0

    for recipe in recipes:
        outcome = outcomes[recipe.name]
        if outcome.errors:
            continue
        try:
            results = [execute_cell(recipe, cell, ctx) for r, cell in plan if r is recipe]
            target = out_dir / recipe.name
            target.mkdir(parents=True, exist_ok=True)
            summary = recipe.summarize(results, target)
            outcome.summary = str(provenance.write_json(target / "summary.json", summary.to_dict()))
        except Exception as exc:
            outcome.errors.append(f"summary: {_error(exc)}")
    Index(ctx.runs_root).sync()
    provenance.write_json(
        out_dir / "reproduce.json",
        {
            "recipes": [asdict(o) for o in outcomes.values()],
            "profile": ctx.profile,
            "seeds": ctx.seeds,
            "executor": executor.name,
            "runs_root": str(ctx.runs_root),
            "trainings": len(trainings),
            "trained_now": len(pending),
            "cells_run_now": len(runnable),
            "seconds": {
                "training": round(train_seconds, 1),
                "cells": round(cell_seconds, 1),
                "total": round(time.perf_counter() - started, 1),
            },
            "provenance": provenance.record({}, ctx.device),
        },
    )
    return list(outcomes.values())
