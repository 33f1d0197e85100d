"""The vector ALU against the golden lane semantics, and the GEMM array against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import reference
from vta_hw import isa
from vta_hw.config import TINY, WIDE
from vta_hw.rtl.alu import AluLanes
from vta_hw.rtl.gemm import GemmArray

from .helpers import lanes, pack, run_bench

EDGES = [0, 1, -1, 2, -2, 31, 32, 33, -31, -32, -33, 63, 64, 127, -128, 2**15 - 1, -2**15,
         2**17 - 1, 2**17, -2**17, 2**30, 2**31 - 1, -2**31, -2**31 + 1, 0x55555555,
         -0x55555556]  # (2**17: the multiply's operand split)
int32 = st.one_of(st.sampled_from(EDGES), st.integers(-2**31, 2**31 - 1))


def _alu_results(cases: list[tuple[int, list[int], list[int]]],
                 stage_reg: bool = False) -> list[list[int]]:
    """Results of ``cases`` fed one per cycle (read ``latency`` cycles later)."""
    dut = AluLanes(TINY, stage_reg=stage_reg)
    n = dut.lanes
    out = []

    async def bench(ctx):
        for k in range(len(cases) + dut.latency):
            if k < len(cases):
                op, a, b = cases[k]
                ctx.set(dut.op, op)
                ctx.set(dut.a, pack(a, 32))
                ctx.set(dut.b, pack(b, 32))
            if k >= dut.latency:
                out.append(lanes(ctx.get(dut.result), n, 32))
            await ctx.tick()

    run_bench(dut, bench)
    return out


@pytest.mark.parametrize("stage_reg", [False, True], ids=["comb", "two_stage"])
def test_alu_every_op_on_edge_values(stage_reg):
    n = TINY.batch * TINY.block_out
    cases = []
    for op in isa.ALU_LANE_OPS:
        for i in range(0, len(EDGES) ** 2, n):
            pairs = [(EDGES[(i + k) // len(EDGES) % len(EDGES)], EDGES[(i + k) % len(EDGES)])
                     for k in range(n)]
            cases.append((op, [p[0] for p in pairs], [p[1] for p in pairs]))
    got = _alu_results(cases, stage_reg)
    for (op, a, b), res in zip(cases, got, strict=True):
        want = [reference.alu(op, x, y) for x, y in zip(a, b, strict=True)]
        assert res == want, (op.name, a, b)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(isa.ALU_LANE_OPS), st.lists(int32, min_size=4, max_size=4),
       st.lists(int32, min_size=4, max_size=4))
def test_alu_random_lanes(op, a, b):
    (res,) = _alu_results([(op, a, b)])
    assert res == [reference.alu(op, x, y) for x, y in zip(a, b, strict=True)]


@pytest.mark.parametrize("stages", [(False, False, 0, False), (False, True, 0, False),
                                    (True, True, 0, False), (True, True, 2, False),
                                    (True, False, 0, True), (True, True, 0, True)])
@pytest.mark.parametrize("cfg", [TINY, WIDE], ids=lambda c: c.name)
def test_gemm_array_matches_numpy(cfg, stages):
    rng = np.random.default_rng(3)
    b, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
    dut = GemmArray(cfg, product_reg=stages[0], tree_reg=stages[1], extra=stages[2],
                    input_reg=stages[3])
    inputs = [(rng.integers(-128, 128, (b, bi)), rng.integers(-128, 128, (bo, bi)))
              for _ in range(6)]
    inputs[0] = (np.full((b, bi), -128), np.full((bo, bi), -128))  # the largest sum
    got = []

    async def bench(ctx):
        for k in range(len(inputs) + dut.latency):
            if k < len(inputs):
                x, w = inputs[k]
                ctx.set(dut.inp, pack(x.ravel(), 8))
                ctx.set(dut.wgt, pack(w.ravel(), 8))
            if k >= dut.latency:
                got.append(lanes(ctx.get(dut.sum), b * bo, 32))
            await ctx.tick()

    run_bench(dut, bench)
    for (x, w), res in zip(inputs, got, strict=True):
        assert res == list((x @ w.T).ravel())
