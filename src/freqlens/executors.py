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

import multiprocessing
import os
import signal
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, TypeVar

from tqdm.auto import tqdm

from freqlens.errors import FreqlensError

T = TypeVar("T")
U = TypeVar("U")


class Executor(ABC):
    """Maps a function over payloads somewhere; results come back in payload order."""

    name: str = "executor"

    @abstractmethod
    def map(self, fn: Callable[[T], U], items: Sequence[T], desc: str = "") -> list[U]:
        """``[fn(item) for item in items]``, possibly in parallel or on other machines."""


class InlineExecutor(Executor):
    """Runs every job in this process, in order."""

    name = "inline"

    def map(self, fn: Callable[[T], U], items: Sequence[T], desc: str = "") -> list[U]:
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

    def map(self, fn: Callable[[T], U], items: Sequence[T], desc: str = "") -> list[U]:
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


class SubmititExecutor(Executor):
    """A submitit job array: ``cluster="slurm"`` on a cluster, ``"local"`` for the same path on this machine.

    ``parameters`` go to ``executor.update_parameters`` (e.g. ``slurm_partition``, ``gpus_per_node``,
    ``timeout_min``, ``cpus_per_task``, ``slurm_array_parallelism``); logs land in ``folder``.
    """

    name = "submitit"

    def __init__(self, folder: Path, cluster: str = "slurm", parameters: Mapping[str, Any] | None = None) -> None:
        try:
            import submitit
        except ImportError:
            raise FreqlensError("the submitit executor needs submitit: pip install 'freqlens[cluster]'") from None
        if cluster not in ("slurm", "local"):
            raise FreqlensError(f"submitit cluster must be slurm or local, got {cluster!r}")
        self.folder = Path(folder)
        self.cluster = cluster
        self._executor = submitit.AutoExecutor(folder=self.folder, cluster=cluster)
        params = {"timeout_min": 24 * 60, **(parameters or {})}
        try:
            self._executor.update_parameters(**params)
        except (ValueError, TypeError) as exc:
            raise FreqlensError(f"bad submitit parameter: {exc}") from None

    def map(self, fn: Callable[[T], U], items: Sequence[T], desc: str = "") -> list[U]:
        if not items:
            return []
        jobs = self._executor.map_array(fn, list(items))
        results = []
        for job in tqdm(jobs, desc=f"{desc} (submitit {self.cluster})", leave=False):
            results.append(job.result())
        return results


def make_executor(
    spec: str, folder: Path, device: str = "cpu", parameters: Mapping[str, Any] | None = None
) -> Executor:
    """Build an executor from its CLI name (see the module docstring); ``folder`` holds submitit's logs.

    Example:
        >>> make_executor("pool:3", Path("x")).workers
        3
    """
    kind, _, arg = spec.partition(":")
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
        return SubmititExecutor(folder, arg or "slurm", parameters)
    raise FreqlensError(f"unknown executor {spec!r}; use inline, pool, pool:N, submitit:slurm or submitit:local")
