"""Measuring functions that misbehave on purpose, for the runner tests.

They are module-level (a worker process or a Dask worker imports them by name) and take
the schedules to misbehave on as arguments (bound with ``functools.partial``); every other
schedule is measured for real by ``measure_one``."""

from __future__ import annotations

import os
import time
from pathlib import Path

from compiler.autotune.measure import MeasureResult, measure_one


def misbehave(workload, schedule, *, hang=(), crash=(), raise_on=(), calls: str = ""
              ) -> MeasureResult:
    """Hang (sleep far past any test's time limit), kill the worker process (``os._exit``,
    as a segfault would) or raise on the schedules listed; count every call (one line per
    call appended to the file ``calls``) so a test sees what was measured twice."""
    if calls:
        with open(calls, "a") as f:
            f.write(repr(schedule) + "\n")
    if schedule in hang:
        time.sleep(3600)
    if schedule in crash:
        os._exit(3)
    if schedule in raise_on:
        raise RuntimeError("injected failure")
    return measure_one(workload, schedule)


def call_count(calls: str | os.PathLike) -> list[str]:
    p = Path(calls)
    return p.read_text().splitlines() if p.exists() else []


def point_job(job, point, *, crash=(), hang=()):
    """A design-space point that kills its worker or hangs when its name is listed, else
    a trivially successful ``PointResult`` (the runner's handling is under test, not the
    point's evaluation)."""
    from compiler.dse.point import PointResult

    if point.name in crash:
        os._exit(3)
    if point.name in hang:
        time.sleep(3600)
    return PointResult(point, "ok", cycles=len(point.name))
