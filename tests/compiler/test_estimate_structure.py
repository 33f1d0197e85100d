"""The schedule search's estimate shares the lowering before ``interleave`` between
configs that differ only in their DRAM model, clock or name (``structure_config``): its
cycles must equal those of lowering each config afresh, and differ where the DRAM does."""

from __future__ import annotations

import pytest

from compiler import Conv2d, Dense, Epilogue, Requant, default_schedule
from compiler.lower.interleave import list_cycles
from compiler.pipeline import PASSES, estimate_cycles, run_pipeline, structure_config
from vta_hw.config import DEFAULT, TINY

EP = Epilogue(requant=Requant(shift=8), relu=True)
OPS = [Conv2d(1, 32, 14, 14, 32, 3, 3, 1, 1, epilogue=EP, name="c3"),
       Conv2d(1, 64, 14, 14, 32, 1, 1, 2, 0, epilogue=EP, name="c1s2"),
       Dense(1, 128, 64, epilogue=Epilogue(requant=Requant(shift=7)), name="fc")]


def afresh(op, schedule, cfg) -> int:
    """The list schedule's cycles of ``cfg``'s own lowering (no sharing)."""
    names = [n for n, _ in PASSES]
    p = run_pipeline(op, cfg, schedule, None, passes=PASSES[:names.index("interleave")],
                     checked=False)
    return list_cycles(p)


@pytest.mark.parametrize("base", [TINY, DEFAULT], ids=["tiny", "default"])
def test_shared_structure_is_retimed_exactly(base):
    variants = [base.replace(name=f"v{i}", **kw) for i, kw in enumerate((
        {}, {"dram_latency": base.dram_latency * 4}, {"log_dram_bytes_per_cycle": 5},
        {"target_clock_mhz": 75.0}))]
    assert len({structure_config(c) for c in variants}) == 1
    for op in OPS:
        s = default_schedule(op, base)
        got = [estimate_cycles(op, s, c) for c in variants]
        assert got == [afresh(op, s, c) for c in variants], op.name
        assert got[1] > got[0] and got[3] == got[0], op.name  # slower DRAM; the clock: none


def test_fields_the_lowering_reads_are_kept_apart():
    assert structure_config(TINY) != structure_config(TINY.replace(log_wgt_buff_depth=7))
    assert structure_config(TINY) != structure_config(TINY.replace(gemm_pipeline_depth=6))
