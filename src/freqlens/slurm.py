"""SLURM as freqlens sees it: the job a process runs in, the queue (``squeue``), accounting (``sacct``), ``scancel``,
and the ledger of submitted jobs kept in the runs root.

The driver never trusts one source alone: a job is *queued* while ``squeue`` lists it, *done* once its result file
exists, and otherwise *gone*; ``sacct`` (when the cluster keeps accounting) names why a gone job ended. Every command
has a timeout, so a slow or dead controller is an error message, never a hang.

Example:
    >>> explain("OUT_OF_MEMORY", {"timeout_min": 30})
    'out of memory: killed for using more memory than it requested (raise --slurm mem_gb=...)'
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from freqlens.errors import FreqlensError

COMMAND_TIMEOUT_S = 30
# states a job has while squeue lists it (https://slurm.schedmd.com/squeue.html#SECTION_JOB-STATE-CODES)
RUNNING_STATES = ("RUNNING", "COMPLETING", "CONFIGURING", "STAGE_OUT", "SIGNALING", "RESIZING")
_CAUSES = {
    "CANCELLED": "cancelled (scancel by a user or an administrator)",
    "FAILED": "the job exited with an error",
    "OUT_OF_MEMORY": "out of memory: killed for using more memory than it requested (raise --slurm mem_gb=...)",
    "TIMEOUT": "hit its time limit of {timeout_min} min (raise --slurm timeout_min=...)",
    "NODE_FAIL": "its node failed",
    "BOOT_FAIL": "its node failed to boot",
    "PREEMPTED": "preempted by a higher-priority job",
    "DEADLINE": "passed its deadline",
    "COMPLETED": "the job ended but wrote no result (look at its log)",
}


def explain(state: str, parameters: Mapping[str, Any]) -> str:
    """The cause a SLURM end state stands for, in words that name the fix (``parameters``: the job's submitit ones).

    Example:
        >>> explain("TIMEOUT", {"timeout_min": 5})
        'hit its time limit of 5 min (raise --slurm timeout_min=...)'
        >>> explain("FAILED exit 9:0", {})
        'killed by SIGKILL (as the out-of-memory killer does; raise --slurm mem_gb=...)'
    """
    word = state.split()[0] if state else "UNKNOWN"
    codes = set(re.findall(r"\d+", state.split("exit", 1)[1])) if "exit" in state else set()
    if word == "FAILED" and codes & {"9", "137"}:
        cause = "killed by SIGKILL (as the out-of-memory killer does; raise --slurm mem_gb=...)"
    elif word == "FAILED" and "12" in codes:
        cause = "killed by SIGUSR2, its time-limit warning, before it could requeue (raise --slurm timeout_min=...)"
    else:
        cause = _CAUSES.get(word, f"ended in state {state}")
    return cause.format(timeout_min=parameters.get("timeout_min", "?"))


def job_info() -> dict[str, Any] | None:
    """The SLURM job this process runs in (job id, array index, host, partition, CPUs, restarts), or ``None``.

    Example:
        >>> import os; "SLURM_JOB_ID" in os.environ or job_info() is None
        True
    """
    env = os.environ
    if "SLURM_JOB_ID" not in env:
        return None
    array = env.get("SLURM_ARRAY_JOB_ID")
    task = env.get("SLURM_ARRAY_TASK_ID")
    return {
        "scheduler": "slurm",
        "job_id": f"{array}_{task}" if array and task else env["SLURM_JOB_ID"],
        "raw_job_id": env["SLURM_JOB_ID"],
        "array_index": int(task) if task else None,
        "job_name": env.get("SLURM_JOB_NAME"),
        "host": env.get("SLURMD_NODENAME", socket.gethostname()),
        "partition": env.get("SLURM_JOB_PARTITION"),
        "cpus_per_task": cpus_per_task(),
        "restarts": int(env.get("SLURM_RESTART_COUNT", "0")),
    }


def cpus_per_task() -> int | None:
    """``SLURM_CPUS_PER_TASK`` as a number (the CPUs this job may use), or ``None`` outside SLURM or when unset."""
    value = os.environ.get("SLURM_CPUS_PER_TASK", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(command, 127, "", f"{command[0]}: {exc}")


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"


JOB_PREFIX = "freqlens-"  # every job freqlens submits is named freqlens-<what> (freqlens-training, freqlens-cells)


def queue() -> dict[str, str]:
    """This user's freqlens jobs in the queue, ``{job id: state}`` (array tasks one by one, as ``12_3``); only jobs
    named ``freqlens-*``, so a ledger's job id reused by another job after a cluster reset is not taken for ours.

    Raises :class:`FreqlensError` when ``squeue`` fails (controller down, no SLURM here).
    """
    done = _run(["squeue", "--me", "--noheader", "--array", "--format=%i|%T|%j"])
    if done.returncode != 0:
        raise FreqlensError(f"squeue failed: {_one_line(done.stderr)}")
    states = {}
    for line in done.stdout.splitlines():
        job, state, name = [*line.strip().split("|", 2), "", ""][:3]
        if job and name.startswith(JOB_PREFIX):
            states[job] = state
    return states


def accounting_problem() -> str | None:
    """Why ``sacct`` cannot tell how jobs ended here (no accounting storage, no command), or ``None`` if it can."""
    done = _run(["sacct", "--noheader", "--allocations", "--jobs=1", "--format=JobID"])
    if done.returncode != 0 or "disabled" in done.stderr:
        return _one_line(done.stderr)
    return None


def accounting(jobs: Iterable[str]) -> dict[str, str]:
    """``{job id: end state}`` from ``sacct`` for ``jobs``, with the exit code unless it is 0:0 (e.g. ``CANCELLED by
    0``, ``FAILED exit 9:0``, ``TIMEOUT``); empty when ``sacct`` fails."""
    ids = sorted({job.split("_")[0] for job in jobs})
    if not ids:
        return {}
    command = ["sacct", "--noheader", "--parsable2", "--allocations", f"--jobs={','.join(ids)}"]
    done = _run([*command, "--format=JobID,State,ExitCode"])
    if done.returncode != 0:
        return {}
    states = {}
    for line in done.stdout.splitlines():
        job, state, code = [*line.strip().split("|"), "", ""][:3]
        if job:
            states[job] = state if code in ("", "0:0") else f"{state} exit {code}"
    return states


def requeues(log: Path) -> int:
    """How many times the job whose SLURM error log is ``log`` was requeued (slurmstepd notes each one there)."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return 0
    return len(re.findall(r"\*\*\* JOB \S+ ON \S+ CANCELLED AT \S+ DUE TO JOB REQUEUE", text))  # not its STEP lines


def cancel(jobs: Iterable[str]) -> str:
    """``scancel`` the jobs; returns the command as a user would type it (and an error line if it failed)."""
    command = ["scancel", *sorted(jobs)]
    done = _run(command)
    shown = " ".join(command)
    return shown if done.returncode == 0 else f"{shown} (failed: {_one_line(done.stderr)})"


class Ledger:
    """``<folder>/jobs.json``: which job runs which work item (by its label), so that a second driver on the same
    runs root (or a rerun after Ctrl-C) follows a job still in the queue instead of submitting the item again.

    Example:
        >>> import tempfile; ledger = Ledger(Path(tempfile.mkdtemp()))
        >>> with ledger.held() as jobs:
        ...     jobs["godfrey-depth/d3-0a1b2c3d4e5f"] = "12_3"
        >>> ledger.read()
        {'godfrey-depth/d3-0a1b2c3d4e5f': '12_3'}
    """

    def __init__(self, folder: Path) -> None:
        self.file = Path(folder) / "jobs.json"

    def read(self) -> dict[str, str]:
        """The recorded ``{label: job id}`` (empty when there is none or it is damaged)."""
        try:
            data = json.loads(self.file.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    @contextlib.contextmanager
    def held(self) -> Iterator[dict[str, str]]:
        """The ledger under an exclusive lock; what the caller leaves in the dict is written back."""
        import fcntl

        self.file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.file.with_suffix(".lock"), "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                jobs = self.read()
                yield jobs
                tmp = self.file.with_suffix(f".{os.getpid()}.{time.time_ns()}.tmp")
                tmp.write_text(json.dumps(jobs, indent=1, sort_keys=True))
                tmp.replace(self.file)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
