"""Measure a schedule: compile it, run it on the simulator, read the exact cycles.

:func:`measure_one` is the unit of work every runner executes (in this process, a worker
process, or on a Dask worker): it never raises; a schedule that does not compile or whose
program fails on the device comes back as a :class:`MeasureResult` with status ``error``
and the reason.  Cycles do not depend on the data, so the operands are random.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from compiler.api import compile_op
from compiler.autotune.workload import Workload
from compiler.errors import VtaError
from compiler.schedule.space import Schedule
from runtime.devices import open_device

STATUSES = ("ok", "error", "timeout")


@dataclass(frozen=True)
class MeasureResult:
    """One measurement.  cycles: the simulator's total (None unless status is ``ok``);
    status: ``ok``, ``error`` (did not compile or failed to run; ``error`` says why) or
    ``timeout`` (cut off by the runner's time limit); seconds: wall time spent on it."""

    schedule: Schedule
    cycles: int | None
    status: str = "ok"
    error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def random_operands(op, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random logical operands of ``op`` by name (int8 in range, int32 tables small)."""
    out = {}
    for s in op.inputs():
        lo, hi = (-128, 128) if s.dtype == "int8" else (-1000, 1000)
        out[s.name] = rng.integers(lo, hi, s.shape).astype(np.dtype(s.dtype))
    return out


def measure_one(workload: Workload, schedule: Schedule, seed: int = 0) -> MeasureResult:
    """Compile ``schedule`` for ``workload`` and run it once on the simulator device."""
    t0 = time.perf_counter()
    try:
        compiled = compile_op(workload.op, workload.cfg, schedule, workload.options)
        bundle = compiled.bundle(random_operands(workload.op, np.random.default_rng(seed)))
        device = open_device("sim", workload.cfg)
        handle = device.load(bundle)
        try:
            launched = device.launch(handle)
            done = device.synchronize()
            cycles = (launched if launched is not None else done).cycles
        finally:
            device.free(handle.image)
    except (VtaError, ValueError, ArithmeticError, MemoryError) as e:
        return MeasureResult(schedule, None, "error", f"{type(e).__name__}: {e}",
                             time.perf_counter() - t0)
    return MeasureResult(schedule, int(cycles), "ok", "", time.perf_counter() - t0)
