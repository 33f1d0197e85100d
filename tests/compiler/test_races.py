"""The race check in compilation: a dropped load->compute push/pop pair passes
``check_tokens`` but not the race checker, which names both instructions; compiled
operators (and a chain) are race-free; the pipeline and ``chain`` run the check."""

from __future__ import annotations

from dataclasses import replace

import pytest

from compiler import (
    Conv2d,
    Dense,
    DepthwiseConv2d,
    Epilogue,
    LayoutOptions,
    Pool2d,
    Requant,
    check_tokens,
    compile_op,
    default_schedule,
)
from compiler.api import chain
from compiler.lower.races import canonical_image, check_program_races
from compiler.pipeline import CHECKS, PASSES, run_pipeline
from tests.compiler.golden_cases import CASES
from vta_hw import isa
from vta_hw.config import DEFAULT, TINY
from vta_sim.races import Buffer, RaceError, find_races

LOAD_TO_COMPUTE = (isa.Module.LOAD, isa.Module.COMPUTE)


def drop_pair(insns: list[isa.Insn], k: int) -> tuple[list[isa.Insn], int, int]:
    """Remove the k-th push on load->compute and the pop that consumes it (the k-th pop);
    returns the stream and the two instruction indices."""
    pushes = [i for i, x in enumerate(insns) if LOAD_TO_COMPUTE in isa.token_ops(x)[1]]
    pops = [i for i, x in enumerate(insns) if LOAD_TO_COMPUTE in isa.token_ops(x)[0]]
    p, q = pushes[k], pops[k]
    out = list(insns)
    out[p] = replace(out[p], push_next=False)
    out[q] = replace(out[q], pop_prev=False)
    return out, p, q


def test_dropped_push_pop_pair_is_a_race_that_check_tokens_misses():
    op = Conv2d(1, 16, 9, 9, 16, 3, 3, 1, 1, Epilogue(requant=Requant(shift=7), relu=True))
    c = compile_op(op, TINY)
    insns, image = canonical_image(c.program)
    assert find_races(insns, TINY, image).ok
    pops = [i for i, x in enumerate(insns) if LOAD_TO_COMPUTE in isa.token_ops(x)[0]]
    k = next(j for j, i in enumerate(pops) if isinstance(insns[i], isa.Gemm))
    broken, p, q = drop_pair(insns, k)
    assert isinstance(broken[p], isa.Load) and broken[p].mem in (isa.MemType.INP,
                                                                  isa.MemType.WGT)
    check_tokens(broken, TINY)  # still balanced and deadlock-free
    report = find_races(broken, TINY, image)
    assert not report.ok
    pairs = {r.indices for r in report.races}
    assert (p, q) in pairs  # the LOAD and the GEMM that popped its token
    race = next(r for r in report.races if r.indices == (p, q))
    assert race.kind == "RAW" and race.buffer in (Buffer.INP, Buffer.WGT)
    assert all(r.second.index >= q for r in report.races)  # nothing before the pop changed
    with pytest.raises(RaceError) as e:
        check_program_races(replace(c.program, nodes=tuple(
            replace(n, insn=x) for n, x in zip(c.program.instrs(), broken, strict=True))))
    assert f"(instruction {p}, load)" in str(e.value)
    assert f"(instruction {q}, compute)" in str(e.value)


def test_compilation_runs_the_race_check():
    """A token pass that drops a matched pair makes compilation fail in the emit check."""
    assert CHECKS["emit"] is check_program_races
    op = Conv2d(1, 8, 6, 6, 8, 3, 3, 1, 1)
    tokens = dict(PASSES)["tokens"]

    def sabotaged(p):
        q = tokens(p)
        insns, _, _ = drop_pair([n.insn for n in q.instrs()], 1)
        return replace(q, nodes=tuple(replace(n, insn=x)
                                      for n, x in zip(q.instrs(), insns, strict=True)))

    passes = tuple((name, sabotaged if name == "tokens" else fn) for name, fn in PASSES)
    checks_tokens = dict(CHECKS)
    assert "tokens" in checks_tokens
    with pytest.raises(RaceError, match="RAW on (inp|wgt)"):
        run_pipeline(op, TINY, default_schedule(op, TINY), passes=passes)


CORPUS = {
    "conv_strided_padded_tiny": lambda: compile_op(
        Conv2d(1, 6, 9, 7, 5, 3, 3, 2, 1, Epilogue(requant=Requant(shift=6))), TINY),
    "conv_resnet_block_default": lambda: compile_op(
        Conv2d(1, 32, 14, 14, 32, 3, 3, 1, 1, Epilogue(requant=Requant(shift=8), relu=True)),
        DEFAULT),
    "depthwise_tiny": lambda: compile_op(
        DepthwiseConv2d(1, 8, 7, 7, 3, 3, 2, 1, Epilogue(requant=Requant(shift=4))), TINY),
    "dense_default": lambda: compile_op(
        Dense(4, 64, 48, Epilogue(bias=True, requant=Requant(shift=5))), DEFAULT),
    "avgpool_tiny": lambda: compile_op(Pool2d(1, 8, 8, 8, "avg", 2, 2, 2, 0), TINY),
    **{f"golden_{k}": v for k, v in CASES.items()},
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_compiled_operators_are_race_free(name):
    c = CORPUS[name]()  # compilation already ran the check; run it again to look at it
    insns, image = canonical_image(c.program)
    report = find_races(insns, c.cfg, image)
    assert report.ok, report.message()
    assert report.instructions == len(insns) and report.accesses > len(insns)


def test_chained_program_is_race_free_and_checked():
    cfg = TINY
    c1 = compile_op(Conv2d(1, 8, 9, 9, 12, 3, 3, 1, 1, Epilogue(requant=Requant(shift=9),
                                                                 relu=True)), cfg,
                    options=LayoutOptions(output_halo=(1, 1)))
    c2 = compile_op(Conv2d(1, 12, 9, 9, 8, 3, 3, 2, 1, Epilogue(requant=Requant(shift=9))),
                    cfg)
    ch = chain([c1, c2], [{"y": "t"}, {"x": "t"}])
    uops = {g: ch.ops[i].pack_tensor(t, {}) for g, (t, i) in ch.tensors.items()
            if t.mem == isa.MemType.UOP}
    insns, image = canonical_image(ch.program, uops)
    assert find_races(insns, cfg, image).ok
    # the chain's store -> load ordering through a compute NOP is what keeps it race-free:
    # without the NOP's pop the second op's loads race with the first op's stores
    nop = next(i for i, x in enumerate(insns) if isinstance(x, isa.Nop))
    assert insns[nop].pop_next
    broken = list(insns)
    broken[nop] = replace(broken[nop], pop_next=False)
    store_pushes = [i for i, x in enumerate(broken) if x.push_prev and isinstance(x, isa.Store)]
    pops = [i for i, x in enumerate(broken) if x.pop_next and isa.module_of(x)
            == isa.Module.COMPUTE]
    # rebalance: drop the push that pop consumed (the same rank among the store's pushes)
    rank = sum(1 for i in pops if i < nop)
    broken[store_pushes[rank]] = replace(broken[store_pushes[rank]], push_prev=False)
    check_tokens(broken, cfg)
    races = find_races(broken, cfg, image).races
    assert any(r.buffer == Buffer.DRAM and r.kind == "RAW" for r in races)
