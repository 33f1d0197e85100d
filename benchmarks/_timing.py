"""Shared by the benchmarks: the machine is shared and noisy, so take the best of several."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def best_of(fn: Callable[[], T], runs: int) -> tuple[float, T]:
    """Minimum wall seconds of ``runs`` calls, and the last call's result."""
    times: list[float] = []
    out: T
    for _ in range(max(1, runs)):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out
