"""Run recipes end to end: train the shared models, execute the cells, summarise each recipe, index, report.

Phase 1 trains every distinct model the cells need (a training config is a cached run, see :mod:`freqlens.trained`,
so a model several recipes use is trained once). Phase 2 executes the cells not finished yet (:func:`execute_cell`).
Both phases go through the chosen executor. Then each recipe's ``summarize`` writes ``<out>/<recipe>/summary.json``
and its figures, the index is synced and the report built. A failing cell or recipe is reported and the others go on.
The CLI only parses arguments and prints what :func:`reproduce` returns.
"""

from __future__ import annotations

import importlib
import json
import shlex
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freqlens import provenance, runs
from freqlens.errors import FreqlensError
from freqlens.executors import Executor, JobFailed
from freqlens.experiments.base import Cell, CellResult, Context, Recipe, Summary, get_recipe, list_recipes
from freqlens.report import build_report
from freqlens.trained import train_run, train_run_dir


@dataclass
class Outcome:
    """How one recipe went: its cells, failures, its summary and where that summary was written."""

    recipe: str
    cells: int
    errors: list[str] = field(default_factory=list)
    summary: Summary | None = None
    summary_path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record ``reproduce.json`` keeps (the summary itself is in its own file)."""
        path = str(self.summary_path) if self.summary_path is not None else None
        return {"recipe": self.recipe, "cells": self.cells, "errors": self.errors, "summary": path}


@dataclass
class Reproduction:
    """What :func:`reproduce` did: one outcome per recipe, and the report it built."""

    outcomes: list[Outcome]
    html: Path
    md: Path


def execute_cell(recipe: Recipe, cell: Cell, ctx: Context) -> CellResult:
    """Run one cell into its folder unless it is finished already; return its result.

    An interrupted cell (a folder without a readable ``summary.json``) starts over: its old metrics and arrays are
    removed.
    """
    path = runs.run_dir(ctx.runs_root, recipe.name, cell.name, cell.config)
    if not runs.is_done(path):
        with runs.locked(path):
            if not runs.is_done(path):  # someone else may have finished it while we waited
                for stale in (runs.METRICS, runs.ARRAYS):
                    (path / stale).unlink(missing_ok=True)
                runs.start_run(
                    path, recipe.name, cell.name, cell.config, ctx.device, ctx.profile, recipe_title=recipe.title
                )
                started = time.perf_counter()
                result = recipe.run_cell(cell, path, ctx)
                canonical = json.loads(json.dumps(result, default=provenance._jsonable))
                runs.finish_run(path, canonical, started)
    return CellResult(cell, path, runs.read_summary(path))


def _error(exc: BaseException) -> str:
    if isinstance(exc, FreqlensError):
        return f"{type(exc).__name__}: {exc}"
    return "".join(traceback.format_exception(exc)).strip()


def train_job(payload: dict[str, Any]) -> dict[str, Any]:
    """Executor job: make sure one training config has a finished run."""
    try:
        ctx = Context.from_dict(payload["ctx"])
        path, _ = train_run(payload["train"], ctx.runs_root, ctx.device, ctx.data_dir, ctx.progress)
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


def _label(path: Path, ctx: Context) -> str:
    """An executor's label for a run folder: its path under the runs root (unique, readable in a job's messages)."""
    return path.relative_to(ctx.runs_root).as_posix()


def _results(results: Sequence[dict[str, Any] | JobFailed]) -> list[dict[str, Any]]:
    """Job results as the jobs' own ``{"ok", "error"}`` records: a job that ended without one is a failure."""
    return [{"ok": False, "error": r.message} if isinstance(r, JobFailed) else r for r in results]


def _plan(recipes: Sequence[Recipe], ctx: Context) -> list[tuple[Recipe, Cell]]:
    """Every (recipe, cell) to run: each recipe's cells under ``ctx.profile``, once per replicate (seed)."""
    return [
        (recipe, cell.with_replicate(seed))
        for recipe in recipes
        for cell in recipe.cells(ctx.profile)
        for seed in recipe.replicates(ctx)
    ]


def kept_message(names: Sequence[str], ctx: Context, command: Sequence[str]) -> str:
    """What an interrupted reproduction kept (finished trainings and cells, where) and the command that continues."""
    plan = _plan([get_recipe(n) for n in names], ctx)
    done = sum(runs.is_done(runs.run_dir(ctx.runs_root, r.name, c.name, c.config)) for r, c in plan)
    trainings = {train_run_dir(ctx.runs_root, config) for r, c in plan for config in r.trainings(c)}
    trained = sum(runs.is_done(path) for path in trainings)
    return (
        f"{trained} of {len(trainings)} trained models and {done} of {len(plan)} cells are finished and kept in "
        f"{ctx.runs_root}; the report is written when all are done; continue with: {shlex.join(command)}"
    )


