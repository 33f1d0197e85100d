"""Shared by the benchmarks: the machine is shared and noisy, so take the best of several."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
K = TypeVar("K")


def best_of(fn: Callable[[], T], runs: int) -> tuple[float, T]:
    """Minimum wall seconds of ``runs`` calls, and the last call's result."""
    times: list[float] = []
    out: T
    for _ in range(max(1, runs)):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def round_robin(fns: dict[K, Callable[[], object]], runs: int, warmup: int = 1
                ) -> tuple[dict[K, float], dict[K, float]]:
    """Minimum wall seconds and minimum calling-thread CPU seconds of each function over
    ``runs`` rounds, one call of each per round in turn, so that every contender sees the
    same background load; ``warmup`` untimed calls of each first (first-call allocation,
    thread start-up)."""
    for f in fns.values():
        for _ in range(warmup):
            f()
    wall = dict.fromkeys(fns, float("inf"))
    cpu = dict(wall)
    for _ in range(max(1, runs)):
        for k, f in fns.items():
            c, t = time.thread_time(), time.perf_counter()
            f()
            wall[k] = min(wall[k], time.perf_counter() - t)
            cpu[k] = min(cpu[k], time.thread_time() - c)
    return wall, cpu
