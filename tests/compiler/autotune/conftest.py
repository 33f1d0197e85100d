"""Shared by the autotuner's search tests: small workloads and counting runners."""

from __future__ import annotations

import pytest

from compiler.autotune.measure import InlineRunner, Measure, MeasureResult, measure_one
from compiler.autotune.workload import Workload
from compiler.pipeline import estimate_cycles
from compiler.schedule.space import Schedule
from opset import Conv2d, Dense, Epilogue, Requant
from vta_hw.config import DEFAULT, TINY

EP = Epilogue(requant=Requant(1, 8))


class CountingRunner(InlineRunner):
    """The real in-process runner (``measure.InlineRunner``) whose measuring function also
    records every schedule it is asked for, in order (``seen``)."""

    def __init__(self, measure: Measure = measure_one):
        self.seen: list[Schedule] = []

        def counted(workload: Workload, schedule: Schedule) -> MeasureResult:
            self.seen.append(schedule)
            return measure(workload, schedule)

        super().__init__(counted)


def estimate_measure(workload: Workload, schedule: Schedule) -> MeasureResult:
    """A stand-in measurement: the lowering's ``estimate_cycles`` (within ~0.1% of the
    simulator, and kept in a cache), for tests that need hundreds of 'measurements'."""
    return MeasureResult(schedule, estimate_cycles(workload.op, schedule, workload.cfg,
                                                   workload.options))


def EstimateRunner() -> CountingRunner:  # noqa: N802 -- reads as the runner it builds
    return CountingRunner(estimate_measure)


@pytest.fixture(scope="session")
def conv_tiny():
    return Workload.of(Conv2d(1, 8, 8, 8, 8, 3, 3, stride=2, pad=1, epilogue=EP, name="c"),
                       TINY)


@pytest.fixture(scope="session")
def small_space(conv_tiny):
    """444 legal members: the automatic loop fold, hoisted inputs, two virtual threads."""
    return conv_tiny.space.restrict(loop_fold=(None,), hoist_input=(True,),
                                    virtual_threads=(2,))


@pytest.fixture(scope="session")
def dense_default():
    return Workload.of(Dense(1, 64, 64, epilogue=EP, name="d"), DEFAULT)
