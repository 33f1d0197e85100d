"""Measure a schedule: compile it, run it on the simulator, read the exact cycles.

:func:`measure_one` is the unit of work every runner executes (in this process, a worker
process, or on a Dask worker): it never raises; a schedule that does not compile or whose
program fails on the device comes back as a :class:`MeasureResult` with status ``error``
and the reason.  Cycles do not depend on the data, so the operands are random.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Protocol

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

    @classmethod
    def failed(cls, schedule: Schedule, status: str, error: str,
               seconds: float = 0.0) -> MeasureResult:
        """The result of a candidate that did not run to the end (``error``/``timeout``):
        how the runners record a failure of any job (the ``result`` they are given)."""
        return cls(schedule, None, status, error, seconds)


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


# ----------------------------------------------------------------------------- runners
Measure = Callable[[Workload, Schedule], MeasureResult]


class Runner(Protocol):
    """Measures a batch of schedules of one workload.  ``run`` returns one result per
    schedule, in the order given, and never raises: a candidate that raises, crashes its
    worker or hangs past the time limit comes back with status ``error`` or ``timeout``
    and the reason.  Runners are context managers (``close`` on exit)."""

    def run(self, workload: Workload, schedules: Sequence[Schedule]) -> list[MeasureResult]:
        ...

    def close(self) -> None:
        ...


def measure_safely(measure: Measure, workload: Workload, schedule: Schedule,
                   result: type = MeasureResult) -> MeasureResult:
    """``measure(workload, schedule)`` with any exception it raises (a compiler bug, a
    broken measuring function) turned into an ``error`` result: the unit of work every
    runner ships to its workers.

    The runners run any job this way, not only schedules: ``measure`` is any picklable
    function of (context, item) returning a ``result`` (a type with a ``failed(item,
    status, error, seconds)`` constructor, as :meth:`MeasureResult.failed`); the
    design-space sweep runs hardware points through the same runners."""
    t0 = time.perf_counter()
    try:
        r = measure(workload, schedule)
    except (Exception, SystemExit) as e:  # noqa: BLE001 -- one candidate never stops a run
        return result.failed(schedule, "error", f"{type(e).__name__}: {e}",
                             time.perf_counter() - t0)
    if not isinstance(r, result):
        return result.failed(schedule, "error", f"the measuring function returned "
                             f"{type(r).__name__}, not a {result.__name__}",
                             time.perf_counter() - t0)
    return r


def _timed_out(schedule: Schedule, timeout: float, result: type = MeasureResult):
    return result.failed(schedule, "timeout",
                         f"cut off after {timeout:g} s (the runner's time limit)", timeout)


class _Runner:
    """Context-manager plumbing shared by the runners."""

    def close(self) -> None:  # pragma: no cover - overridden
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class InlineRunner(_Runner):
    """Measures in this process, one candidate after another, with no time limit
    (``make_runner(workers=0)``): for tests and for debugging a measuring function."""

    def __init__(self, measure: Measure = measure_one, *, result: type = MeasureResult
                 ) -> None:
        self.measure = measure
        self.result = result

    def run(self, workload: Workload, schedules: Sequence[Schedule]) -> list[MeasureResult]:
        return [measure_safely(self.measure, workload, s, self.result) for s in schedules]

    def close(self) -> None:
        pass


def _check_limits(workers: int, timeout: float) -> None:
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers={workers!r}: expected a whole number >= 1")
    if not timeout > 0:
        raise ValueError(f"timeout={timeout!r}: expected a positive number of seconds")


STARTUP_TIMEOUT = 120.0  # seconds a new worker (pool process, restarted Dask worker) may take


class WorkerStartError(VtaError):
    """A new pool's worker processes died while starting: nothing can be measured.  The
    usual cause is a script that creates a runner at the top level, without an ``if
    __name__ == "__main__":`` guard (each worker imports the script again)."""


def _init_worker(barrier) -> None:
    """Pool worker start-up: import the measuring code, then wait until every worker of
    the new pool is up, so a candidate's time limit never pays for a worker's start."""
    _import_measure()
    try:
        barrier.wait(STARTUP_TIMEOUT)
    except threading.BrokenBarrierError:
        pass


def _noop() -> None:
    return None


def _import_measure() -> None:
    import compiler.autotune.measure  # noqa: F401


class LocalRunner(_Runner):
    """Measures in ``workers`` local processes (a ``concurrent.futures`` process pool).

    At most ``workers`` candidates are in flight, so each starts when it is submitted and
    its ``timeout`` (seconds) runs from then.  A candidate past its limit is recorded as
    ``timeout`` and the pool is killed and replaced (a running task cannot be cancelled
    otherwise); the other candidates in flight are measured again.  A worker that dies
    (``os._exit``, a segfault) breaks the pool without saying which candidate killed it:
    the candidates in flight are then measured again one at a time, and the one that
    breaks a pool alone is recorded as ``error``.

    measure: the function the workers run per candidate (module-level, so it pickles);
    ``measure_one`` unless a test injects another.  start_method: the multiprocessing
    start method of the workers (``forkserver``: safe in a process with threads).
    """

    def __init__(self, workers: int = 1, timeout: float = 60.0, *,
                 measure: Measure = measure_one, result: type = MeasureResult,
                 start_method: str = "forkserver") -> None:
        _check_limits(workers, timeout)
        self.workers = workers
        self.timeout = float(timeout)
        self.measure = measure
        self.result = result
        self._context = multiprocessing.get_context(start_method)
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            barrier = self._context.Barrier(self.workers)
            pool = ProcessPoolExecutor(self.workers, mp_context=self._context,
                                       initializer=_init_worker, initargs=(barrier,))
            # each submit with no idle worker spawns one; no no-op runs before every
            # worker is past the barrier, and a worker that dies starting fails them all
            noops = [pool.submit(_noop) for _ in range(self.workers)]
            done, _ = wait(noops, timeout=STARTUP_TIMEOUT, return_when=FIRST_EXCEPTION)
            # (not all done in time: a slow start, which the first candidates may pay for)
            failed = next((f.exception() for f in done if f.exception() is not None), None)
            if failed is not None:
                pool.shutdown(wait=True, cancel_futures=True)
                raise WorkerStartError(
                    f"the {self.workers} measuring worker process(es) died while starting "
                    f"({failed}); in a script, create the runner under `if __name__ == "
                    f"'__main__':` (each worker imports the script), or measure in this "
                    f"process with workers=0")
            self._pool = pool
        return self._pool

    def _submit(self, workload: Workload, schedule: Schedule) -> Future:
        """Submit one candidate, replacing the pool once if it broke meanwhile."""
        try:
            return self._executor().submit(measure_safely, self.measure, workload, schedule,
                                           self.result)
        except BrokenProcessPool:
            self._discard(kill=True)
            return self._executor().submit(measure_safely, self.measure, workload, schedule,
                                           self.result)

    def _discard(self, kill: bool) -> None:
        """Drop the pool; ``kill``: its workers first (one of them is hung)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        procs = list(getattr(pool, "_processes", {}).values())  # no public kill in 3.11
        if kill:
            for p in procs:
                p.kill()
            for p in procs:
                p.join(10)
        pool.shutdown(wait=True, cancel_futures=True)

    def run(self, workload: Workload, schedules: Sequence[Schedule]) -> list[MeasureResult]:
        schedules = list(schedules)
        results: list[MeasureResult | None] = [None] * len(schedules)
        pending = deque(range(len(schedules)))
        suspects: set[int] = set()  # in flight when a pool broke: measured alone next
        inflight: dict[Future, tuple[int, float]] = {}
        while pending or inflight:
            limit = 1 if suspects else self.workers
            while pending and len(inflight) < limit:
                i = pending.popleft()
                try:
                    fut = self._submit(workload, schedules[i])
                except (BrokenProcessPool, OSError) as e:  # no worker can start
                    results[i] = self.result.failed(schedules[i], "error",
                                                    f"no worker process could start: {e}")
                    continue
                inflight[fut] = (i, time.monotonic() + self.timeout)
            if not inflight:
                continue
            first = min(d for _, d in inflight.values())
            done, _ = wait(inflight, timeout=max(0.0, first - time.monotonic()),
                           return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                i, _ = inflight.pop(fut)
                try:
                    results[i] = fut.result()
                except BrokenProcessPool:
                    broken = True
                    inflight[fut] = (i, 0.0)  # handled with the rest below
                    continue
                except Exception as e:  # noqa: BLE001 -- e.g. a measure that does not pickle
                    results[i] = self.result.failed(schedules[i], "error",
                                                    f"{type(e).__name__}: {e}")
                suspects.discard(i)
            if broken:
                lost = sorted(i for i, _ in inflight.values())
                inflight.clear()
                self._discard(kill=False)
                if len(lost) == 1:
                    i = lost[0]
                    results[i] = self.result.failed(
                        schedules[i], "error", "the worker process died while "
                        "measuring this schedule (a crash, os._exit or a signal)")
                    suspects.discard(i)
                else:
                    suspects.update(lost)
                    pending.extendleft(reversed(lost))
                continue
            now = time.monotonic()
            late = [f for f, (_, d) in inflight.items() if d <= now and not f.done()]
            if late:
                for f in late:
                    i, _ = inflight.pop(f)
                    results[i] = _timed_out(schedules[i], self.timeout, self.result)
                    suspects.discard(i)
                again = sorted(i for i, _ in inflight.values())
                inflight.clear()
                self._discard(kill=True)
                pending.extendleft(reversed(again))
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the workers (killed: after an interrupted run one may still be busy)."""
        self._discard(kill=True)


class DaskRunner(_Runner):
    """Measures on a Dask cluster (``distributed.Client(address)``).

    At most as many candidates are in flight as the cluster has worker threads, so each
    starts when submitted and its ``timeout`` runs from then.  A candidate past its limit
    is cancelled, recorded as ``timeout``, and the worker running it is restarted through
    its nanny (a running Dask task cannot be stopped otherwise; a cluster without nannies
    keeps the hung thread).  A candidate that kills its worker comes back from the
    scheduler as ``KilledWorker`` (after the scheduler's ``allowed-failures`` retries) and
    is recorded as ``error``.  The workers must be able to import this package.

    measure: the function run per candidate (importable, so it pickles by reference).
    """

    def __init__(self, address: str, timeout: float = 60.0, *,
                 measure: Measure = measure_one, result: type = MeasureResult,
                 connect_timeout: float = 30.0) -> None:
        _check_limits(1, timeout)
        try:
            from distributed import Client
        except ImportError as e:  # pragma: no cover - distributed is in the dask extra
            raise ValueError("the Dask runner needs the 'distributed' package (pip install "
                             "'vta-codesign[dask]')") from e
        self.address = address
        self.timeout = float(timeout)
        self.measure = measure
        self.result = result
        try:
            self.client = Client(address, timeout=connect_timeout)
        except (OSError, TimeoutError) as e:
            raise ValueError(f"cannot reach the Dask scheduler at {address!r} within "
                             f"{connect_timeout:g} s: {e}") from None
        try:
            self._warm()
        except ImportError as e:
            self.client.close()
            raise ValueError(f"the Dask workers at {address!r} cannot import the toolkit "
                             f"({e}): install it where they run") from None

    def _warm(self) -> None:
        """Import the measuring code on every worker now, so a candidate's time limit never
        pays for a cold worker."""
        self.client.run(_import_measure)

    def _slots(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def run(self, workload: Workload, schedules: Sequence[Schedule]) -> list[MeasureResult]:
        from distributed import wait as dask_wait

        schedules = list(schedules)
        results: list[MeasureResult | None] = [None] * len(schedules)
        pending = deque(range(len(schedules)))
        inflight: dict = {}  # distributed.Future -> (index, deadline)
        while pending or inflight:
            slots = self._slots()
            while pending and len(inflight) < slots:
                i = pending.popleft()
                fut = self.client.submit(measure_safely, self.measure, workload, schedules[i],
                                         self.result, pure=False)
                inflight[fut] = (i, time.monotonic() + self.timeout)
            first = min(d for _, d in inflight.values())
            try:
                dask_wait(list(inflight), timeout=max(0.01, first - time.monotonic()),
                          return_when=FIRST_COMPLETED)
            except TimeoutError:
                pass
            for fut in [f for f in inflight if f.done()]:
                i, _ = inflight.pop(fut)
                try:
                    results[i] = fut.result()
                except Exception as e:  # noqa: BLE001 -- KilledWorker, a lost task, ...
                    results[i] = self.result.failed(schedules[i], "error",
                                                    f"{type(e).__name__}: {e}")
            now = time.monotonic()
            late = [f for f, (_, d) in inflight.items() if d <= now]
            if late:
                self._cut_off(late, inflight, results, schedules)
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def _cut_off(self, late: list, inflight: dict, results: list,
                 schedules: list[Schedule]) -> None:
        """Record ``late`` as timed out, cancel them and restart the workers running
        them; the other candidates in flight get a fresh time limit (a restart delays
        those the scheduler moves)."""
        keys = {f.key for f in late}
        hung = [w for w, ks in self.client.processing().items() if keys & set(ks)]
        for f in late:
            i, _ = inflight.pop(f)
            results[i] = _timed_out(schedules[i], self.timeout, self.result)
        self.client.cancel(late, force=True)
        if hung:
            try:
                self.client.restart_workers(hung, timeout=STARTUP_TIMEOUT,
                                            raise_for_error=False)
                self._warm()
            except Exception:  # noqa: BLE001 -- no nanny: the hung thread stays busy
                pass
        fresh = time.monotonic() + self.timeout
        for f, (i, _) in list(inflight.items()):
            inflight[f] = (i, fresh)

    def close(self) -> None:
        self.client.close()


def make_runner(workers: int = 1, dask: str | None = None, timeout: float = 60.0, *,
                measure: Measure = measure_one, result: type = MeasureResult
                ) -> InlineRunner | LocalRunner | DaskRunner:
    """The runner the CLI's ``--workers N`` / ``--dask ADDRESS`` ask for: a Dask cluster
    when ``dask`` is given, else ``workers`` local processes, or with ``workers=0`` this
    process (no time limit).  measure / result: the job (``measure_safely``)."""
    if dask is not None:
        return DaskRunner(dask, timeout, measure=measure, result=result)
    if workers == 0:
        return InlineRunner(measure, result=result)
    return LocalRunner(workers, timeout, measure=measure, result=result)
