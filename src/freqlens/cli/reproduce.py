"""``freqlens reproduce``: run the papers' experiments (recipes) and build the report."""

from __future__ import annotations

import json
import os
import shlex
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

ExecutorOpt = Annotated[
    str, typer.Option(help="inline, pool, pool:N, submitit:slurm or submitit:local (see freqlens.executors).")
]
SlurmOpt = Annotated[
    list[str] | None,
    typer.Option(help="submitit parameter key=value, repeatable (slurm_partition=ci, timeout_min=60, ...)."),
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
    executor: ExecutorOpt = "inline",
    slurm: SlurmOpt = None,
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
    time_cap: Annotated[
        float | None,
        typer.Option(help="Submitit: minutes to wait for all jobs; those unfinished then are cancelled and fail."),
    ] = None,
    lost_after: Annotated[
        float | None,
        typer.Option(help="Submitit: seconds after a job left the queue without a result before it is lost (60)."),
    ] = None,
    keep_jobs: Annotated[
        bool, typer.Option(help="Submitit: on Ctrl-C leave the queued jobs running (and print their scancel command).")
    ] = False,
    list_only: Annotated[bool, typer.Option("--list", help="List the recipes and their cells, run nothing.")] = False,
) -> None:
    """Reproduce the papers' figures and tables; finished cells are skipped, interrupted ones resumed.

    Examples:
      freqlens reproduce quick --data-dir ../shared/data/cifar10
      freqlens reproduce hfc-e4 --profile paper --device cuda --executor pool
      freqlens reproduce paper --executor submitit:slurm --slurm slurm_partition=gpu --time-cap 2880

    On SLURM (see the README, "Run on a SLURM cluster"), a job that fails, is cancelled, runs out of memory or time,
    or leaves the queue without a result is that cell's failure, named in one line; the others finish, the report is
    written, the exit code is 1 and the printed command redoes only the failed cells.
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
        planned = Context(Path("."), profile=profile, seeds=seeds, first_seed=first_seed)
        for r in recipes:
            runs_ = len(r.cells(profile)) * len(r.replicates(planned))
            typer.echo(f"{r.name:22s} {runs_:3d} cells  {r.title}")
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
    options: dict[str, object] = {}
    if time_cap is not None:
        options["time_cap_min"] = time_cap
    if lost_after is not None:
        options["grace_s"] = lost_after
    if keep_jobs:
        options["cancel_on_interrupt"] = False
    parameters = parse_pairs(slurm or [], "--slurm")
    runner = make_executor(executor, root / "_submitit", dev, parameters, profile, **options)
    typer.echo(
        f"reproducing {', '.join(chosen)} (profile {profile}, device {dev}, executor {executor}); runs in {root}"
    )
    again = ["freqlens", "reproduce", *chosen, "--profile", profile, "--runs", str(root), "--out", str(out_dir)]
    again += ["--device", device] + (["--data-dir", str(data_dir)] if data_dir is not None else [])
    again += ["--executor", executor] + [f"--slurm={pair}" for pair in slurm or []]
    again += ["--seeds", str(seeds)] if seeds > 1 else []
    again += ["--first-seed", str(first_seed)] if first_seed else []
    again += ["--time-cap", f"{time_cap:g}"] if time_cap is not None else []
    again += ["--lost-after", f"{lost_after:g}"] if lost_after is not None else []
    again += ["--keep-jobs"] if keep_jobs else []
    try:
        done = run_recipes(chosen, ctx, runner, out_dir)
    except KeyboardInterrupt:
        raise Interrupted(kept_message(chosen, ctx, again)) from None
    failed = 0
    for o in done.outcomes:
        if o.errors:
            failed += len(o.errors)
            for error in o.errors:  # one line each: a traceback's last line after what failed ("cell x0")
                lines = error.splitlines()
                line = lines[0] if len(lines) == 1 else f"{lines[0].split(': ', 1)[0]}: {lines[-1]}"
                typer.echo(f"FAILED  {o.recipe}: {line}", err=True)
        elif o.summary is not None:
            statuses = [c.status for c in o.summary.comparisons]
            marks = "  ".join(f"{MARKS[st]} {statuses.count(st)}" for st in STATUSES)
            typer.echo(f"ok      {o.recipe:22s} {o.cells:3d} cells   {marks}")
    typer.echo(score_line(load_summaries(out_dir)))
    typer.echo(f"report: {done.html} and {done.md}")
    if failed:
        typer.echo(
            f"{failed} failed; finished cells are kept, so this redoes only the failed ones: {shlex.join(again)}",
            err=True,
        )
        raise typer.Exit(1)
