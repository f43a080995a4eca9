"""A tiny recipe for the framework tests: no training, known outputs, optional planted failure."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from freqlens import provenance, runs
from freqlens.contract import Estimate
from freqlens.experiments import Cell, CellResult, Comparison, Context, Figure, Recipe, Summary, Table, register_recipe
from freqlens.plotting import plt

FAIL_ENV = "FREQLENS_TOY_FAIL"  # a cell name: that cell logs one record, then raises (an "interrupted" run)
WAIT_ENV = "FREQLENS_TOY_WAIT"  # a cell name: that cell logs one record, writes WAITING, then sleeps (to be killed)
WAITING = "waiting"


@register_recipe
class Toy(Recipe):
    name = "toy"
    title = "Toy recipe (squares)"
    paper_refs = ("none",)

    def cells(self, profile: str) -> list[Cell]:
        n = 3 if profile == "quick" else 4
        return [Cell(f"x{i}", {"value": i, "seed": 0}) for i in range(n)]

    def run_cell(self, cell: Cell, run_dir: Path, ctx: Context) -> dict[str, Any]:
        v = cell.config["value"]
        runs.log_metrics(run_dir, {"step": 0, "value": v})
        if os.environ.get(FAIL_ENV) == cell.name:
            raise RuntimeError("planted failure")
        if os.environ.get(WAIT_ENV) == cell.name:
            (run_dir / WAITING).write_text(str(os.getpid()))
            time.sleep(120)
        runs.log_metrics(run_dir, {"step": 1, "square": v * v})
        runs.save_arrays(run_dir, squares=np.arange(v + 1) ** 2)
        return {"square": v * v, "pid": os.getpid()}

    def summarize(self, results: list[CellResult], out_dir: Path, ctx: Context) -> Summary:
        values = [r.cell.config["value"] for r in results]
        squares = [r.summary["square"] for r in results]
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot(values, squares, "o-")
        provenance.save_figure(fig, out_dir / "squares.png")
        return Summary(
            self.name,
            self.title,
            self.paper_refs,
            text="Squares of the cell values; `x2` should be **4**.",
            figures=[Figure("squares.png", "value against its square")],
            tables=[Table("squares", ["value", "square"], [[v, s] for v, s in zip(values, squares, strict=True)])],
            comparisons=[
                Comparison.within("square of 2", float(squares[2]), 4.0, 0.0, "I"),
                Comparison.between("largest square", float(max(squares)), 0.0, 1.0, "M", note="planted disagreement"),
                Comparison("untested claim", None, "rises", "P", "not judged here", None),
                Comparison.measured(
                    "mean square above 1",
                    Estimate.mean_of(squares),
                    ">",
                    1.0,
                    None,
                    "I",
                    control=Estimate.mean_of([0.0 for _ in squares]),
                    control_label="all-zero squares",
                ),
                Comparison.measured(
                    "largest square positive",
                    Estimate(max(squares), 0.1, method="normal"),
                    ">",
                    0.0,
                    None,
                    "I",
                    control=Estimate(min(squares) + 1, 0.1, method="normal"),
                    control_label="smallest square plus one",
                ),
                Comparison.measured("largest square above 3", Estimate.exact(max(squares)), ">", 3.0, None, "I"),
            ],
        )