def reproduce(names: Sequence[str | Recipe], ctx: Context, executor: Executor, out_dir: Path) -> Reproduction:
    """Run the recipes under ``ctx.profile``, summarise them into ``out_dir`` and build the report there.

    A recipe is named (its registered instance) or given as an instance whose cells come from elsewhere (an audit's
    from its arguments); workers rebuild it by name, so its ``run_cell`` must depend on the cell config alone.
    """
    started = time.perf_counter()
    recipes: list[Recipe] = [get_recipe(name) if isinstance(name, str) else name for name in names]
    plan = _plan(recipes, ctx)
    outcomes = {r.name: Outcome(r.name, sum(1 for rr, _ in plan if rr is r)) for r in recipes}

    needs: dict[tuple[str, str], list[Path]] = {}  # (recipe, cell hash) -> the training runs the cell needs
    trainings: dict[Path, dict[str, Any]] = {}
    for recipe, cell in plan:
        for config in recipe.trainings(cell):
            path = train_run_dir(ctx.runs_root, config)
            trainings.setdefault(path, config)
            needs.setdefault((recipe.name, cell.key(recipe.name)), []).append(path)
    pending = [(path, cfg) for path, cfg in trainings.items() if not runs.is_done(path)]
    payloads = [{"train": cfg, "ctx": ctx.to_dict()} for _, cfg in pending]
    t0 = time.perf_counter()
    labels = [_label(path, ctx) for path, _ in pending]
    failed_trainings = {
        path: result["error"]
        for (path, _), result in zip(
            pending, _results(executor.map(train_job, payloads, "training", labels)), strict=True
        )
        if not result["ok"]
    }
    train_seconds = time.perf_counter() - t0

    runnable = []
    for recipe, cell in plan:
        key = (recipe.name, cell.key(recipe.name))
        broken = [failed_trainings[p] for p in needs.get(key, []) if p in failed_trainings]
        if broken:
            outcomes[recipe.name].errors.append(f"cell {cell.name}: its training failed: {broken[0]}")
        elif not runs.is_done(runs.run_dir(ctx.runs_root, recipe.name, cell.name, cell.config)):
            runnable.append((recipe, cell))
    cell_payloads = [
        {"recipe": r.name, "module": type(r).__module__, "cell": c.to_dict(), "ctx": ctx.to_dict()} for r, c in runnable
    ]
    t0 = time.perf_counter()
    labels = [_label(runs.run_dir(ctx.runs_root, r.name, c.name, c.config), ctx) for r, c in runnable]
    cell_results = _results(executor.map(cell_job, cell_payloads, "cells", labels))
    for (recipe, cell), result in zip(runnable, cell_results, strict=True):
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
            outcome.summary = recipe.summarize(results, target, ctx)
            outcome.summary_path = provenance.write_json(target / "summary.json", outcome.summary.to_dict())
        except Exception as exc:
            outcome.errors.append(f"summary: {_error(exc)}")
    runs.Index(ctx.runs_root).sync()
    provenance.write_json(
        out_dir / "reproduce.json",
        {
            "recipes": [o.to_dict() for o in outcomes.values()],
            "profile": ctx.profile,
            "seeds": ctx.seeds,
            "first_seed": ctx.first_seed,
            "executor": executor.name,
            "executor_spec": executor.spec(),
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
    html, md = build_report(out_dir)
    return Reproduction(list(outcomes.values()), html, md)


def list_runs(
    root: Path,
    kind: str | None = None,
    status: str | None = None,
    where: dict[str, Any] | None = None,
    name: str | None = None,
) -> list[dict[str, Any]]:
    """The index rows of the runs under ``root`` that match the filters (see :meth:`freqlens.runs.Index.query`).

    Reads the index as it is unless it is stale or unreadable (then it is rebuilt from the run folders). A ``kind``
    that is neither a recipe, ``train``, nor the kind of a stored run is an error, as is a ``where`` key no run has.
    """
    root = Path(root)
    if not root.is_dir():
        raise FreqlensError(f"no runs root at {root}; run freqlens reproduce first or pass --runs DIR")
    index = runs.Index(root)
    if kind is not None:
        stored = index.kinds()
        known = [*list_recipes(include_hidden=True), runs.TRAIN_KIND]
        if kind not in stored and kind not in known:
            raise FreqlensError(f"unknown recipe {kind!r}; choose one of: {', '.join(sorted({*known, *stored}))}")
    return index.query(kind=kind, status=status, where=where, name=name)
