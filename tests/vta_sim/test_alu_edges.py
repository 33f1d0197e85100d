"""Every ALU op at the int8/int32 edges: the simulator's lane arithmetic equals the
reference's Python-int arithmetic, and the out path saturates."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import reference
from vta_hw import isa
from vta_sim.effects import alu_compute, requantize8, saturate8

EDGES = [-2**31, -2**31 + 1, -2**15 - 1, -2**15, -129, -128, -127, -64, -33, -32, -31, -2, -1,
         0, 1, 2, 31, 32, 33, 63, 64, 126, 127, 128, 2**15 - 1, 2**15, 2**31 - 2, 2**31 - 1]


@pytest.mark.parametrize("op", isa.ALU_LANE_OPS, ids=[o.name for o in isa.ALU_LANE_OPS])
def test_alu_edges_exhaustive_pairs(op):
    x = np.array([a for a in EDGES for _ in EDGES], np.int32)
    y = np.array([b for _ in EDGES for b in EDGES], np.int32)
    got = alu_compute(op, x, y)
    want = [reference.alu(op, int(a), int(b)) for a, b in zip(x, y, strict=True)]
    np.testing.assert_array_equal(got, np.array(want, np.int64))


@pytest.mark.parametrize("op", isa.ALU_LANE_OPS, ids=[o.name for o in isa.ALU_LANE_OPS])
@settings(max_examples=150, deadline=None)
@given(x=st.integers(-2**31, 2**31 - 1), y=st.integers(-2**31, 2**31 - 1))
def test_alu_random(op, x, y):
    got = alu_compute(op, np.array([x], np.int32), np.array([y], np.int32))
    assert int(got[0]) == reference.alu(op, x, y)


def test_immediates_are_sign_extended_16_bit():
    x = np.array([1000], np.int32)
    assert int(alu_compute(isa.AluOp.ADD, x, np.int64(-32768))[0]) == 1000 - 32768


def test_out_path_saturates():
    v = np.array([-2**31, -129, -128, 0, 127, 128, 2**31 - 1], np.int32)
    np.testing.assert_array_equal(saturate8(v), [-128, -128, -128, 0, 127, 127, 127])


@pytest.mark.parametrize("shift", [0, 1, 2, 7, 8, 30, 31])
@pytest.mark.parametrize("relu", [False, True])
def test_out_mode_requantize_edges(shift, relu):
    """The GEMM out mirror under OUTMODE equals the reference lane by lane on the edges."""
    x = np.array(EDGES, np.int32)
    got = requantize8(x, shift, relu)
    lo = 0 if relu else -128
    want = [min(127, max(lo, (v + (1 << shift >> 1)) >> shift)) for v in EDGES]
    np.testing.assert_array_equal(got, np.array(want, np.int8))
    assert isa.out_mode_fields(isa.out_mode_imm(shift, relu)) == (shift, relu)
