"""Every operator equals its numpy reference bit for bit on the simulator.

Randomized (hypothesis) over the ``tiny``, ``default`` and non-square ``wide`` presets:
odd sizes, strides 1-3, padding (stored as a halo or inserted by the DMAs), channel counts
that are not multiples of the block, every epilogue feature, and random legal schedules.
Examples are bounded so the directory runs in a few minutes on two cores.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from compiler import (
    AluSchedule,
    AluStep,
    Conv2d,
    Dense,
    DepthwiseConv2d,
    Elementwise,
    Epilogue,
    GemmSchedule,
    GlobalAvgPool,
    LayoutOptions,
    Pool2d,
    Requant,
    ScheduleError,
    check_schedule,
    compile_op,
)
from opset import reference as ref
from vta.api import run_compiled
from vta_hw.config import DEFAULT, TINY, WIDE

PRESETS = [TINY, DEFAULT, WIDE]
IDS = [c.name for c in PRESETS]
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def i8(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.integers(-128, 128, shape, dtype=np.int8)


@st.composite
def epilogues(draw, allow_residual: bool = True):
    bias = draw(st.booleans())
    kind = draw(st.sampled_from(["none", "shift", "mult", "pre", "channel"]))
    rq = {"none": None,
          "shift": Requant(shift=draw(st.integers(0, 14))),
          "mult": Requant(multiplier=draw(st.integers(-300, 300)),
                          shift=draw(st.integers(0, 20))),
          "pre": Requant(multiplier=draw(st.integers(1, 32767)),
                         shift=draw(st.integers(0, 24)), pre_shift=draw(st.integers(1, 12))),
          "channel": Requant(per_channel=True, pre_shift=draw(st.integers(0, 4)))}[kind]
    clip = None
    if draw(st.booleans()):
        lo = draw(st.integers(-200, 100))
        clip = (lo, draw(st.integers(lo, 200)))
    return Epilogue(bias=bias, requant=rq, residual=allow_residual and draw(st.booleans()),
                    relu=draw(st.booleans()), clip=clip)


def epilogue_inputs(rng, ep: Epilogue, channels: int, out_shape) -> dict:
    d = {}
    if ep.bias:
        d["bias"] = rng.integers(-(1 << 20), 1 << 20, channels).astype(np.int32)
    if ep.per_channel:
        d["multiplier"] = rng.integers(-500, 500, channels).astype(np.int32)
        d["shift"] = rng.integers(0, 32, channels).astype(np.int32)
    if ep.residual:
        d["residual"] = i8(rng, *out_shape)
    return d


def run(op, inputs, cfg, schedule=None, options=None):
    return run_compiled(compile_op(op, cfg, schedule, options), inputs).output


@st.composite
def conv_shapes(draw, max_c: int = 20, max_hw: int = 11):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, kh - 2 * ph), max_hw))
    w = draw(st.integers(max(1, kw - 2 * pw), max_hw))
    return dict(n=draw(st.integers(1, 2)), c=draw(st.integers(1, max_c)), h=h, w=w, kh=kh,
                kw=kw, stride=(sh, sw), pad=(ph, pw))


@pytest.mark.parametrize("cfg", PRESETS, ids=IDS)
@SETTINGS
@given(shape=conv_shapes(), o=st.integers(1, 20), ep=epilogues(), seed=st.integers(0, 2**16),
       halo=st.sampled_from([None, (0, 0)]), im2col=st.sampled_from([None, True, False]),
       pad_value=st.sampled_from([0, 0, -7]))
def test_conv2d(cfg, shape, o, ep, seed, halo, im2col, pad_value):
    rng = np.random.default_rng(seed)
    op = Conv2d(o=o, epilogue=ep, pad_value=pad_value, **shape)
    x, w = i8(rng, op.n, op.c, op.h, op.w), i8(rng, o, op.c, op.kh, op.kw)
    extra = epilogue_inputs(rng, ep, o, (op.n, o, op.ho, op.wo))
    out = run(op, {"x": x, "w": w, **extra}, cfg,
              options=LayoutOptions(input_halo=halo, im2col=im2col))
    np.testing.assert_array_equal(out, ref.conv2d(x, w, op, **extra))


@pytest.mark.parametrize("cfg", PRESETS, ids=IDS)
@SETTINGS
@given(shape=conv_shapes(max_c=12, max_hw=9), o=st.integers(1, 12), seed=st.integers(0, 2**16),
       tiles=st.tuples(*[st.integers(1, 6)] * 4), kh=st.integers(0, 3),
       vt=st.integers(1, 3), order=st.sampled_from(["co_outer", "spatial_outer"]),
       hoist=st.tuples(st.booleans(), st.booleans()), ramp=st.booleans())
def test_conv2d_random_schedules(cfg, shape, o, seed, tiles, kh, vt, order, hoist, ramp):
    """Any legal schedule computes the same result (what the autotuner relies on)."""
    rng = np.random.default_rng(seed)
    op = Conv2d(o=o, epilogue=Epilogue(requant=Requant(shift=7), relu=True), **shape)
    s = GemmSchedule(*tiles, tile_kh=kh, virtual_threads=vt, order=order,
                     hoist_weights=hoist[0], hoist_input=hoist[1], ramp=ramp)
    opts = LayoutOptions(im2col=False)
    try:
        check_schedule(op, s, cfg, opts)
    except ScheduleError:
        assume(False)
    x, w = i8(rng, op.n, op.c, op.h, op.w), i8(rng, o, op.c, op.kh, op.kw)
    np.testing.assert_array_equal(run(op, {"x": x, "w": w}, cfg, s, opts),
                                  ref.conv2d(x, w, op))


@pytest.mark.parametrize("cfg", PRESETS, ids=IDS)
@SETTINGS
@given(shape=conv_shapes(max_c=40), ep=epilogues(), seed=st.integers(0, 2**16),
       halo=st.sampled_from([None, (0, 0)]))
def test_depthwise_conv2d(cfg, shape, ep, seed, halo):
    rng = np.random.default_rng(seed)
    op = DepthwiseConv2d(epilogue=ep, **shape)
    x, w = i8(rng, op.n, op.c, op.h, op.w), i8(rng, op.c, 1, op.kh, op.kw)
    extra = epilogue_inputs(rng, ep, op.c, (op.n, op.c, op.ho, op.wo))
    out = run(op, {"x": x, "w": w, **extra}, cfg, options=LayoutOptions(input_halo=halo))
    np.testing.assert_array_equal(out, ref.depthwise_conv2d(x, w, op, **extra))


@pytest.mark.parametrize("cfg", PRESETS, ids=IDS)
@SETTINGS
@given(n=st.integers(1, 40), i=st.integers(1, 70), o=st.integers(1, 40), ep=epilogues(),
       seed=st.integers(0, 2**16))
def test_dense(cfg, n, i, o, ep, seed):
    rng = np.random.default_rng(seed)
    op = Dense(n, i, o, ep)
    x, w = i8(rng, n, i), i8(rng, o, i)
    extra = epilogue_inputs(rng, ep, o, (n, o))
    np.testing.assert_array_equal(run(op, {"x": x, "w": w, **extra}, cfg),
                                  ref.dense(x, w, op, **extra))


steps = st.lists(st.one_of(
    st.builds(AluStep, st.sampled_from(["add", "mul", "min", "max", "mov"]),
              st.one_of(st.none(), st.integers(-300, 300))),
    st.builds(AluStep, st.sampled_from(["shr", "rshr"]), st.integers(0, 9))),
    min_size=1, max_size=4)


@pytest.mark.parametrize("cfg", PRESETS, ids=IDS)
@SETTINGS
@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 40), st.integers(1, 9),
                       st.integers(1, 9)),
       ops=steps, seed=st.integers(0, 2**16), vt=st.integers(1, 2))
def test_elementwise(cfg, shape, ops, seed, vt):
    rng = np.random.default_rng(seed)
    op = Elementwise(shape, tuple(ops))
    a = i8(rng, *shape)
    inputs = {"a": a}
    if op.binary:
        inputs["b"] = i8(rng, *shape)
    from compiler.schedule.heuristic import default_alu_schedule

    s = default_alu_schedule(op, cfg, virtual_threads=vt)
    np.testing.assert_array_equal(run(op, inputs, cfg, s),
                                  ref.elementwise(a, op.steps, inputs.get("b")))


@st.composite
def pool_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))
    h = draw(st.integers(max(1, kh - 2 * ph), 13))
    w = draw(st.integers(max(1, kw - 2 * pw), 13))
    return Pool2d(draw(st.integers(1, 2)), draw(st.integers(1, 36)), h, w,
                  draw(st.sampled_from(["max", "avg"])), kh, kw,
                  (draw(st.integers(1, 3)), draw(st.integers(1, 3))), (ph, pw))


@pytest.mark.parametrize("cfg", PRESETS, ids=IDS)
@SETTINGS
@given(op=pool_cases(), seed=st.integers(0, 2**16), halo=st.sampled_from([None, (0, 0)]))
def test_pool2d(cfg, op, seed, halo):
    rng = np.random.default_rng(seed)
    x = i8(rng, op.n, op.c, op.h, op.w)
    out = run(op, {"x": x}, cfg, options=LayoutOptions(input_halo=halo))
    np.testing.assert_array_equal(out, ref.pool2d(x, op))


@pytest.mark.parametrize("cfg", PRESETS, ids=IDS)
@SETTINGS
@given(n=st.integers(1, 2), c=st.integers(1, 40), h=st.integers(1, 15), w=st.integers(1, 15),
       seed=st.integers(0, 2**16))
def test_global_avg_pool(cfg, n, c, h, w, seed):
    rng = np.random.default_rng(seed)
    op = GlobalAvgPool(n, c, h, w)
    x = i8(rng, n, c, h, w)
    np.testing.assert_array_equal(run(op, {"x": x}, cfg), ref.global_avg_pool(x, op))


def test_avg_pool_is_the_rounded_mean():
    """The multiplier/shift average is within one unit of the true mean (exact for 2^k)."""
    rng = np.random.default_rng(5)
    x = i8(rng, 1, 16, 9, 9)
    for k in (2, 3):
        op = Pool2d(1, 16, 9, 9, "avg", k, k, (k, k))
        out = run(op, {"x": x}, DEFAULT).astype(np.int64)
        ho = op.ho
        win = x[:, :, :ho * k, :ho * k].reshape(1, 16, ho, k, ho, k).astype(np.int64)
        mean = win.sum(axis=(3, 5)) / (k * k)
        assert np.abs(out - mean).max() <= 1
        if k == 2:
            np.testing.assert_array_equal(out, np.floor(mean + 0.5))


BATCH2 = replace(TINY, name="tiny_batch2", log_batch=1)


@pytest.mark.parametrize("n", [1, 3])
def test_batch_lanes(n):
    """A core with batch = 2 carries two images (or dense rows) per element."""
    rng = np.random.default_rng(n)
    op = Conv2d(n, 5, 6, 7, 6, 3, 3, 1, 1, Epilogue(requant=Requant(shift=6), relu=True))
    x, w = i8(rng, n, 5, 6, 7), i8(rng, 6, 5, 3, 3)
    np.testing.assert_array_equal(run(op, {"x": x, "w": w}, BATCH2), ref.conv2d(x, w, op))
    d = Dense(2 * n + 1, 9, 7, Epilogue(requant=Requant(shift=5)))
    x, w = i8(rng, 2 * n + 1, 9), i8(rng, 7, 9)
    np.testing.assert_array_equal(run(d, {"x": x, "w": w}, BATCH2), ref.dense(x, w, d))
    a, b = i8(rng, n, 6, 3, 4), i8(rng, n, 6, 3, 4)
    e = Elementwise((n, 6, 3, 4), (AluStep("add"), AluStep("max", 0)))
    np.testing.assert_array_equal(run(e, {"a": a, "b": b}, BATCH2),
                                  ref.elementwise(a, e.steps, b))


def test_alu_schedule_vt_and_widths():
    """Pooling tiles narrower than the output, one or three virtual threads."""
    rng = np.random.default_rng(9)
    op = Pool2d(1, 20, 11, 13, "max", 3, 3, (2, 2), (1, 1))
    x = i8(rng, 1, 20, 11, 13)
    for s in (AluSchedule(1, 2, 3, 1), AluSchedule(2, 1, 4, 3)):
        np.testing.assert_array_equal(run(op, {"x": x}, TINY, s), ref.pool2d(x, op))
