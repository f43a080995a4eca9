"""``freqlens runs``: list and filter the run index."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from freqlens.cli import app
from freqlens.cli.reproduce import RunsOpt, parse_pairs, runs_root


@app.command()
def runs(
    kind: Annotated[str | None, typer.Option("--recipe", help="Only runs of this recipe (or 'train').")] = None,
    status: Annotated[str | None, typer.Option(help="done or incomplete.")] = None,
    name: Annotated[str | None, typer.Option(help="Cell name pattern, SQL LIKE (% is a wildcard).")] = None,
    where: Annotated[
        list[str] | None, typer.Option(help="config filter path=value, repeatable (e.g. train.model=small_cnn).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the rows as JSON lines, with config and summary.")
    ] = False,
    runs: RunsOpt = None,
) -> None:
    """List runs from the index (synced with the run folders first).

    Examples:
      freqlens runs --recipe train --status done
      freqlens runs --recipe hfc-e4 --where train.train_view=lfc:8:max --json
    """
    from freqlens.errors import FreqlensError
    from freqlens.runs import Index

    root = runs_root(runs)
    if not root.is_dir():
        raise FreqlensError(f"no runs root at {root}; run freqlens reproduce first or pass --runs DIR")
    if status is not None and status not in ("done", "incomplete"):
        raise FreqlensError(f"--status must be done or incomplete, got {status!r}")
    index = Index(root)
    index.sync()
    rows = index.query(kind=kind, status=status, where=parse_pairs(where or [], "--where"), name=name)
    if as_json:
        for row in rows:
            row["config"] = json.loads(row["config"])
            row["summary"] = json.loads(row["summary"]) if row["summary"] else None
            typer.echo(json.dumps(row))
        return
    typer.echo(f"{'recipe':14s} {'cell':28s} {'status':10s} {'seconds':>8s}  key          path")
    for row in rows:
        seconds = f"{row['seconds']:.1f}" if row["seconds"] is not None else "-"
        typer.echo(
            f"{row['kind']:14s} {row['name']:28s} {row['status']:10s} {seconds:>8s}  {row['key'][:12]} {row['path']}"
        )
    typer.echo(f"{len(rows)} runs in {root}")
