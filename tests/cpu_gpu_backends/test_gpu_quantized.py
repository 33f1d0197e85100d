"""Quantized opset ops on the GPU (``cpu_gpu_backends.ops.gpu_quantized``).

Without a GPU: every random op (the strategy of ``tests/opset/test_same_bits.py``) gets a
GPU plan that keeps the op's contract (inputs named and ordered as ``op.inputs()``, one int8
output); the parts of the GPU plans that are ordinary ``parallel`` kernels (depthwise,
element-wise with one element per thread, pooling, and the per-element epilogue that
follows the tiled GEMMs) run on the CPU backend -- the NVPTX renderer maps each parallel task
to one GPU thread, so this checks their arithmetic -- and equal :func:`opset.reference.run`
bit for bit.  With a GPU (``-m gpu`` tier; skipped with the reason without one): the whole
GPU program, tiled GEMMs included, equals the reference bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cpu_gpu_backends as cg
from cpu_gpu_backends.ops.conv2d import conv2d_plan
from cpu_gpu_backends.ops.gemm import dense_plan
from cpu_gpu_backends.ops.gpu_quantized import PER_THREAD, gpu_capable, gpu_op_plan
from cpu_gpu_backends.ops.quantized import _with_epilogue, rename
from opset import Conv2d, Dense, reference
from tests.opset.test_same_bits import ops, random_inputs

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


def _gpu_only(kernel) -> bool:
    """Whether only a GPU runs ``kernel`` (loops bound to grid axes, barriers)."""
    return "block." in repr(kernel) or "thread." in repr(kernel)


def _cpu_raw_with_gpu_epilogue(op):
    """The CPU's raw GEMM kernel followed by the GPU plan's per-element epilogue."""
    if isinstance(op, Conv2d):
        raw = conv2d_plan((op.n, op.c, op.h, op.w), (op.o, op.c, op.kh, op.kw), "i8",
                          op.stride, op.pad, 1, op.epilogue.bias, None, pad_value=op.pad_value)
        return _with_epilogue(rename(raw, {"y": "acc"}, frozenset({"acc"})), op,
                              (op.n, op.o, op.ho, op.wo), 1, PER_THREAD)
    raw = dense_plan(op.n, op.i, op.o, "i8", op.epilogue.bias, transpose_b=True)
    raw = rename(raw, {"a": "x", "b": "w", "out": "acc"}, frozenset({"acc"}))
    return _with_epilogue(raw, op, (op.n, op.o), 1, PER_THREAD)


@SETTINGS
@given(op=ops(), seed=st.integers(0, 2**16))
def test_gpu_plans_keep_the_contract_and_their_parallel_kernels_the_bits(cpu, op, seed):
    assert gpu_capable(op)
    plan = gpu_op_plan(op)
    assert [b.name for b in plan.inputs] == [t.name for t in op.inputs()]
    (out,) = plan.outputs
    assert out.shape == op.output().shape and out.ty.np == np.int8
    inputs = random_inputs(op, np.random.default_rng(seed))
    want = reference.run(op, inputs)
    if isinstance(op, Conv2d | Dense):
        # the tiled GEMM, then parallel kernels only (the per-element epilogue)
        assert _gpu_only(plan.kernels[0])
        assert not any(_gpu_only(k) for k in plan.kernels[1:])
        plan = _cpu_raw_with_gpu_epilogue(op)
    else:
        assert not any(_gpu_only(k) for k in plan.kernels)
    got = cpu.compile(plan)(*[inputs[t.name] for t in op.inputs()])
    np.testing.assert_array_equal(got, want, err_msg=f"GPU plan on the CPU vs reference: {op}")


def test_per_element_epilogue_is_one_thread_per_element():
    plan = cg.gpu_quantized_op(Dense(3, 40, 20)).plan
    gemm, epi = plan.steps
    assert gemm.block == (16, 16, 1) and epi.block == (60, 1, 1) and epi.grid == (1, 1, 1)


def test_an_op_without_a_gpu_plan_is_named():
    with pytest.raises(TypeError, match="no GPU plan for str"):
        gpu_op_plan("conv")
    assert not gpu_capable(object())


@pytest.mark.gpu
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(op=ops(), seed=st.integers(0, 2**16))
def test_gpu_program_equals_the_reference(gpu, op, seed):
    inputs = random_inputs(op, np.random.default_rng(seed))
    prog = cg.gpu_quantized_op(op, gpu.arch)
    handle = gpu.load(prog)
    bufs = []
    for t in op.inputs():
        b = gpu.allocate(inputs[t.name].nbytes)
        gpu.copy_in(b, inputs[t.name])
        bufs.append(b)
    out = gpu.allocate(int(np.prod(op.output().shape)))
    gpu.launch(handle, *bufs, out)
    gpu.synchronize()
    got = np.frombuffer(gpu.copy_out(out), np.int8).reshape(op.output().shape)
    for b in (*bufs, out):
        gpu.free(b)
    np.testing.assert_array_equal(got, reference.run(op, inputs), err_msg=str(op))
