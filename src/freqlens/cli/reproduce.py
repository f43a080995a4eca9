"""``freqlens reproduce``: run the papers' experiments (recipes) and build the report."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from freqlens.cli import app
from freqlens.cli.common import DataDirOpt, DeviceOpt, resolve_device
from freqlens.errors import FreqlensError, Interrupted
from freqlens.experiments.base import PROFILES, Context
from freqlens.report import load_summaries, score_line
from freqlens.verdicts import MARKS, STATUSES

RunsOpt = Annotated[
    Path | None,
    typer.Option("--runs", help="Runs root: run folders and index.sqlite (default $FREQLENS_RUNS or out/runs)."),
]


def runs_root(runs: Path | None) -> Path:
    """The runs root the CLI uses: ``--runs``, else ``$FREQLENS_RUNS``, else ``out/runs``."""
    return runs if runs is not None else Path(os.environ.get("FREQLENS_RUNS", "out/runs"))


def parse_pairs(pairs: list[str], what: str) -> dict[str, object]:
    """``key=value`` strings to a dict; values are read as JSON where they parse (numbers, true), else as text."""
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise FreqlensError(f"{what} {pair!r} must look like key=value")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


@app.command()
def reproduce(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Recipes to run, or all (default). 'quick'/'cpu'/'paper' set the profile."),
    ] = None,
    profile: Annotated[
        str, typer.Option(help="quick (CPU minutes), cpu (CPU hours, use with --seeds 3) or paper (GPU).")
    ] = "",
    device: DeviceOpt = "auto",
    data_dir: DataDirOpt = None,
    executor: Annotated[
        str, typer.Option(help="inline, pool, pool:N, submitit:slurm or submitit:local (see freqlens.executors).")
    ] = "inline",
    slurm: Annotated[
        list[str] | None, typer.Option(help="submitit parameter key=value, repeatable (slurm_partition=gpu, ...).")
    ] = None,
    runs: RunsOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Summaries and report (default out/<profile>).")
    ] = None,
    seeds: Annotated[
        int, typer.Option(help="Independent training seeds per cell; verdicts then read the spread across seeds.")
    ] = 1,
    first_seed: Annotated[
        int,
        typer.Option(help="First replicate: 0 uses the recipes' seeds, K shifts every seed by 1000 K (another draw)."),
    ] = 0,
    list_only: Annotated[bool, typer.Option("--list", help="List the recipes and their cells, run nothing.")] = False,
) -> None:
    """Reproduce the papers' figures and tables; finished cells are skipped, interrupted ones resumed.

    Examples:
      freqlens reproduce quick --data-dir ../shared/data/cifar10
      freqlens reproduce hfc-e4 --profile paper --device cuda --executor pool
      freqlens reproduce paper --executor submitit:slurm --slurm slurm_partition=gpu --slurm gpus_per_node=1
    """
    from freqlens.executors import make_executor
    from freqlens.experiments import get_recipe, list_recipes
    from freqlens.runner import kept_message
    from freqlens.runner import reproduce as run_recipes

    chosen = list(names or [])
    profiles = [n for n in chosen if n in PROFILES]
    if len(set(profiles)) > 1 or (profiles and profile and profile != profiles[0]):
        raise FreqlensError(f"conflicting profiles {sorted({*profiles, profile} - {''})}; give one")
    profile = profile or (profiles[0] if profiles else "quick")
    chosen = [n for n in chosen if n not in PROFILES]
    if not chosen or chosen == ["all"]:
        chosen = list_recipes()
    elif "all" in chosen:
        raise FreqlensError("give either 'all' or recipe names, not both")
    recipes = [get_recipe(n) for n in chosen]
    if list_only:
        for r in recipes:
            cells = r.cells(profile)
            typer.echo(f"{r.name:14s} {len(cells):3d} cells  {r.title}")
        return
    root = runs_root(runs)
    out_dir = out if out is not None else Path("out") / profile
    dev = str(resolve_device(device))
    ctx = Context(
        runs_root=root,
        profile=profile,
        device=dev,
        data_dir=data_dir,
        executor=executor,
        seeds=seeds,
        first_seed=first_seed,
    )
    runner = make_executor(executor, root / "_submitit", dev, parse_pairs(slurm or [], "--slurm"))
    typer.echo(
        f"reproducing {', '.join(chosen)} (profile {profile}, device {dev}, executor {executor}); runs in {root}"
    )
    try:
        done = run_recipes(chosen, ctx, runner, out_dir)
    except KeyboardInterrupt:
        again = ["freqlens", "reproduce", *chosen, "--profile", profile, "--runs", str(root), "--out", str(out_dir)]
        again += ["--device", device] + (["--data-dir", str(data_dir)] if data_dir is not None else [])
        again += ["--executor", executor] + [f"--slurm={pair}" for pair in slurm or []]
        again += ["--seeds", str(seeds)] if seeds > 1 else []
        again += ["--first-seed", str(first_seed)] if first_seed else []
        raise Interrupted(kept_message(chosen, ctx, again)) from None
    failed = 0
    for o in done.outcomes:
        if o.errors:
            failed += 1
            typer.echo(f"FAILED  {o.recipe}: " + o.errors[0].splitlines()[-1], err=True)
        elif o.summary is not None:
            statuses = [c.status for c in o.summary.comparisons]
            marks = "  ".join(f"{MARKS[st]} {statuses.count(st)}" for st in STATUSES)
            typer.echo(f"ok      {o.recipe:22s} {o.cells:3d} cells   {marks}")
    typer.echo(score_line(load_summaries(out_dir)))
    typer.echo(f"report: {done.html} and {done.md}")
    if failed:
        raise typer.Exit(1)
