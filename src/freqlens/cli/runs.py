"""``freqlens runs``: list and filter the run index."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from freqlens.cli import app
from freqlens.cli.reproduce import RunsOpt, parse_pairs, runs_root
from freqlens.runs import distinguishing


@app.command()
def runs(
    kind: Annotated[str | None, typer.Option("--recipe", help="Only runs of this recipe (or 'train').")] = None,
    status: Annotated[str | None, typer.Option(help="done, incomplete or damaged.")] = None,
    name: Annotated[str | None, typer.Option(help="Cell name pattern, SQL LIKE (% is a wildcard).")] = None,
    where: Annotated[
        list[str] | None, typer.Option(help="config filter path=value, repeatable (e.g. train.model=small_cnn).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the rows as JSON lines, with config and summary.")
    ] = False,
    runs: RunsOpt = None,
) -> None:
    """List runs from the index (rebuilt from the run folders only when it is stale or unreadable).

    Examples:
      freqlens runs --recipe train --status done
      freqlens runs --recipe hfc-e4 --where train.train_view=lfc:8:max --json

    Runs of one recipe that share a cell name are told apart by a line under each: the config keys (as --where
    takes them) whose values differ.
    """
    from freqlens.runner import list_runs

    root = runs_root(runs)
    rows = list_runs(root, kind=kind, status=status, where=parse_pairs(where or [], "--where"), name=name)
    if as_json:
        for row in rows:
            row["config"] = json.loads(row["config"]) if row["config"] else None
            row["summary"] = json.loads(row["summary"]) if row["summary"] else None
            typer.echo(json.dumps(row))
        return
    # under each row, the config keys that tell it apart from the rows of the same recipe and cell name
    differs: dict[int, dict[str, object]] = {}
    for group in {(r["kind"], r["name"]) for r in rows}:
        same = [r for r in rows if (r["kind"], r["name"]) == group]
        configs = [json.loads(r["config"]) if r["config"] else None for r in same]
        shown = distinguishing(configs) if len(same) > 1 else [{}]
        differs.update((id(r), d) for r, d in zip(same, shown, strict=True))
    typer.echo(f"{'recipe':14s} {'cell':28s} {'status':10s} {'seconds':>8s}  key          path")
    for row in rows:
        seconds = f"{row['seconds']:.1f}" if row["seconds"] is not None else "-"
        key = (row["key"] or "?")[:12]
        problem = f"  ({row['problem']})" if row["problem"] else ""
        line = f"{row['kind']:14s} {row['name']:28s} {row['status']:10s} {seconds:>8s}  {key:12s} {row['path']}"
        typer.echo(line + problem)
        if differs[id(row)]:
            typer.echo("    " + " ".join(f"{k}={json.dumps(v)}" for k, v in differs[id(row)].items()))
    typer.echo(f"{len(rows)} runs in {root}")
