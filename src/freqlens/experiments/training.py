"""The training recipe: ``freqlens train`` as a one-cell run (the cell's training is the shared trained-model run).

Its cells come from the caller (:func:`freqlens.commands.run_training` plans one); ``Training()`` has none, so
``reproduce training`` runs nothing. A cell's config is ``{"train": <training config>}``: the runner trains it into
``<runs>/train/<label>-<hash>/`` (the same folder a recipe needing that model uses, so either reuses the other's),
and :meth:`Training.run_cell` reads that run's per-epoch records back. The summary gives the curves figure and one
table row per epoch, so ``freqlens report`` shows a training like any analysis.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from freqlens import runs
from freqlens.experiments.base import Cell, CellResult, Context, Figure, Recipe, Summary, Table, register_recipe
from freqlens.experiments.common import epochs
from freqlens.trained import train_run_dir

CURVES = "curves.png"
COLUMNS = ("epoch", "train_loss", "train_acc", "test_acc")


def _row(record: dict[str, Any]) -> list[Any]:
    """One epoch: loss and accuracies, then the test LFC/HFC accuracy per radius when the run logged them."""
    row = [record.get(key) for key in COLUMNS]
    for key in ("test_lfc_acc", "test_hfc_acc"):
        row.append(" ".join(f"{v:.3f}" for v in record.get(key, [])) or "—")
    return row


@register_recipe
class Training(Recipe):
    """Train one configuration (cells planned by :func:`freqlens.commands.run_training`)."""

    name = "training"
    title = "Training runs: per-epoch loss, accuracy and test LFC/HFC accuracy"
    in_all = False

    def __init__(self, cells: list[Cell] | None = None) -> None:
        self._cells = list(cells or [])

    def cells(self, profile: str) -> list[Cell]:
        return list(self._cells)

    def run_cell(self, cell: Cell, run_dir: Path, ctx: Context) -> dict[str, Any]:
        trained = train_run_dir(ctx.runs_root, cell.config["train"])
        records = epochs(trained)
        curves = trained / runs.TRAIN_KIND / CURVES
        if curves.is_file():
            shutil.copyfile(curves, run_dir / CURVES)
        return {
            "train_run": str(trained),
            "model": str(trained / runs.TRAIN_KIND / "model.pt"),
            "epochs": records,
            "final": records[-1] if records else {},
            "figures": {"curves": CURVES} if curves.is_file() else {},
        }

    def summarize(self, results: list[CellResult], out_dir: Path, ctx: Context) -> Summary:
        figures, tables = [], []
        for result in results:
            s = result.summary
            radii = s["final"].get("radii", [])
            if s["figures"]:
                name = f"{result.cell.name}_{CURVES}"
                shutil.copyfile(result.run_dir / CURVES, out_dir / name)
                figures.append(Figure(name, f"**{result.cell.name}**: per-epoch curves ({s['model']})"))
            columns = [*COLUMNS, f"test LFC acc, r = {radii}", f"test HFC acc, r = {radii}"]
            tables.append(Table(f"{result.cell.name}: per epoch", columns, [_row(r) for r in s["epochs"]]))
        text = "Each training's run folder: " + ", ".join(f"`{r.summary['train_run']}`" for r in results) + "."
        return Summary(self.name, self.title, (), text=text, figures=figures, tables=tables)
