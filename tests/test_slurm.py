"""The submitit executor against a real SLURM cluster (``../shared/tools/slurm_single_node.sh start``, as ``.ci/run``
does): results as inline, provenance, and every fault a cluster user meets — cancel, kill, time limit, sbatch
rejection, a job lost without accounting, Ctrl-C, a rerun while jobs still run — each a named result, never a hang.

Run with ``scripts/test.sh slurm`` (all of them) or ``pytest -m "slurm and not slow"`` (the faults .ci/run checks:
cancel, kill, time limit, sbatch rejection, a job lost without accounting); without a cluster every test skips,
naming why.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import slurm_work
import toy_recipe
from freqlens import slurm
from freqlens.executors import JobFailed, SubmititExecutor
from freqlens.runner import train_job
from freqlens.trained import train_run_dir

TESTS = Path(__file__).resolve().parent
START = "bash ../shared/tools/slurm_single_node.sh start (SLURM_CI_ACCOUNTING=1 for sacct), as .ci/run does"
RUN_CLI = "import sys; sys.path.insert(0, sys.argv.pop(1)); import toy_recipe; from freqlens.cli import main; "
RUN_CLI += "sys.exit(main(sys.argv[1:]))"
FAST = {"poll_s": 0.5}  # poll the queue often: these jobs take seconds


@functools.cache
def _cluster_problem() -> str | None:
    """Why no SLURM cluster can run these tests here, or ``None`` (asked once, when a test first runs)."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "no SLURM client commands (sinfo, sbatch) here"
    try:
        done = subprocess.run(["sinfo", "--noheader", "--format=%t"], capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return "sinfo timed out: no SLURM controller answers"
    if done.returncode != 0:
        return f"no SLURM controller answers ({done.stderr.strip().splitlines()[-1:]})"
    if not {"idle", "mix", "alloc"} & set(done.stdout.split()):
        return f"no usable SLURM node (states: {done.stdout.split()})"
    return None


pytestmark = pytest.mark.slurm


@pytest.fixture(autouse=True)
def on_the_cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Skip without a cluster; jobs import this folder's modules (sbatch passes the environment on), one thread."""
    problem = _cluster_problem()
    if problem is not None:
        pytest.skip(f"{problem}; start one with {START}")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = set(_mine())
    yield
    left = set(_mine()) - before
    if left:  # never leave a job behind, even when a test fails
        slurm.cancel(left)


@pytest.fixture
def accounting() -> None:
    problem = slurm.accounting_problem()
    if problem:
        pytest.skip(f"sacct does not work here ({problem}); start the cluster with SLURM_CI_ACCOUNTING=1")


def _mine() -> list[str]:
    try:
        return list(slurm.queue())
    except Exception:
        return []


def _wait(condition: Callable[[], Any], timeout: float = 90, what: str = "the condition") -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what} not reached in {timeout} s"
        time.sleep(0.2)
    return value


