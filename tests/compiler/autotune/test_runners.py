"""Runners: local processes and a Dask LocalCluster measure exactly what measure_one
measures, write a log a second run resumes from (nothing measured twice), and a hanging,
crashing or raising candidate is recorded as failed without stopping the run."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from compiler import Conv2d, Epilogue, Requant, default_schedule
from compiler.autotune.log import TuningLog
from compiler.autotune.measure import (
    DaskRunner,
    InlineRunner,
    LocalRunner,
    make_runner,
    measure_one,
)
from compiler.autotune.workload import Workload
from tests.compiler.autotune._hooks import call_count, misbehave
from vta_hw.config import TINY

OP = Conv2d(1, 8, 6, 6, 8, 3, 3, (1, 1), (1, 1), Epilogue(requant=Requant(shift=8), relu=True),
            name="small")
WL = Workload.of(OP, TINY)
SCHEDULES = [default_schedule(WL.op, TINY, WL.options),
             *WL.space.sample(np.random.default_rng(1), 5)]
TIMEOUT = 5.0  # a real candidate takes well under a second here, even on a busy machine


@pytest.fixture(scope="module")
def reference() -> dict:
    return {s: measure_one(WL, s).cycles for s in SCHEDULES}


def _measure_resuming(runner, log: TuningLog, schedules) -> list:
    """What a tuner does: measure the schedules the log does not know, log each result."""
    known = log.measured(WL.key)
    todo = [s for s in schedules if s not in known]
    results = runner.run(WL, todo)
    for r in results:
        log.append(WL, r)
    return results


def _check_log_and_resume(runner, tmp_path, reference) -> None:
    calls = str(tmp_path / "calls")
    runner.measure = functools.partial(misbehave, calls=calls)
    log = TuningLog(tmp_path / "log.jsonl")
    first = _measure_resuming(runner, log, SCHEDULES[:4])
    assert [r.schedule for r in first] == SCHEDULES[:4]  # the order given
    assert all(r.ok for r in first), [r.error for r in first]
    assert {r.schedule: r.cycles for r in first} == {s: reference[s] for s in SCHEDULES[:4]}
    # a second run over all of them measures only the two new ones
    second = _measure_resuming(runner, log, SCHEDULES)
    assert [r.schedule for r in second] == SCHEDULES[4:]
    assert sorted(call_count(calls)) == sorted(repr(s) for s in SCHEDULES)
    recs = log.records(WL.key)
    assert [r.schedule for r in recs] == SCHEDULES
    assert {r.schedule: r.cycles for r in recs} == reference
    assert log.best(WL.key).cycles == min(reference.values())
    assert _measure_resuming(runner, log, SCHEDULES) == []


def _check_misbehaving(runner, reference) -> None:
    hang, crash, bad = SCHEDULES[1], SCHEDULES[2], SCHEDULES[3]
    runner.measure = functools.partial(misbehave, hang=(hang,), crash=(crash,),
                                       raise_on=(bad,))
    t0 = time.monotonic()
    results = runner.run(WL, SCHEDULES)
    took = time.monotonic() - t0
    by = {r.schedule: r for r in results}
    assert [r.schedule for r in results] == SCHEDULES
    assert by[hang].status == "timeout" and "time limit" in by[hang].error
    assert by[crash].status == "error", by[crash]
    assert by[bad].status == "error" and "RuntimeError: injected failure" in by[bad].error
    for s in (SCHEDULES[0], *SCHEDULES[4:]):
        assert by[s].ok and by[s].cycles == reference[s], by[s]
    assert took < 60, took
    # the runner is still usable afterwards
    runner.measure = measure_one
    again = runner.run(WL, SCHEDULES[:2])
    assert [r.cycles for r in again] == [reference[s] for s in SCHEDULES[:2]]


def test_local_runner_two_workers_logs_and_resumes(tmp_path, reference):
    with LocalRunner(2, TIMEOUT) as runner:
        _check_log_and_resume(runner, tmp_path, reference)


def test_local_runner_cuts_off_hanging_and_crashing_candidates(reference):
    with LocalRunner(2, TIMEOUT) as runner:
        _check_misbehaving(runner, reference)


def test_local_runner_names_the_crash():
    crash = SCHEDULES[2]
    with LocalRunner(1, TIMEOUT, measure=functools.partial(misbehave, crash=(crash,))) as r:
        (res,) = r.run(WL, [crash])
    assert res.status == "error" and "worker process died" in res.error


def test_inline_runner_and_make_runner(reference):
    assert isinstance(make_runner(0), InlineRunner)
    with make_runner(1, timeout=TIMEOUT) as r:
        assert isinstance(r, LocalRunner) and r.workers == 1 and r.timeout == TIMEOUT
    runner = make_runner(0, measure=functools.partial(misbehave, raise_on=(SCHEDULES[1],)))
    res = runner.run(WL, SCHEDULES[:2])
    assert res[0].cycles == reference[SCHEDULES[0]]
    assert res[1].status == "error" and "injected failure" in res[1].error
    with pytest.raises(ValueError, match="workers"):
        LocalRunner(0)
    with pytest.raises(ValueError, match="timeout"):
        LocalRunner(1, timeout=0)


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    # allowed_failures=0: a candidate that kills its worker is reported at once, not
    # after three more worker restarts (the default, for flaky clusters)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None,
                                  scheduler_kwargs={"allowed_failures": 0}) as cluster:
        yield cluster


def test_dask_runner_logs_and_resumes(dask_cluster, tmp_path, reference):
    with make_runner(dask=dask_cluster.scheduler_address, timeout=TIMEOUT) as runner:
        assert isinstance(runner, DaskRunner)
        _check_log_and_resume(runner, tmp_path, reference)


def _executing(dask_worker) -> int:
    return len(dask_worker.state.executing)


def test_dask_runner_cuts_off_hanging_and_crashing_candidates(dask_cluster, reference):
    with DaskRunner(dask_cluster.scheduler_address, TIMEOUT) as runner:
        _check_misbehaving(runner, reference)
        # the hung candidate no longer holds a worker thread (its worker was restarted)
        assert sum(runner.client.run(_executing).values()) == 0
        assert sum(runner.client.nthreads().values()) == 2


def test_dask_runner_names_an_unreachable_scheduler():
    pytest.importorskip("distributed")
    t0 = time.monotonic()
    with pytest.raises(ValueError, match=r"cannot reach the Dask scheduler at 'tcp://127\.0"):
        DaskRunner("tcp://127.0.0.1:9", connect_timeout=1)
    assert time.monotonic() - t0 < 30


def test_a_measuring_function_that_does_not_pickle_is_an_error_result():
    with LocalRunner(1, TIMEOUT, measure=lambda w, s: measure_one(w, s)) as runner:
        (res,) = runner.run(WL, SCHEDULES[:1])
    assert res.status == "error" and "pickle" in res.error.lower(), res


def test_workers_that_cannot_start_are_one_clear_error_at_once(tmp_path):
    """A script that creates a local runner without a ``__main__`` guard makes every
    worker import it again and die starting: the runner says so at once (it waited two
    2-minute start-up limits and then recorded each candidate as failed before)."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from compiler.api import default_schedule\n"
        "from compiler.autotune.measure import make_runner\n"
        "from compiler.autotune.workload import Workload\n"
        "from opset import Dense\n"
        "from vta_hw.config import TINY\n"
        "w = Workload.of(Dense(1, 32, 16, name='d'), TINY)\n"
        "with make_runner(workers=1, timeout=30) as r:\n"
        "    print(r.run(w, [default_schedule(w.op, TINY, w.options)]))\n")
    root = Path(__file__).resolve().parents[3]
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(root)},
                          timeout=200)
    assert proc.returncode != 0 and "WorkerStartError" in proc.stderr, proc.stderr[-2000:]
    assert "if __name__ == '__main__':" in proc.stderr
    assert time.monotonic() - t0 < 100  # not the start-up limit twice over
