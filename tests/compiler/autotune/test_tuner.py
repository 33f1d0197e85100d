"""tune(): the default first, never worse than it, resumable without measuring twice, and
model-guided search ahead of random search."""

import numpy as np
import pytest

from compiler.api import default_schedule
from compiler.autotune.measure import MeasureResult
from compiler.autotune.tuner import tune

from .conftest import CountingRunner, EstimateRunner


class DictLog:
    """The two methods tune() needs of a TuningLog."""

    def __init__(self):
        self.rows = []

    def measured(self, key):
        return {r.schedule: r for k, r in self.rows if k == key}

    def append(self, workload, result):
        self.rows.append((workload.key, result))


def test_default_first_and_never_worse(dense_default):
    runner, seen = CountingRunner(), []
    r = tune(dense_default, 6, runner=runner, explorer="random", batch=3, on_result=seen.append)
    d = default_schedule(dense_default.op, dense_default.cfg, dense_default.options)
    assert runner.seen[0] == d == r.default.schedule and r.default.ok
    assert len(r.history) == 6 and list(r.history) == seen
    assert r.best_cycles == min(h.cycles for h in r.history if h.ok)
    assert r.best_cycles <= r.default.cycles and r.speedup >= 1.0


class SlowerThanFirst:
    """A measuring function: every schedule but the first comes back slower or failed."""

    def __init__(self):
        self.n = 0

    def __call__(self, workload, s):
        self.n += 1
        if self.n == 1:
            return MeasureResult(s, 1000)
        if self.n % 2 == 0:
            return MeasureResult(s, None, "error", "RuntimeError: boom")
        return MeasureResult(s, 2000)


def test_failures_and_slower_candidates_keep_the_default(dense_default):
    r = tune(dense_default, 9, runner=CountingRunner(SlowerThanFirst()), explorer="model", batch=4)
    assert r.best == r.default and r.speedup == 1.0
    assert sum(h.status == "error" for h in r.history) == 4


def test_resume_measures_nothing_twice(dense_default):
    log = DictLog()
    first = CountingRunner()
    a = tune(dense_default, 5, runner=first, log=log, explorer="model", batch=2)
    second = CountingRunner()
    b = tune(dense_default, 12, runner=second, log=log, explorer="model", batch=4)
    assert len(first.seen) == 5 and len(second.seen) == 7
    assert not set(first.seen) & set(second.seen)  # the default included: not remeasured
    assert b.default == a.default and len(log.measured(dense_default.key)) == 12
    assert b.best_cycles <= a.best_cycles
    # everything done: a third run measures nothing
    third = CountingRunner()
    tune(dense_default, 12, runner=third, log=log)
    assert third.seen == []


def trials_to(history, goal):
    return next(i + 1 for i, h in enumerate(history) if h.ok and h.cycles <= goal)


def test_model_guided_beats_random_on_a_small_space(conv_tiny, small_space):
    """Stand-in measurements (the lowering's estimate, ``EstimateRunner``): the simulator
    would take minutes for the exhaustive optimum of 444 members and the 10 searches."""
    members = list(small_space)
    runner = EstimateRunner()
    best = min(r.cycles for r in runner.run(conv_tiny, members))
    goal = int(best * 1.05)
    got = {}
    for name in ("model", "random"):
        got[name] = [trials_to(tune(conv_tiny, len(members) + 1, runner=runner, explorer=name,
                                    seed=seed, space=small_space, members=members,
                                    target=goal).history, goal)
                     for seed in range(5)]
    assert np.median(got["model"]) * 2 <= np.median(got["random"]), got


def test_bad_input(dense_default):
    with pytest.raises(ValueError, match="trials must be a positive int"):
        tune(dense_default, 0, runner=CountingRunner())
    with pytest.raises(ValueError, match="unknown explorer 'annealing'"):
        tune(dense_default, 4, runner=CountingRunner(), explorer="annealing")
