"""The out mode's requantizing mirror (``rtl/outmode.py``) against ``vta_sim.effects.requantize8``
at every shift, around each shift's rounding and clamp boundaries and the int32 edges (the
same values go through the whole core in ``test_cosim.py::test_out_mode_sweep``)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vta_hw import isa
from vta_hw.rtl.outmode import OutMode
from vta_sim.effects import requantize8

from .helpers import lanes, pack, requantize_edges, run_bench

LANES = 4
INT32 = (-2**31, 2**31 - 1)


def _mirror(modes: list[tuple[int | None, list[int]]]) -> list[list[int]]:
    """For each ``(imm, xs)``: latch ``imm`` (``None``: keep the mode), then the bytes of
    ``xs`` fed ``LANES`` at a time."""
    dut = OutMode(LANES)
    got = []

    async def bench(ctx):
        for imm, xs in modes:
            if imm is not None:
                ctx.set(dut.set, 1)
                ctx.set(dut.imm, imm)
                await ctx.tick()
                ctx.set(dut.set, 0)
            res = []
            for i in range(0, len(xs), LANES):
                chunk = (xs[i:i + LANES] + [0] * LANES)[:LANES]
                ctx.set(dut.acc, pack(chunk, 32))
                res += lanes(ctx.get(dut.out), LANES, 8)[:len(xs[i:i + LANES])]
            got.append(res)

    run_bench(dut, bench)
    return got


def test_every_shift_on_itsrequantize_edges():
    modes = []
    for shift in range(1 << isa.OUT_MODE_SHIFT_BITS):
        for relu in (False, True):
            modes.append((isa.out_mode_imm(shift, relu), requantize_edges(shift)))
    got = _mirror(modes)
    for (imm, xs), res in zip(modes, got, strict=True):
        want = requantize8(np.array(xs, np.int64), *isa.out_mode_fields(imm))
        assert res == want.tolist(), isa.out_mode_fields(imm)


def test_reset_mode_is_plain_saturation_and_other_imm_bits_are_ignored():
    xs = requantize_edges(0) + requantize_edges(5)
    imm = -1 << (isa.OUT_MODE_RELU_BIT + 1) | isa.out_mode_imm(5, False)  # high bits set
    (after_reset, with_imm) = _mirror([(None, xs), (imm, xs)])
    assert after_reset == requantize8(np.array(xs), 0, False).tolist()
    assert with_imm == requantize8(np.array(xs), 5, False).tolist()


@settings(max_examples=30, deadline=None)
@given(st.integers(0, (1 << isa.OUT_MODE_SHIFT_BITS) - 1), st.booleans(),
       st.lists(st.integers(*INT32), min_size=LANES, max_size=LANES))
def test_random_lanes(shift, relu, xs):
    (res,) = _mirror([(isa.out_mode_imm(shift, relu), xs)])
    assert res == requantize8(np.array(xs), shift, relu).tolist()
