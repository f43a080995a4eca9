"""Timing shared by the benchmark scripts, imported as a sibling module: run them as ``python benchmarks/X.py``."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping


def best_times(fns: Mapping[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """The fastest of ``repeats`` timed calls of each function, in seconds, after one untimed warm-up call of each.

    The calls are interleaved round by round (``a, b, a, b, ...``), so a burst of load from other processes slows all
    of them alike instead of one: the ratios stay fair on a shared machine."""
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` timed calls of ``fn``, in seconds, after one untimed warm-up call."""
    return best_times({"fn": fn}, repeats)["fn"]
