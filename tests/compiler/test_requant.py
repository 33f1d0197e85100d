"""Requantization arithmetic: no intermediate overflow within the bound it was designed for,
close to the real scale, and bit-exact on the simulator at the int32 edges."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler import (
    AluStep,
    Conv2d,
    Dense,
    Elementwise,
    Epilogue,
    OpError,
    Requant,
    compile_op,
)
from opset import avg_multiplier
from opset import reference as ref
from vta.api import run_compiled
from vta_hw.config import DEFAULT, TINY


@settings(max_examples=200, deadline=None)
@given(scale=st.floats(1e-9, 1e3), bound=st.integers(1, 2**31 - 1), bits=st.integers(4, 15))
def test_from_scale_never_overflows(scale, bound, bits):
    rq = Requant.from_scale(scale, bound, bits)
    assert 0 <= rq.pre_shift <= 31 and 0 <= rq.shift <= 31 and 1 <= rq.multiplier <= 32767
    edge = ref.rshr(np.array([bound, -bound], np.int64), rq.pre_shift)
    assert np.all(np.abs(edge * rq.multiplier) < 2**31)


@settings(max_examples=200, deadline=None)
@given(scale=st.floats(2**-20, 0.9), bound=st.integers(1 << 10, 1 << 24))
def test_from_scale_is_accurate(scale, bound):
    rq = Requant.from_scale(scale, bound)
    assert abs(rq.scale / scale - 1) < 2**-13


def test_from_scale_rejects_nonsense():
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(OpError, match="positive finite"):
            Requant.from_scale(bad, 100)
    with pytest.raises(OpError, match="does not fit"):
        Requant(multiplier=1 << 15)
    with pytest.raises(OpError, match="shift=32"):
        Requant(shift=32)
    with pytest.raises(OpError, match="clip bounds"):
        Epilogue(clip=(5, 4))


def test_power_of_two_scale_is_one_instruction():
    rq = Requant.from_scale(2**-8, 1 << 20)
    assert (rq.multiplier, rq.shift, rq.pre_shift) == (1, 8, 0)


def test_requantized_conv_is_close_to_float():
    """int8 outputs within one unit of the real-valued requantization (no overflow)."""
    rng = np.random.default_rng(4)
    x = rng.integers(-128, 128, (1, 64, 6, 6), dtype=np.int8)
    w = rng.integers(-128, 128, (32, 64, 3, 3), dtype=np.int8)
    bound = 64 * 9 * 128 * 128
    scale = 1 / 3000.0
    rq = Requant.from_scale(scale, bound)
    assert rq.pre_shift > 0  # the bound needs the pre-shift
    op = Conv2d(1, 64, 6, 6, 32, 3, 3, 1, 1, Epilogue(requant=rq))
    out = run_compiled(compile_op(op, DEFAULT), {"x": x, "w": w}).output
    real = np.clip(ref.conv2d_acc(x, w, (1, 1), (1, 1)) * scale, -128, 127)
    assert np.abs(out - real).max() <= 1.0
    np.testing.assert_array_equal(out, ref.conv2d(x, w, op))


def test_int32_edges_wrap_like_the_reference():
    """Bias and multipliers that overflow int32 wrap identically on the ALU and in numpy."""
    rng = np.random.default_rng(6)
    x = rng.integers(-128, 128, (3, 40), dtype=np.int8)
    w = rng.integers(-128, 128, (20, 40), dtype=np.int8)
    bias = np.array([2**31 - 1, -2**31] * 10, dtype=np.int32)
    for ep in (Epilogue(bias=True, relu=True),
               Epilogue(bias=True, requant=Requant(multiplier=32767, shift=31)),
               Epilogue(bias=True, requant=Requant(per_channel=True, pre_shift=31))):
        op = Dense(3, 40, 20, ep)
        inputs = {"x": x, "w": w, "bias": bias}
        extra = {}
        if ep.per_channel:
            extra = {"multiplier": np.full(20, -32768, np.int32),
                     "shift": np.arange(20, dtype=np.int32) + 12}
        out = run_compiled(compile_op(op, TINY), {**inputs, **extra}).output
        np.testing.assert_array_equal(out, ref.dense(x, w, op, bias=bias, **extra))


def test_elementwise_mul_wraps_and_saturates():
    a = np.array([[[[-128, 127, 100, -1]]]], np.int8)
    b = np.array([[[[-128, 127, -100, 1]]]], np.int8)
    op = Elementwise(a.shape, (AluStep("mul"), AluStep("mul", 32767), AluStep("mul", 32767),
                               AluStep("shr", 20)))
    out = run_compiled(compile_op(op, DEFAULT), {"a": a, "b": b}).output
    np.testing.assert_array_equal(out, ref.elementwise(a, op.steps, b))


@pytest.mark.parametrize("count", [1, 2, 3, 4, 9, 49, 196, 3136, 50176])
def test_avg_multiplier(count):
    m, s = avg_multiplier(count)
    assert 128 * count * m < 2**31
    sums = np.arange(-128 * count, 128 * count + 1, max(1, count // 7))
    got = ref.rshr(sums * m, s)
    assert np.abs(got - sums / count).max() <= 1.0
    if count & (count - 1) == 0:
        np.testing.assert_array_equal(got, np.floor(sums / count + 0.5))
