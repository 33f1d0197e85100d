"""The trial budget (``compiler.autotune.budget``): the roofline is a true lower bound, the
headroom estimate is deterministic, and the spread gives every task a minimum and the rest
by what tuning it could save in the model's cycles."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from compiler.autotune.budget import (
    Headroom,
    allocate,
    headroom,
    roofline_cycles,
    space_cap,
    spread,
)
from compiler.autotune.workload import Workload
from compiler.pipeline import estimate_cycles
from opset import (
    AluStep,
    Conv2d,
    Dense,
    DepthwiseConv2d,
    Elementwise,
    Epilogue,
    GlobalAvgPool,
    Pool2d,
    Requant,
)
from vta_hw.config import DEFAULT, TINY

EP = Epilogue(requant=Requant(multiplier=3, shift=8), relu=True)
CONV3 = Conv2d(1, 16, 14, 14, 32, 3, 3, stride=(2, 2), pad=(1, 1), epilogue=EP)
CONV1 = Conv2d(1, 32, 14, 14, 64, 1, 1, epilogue=EP)
OPS = [CONV3, CONV1, DepthwiseConv2d(1, 32, 14, 14, 3, 3, pad=(1, 1), epilogue=EP),
       Dense(1, 128, 10, epilogue=EP),
       Elementwise((1, 16, 8, 8), (AluStep("add"), AluStep("max", 0))),
       Pool2d(1, 16, 8, 8, "max", 2, 2, stride=(2, 2)), GlobalAvgPool(1, 32, 7, 7)]


@dataclass(frozen=True)
class Task:
    """The two fields ``allocate`` reads (``compiler.autotune.tasks.Task`` has them)."""

    workload: Workload
    layers: tuple[str, ...]


# ------------------------------------------------------------------------------- spread
def test_spread_gives_the_minimum_then_shares_by_weight():
    assert spread([1, 1, 2], 16, minimum=4) == [5, 5, 6]
    assert spread([0, 0, 3], 20, minimum=2) == [2, 2, 16]
    assert spread([1, 3], 10, minimum=1) == [3, 7]  # 8 shared 1:3
    assert sum(spread([0.3, 0.7, 1.9, 0.01], 101, minimum=5)) == 101


def test_spread_without_weights_is_equal_and_ties_go_to_the_earlier_task():
    assert spread([0, 0, 0], 10, minimum=0) == [4, 3, 3]
    assert spread([2, 2, 2], 11, minimum=1) == [4, 4, 3]


def test_spread_with_too_few_trials_for_the_minimum_shares_what_there_is():
    assert spread([5, 1, 1], 5, minimum=4) == [3, 1, 1]
    assert spread([1, 1], 1, minimum=4) == [1, 0]


def test_spread_fills_caps_and_gives_the_rest_to_the_others():
    out = spread([100, 1, 1], 30, minimum=2, caps=[5, 100, 100])
    assert out == [5, 13, 12]
    assert spread([1, 1], 50, minimum=2, caps=[3, 4]) == [3, 4]  # every space exhausted
    assert spread([1, 1], 10, minimum=4, caps=[1, 100]) == [1, 9]


@pytest.mark.parametrize("weights, total, kwargs, message", [
    ([1, -1], 4, {}, "non-negative"), ([1, float("nan")], 4, {}, "finite"),
    ([1], -1, {}, "must not be negative"), ([1, 1], 4, {"caps": [3]}, "1 caps for 2 tasks")])
def test_spread_refuses_nonsense(weights, total, kwargs, message):
    with pytest.raises(ValueError, match=message):
        spread(weights, total, **kwargs)


def test_spread_on_random_weights_keeps_its_promises():
    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(1, 8))
        w = list(rng.exponential(size=n) * (rng.random(n) < 0.7))
        caps = list(rng.integers(0, 40, n))
        total, minimum = int(rng.integers(0, 120)), int(rng.integers(0, 6))
        out = spread(w, total, minimum=minimum, caps=caps)
        assert all(0 <= o <= c for o, c in zip(out, caps, strict=True))
        assert sum(out) == min(total, sum(caps))
        floor = min(minimum, total // n)
        assert all(o >= min(floor, c) for o, c in zip(out, caps, strict=True))
        # more weight never means fewer trials, unless a cap stops it
        for i in range(n):
            for j in range(n):
                if w[i] > w[j] and out[i] < caps[i] and out[j] > min(floor, caps[j]):
                    assert out[i] >= out[j] - 1, (w, caps, total, minimum, out)


# ------------------------------------------------------------------------------- roofline
@pytest.mark.parametrize("op", OPS, ids=lambda op: op.kind)
@pytest.mark.parametrize("cfg", [TINY, DEFAULT], ids=lambda c: c.name)
def test_roofline_is_below_every_schedule(op, cfg):
    wl = Workload.of(op, cfg)
    bound = roofline_cycles(wl.op, cfg, wl.options)
    h = headroom(wl, sample=16)
    assert 0 < bound <= h.sampled_cycles <= h.default_cycles
    for s in wl.space.sample(np.random.default_rng(1), 3):
        assert bound <= estimate_cycles(wl.op, s, cfg, wl.options)


def test_roofline_counts_gemm_iterations_and_dram_bytes():
    # 1x1 conv on tiny (1x4x4): 8 input blocks x 16 output blocks x 196 pixels of GEMM
    # iterations; 32*196 + 64*32 input and weight bytes at 4 bytes per cycle are fewer
    wl = Workload.of(CONV1, TINY)
    assert TINY.block_in == TINY.block_out == 4 and TINY.dram_bytes_per_cycle == 4
    assert roofline_cycles(wl.op, TINY) == 8 * 16 * 14 * 14
    # a dense layer of one row: 32 x 3 GEMM iterations, but 128 input and 1280 weight
    # bytes to load at 4 bytes per cycle
    dense = Workload.of(Dense(1, 128, 10, epilogue=EP), TINY)
    assert roofline_cycles(dense.op, TINY) == (128 + 1280) // 4


# ------------------------------------------------------------------------------- headroom
def test_headroom_is_deterministic_and_never_above_the_default():
    wl = Workload.of(CONV3, DEFAULT)
    a, b = headroom(wl, seed=4), headroom(wl, seed=4)
    assert a == b
    assert a.sampled_cycles <= a.default_cycles
    assert a.reachable == (a.default_cycles - a.sampled_cycles) + 0.5 * (
        a.sampled_cycles - a.bound_cycles)
    assert 0 < a.efficiency <= 1


def test_reachable_counts_what_the_sample_found_and_half_the_gap_beyond():
    assert Headroom(1000, 1000, 1000).reachable == 0
    assert Headroom(1000, 800, 600).reachable == 200 + 100
    assert Headroom(1000, 1200, 600).reachable == 200  # a worse sample is the default


# ------------------------------------------------------------------------------- allocate
def test_allocate_weighs_layers_and_headroom():
    near = Task(Workload.of(CONV3, DEFAULT), ("a",))
    far = Task(Workload.of(CONV1, DEFAULT), ("b",))
    h_near, h_far = Headroom(1000, 1000, 950), Headroom(1000, 1000, 500)
    assert allocate([near, far], 60, minimum=4, headrooms=[h_near, h_far]) == [9, 51]
    # the same headroom, three layers sharing the workload: three times the share
    shared = Task(far.workload, ("b", "c", "d"))
    assert allocate([far, shared], 44, minimum=4, headrooms=[h_far, h_far]) == [13, 31]


def test_allocate_is_deterministic_and_order_free():
    tasks = [Task(Workload.of(op, TINY), (f"l{i}",)) for i, op in enumerate(OPS[:4])]
    first = allocate(tasks, 50, minimum=3, sample=16)
    assert sum(first) == 50 and min(first) >= 3
    assert allocate(tasks[::-1], 50, minimum=3, sample=16) == first[::-1]
    # ties (equal headrooms) fall the same way in any order
    same = [Headroom(100, 100, 50)] * 4
    assert allocate(tasks, 10, minimum=0, headrooms=same) == \
        allocate(tasks[::-1], 10, minimum=0, headrooms=same)[::-1]


def test_allocate_never_gives_more_trials_than_a_space_has():
    gap = Task(Workload.of(GlobalAvgPool(1, 32, 7, 7), TINY), ("gap",))
    cap = space_cap(gap.workload)
    assert cap == gap.workload.space.count() < 100  # exact for ALU spaces
    conv = Task(Workload.of(CONV3, TINY), ("conv",))
    out = allocate([gap, conv], 500, headrooms=[Headroom(10**6, 10**6, 1), Headroom(10, 10, 1)])
    assert out == [cap, 500 - cap]


def test_allocate_refuses_a_budget_of_nothing():
    with pytest.raises(ValueError, match="at least 1"):
        allocate([], 0)
