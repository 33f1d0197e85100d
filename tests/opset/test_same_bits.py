"""One operator description, the same bits on every device.

A random quantized :mod:`opset` operator (odd and partial-block shapes, strides, padding and
pad values, every epilogue feature: bias, per-tensor and per-channel requantization with a
pre-shift, residual, ReLU, clip; element-wise chains; max/average/global pooling) is run
from the one description on the simulated accelerator (``compiler.compile_op`` +
``vta.api.run_compiled`` on the ``sim`` device; ``tiny`` and ``default`` presets, so channel
counts fall both on and off whole blocks), on the CPU backend
(``cpu_gpu_backends.quantized_op``) and in :func:`opset.reference.run`: all three must be
equal bit for bit.  This is what lets the partitioner move any quantized op between devices.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cpu_gpu_backends as cg
from compiler import compile_op
from cpu_gpu_backends.ops.quantized import op_plan
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
    reference,
)
from vta.api import run_compiled
from vta_hw.config import DEFAULT, INP_WIDTH, TINY, int_range

I8 = int_range(INP_WIDTH)
SETTINGS = settings(max_examples=160, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def epilogues(draw) -> Epilogue:
    kind = draw(st.sampled_from(["none", "shift", "mult", "pre", "channel"]))
    rq = {"none": None,
          "shift": Requant(shift=draw(st.integers(0, 14))),
          "mult": Requant(multiplier=draw(st.integers(-300, 300)), shift=draw(st.integers(0, 20))),
          "pre": Requant(multiplier=draw(st.integers(1, 32767)), shift=draw(st.integers(0, 24)),
                         pre_shift=draw(st.integers(1, 12))),
          "channel": Requant(per_channel=True, pre_shift=draw(st.integers(0, 4)))}[kind]
    clip = None
    if draw(st.booleans()):
        lo = draw(st.integers(-200, 100))
        clip = (lo, draw(st.integers(lo, 200)))
    offset = draw(st.sampled_from([0, 0, -128, 5, 127, -300]))  # an output zero point
    return Epilogue(bias=draw(st.booleans()), requant=rq, residual=draw(st.booleans()),
                    relu=draw(st.booleans()), clip=clip, offset=offset)


@st.composite
def spatial(draw, max_c: int = 20, max_hw: int = 10) -> dict:
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))
    return dict(n=draw(st.integers(1, 2)), c=draw(st.integers(1, max_c)),
                h=draw(st.integers(max(1, kh - 2 * ph), max_hw)),
                w=draw(st.integers(max(1, kw - 2 * pw), max_hw)), kh=kh, kw=kw,
                stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))), pad=(ph, pw))


@st.composite
def ops(draw):
    kind = draw(st.sampled_from(["conv2d", "conv2d", "depthwise", "dense", "elementwise",
                                 "pool", "global"]))
    if kind in ("conv2d", "depthwise"):
        shape = draw(spatial())
        pad_value = draw(st.sampled_from([0, -7, 100]))
        if kind == "conv2d":
            return Conv2d(o=draw(st.integers(1, 20)), epilogue=draw(epilogues()),
                          pad_value=pad_value, **shape)
        return DepthwiseConv2d(epilogue=draw(epilogues()), pad_value=pad_value, **shape)
    if kind == "dense":
        return Dense(draw(st.integers(1, 9)), draw(st.integers(1, 40)), draw(st.integers(1, 40)),
                     epilogue=draw(epilogues()))
    if kind == "elementwise":
        shape = tuple(draw(st.integers(1, 6)) for _ in range(2)) + (draw(st.integers(1, 5)),
                                                                 draw(st.integers(1, 7)))
        step = st.one_of(
            st.builds(AluStep, st.sampled_from(["min", "max", "add", "mul"]),
                      st.one_of(st.none(), st.integers(-300, 300))),
            st.builds(AluStep, st.sampled_from(["shr", "rshr"]), st.integers(0, 9)))
        return Elementwise(shape, tuple(draw(st.lists(step, min_size=1, max_size=4))))
    shape = draw(spatial(max_c=12))
    if kind == "pool":
        return Pool2d(pool=draw(st.sampled_from(["max", "avg"])), **shape)
    return GlobalAvgPool(shape["n"], shape["c"], shape["h"], shape["w"])


def random_inputs(op, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {}
    for t in op.inputs():
        if t.name == "multiplier":
            out[t.name] = rng.integers(-500, 500, t.shape).astype(np.int32)
        elif t.name == "shift":
            out[t.name] = rng.integers(0, 32, t.shape).astype(np.int32)
        elif t.dtype == "int8":
            out[t.name] = rng.integers(I8[0], I8[1] + 1, t.shape).astype(np.int8)
        else:
            out[t.name] = rng.integers(-(1 << 20), 1 << 20, t.shape).astype(np.int32)
    return out


@SETTINGS
@given(op=ops(), cfg=st.sampled_from([TINY, DEFAULT]), fuse=st.booleans(),
       seed=st.integers(0, 2**16))
def test_accelerator_cpu_and_reference_agree(op, cfg, fuse, seed):
    """``fuse`` picks either CPU form of conv2d's epilogue (fused into the kernel's
    write-back, or a second kernel), whatever the row width."""
    inputs = random_inputs(op, np.random.default_rng(seed))
    want = reference.run(op, inputs)
    plan = op_plan(op, fuse_min_width=0 if fuse else 1 << 30)
    on_cpu = cg.default_cpu_backend().compile(plan)(*[inputs[t.name] for t in op.inputs()])
    on_sim = run_compiled(compile_op(op, cfg), inputs).output
    np.testing.assert_array_equal(on_cpu, want, err_msg=f"CPU vs reference: {op}")
    np.testing.assert_array_equal(on_sim, want, err_msg=f"simulator vs reference: {op}")
