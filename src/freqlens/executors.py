"""Where cells run: in this process, in a local process pool, or as a SLURM job array through submitit.

All executors map a picklable top-level function over a list of payloads and return the results in order. Jobs
write into the shared runs root, so the folders and the index are the same whichever executor ran them.

=====================  ==========================================================================================
``inline``             one after another in this process (default; simplest to debug)
``pool`` / ``pool:N``  a local pool of N processes (default: one per GPU, else half the cores, 2 to 8); torch threads
                       split between them
``submitit:slurm``     a SLURM job array (needs ``pip install freqlens[cluster]``); ``--slurm key=value`` options
``submitit:local``     submitit's local executor: the same code path as SLURM, on this machine (used in tests)
=====================  ==========================================================================================
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tqdm.auto import tqdm

from freqlens import slurm
from freqlens.errors import FreqlensError

T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class JobFailed:
    """A job that ended without a result: one line naming the item, the job, its state and the cause."""

    message: str


class Executor(ABC):
    """Maps a function over payloads somewhere; results come back in payload order."""

    name: str = "executor"

    @abstractmethod
    def map(
        self, fn: Callable[[T], U], items: Sequence[T], desc: str = "", labels: Sequence[str] | None = None
    ) -> Sequence[U | JobFailed]:
        """``[fn(item) for item in items]``, possibly in parallel or on other machines; ``labels`` name the items
        in messages. A job that ends without a result (only possible off this machine) is a :class:`JobFailed`."""

    def spec(self) -> dict[str, Any]:
        """The executor's full configuration, for ``reproduce.json``."""
        return {"name": self.name}


class InlineExecutor(Executor):
    """Runs every job in this process, in order."""

    name = "inline"

    def map(
        self, fn: Callable[[T], U], items: Sequence[T], desc: str = "", labels: Sequence[str] | None = None
    ) -> list[U]:
        with tqdm(items, desc=desc, disable=len(items) < 2, leave=False) as bar:  # closed now even on Ctrl-C
            return [fn(item) for item in bar]


def _init_worker(threads: int, gpus: int, counter: Any) -> None:
    """Pool worker set-up: share the CPU threads, and pin one GPU per worker when there are several. Workers ignore
    Ctrl-C (the terminal sends it to them too): the parent stops them, so one interrupt gives one message."""
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    if gpus > 1:
        with counter.get_lock():
            slot = counter.value
            counter.value += 1
        os.environ["CUDA_VISIBLE_DEVICES"] = str(slot % gpus)


