"""The SIMT emulator (``cpu_gpu_backends.simt``) runs the GPU plans with a GPU's semantics:
every random quantized op's GPU program (tiled-GEMM conv and dense included) equals
:func:`opset.reference.run` bit for bit; the float GPU kernels agree with numpy to rounding;
and what a GPU run must not do (out-of-bounds access, a race, a barrier in divergent code)
is an error naming the kernel."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpu_gpu_backends import dtypes as dt
from cpu_gpu_backends.kernel_ir import (
    Alloc,
    Barrier,
    Const,
    If,
    Kernel,
    Load,
    Loop,
    Param,
    Store,
    Var,
    lt,
)
from cpu_gpu_backends.ops import gpu_gemm
from cpu_gpu_backends.ops.plan import BufferSpec, OpPlan, Step
from cpu_gpu_backends.ops.softmax import softmax_plan
from cpu_gpu_backends.ptx import with_gpu_launch
from cpu_gpu_backends.simt import SimtError, run_plan
from opset import Conv2d, Epilogue, Requant, reference
from opset import reference as ref
from runtime.gpu_steps import gpu_plan
from tests.opset.test_same_bits import ops, random_inputs


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(op=ops(), seed=st.integers(0, 2**16))
def test_every_gpu_program_equals_the_reference(op, seed):
    inputs = random_inputs(op, np.random.default_rng(seed))
    got = run_plan(gpu_plan(op), *[inputs[t.name] for t in op.inputs()], seed=seed)
    np.testing.assert_array_equal(got, reference.run(op, inputs), err_msg=str(op))


def test_a_wrong_padding_fill_is_caught():
    """The tiled conv reads the input zero point in the padding; the same kernel built with
    the fill left at 0 gives other bits (the emulator sees the schedule's mistakes)."""
    op = Conv2d(1, 5, 6, 6, 8, 3, 3, pad=(1, 1), pad_value=-3,
                epilogue=Epilogue(requant=Requant(1, 4)))
    inputs = random_inputs(op, np.random.default_rng(0))
    want = reference.run(op, inputs)
    raw = gpu_gemm.gpu_conv2d_plan((1, 5, 6, 6), (8, 5, 3, 3), "i8", 1, (1, 1), pad_value=-3)
    wrong = gpu_gemm.gpu_conv2d_plan((1, 5, 6, 6), (8, 5, 3, 3), "i8", 1, (1, 1))
    acc = ref.conv2d_acc(inputs["x"], inputs["w"], (1, 1), (1, 1), -3)
    np.testing.assert_array_equal(run_plan(with_gpu_launch(raw), inputs["x"], inputs["w"]), acc)
    assert not np.array_equal(run_plan(with_gpu_launch(wrong), inputs["x"], inputs["w"]), acc)
    assert want.shape == acc.shape


@pytest.mark.parametrize("transpose_b", [False, True])
def test_float_gemm_and_conv_agree_with_numpy(transpose_b):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((70, 33), dtype=np.float32)
    b = rng.standard_normal((65, 33) if transpose_b else (33, 65), dtype=np.float32)
    bias = rng.standard_normal(65, dtype=np.float32)
    plan = with_gpu_launch(gpu_gemm.gpu_dense_plan(70, 33, 65, "f32", True, transpose_b,
                                                   "relu"))
    got = run_plan(plan, a, b, bias)
    want = np.maximum(a @ (b.T if transpose_b else b) + bias, 0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    x = rng.standard_normal((1, 5, 9, 9), dtype=np.float32)
    w = rng.standard_normal((7, 5, 3, 3), dtype=np.float32)
    conv = with_gpu_launch(gpu_gemm.gpu_conv2d_plan(x.shape, w.shape, "f32", 2, 1))
    np.testing.assert_allclose(run_plan(conv, x, w), ref.conv2d_acc(x, w, (2, 2), 1),
                               rtol=1e-4, atol=1e-4)
    s = rng.standard_normal((6, 40), dtype=np.float32) * 4
    np.testing.assert_allclose(run_plan(with_gpu_launch(softmax_plan(s.shape)), s),
                               ref.softmax(s), rtol=1e-5, atol=1e-7)


def _plan(body, block=(8, 1, 1), size=8) -> OpPlan:
    k = Kernel("probe", (Param("x", dt.i32), Param("y", dt.i32)),
               (Loop("t", 8, tuple(body), "thread.x"),))
    bufs = (BufferSpec("x", dt.i32, (size,), "input"), BufferSpec("y", dt.i32, (size,),
                                                                  "output"))
    return OpPlan("probe", (k,), bufs, (Step("probe", ("x", "y"), (1, 1, 1), block),))


def test_what_a_gpu_must_not_do_is_named():
    t = Var("t")
    x = np.arange(8, dtype=np.int32)
    ok = _plan([Store("y", t, Load("x", t, dt.i32))])
    np.testing.assert_array_equal(run_plan(ok, x), x)
    with pytest.raises(SimtError, match=r"probe: load x\[8\] out of bounds \(size 8\) on lane 7"):
        run_plan(_plan([Store("y", t, Load("x", t + 1, dt.i32))]), x)
    with pytest.raises(SimtError, match=r"race: lanes store different values to y\[0\]"):
        run_plan(_plan([Store("y", Const(0, dt.i64), Load("x", t, dt.i32))]), x)
    divergent = [Alloc("s", dt.i32, 8, "shared"),
                 If(lt(t, 4), (Barrier(),)), Store("y", t, Const(1, dt.i32))]
    with pytest.raises(SimtError, match="barrier reached by part of a thread block"):
        run_plan(_plan(divergent), x)
    # a thread past the loop's bound does nothing (the renderer's `var < stop` guard)
    guarded = _plan([Store("y", t, Load("x", t, dt.i32))], block=(16, 1, 1))
    np.testing.assert_array_equal(run_plan(guarded, x), x)