def _cli(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``freqlens ARGS`` in a child that takes SIGINT as from a terminal's Ctrl-C."""
    return subprocess.Popen(
        [sys.executable, "-c", RUN_CLI, str(TESTS), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _reproduce(runs: Path, out: Path, *extra: str) -> list[str]:
    return ["reproduce", "toy", "--runs", str(runs), "--out", str(out), "--device", "cpu", "--executor",
            "submitit:slurm", "--slurm", "cpus_per_task=1", "--slurm", "timeout_min=5", *extra]  # fmt: skip


def _job_of(runs: Path, cell: str) -> str:
    """The job id the ledger records for the toy cell ``cell``."""
    ledger = slurm.Ledger(runs / "_submitit").read()
    (job,) = [job for label, job in ledger.items() if label.startswith(f"toy/{cell}-")]
    return job


def _squares(out: Path) -> list[int]:
    table = json.loads((out / "toy" / "summary.json").read_text())["tables"][0]
    return [row[1] for row in table["rows"]]


def test_cancelled_and_killed_jobs_are_named_failures_and_the_rest_finish(tmp_path: Path, accounting: None) -> None:
    """x1's job is cancelled (scancel), x2's process killed as the OOM killer does (SIGKILL): each is one line naming
    the cell, job id, state and cause; x0 finishes; the report is written; the printed command redoes x1 and x2, to
    the inline results, each run folder naming its job."""
    runs, out = tmp_path / "runs", tmp_path / "out"
    child = _cli(_reproduce(runs, out), {toy_recipe.WAIT_ENV: "x1,x2"})
    pid_file = _wait(lambda: list(runs.glob(f"toy/x2-*/{toy_recipe.WAITING}")), what="x2 running")[0]
    _wait(lambda: list(runs.glob(f"toy/x1-*/{toy_recipe.WAITING}")), what="x1 running")
    cancelled, killed = _job_of(runs, "x1"), _job_of(runs, "x2")
    subprocess.run(["scancel", cancelled], check=True)
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    t0 = time.monotonic()
    _, err = child.communicate(timeout=90)
    assert time.monotonic() - t0 < 30  # named within seconds of the end (sacct knows), not after the grace period
    assert child.returncode == 1 and "Traceback" not in err
    failed = [line for line in err.splitlines() if line.startswith("FAILED")]
    print(*failed, sep="\n")  # what a user sees (pytest -rP shows it)
    assert len(failed) == 2, err
    assert f"job {cancelled} CANCELLED" in failed[0] and "cancelled (scancel" in failed[0] and "cell x1" in failed[0]
    assert f"job {killed} FAILED" in failed[1] and "killed by SIGKILL" in failed[1] and "cell x2" in failed[1]
    assert (out / "report.html").is_file()
    assert sorted(p.name[:2] for p in runs.glob("toy/*") if (p / "summary.json").is_file()) == ["x0"]
    again = shlex.split(err.rstrip().splitlines()[-1].split("redoes only the failed ones: ")[1])
    rerun = _cli(again[1:])
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert _squares(out) == [0, 1, 4]  # as inline (tests/test_runs.py)
    meta = json.loads((out / "reproduce.json").read_text())
    assert meta["cells_run_now"] == 2 and meta["executor_spec"]["accounting"] is True
    assert meta["executor_spec"]["name"] == "submitit:slurm" and meta["executor_spec"]["parameters"] == {
        "timeout_min": 5, "cpus_per_task": 1}  # fmt: skip
    jobs = set()
    for folder in sorted(runs.glob("toy/*")):
        job = json.loads((folder / "config.json").read_text())["provenance"]["job"]
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["_job"]["job_id"] == job["job_id"] and summary["threads"] == 1  # from SLURM_CPUS_PER_TASK
        assert job["cpus_per_task"] == 1 and job["job_name"] == "freqlens-cells" and job["host"] and job["partition"]
        assert job["job_id"].endswith(f"_{job['array_index']}")
        jobs.add(job["job_id"])
    assert len(jobs) == 3 and not slurm.Ledger(runs / "_submitit").read()  # finished items leave the ledger


def test_a_job_cancelled_without_accounting_is_lost_within_the_grace_period(tmp_path: Path) -> None:
    """The planted hang of the issue: with no sacct to say why, a job that left the queue without a result is
    declared lost once the grace period has passed, in one line naming it; the other job's result comes back."""
    executor = SubmititExecutor(
        tmp_path / "logs", "slurm", {"timeout_min": 5, "cpus_per_task": 1}, grace_s=8, accounting=False, **FAST
    )
    items = [{"dir": str(tmp_path), "name": name, "seconds": s} for name, s in (("short", 1), ("long", 120))]
    found: dict[str, float] = {}

    def cancel_long() -> None:
        _wait(lambda: (tmp_path / f"long.{slurm_work.STARTED}").is_file(), what="the long job running")
        (job,) = [j for label, j in slurm.Ledger(tmp_path / "logs").read().items() if label == "long"]
        subprocess.run(["scancel", job], check=True)
        found["cancelled"] = time.monotonic()
        found["job"] = job  # type: ignore[assignment]

    thread = threading.Thread(target=cancel_long)
    thread.start()
    short, long = executor.map(slurm_work.nap, items, "naps", ["short", "long"])
    ended = time.monotonic()
    thread.join()
    assert short == {"name": "short", "restarts": 0}
    assert (
        isinstance(long, JobFailed)
        and f"long: job {found['job']} LOST: left the queue without a result" in long.message
    )
    print(long.message)
    assert "no accounting to say why" in long.message and "\n" not in long.message
    assert 8 <= ended - found["cancelled"] < 8 + 10  # the grace period, plus polling and scancel's own delay


def test_a_time_limit_is_named_as_such(tmp_path: Path) -> None:
    """A real SLURM time limit (1 min, warned 50 s before) with no requeue left: the failure names the limit."""
    params = {"timeout_min": 1, "cpus_per_task": 1, "slurm_signal_delay_s": 50, "max_num_timeout": 0}
    executor = SubmititExecutor(tmp_path / "logs", "slurm", params, grace_s=30, **FAST)
    (result,) = executor.map(slurm_work.nap, [{"dir": str(tmp_path), "name": "slow", "seconds": 300}], "naps", ["slow"])
    assert isinstance(result, JobFailed), result
    print(result.message)
    assert "slow: job " in result.message and " TIMEOUT" in result.message
    assert "hit its time limit of 1 min (raise --slurm timeout_min=...)" in result.message


@pytest.mark.slow  # .ci/run leaves it out to stay short; scripts/test.sh slurm runs it
def test_a_training_at_its_time_limit_is_requeued_and_resumes(tmp_path: Path) -> None:
    """SLURM's time-limit warning (USR2, sent here with scancel --signal as SLURM does at timeout - signal_delay_s)
    after the first epoch's checkpoint: submitit requeues the job, which resumes the training to the end."""
    train = {"data": "synthetic:powerlaw?n=2048&size=16&classes=2&spread=2", "epochs": 4, "batch_size": 32,
             "model_kwargs": {"width": 8}, "eval_radii": [], "seed": 0}  # fmt: skip
    ctx = {"runs_root": str(tmp_path / "runs"), "profile": "quick", "device": "cpu", "progress": False}
    executor = SubmititExecutor(tmp_path / "logs", "slurm", {"timeout_min": 5, "cpus_per_task": 1}, **FAST)
    run = train_run_dir(tmp_path / "runs", train)

    def warn_then_release() -> None:
        _wait(lambda: (run / "train" / "checkpoint.pt").is_file(), timeout=120, what="the first epoch's checkpoint")
        (job,) = slurm.Ledger(tmp_path / "logs").read().values()
        subprocess.run(["scancel", "--signal=USR2", job], check=True)
        # a requeued job waits a while before it may start again; let it start now
        _wait(lambda: slurm.queue().get(job) == "PENDING", what="the job requeued")
        subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)

    thread = threading.Thread(target=warn_then_release)
    thread.start()
    (result,) = executor.map(train_job, [{"train": train, "ctx": ctx}], "training", ["train"])
    thread.join()
    assert result == {"ok": True, "path": str(run)}
    epochs = [json.loads(line)["epoch"] for line in (run / "train" / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3, 4]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 4 and summary["_job"]["restarts"] == 1
    assert slurm.requeues(executor.folder / f"{summary['_job']['job_id']}_0_log.err") == 1


def test_an_sbatch_rejection_fails_every_cell_in_one_line(tmp_path: Path) -> None:
    runs, out = tmp_path / "runs", tmp_path / "out"
    child = _cli([*_reproduce(runs, out), "--slurm", "slurm_partition=gpu"])
    _, err = child.communicate(timeout=60)
    failed = [line for line in err.splitlines() if line.startswith("FAILED")]
    print(*failed, sep="\n")
    assert child.returncode == 1 and "Traceback" not in err and len(failed) == 3
    assert all("not submitted: sbatch rejected the job array: sbatch: error: " in line for line in failed)
    assert "invalid partition" in failed[0].lower() and (out / "report.html").is_file()


@pytest.mark.slow  # .ci/run leaves it out to stay short; scripts/test.sh slurm runs it
def test_ctrl_c_cancels_the_jobs_or_names_them_and_a_rerun_follows_them(tmp_path: Path) -> None:
    runs, out = tmp_path / "runs", tmp_path / "out"
    env = {toy_recipe.WAIT_ENV: "x1"}
    # default: Ctrl-C cancels the jobs still queued, naming them
    child = _cli(_reproduce(runs, out), env)
    _wait(lambda: list(runs.glob(f"toy/x1-*/{toy_recipe.WAITING}")), what="x1 running")
    job = _job_of(runs, "x1")
    _wait(lambda: list(slurm.queue()) == [job], what="x0 and x2 out of the queue")
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130 and "Traceback" not in err
    assert f"cancelled 1 queued or running jobs: scancel {job}" in err
    _wait(lambda: job not in slurm.queue(), timeout=30, what="the job cancelled")
    # --keep-jobs: the job stays and its scancel command is printed; a rerun follows it instead of submitting it
    for stale in runs.glob(f"toy/x1-*/{toy_recipe.WAITING}"):
        stale.unlink()
    child = _cli([*_reproduce(runs, out), "--keep-jobs"], env)
    _wait(lambda: list(runs.glob(f"toy/x1-*/{toy_recipe.WAITING}")), what="x1 running again")
    job = _job_of(runs, "x1")
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130 and f"to stop them: scancel {job}" in err
    assert slurm.queue().get(job) == "RUNNING"
    rerun = _cli([*_reproduce(runs, out), "--time-cap", "0.1"], env)
    _, err = rerun.communicate(timeout=90)
    assert f"1 of 1 cells still queued from an earlier run are followed, not submitted again: {job}" in err
    assert rerun.returncode == 1 and f"job {job} RUNNING: not finished within the time cap of 0.1 min" in err
    _wait(lambda: job not in slurm.queue(), timeout=30, what="the capped job cancelled")