class PoolExecutor(Executor):
    """A local pool of ``workers`` processes (spawned, so CUDA is safe); each gets ``cpu_count // workers`` threads."""

    name = "pool"

    def __init__(self, workers: int | None = None, gpus: int = 0) -> None:
        self.workers = workers or gpus or min(8, max(2, (os.cpu_count() or 2) // 2))
        self.gpus = gpus
        if self.workers < 1:
            raise FreqlensError(f"a pool needs at least one worker, got {self.workers}")

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "workers": self.workers, "gpus": self.gpus}

    def map(
        self, fn: Callable[[T], U], items: Sequence[T], desc: str = "", labels: Sequence[str] | None = None
    ) -> list[U]:
        if not items:
            return []
        context = multiprocessing.get_context("spawn")
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        counter = context.Value("i", 0)
        results: dict[int, U] = {}
        with ProcessPoolExecutor(
            max_workers=min(self.workers, len(items)),
            mp_context=context,
            initializer=_init_worker,
            initargs=(threads, self.gpus, counter),
        ) as pool:
            futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
            try:
                for future in tqdm(as_completed(futures), total=len(futures), desc=desc, leave=False):
                    results[futures[future]] = future.result()
            except KeyboardInterrupt:  # stop the running jobs now (they resume from their run folders) and go
                for process in list((getattr(pool, "_processes", None) or {}).values()):
                    process.terminate()
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        return [results[i] for i in range(len(items))]


class _InJob:
    """What a submitit job calls: ``fn(item)`` with torch's threads set to the job's CPUs (``SLURM_CPUS_PER_TASK``).

    It is requeue-able: on a time limit (or preemption) submitit calls :meth:`checkpoint` and requeues the same call,
    which resumes from the run folder (trainings from their per-epoch checkpoint, cells start over).
    """

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn

    def __call__(self, item: Any) -> Any:
        import torch

        cpus = slurm.cpus_per_task()
        if cpus is not None:
            torch.set_num_threads(cpus)
        return self.fn(item)

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """The same call again, for submitit's requeue (progress is in the run folders, not in this object)."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)


def _count(states: Mapping[int, str]) -> str:
    order = ("pending", "running", "done", "failed")
    return " ".join(f"{name} {sum(1 for s in states.values() if s == name)}" for name in order)


class SubmititExecutor(Executor):
    """A submitit job array: ``cluster="slurm"`` on a cluster, ``"local"`` for the same path on this machine.

    ``parameters`` go to ``executor.update_parameters`` (e.g. ``slurm_partition``, ``gpus_per_node``,
    ``timeout_min``, ``cpus_per_task``, ``slurm_array_parallelism``); logs land in ``folder``, which (like the runs
    root and the Python environment) must be on a filesystem the compute nodes share.

    Jobs are collected as they finish. A job that fails or leaves the queue without a result becomes a
    :class:`JobFailed` naming its label, job id, state and cause, at most ``grace_s`` seconds after it left the queue
    (sooner when ``sacct`` names its end); ``time_cap_min`` bounds the whole wait. On Ctrl-C the jobs still queued are
    cancelled (``cancel_on_interrupt``) or their ``scancel`` command printed. On SLURM a ledger in ``folder`` maps
    labels to jobs, so that a rerun follows a labelled item's job still in the queue instead of submitting it again.
    """

    name = "submitit"

    def __init__(
        self,
        folder: Path,
        cluster: str = "slurm",
        parameters: Mapping[str, Any] | None = None,
        grace_s: float = 60.0,
        time_cap_min: float | None = None,
        cancel_on_interrupt: bool = True,
        accounting: bool | None = None,
        poll_s: float = 2.0,
    ) -> None:
        try:
            import submitit
        except ImportError:
            raise FreqlensError("the submitit executor needs submitit: pip install 'freqlens[slurm]'") from None
        if cluster not in ("slurm", "local"):
            raise FreqlensError(f"submitit cluster must be slurm or local, got {cluster!r}")
        if grace_s <= 0 or (time_cap_min is not None and time_cap_min <= 0):
            raise FreqlensError("the grace period and the time cap must be positive")
        self.folder = Path(folder)
        self.cluster = cluster
        self.parameters = dict(parameters or {})
        self.grace_s, self.time_cap_min, self.poll_s = grace_s, time_cap_min, poll_s
        self.cancel_on_interrupt = cancel_on_interrupt
        requeues = self.parameters.pop("max_num_timeout", None)  # submitit's constructor argument, not a parameter
        retries = {f"{cluster}_max_num_timeout": requeues} if requeues is not None else {}
        try:
            self._executor = submitit.AutoExecutor(folder=self.folder, cluster=cluster, **retries)
            self._executor.update_parameters(**self.parameters)
        except (ValueError, TypeError, RuntimeError) as exc:
            raise FreqlensError(f"bad submitit parameter or no {cluster} here: {str(exc).splitlines()[0]}") from None
        self.accounting = False
        if cluster == "slurm":
            problem = (
                slurm.accounting_problem() if accounting is None else ("accounting off" if not accounting else None)
            )
            self.accounting = problem is None
            if problem:
                tqdm.write(
                    f"warning: sacct cannot say how jobs end here ({problem}); a job that leaves the queue without "
                    f"a result is declared lost {grace_s:g} s later, cause unknown (its log is named)",
                    file=sys.stderr,
                )

    def spec(self) -> dict[str, Any]:
        """The executor as configured: cluster, submitit parameters, grace period, time cap, Ctrl-C behaviour."""
        return {
            "name": f"submitit:{self.cluster}",
            "parameters": dict(self.parameters),
            "max_num_timeout": getattr(self._executor._executor, "max_num_timeout", None),
            "grace_s": self.grace_s,
            "time_cap_min": self.time_cap_min,
            "cancel_on_interrupt": self.cancel_on_interrupt,
            "accounting": self.accounting,
        }

    def map(
        self, fn: Callable[[T], U], items: Sequence[T], desc: str = "", labels: Sequence[str] | None = None
    ) -> list[U | JobFailed]:
        if not items:
            return []
        names = list(labels) if labels is not None else [f"{desc or 'job'} {i}" for i in range(len(items))]
        jobs, results = self._submit(fn, items, names, desc)
        started = time.monotonic()
        gone: dict[int, float] = {}  # item -> when it was first seen out of the queue without a result
        states = {i: "pending" for i in jobs}
        states.update({i: "failed" for i in results})
        unreachable_since: float | None = None
        bar = tqdm(total=len(items), desc=f"{desc} (submitit {self.cluster})", leave=False)
        bar.update(len(results))
        try:
            while len(results) < len(items):
                now = time.monotonic()
                try:
                    queued = self._queued(jobs)
                    unreachable_since = None
                except FreqlensError as exc:
                    unreachable_since = unreachable_since or now
                    if now - unreachable_since < self.grace_s:
                        time.sleep(self.poll_s)
                        continue
                    queued = {}
                    for i in set(jobs) - set(results):
                        results[i] = JobFailed(f"{names[i]}: job {jobs[i].job_id}: the queue is unreachable: {exc}")
                for i, job in jobs.items():
                    if i in results:
                        continue
                    if job.paths.result_pickle.exists():
                        results[i] = self._read(job, names[i])
                    elif job.job_id in queued:
                        gone.pop(i, None)
                        states[i] = "running" if queued[job.job_id] in slurm.RUNNING_STATES else "pending"
                    else:
                        gone.setdefault(i, now)
                self._settle_gone(jobs, names, gone, results, now)
                if self.time_cap_min is not None and now - started > 60 * self.time_cap_min:
                    self._cap(jobs, names, queued, results)
                for i in results:
                    if states.get(i) not in ("done", "failed"):
                        states[i] = "failed" if isinstance(results[i], JobFailed) else "done"
                        bar.update(1)
                bar.set_postfix_str(_count(states), refresh=True)
                if len(results) < len(items):
                    time.sleep(self.poll_s)
        except KeyboardInterrupt:
            self._interrupt([jobs[i].job_id for i in jobs if i not in results])
            raise
        finally:
            bar.close()
        self._forget([names[i] for i in jobs])
        return [results[i] for i in range(len(items))]

    def _submit(
        self, fn: Callable[[T], U], items: Sequence[T], names: list[str], desc: str
    ) -> tuple[dict[int, Any], dict[int, U | JobFailed]]:
        """Submit the items as one array, following instead the items whose recorded job is still queued."""
        from submitit.slurm.slurm import SlurmJob

        jobs: dict[int, Any] = {}
        results: dict[int, U | JobFailed] = {}
        with contextlib.ExitStack() as stack:
            recorded: dict[str, str] = {}
            if self.cluster == "slurm":
                recorded = stack.enter_context(slurm.Ledger(self.folder).held())
                queued = slurm.queue()
                for i, name in enumerate(names):
                    if recorded.get(name) in queued:
                        jobs[i] = SlurmJob(folder=self.folder, job_id=recorded[name])
                if jobs:
                    tqdm.write(
                        f"{len(jobs)} of {len(items)} {desc or 'jobs'} still queued from an earlier run are followed, "
                        f"not submitted again: {' '.join(sorted(j.job_id for j in jobs.values()))}",
                        file=sys.stderr,
                    )
            fresh = [i for i in range(len(items)) if i not in jobs]
            if fresh:
                self._executor.update_parameters(name=f"{slurm.JOB_PREFIX}{desc or 'jobs'}")
                try:
                    submitted = self._executor.map_array(_InJob(fn), [items[i] for i in fresh])
                except Exception as exc:  # sbatch's refusal (bad partition, too many CPUs, ...) is in the message
                    cause = _last_line(str(exc))
                    for i in fresh:
                        results[i] = JobFailed(f"{names[i]}: not submitted: sbatch rejected the job array: {cause}")
                    return jobs, results
                for i, job in zip(fresh, submitted, strict=True):
                    jobs[i] = job
                    recorded[names[i]] = job.job_id
        return jobs, results

    def _queued(self, jobs: Mapping[int, Any]) -> dict[str, str]:
        """``{job id: state}`` of the jobs still in the queue (SLURM's ``squeue``; the local executor's processes)."""
        if self.cluster == "slurm":
            return slurm.queue()
        return {job.job_id: "RUNNING" for job in jobs.values() if job.state == "RUNNING"}

    def _read(self, job: Any, name: str) -> Any:
        """The job's result, or the :class:`JobFailed` its error stands for (a time limit is named as such)."""
        from submitit.core.utils import pickle_load

        try:
            outcome, value = pickle_load(job.paths.result_pickle)  # written by our own job into our own folder
        except Exception as exc:
            return JobFailed(f"{name}: job {job.job_id}: its result file is unreadable ({exc}); run it again")
        if outcome == "success":
            return value
        cause = _last_line(str(value))
        if "timed-out" in cause:  # submitit's "Job not requeued because: timed-out too many times."
            return self._failure(job, name, "TIMEOUT", f"{slurm.explain('TIMEOUT', self.parameters)}; {cause}")
        return self._failure(job, name, "FAILED", cause)

    def _failure(self, job: Any, name: str, state: str, cause: str) -> JobFailed:
        """One line: the item, its job, the job's state and the cause, requeues at the time limit, and its log."""
        count = slurm.requeues(job.paths.stderr)
        again = f" after {count} requeue{'s' * (count > 1)} at its time limit" if count else ""
        return JobFailed(f"{name}: job {job.job_id} {state}{again}: {cause} (log: {job.paths.stderr})")

    def _settle_gone(
        self,
        jobs: Mapping[int, Any],
        names: Sequence[str],
        gone: Mapping[int, float],
        results: dict[int, Any],
        now: float,
    ) -> None:
        """Turn the jobs out of the queue without a result into failures: as soon as ``sacct`` names a finished
        state and a few polls found no result file, else after the grace period (lost)."""
        waiting = [i for i in gone if i not in results]
        if not waiting:
            return
        ends = slurm.accounting(jobs[i].job_id for i in waiting) if self.accounting else {}
        for i in waiting:
            job, state = jobs[i], ends.get(jobs[i].job_id, "")
            ended = bool(state) and state.split()[0] not in ("PENDING", "RUNNING", "REQUEUED", "RESIZING", "SUSPENDED")
            waited = now - gone[i]
            if ended and waited >= min(self.grace_s, 5 * self.poll_s):
                results[i] = self._failure(job, names[i], state, slurm.explain(state, self.parameters))
            elif waited >= self.grace_s:
                known = f"sacct says {state}" if state else "no accounting to say why"
                cause = f"left the queue without a result {waited:.0f} s ago ({known})"
                results[i] = self._failure(job, names[i], "LOST", cause)

    def _cap(self, jobs: Mapping[int, Any], names: Sequence[str], queued: Mapping[str, str], results: dict) -> None:
        """The time cap has passed: cancel the unfinished jobs, each a failure naming the cap."""
        left = [i for i in jobs if i not in results]
        if self.cluster == "slurm" and left:
            slurm.cancel(jobs[i].job_id for i in left)
        for i in left:
            job = jobs[i]
            if self.cluster == "local":
                job.cancel(check=False)
            state = queued.get(job.job_id, "out of the queue")
            results[i] = JobFailed(
                f"{names[i]}: job {job.job_id} {state}: not finished within the time cap of {self.time_cap_min:g} "
                "min (--time-cap); cancelled"
            )

    def _interrupt(self, ids: list[str]) -> None:
        """Ctrl-C: cancel the jobs still queued, or print the command that would."""
        if self.cluster == "local":
            return  # submitit's local jobs are this machine's processes; the terminal's Ctrl-C reached them too
        with contextlib.suppress(FreqlensError):
            queued = slurm.queue()
            ids = [job for job in ids if job in queued]  # not those finished since the last poll
        if not ids:
            return
        if self.cancel_on_interrupt:
            tqdm.write(f"cancelled {len(ids)} queued or running jobs: {slurm.cancel(ids)}", file=sys.stderr)
        else:
            tqdm.write(
                f"{len(ids)} jobs still queued or running; to stop them: scancel {' '.join(ids)}", file=sys.stderr
            )

    def _forget(self, names: Sequence[str]) -> None:
        """Drop finished items from the ledger (the jobs of the others stay recorded for a rerun to follow)."""
        if self.cluster != "slurm" or not names:
            return
        with slurm.Ledger(self.folder).held() as recorded:
            for name in names:
                recorded.pop(name, None)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"


# a job's time limit per profile, in minutes: well above a quick/cpu/paper cell or training on its usual hardware;
# a training that reaches it is requeued and resumes from its last epoch
TIMEOUT_MIN = {"quick": 60, "cpu": 12 * 60, "paper": 24 * 60}


def submitit_defaults(profile: str, device: str) -> dict[str, Any]:
    """The submitit parameters a job gets unless ``--slurm`` overrides them, sized from the profile and device.

    Example:
        >>> submitit_defaults("quick", "cpu")
        {'timeout_min': 60, 'cpus_per_task': 4}
        >>> submitit_defaults("paper", "cuda")
        {'timeout_min': 1440, 'cpus_per_task': 8, 'gpus_per_node': 1}
    """
    if device.startswith("cuda"):
        return {"timeout_min": TIMEOUT_MIN[profile], "cpus_per_task": 8, "gpus_per_node": 1}
    return {"timeout_min": TIMEOUT_MIN[profile], "cpus_per_task": 4}


def make_executor(
    spec: str,
    folder: Path,
    device: str = "cpu",
    parameters: Mapping[str, Any] | None = None,
    profile: str = "quick",
    **options: Any,
) -> Executor:
    """Build an executor from its CLI name (see the module docstring); ``folder`` holds submitit's logs.

    ``parameters`` override :func:`submitit_defaults`; ``options`` go to :class:`SubmititExecutor` (``grace_s``,
    ``time_cap_min``, ``cancel_on_interrupt``) and are refused for the other executors.

    Example:
        >>> make_executor("pool:3", Path("x")).workers
        3
    """
    kind, _, arg = spec.partition(":")
    if kind != "submitit" and (options or parameters):
        given = ", ".join(sorted({*options, *(parameters or {})}))
        raise FreqlensError(f"{given}: only for the submitit executors (--executor submitit:slurm)")
    if kind == "inline" and not arg:
        return InlineExecutor()
    if kind == "pool":
        gpus = 0
        if device.startswith("cuda"):
            import torch

            gpus = torch.cuda.device_count()
        if arg and not arg.isdigit():
            raise FreqlensError(f"executor {spec!r}: pool size must be a number, e.g. pool:4")
        return PoolExecutor(int(arg) if arg else None, gpus)
    if kind == "submitit":
        merged = {**submitit_defaults(profile, device), **(parameters or {})}
        return SubmititExecutor(folder, arg or "slurm", merged, **options)
    raise FreqlensError(f"unknown executor {spec!r}; use inline, pool, pool:N, submitit:slurm or submitit:local")
