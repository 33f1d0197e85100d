"""Shared by the autotuner's search tests: small workloads and stand-in runners."""

from __future__ import annotations

import pytest

from compiler.autotune.measure import MeasureResult, measure_one
from compiler.autotune.workload import Workload
from compiler.pipeline import estimate_cycles
from opset import Conv2d, Dense, Epilogue, Requant
from vta_hw.config import DEFAULT, TINY

EP = Epilogue(requant=Requant(1, 8))


class InlineRunner:
    """Measures in this process with ``measure_one`` (the ``measure`` branch's runners
    replace it); counts what it measured."""

    def __init__(self):
        self.seen: list = []

    def run(self, workload, schedules):
        self.seen += list(schedules)
        return [measure_one(workload, s) for s in schedules]

    def close(self):
        pass


class EstimateRunner(InlineRunner):
    """A stand-in measurement: the lowering's ``estimate_cycles`` (within ~0.1% of the
    simulator, and kept in a cache), for tests that need hundreds of 'measurements'."""

    def run(self, workload, schedules):
        self.seen += list(schedules)
        return [MeasureResult(s, estimate_cycles(workload.op, s, workload.cfg,
                                                 workload.options)) for s in schedules]


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
