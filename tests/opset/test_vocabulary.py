"""The vocabulary's own guarantees: its arithmetic is the ALU's at the int32 edges (on the
CPU backend too), its errors are the toolkit's, and the compiler uses these very classes."""

from __future__ import annotations

import numpy as np
import pytest

import compiler
import cpu_gpu_backends as cg
import opset
from opset import AluStep, Elementwise, reference
from vta_hw import isa
from vta_hw.errors import VtaError
from vta_sim.effects import alu_compute

EDGES = np.array([-2**31, -2**31 + 1, -2**15, -129, -128, -3, -2, -1, 0, 1, 2, 3, 127, 128,
                  2**15 - 1, 2**30, 2**31 - 2, 2**31 - 1], np.int64)
SHIFTS = [0, 1, 2, 5, 15, 30, 31]


@pytest.mark.parametrize("op", ["rshr", "shr"])
def test_shifts_are_the_simulators_at_the_int32_edges(op):
    for s in SHIFTS:
        want = alu_compute(isa.AluOp[op.upper()], EDGES.astype(np.int32), np.int64(s))
        np.testing.assert_array_equal(reference.alu(op, EDGES, s), want, err_msg=f"{op} {s}")


@pytest.mark.parametrize("op", ["add", "mul", "min", "max"])
def test_wrapping_ops_are_the_simulators(op):
    y = np.array([-32768, -300, -1, 0, 1, 7, 32767], np.int64)
    x, yy = np.meshgrid(EDGES, y)
    want = alu_compute(isa.AluOp[op.upper()], x.astype(np.int32), yy)
    np.testing.assert_array_equal(reference.alu(op, x, yy), want)


def test_cpu_rshr_and_wrap_at_the_int32_edges():
    """The CPU's rshr (shift and add back the last bit out) and wrapping multiply equal the
    ALU's on accumulators at the int32 edges, saturated as the out path does."""
    x = EDGES.reshape(1, -1, 1, 1)
    # (int8 inputs cannot reach the edges: the standalone requantize takes int32)
    for s in SHIFTS:
        for m in (1, -1, 3, 32767):
            ep = opset.Epilogue(requant=opset.Requant(multiplier=m, shift=s))
            got = cg.requantize(x.shape, ep)(x.astype(np.int32))
            np.testing.assert_array_equal(got, reference.epilogue(x, ep), err_msg=f"{m} {s}")


def test_errors_are_the_toolkits_and_the_compilers():
    assert compiler.OpError is opset.OpError and compiler.LayoutError is opset.LayoutError
    with pytest.raises(VtaError, match="pad_value=200 is not an int8"):
        opset.Conv2d(1, 1, 3, 3, 1, 3, 3, pad_value=200)
    with pytest.raises(ValueError, match="does not fit the ALU"):
        AluStep("add", 1 << 20)
    with pytest.raises(opset.LayoutError, match="expected shape"):
        opset.ActLayout(1, 3, 2, 2, 4, 1).pack(np.zeros((1, 3, 2, 3), np.int8))


def test_the_compiler_takes_the_same_classes():
    assert compiler.Conv2d is opset.Conv2d and compiler.Epilogue is opset.Epilogue
    op = Elementwise((1, 2, 1, 3), (AluStep("add", None), AluStep("rshr", 1)))
    a = np.array([[[[100, -100, 7]], [[-128, 127, 0]]]], np.int8)
    b = np.array([[[[100, -100, 8]], [[-128, 127, 1]]]], np.int8)
    want = reference.run(op, {"a": a, "b": b})
    np.testing.assert_array_equal(want, [[[[100, -100, 8]], [[-128, 127, 1]]]])
    np.testing.assert_array_equal(cg.quantized_op(op)(a, b), want)
