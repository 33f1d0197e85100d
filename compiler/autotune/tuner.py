"""The tuning loop: propose a batch, measure it, log it, retrain, repeat.

:func:`tune` measures the default schedule first (the heuristic's choice, as ``compile_op``
would compile it), so the tuned result is never slower than the default.  Measurements
already in the log for the workload count as done (an interrupted run resumes where it
stopped: nothing is measured twice) and as training data for the cost model.  The budget
``trials`` counts every measurement of the workload, logged earlier or now, the default's
included.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from compiler.api import default_schedule
from compiler.autotune.cost_model import RankModel
from compiler.autotune.explorer import EXPLORERS, make_explorer
from compiler.autotune.measure import MeasureResult, Runner
from compiler.autotune.workload import Workload
from compiler.schedule.candidates import ScheduleSpace
from compiler.schedule.space import Schedule


class Log(Protocol):
    """What :func:`tune` resumes from and appends to (``compiler.autotune.log.TuningLog``)."""

    def measured(self, key: str) -> dict[Schedule, MeasureResult]: ...

    def append(self, workload: Workload, result: MeasureResult) -> Any: ...


@dataclass(frozen=True)
class TuneResult:
    """The outcome of :func:`tune`.  default: the default schedule's measurement.  best: the
    fastest successful measurement of the workload (this run's or the log's; None if none
    succeeded).  history: this run's measurements in order (the default's first unless the
    log had it)."""

    workload: Workload
    default: MeasureResult
    best: MeasureResult | None
    history: tuple[MeasureResult, ...]

    @property
    def best_cycles(self) -> int | None:
        return None if self.best is None else self.best.cycles

    @property
    def speedup(self) -> float | None:
        """Default cycles / best cycles (None when the default did not run)."""
        if self.best is None or not self.default.ok:
            return None
        return self.default.cycles / self.best.cycles


def _fastest(results) -> MeasureResult | None:
    ok = [r for r in results if r.ok and r.cycles is not None]
    return min(ok, key=lambda r: r.cycles) if ok else None


def tune(workload: Workload, trials: int, *, runner: Runner, log: Log | None = None,
         explorer: str = "model", batch: int = 8, seed: int = 0, model: RankModel | None = None,
         on_result: Callable[[MeasureResult], None] | None = None,
         space: ScheduleSpace | None = None, members: Sequence[Schedule] | None = None,
         target: int | None = None) -> TuneResult:
    """Tune ``workload`` with at most ``trials`` measurements in all (module docstring).

    runner: measures batches (``measure.make_runner``).  log: resume from and append to it.
    explorer: ``model``, ``random`` or ``grid``.  batch: schedules measured per round (the
    model retrains between rounds).  model: a (transfer) cost model to start from; it is
    copied, not changed.  on_result: called with every new measurement.  space: search a
    sub-space (default: the workload's whole space); members: its legal members when the
    caller already listed them.  target: stop once a measurement reaches this many cycles
    or fewer (benchmarks: trials to a known optimum)."""
    if not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be a positive int, got {trials!r}")
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    if explorer not in EXPLORERS:
        raise ValueError(f"unknown explorer {explorer!r}; choose one of {EXPLORERS}")
    measured: dict[Schedule, MeasureResult] = dict(log.measured(workload.key)) if log else {}
    history: list[MeasureResult] = []

    def run(schedules: list[Schedule]) -> list[MeasureResult]:
        results = runner.run(workload, schedules)
        if len(results) != len(schedules):
            raise RuntimeError(f"the runner returned {len(results)} results for "
                               f"{len(schedules)} schedules")
        for r in results:
            measured[r.schedule] = r
            history.append(r)
            if log is not None:
                log.append(workload, r)
            if on_result is not None:
                on_result(r)
        return results

    start = default_schedule(workload.op, workload.cfg, workload.options)
    default = measured.get(start) or run([start])[0]

    rank = None
    if explorer == "model":
        rank = model.clone() if model is not None else RankModel(seed=seed)
        rank.update(workload, measured.values())
    search = make_explorer(explorer, workload, seed, rank, space=space, members=members)

    def reached() -> bool:
        best = _fastest(measured.values())
        return target is not None and best is not None and best.cycles <= target

    while len(measured) < trials and not reached():
        proposed = search.propose(min(batch, trials - len(measured)), measured)
        if not proposed:
            break  # the space has no unmeasured member left
        results = run(proposed)
        if rank is not None:
            rank.update(workload, results)
    return TuneResult(workload, default, _fastest(measured.values()), tuple(history))


__all__ = ["tune", "TuneResult", "Runner", "Log"]
