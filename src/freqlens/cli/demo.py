"""``freqlens demo``: offline, minutes on a CPU, known ground truth (see :mod:`freqlens.experiments.demo`)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from freqlens.cli import app
from freqlens.cli.common import DeviceOpt, resolve_device
from freqlens.cli.reproduce import ExecutorOpt, SlurmOpt, parse_pairs
from freqlens.errors import Interrupted


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Report and run folders go here.")] = Path("out/demo"),
    device: DeviceOpt = "auto",
    executor: ExecutorOpt = "inline",
    slurm: SlurmOpt = None,
) -> None:
    """Train a small CNN on synthetic images whose label is an invisible high-frequency pattern, and show that the
    toolkit catches it reading that pattern (HFC accuracy high, LFC accuracy at chance, sensitivity at the cue).

    Examples:
      freqlens demo -o out/demo
      freqlens demo -o out/demo --executor submitit:slurm --slurm slurm_partition=ci --slurm cpus_per_task=1
    """
    from freqlens.executors import make_executor
    from freqlens.experiments import Context
    from freqlens.report import LABELS
    from freqlens.runner import kept_message, reproduce
    from freqlens.verdicts import AGREE, MARKS

    dev = str(resolve_device(device))
    ctx = Context(runs_root=out / "runs", profile="quick", device=dev, executor=executor)
    runner = make_executor(executor, ctx.runs_root / "_submitit", dev, parse_pairs(slurm or [], "--slurm"))
    again = ["freqlens", "demo", "--out", str(out), "--device", device, "--executor", executor]
    again += [f"--slurm={pair}" for pair in slurm or []]
    try:
        done = reproduce(["demo"], ctx, runner, out)
    except KeyboardInterrupt:
        raise Interrupted(kept_message(["demo"], ctx, again)) from None
    (outcome,) = done.outcomes
    if outcome.errors or outcome.summary is None:
        for error in outcome.errors:
            typer.echo(error, err=True)
        typer.echo(f"finished work is kept, so this redoes only what failed: {shlex.join(again)}", err=True)
        raise typer.Exit(1)
    summary = outcome.summary
    typer.echo(summary.text)
    for c in summary.comparisons:
        ours = f"{c.ours:.3f}" if isinstance(c.ours, float) else c.ours
        typer.echo(f"  {MARKS[c.status]} {LABELS[c.status]} {c.claim}: {ours} (expected {c.expectation})")
    typer.echo(f"report: {done.html}")
    if not all(c.status == AGREE for c in summary.comparisons):
        raise typer.Exit(1)
