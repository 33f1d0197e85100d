"""Dependency tokens: the checker rejects broken streams with the instruction and queue;
the insertion pass orders every dependency and is balanced and deadlock-free."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler import Conv2d, Epilogue, Requant, TokenError, check_tokens, compile_op
from compiler.ir import Access, Instr, Program
from compiler.lower.tokens import dependencies, insert_tokens, latest_dependencies
from vta_hw import isa
from vta_hw.config import DEFAULT, TINY

M = isa.MemType


def good_stream() -> list[isa.Insn]:
    """load -> compute -> store -> (FINISH waits for the store)."""
    return [
        isa.Load(mem=M.INP, y_size=1, x_size=1, x_stride=1, push_next=True),
        isa.Gemm(uop_end=1, iter_out=1, iter_in=1, pop_prev=True, push_next=True),
        isa.Store(y_size=1, x_size=1, x_stride=1, pop_prev=True, push_prev=True),
        isa.Finish(pop_next=True),
    ]


def test_good_stream_passes():
    rep = check_tokens(good_stream(), DEFAULT)
    assert rep.pushes == {"load->compute": 1, "compute->load": 0, "compute->store": 1,
                          "store->compute": 1}
    assert rep.known[3] == (0, 1, 2)  # FINISH knows the load, the GEMM and the store finished


def test_missing_push():
    s = good_stream()
    s[0] = replace(s[0], push_next=False)
    with pytest.raises(TokenError, match=r"compute instruction 1 \(GEMM\) pops load->compute "
                       r"\(pop #1\) but the stream pushes only 0 token\(s\) on that queue: a push "
                       r"is missing or a pop is extra"):
        check_tokens(s, DEFAULT)


def test_extra_pop():
    s = good_stream()
    s.insert(2, isa.Alu(uop_end=1, iter_out=1, iter_in=1, use_imm=True, pop_prev=True))
    with pytest.raises(TokenError, match=r"compute instruction 2 \(ALU\) pops load->compute "
                       r"\(pop #2\) but the stream pushes only 1"):
        check_tokens(s, DEFAULT)


def test_extra_push():
    s = good_stream()
    s[1] = replace(s[1], push_prev=True)
    with pytest.raises(TokenError, match=r"unbalanced queue compute->load: 1 token\(s\) pushed "
                       r"but never popped, by instruction\(s\) \[1\]"):
        check_tokens(s, DEFAULT)


def test_finish_must_wait_for_the_store():
    s = good_stream()
    s[2] = replace(s[2], push_prev=False)
    s[3] = replace(s[3], pop_next=False)
    with pytest.raises(TokenError, match=r"FINISH \(instruction 3\) can retire before store "
                       r"instruction 2 \(STORE out\) completes"):
        check_tokens(s, DEFAULT)


def test_circular_wait_deadlocks():
    s = [isa.Load(mem=M.INP, y_size=1, x_size=1, x_stride=1, pop_next=True, push_next=True),
         isa.Gemm(uop_end=1, iter_out=1, iter_in=1, pop_prev=True, push_prev=True),
         isa.Finish()]
    with pytest.raises(TokenError, match=r"deadlock: load instruction 0 \(LOAD inp\) pops "
                       r"compute->load \(pop #1\), which never gets its token"):
        check_tokens(s, DEFAULT)


def test_full_command_queue_deadlocks():
    """A pop whose push comes later in program order can starve behind a full command queue."""
    ld = isa.Load(mem=M.INP, y_size=1, x_size=1, x_stride=1)
    s = [replace(ld, pop_next=True)] + [ld] * TINY.cmd_queue_depth
    s += [isa.Gemm(uop_end=1, iter_out=1, iter_in=1, push_prev=True), isa.Finish()]
    with pytest.raises(TokenError, match=r"deadlock: load instruction 0 .* meanwhile fetch waits "
                       r"to dispatch instruction 8 \(LOAD inp\) "
                       r"into the full load command queue"):
        check_tokens(s, TINY)


def test_bad_finish_and_flags():
    with pytest.raises(TokenError, match="exactly one FINISH"):
        check_tokens(good_stream()[:-1], DEFAULT)
    s = good_stream()
    s[0] = replace(s[0], pop_prev=True)
    with pytest.raises(TokenError, match="sets pop_prev, but the load module has no such"):
        check_tokens(s, DEFAULT)


def test_compiled_streams_pass_and_break_when_edited():
    op = Conv2d(1, 32, 10, 10, 32, 3, 3, 1, 1, Epilogue(requant=Requant(shift=7)))
    c = compile_op(op, TINY)
    insns = [n.insn for n in c.instrs]
    rep = check_tokens(insns, TINY)
    assert all(v <= TINY.token_queue_depth for v in rep.max_in_flight.values())
    k = next(i for i, x in enumerate(insns) if x.push_next and isa.module_of(x) == isa.Module.LOAD)
    broken = list(insns)
    broken[k] = replace(broken[k], push_next=False)
    with pytest.raises(TokenError, match=r"load->compute"):
        check_tokens(broken, TINY)


# ---------------------------------------------------------------------------- insertion
_MODS = [
    (lambda k: isa.Load(mem=M.INP, y_size=1, x_size=1, x_stride=1), ("inp",), "w"),
    (lambda k: isa.Load(mem=M.WGT, y_size=1, x_size=1, x_stride=1), ("wgt",), "w"),
    (lambda k: isa.Gemm(uop_end=1, iter_out=1, iter_in=1), ("inp", "wgt", "acc"), "rw"),
    (lambda k: isa.Alu(uop_end=1, iter_out=1, iter_in=1, use_imm=True), ("acc",), "rw"),
    (lambda k: isa.Store(y_size=1, x_size=1, x_stride=1), ("acc",), "r"),
    (lambda k: isa.Load(mem=M.INP, y_size=1, x_size=1, x_stride=1), ("dram",), "r"),
    (lambda k: isa.Store(y_size=1, x_size=1, x_stride=1), ("dram",), "w"),
]


def random_program(seed: int, n: int) -> list[Instr]:
    """Random instructions touching a few SRAM ranges and one DRAM tensor."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        make, spaces, mode = _MODS[rng.randrange(len(_MODS))]
        acc = []
        for sp in spaces:
            if sp == "dram":
                acc.append(Access("dram:t"))
            else:
                lo = rng.randrange(0, 8) * 4
                acc.append(Access(sp, lo, lo + rng.choice([2, 4, 8])))
        reads = tuple(acc) if "r" in mode else ()
        # GEMM/ALU write only their accumulators; DMAs write everything they name
        writes = tuple(a for a in acc if "w" in mode and (mode != "rw" or a.space == "acc"))
        out.append(Instr(make(k), reads=reads, writes=writes, seq=k))
    return out


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 60), shuffle=st.booleans())
def test_insertion_orders_every_dependency(seed, n, shuffle):
    """Every cross-module dependency is covered by a token chain, through NOPs for
    load <-> store; the result is balanced, deadlock-free and ends with FINISH."""
    prog = random_program(seed, n)
    order = list(range(n))
    if shuffle:  # any order that keeps dependencies and each module's order is valid
        deps = dependencies(prog)
        placed, order, pending = set(), [], list(range(n))
        rng = random.Random(seed)
        while pending:
            ready = [i for i in pending
                     if deps[i] <= placed and all(j in placed for j in pending
                                                  if j < i and prog[j].module == prog[i].module)]
            i = rng.choice(ready)
            placed.add(i)
            order.append(i)
            pending.remove(i)
    p = Program(DEFAULT, op=None, schedule=None, nodes=tuple(prog[i] for i in order))
    out = insert_tokens(p)
    insns = [x.insn for x in out.nodes]
    rep = check_tokens(insns, DEFAULT)  # balanced, deadlock-free
    pos = {id(x): k for k, x in enumerate(out.nodes)}
    deps = dependencies(prog)
    for b, d in enumerate(deps):
        kb = pos[id(next(x for x in out.nodes if x.seq == b and not isinstance(
            x.insn, (isa.Nop, isa.Finish))))]
        for a in d:
            ka = next(k for k, x in enumerate(out.nodes) if x.seq == a
                      and not isinstance(x.insn, (isa.Nop, isa.Finish)))
            m = isa.module_of(out.nodes[ka].insn)
            assert rep.known[kb][m] >= ka, f"instruction {kb} may run before {ka}"


def test_conv_stream_orders_every_dependency():
    """The same property on a real double-buffered conv2d."""
    op = Conv2d(1, 24, 9, 9, 24, 3, 3, 1, 1, Epilogue(requant=Requant(shift=7), relu=True))
    c = compile_op(op, TINY)
    nodes = list(c.instrs)
    logical = sorted((x for x in nodes if x.seq >= 0), key=lambda x: x.seq)
    deps = dependencies(logical)
    rep = check_tokens([x.insn for x in nodes], TINY)
    pos = {x.seq: k for k, x in enumerate(nodes) if x.seq >= 0}
    for li, d in enumerate(deps):
        kb = pos[logical[li].seq]
        for a in d:
            ka = pos[logical[a].seq]
            assert rep.known[kb][isa.module_of(nodes[ka].insn)] >= ka
    assert np.all(np.diff([x.seq for x in nodes if x.seq >= 0 and isa.module_of(x.insn)
                           == isa.Module.COMPUTE]) > 0)


def _naive_dependencies(instrs: list[Instr]) -> list[set[int]]:
    """The definition, scanned: every access meets every earlier range of its space it
    overlaps (DRAM: all of them); RAW on the last writer, WAW and WAR on writes."""
    table: dict[str, dict[tuple[int, int], list]] = {}
    deps = []
    for k, ins in enumerate(instrs):
        m, d = ins.module, set()
        for a, write in [(a, False) for a in ins.reads] + [(a, True) for a in ins.writes]:
            for (lo, hi), (w, readers) in table.get(a.space, {}).items():
                if a.space.startswith("dram:") or (a.lo < hi and lo < a.hi):
                    if w is not None and instrs[w].module != m:
                        d.add(w)
                    if write:
                        d.update(r for mod, r in readers.items() if mod != m)
        for a in ins.reads:
            table.setdefault(a.space, {}).setdefault((a.lo, a.hi), [None, {}])[1][m] = k
        for a in ins.writes:
            table.setdefault(a.space, {})[(a.lo, a.hi)] = [k, {}]
        deps.append(d)
    return deps


@pytest.mark.parametrize("seed", range(6))
def test_dependencies_with_many_ranges_match_the_definition(seed):
    """Hundreds of distinct accumulator ranges (a chained model program) take the bucket
    index instead of the scan: the same dependencies, zero-width ranges and ranges that
    straddle bucket boundaries included; asking twice gives fresh, equal sets."""
    rng = random.Random(seed)
    prog = []
    for k in range(400):
        make, spaces, mode = _MODS[rng.randrange(len(_MODS))]
        acc = []
        for sp in spaces:
            if sp == "dram":
                acc.append(Access(f"dram:t{rng.randrange(3)}"))
            else:
                lo = rng.randrange(0, 600)
                acc.append(Access(sp, lo, lo + rng.choice([0, 1, 3, 16, 17, 40, 130])))
        reads = tuple(acc) if "r" in mode else ()
        writes = tuple(a for a in acc if "w" in mode and (mode != "rw" or a.space == "acc"))
        prog.append(Instr(make(k), reads=reads, writes=writes, seq=k))
    assert len({(a.lo, a.hi) for i in prog for a in i.reads + i.writes
                if a.space == "acc"}) > 100
    want = _naive_dependencies(prog)
    got = dependencies(prog)
    assert got == want and sum(map(len, want)) > 400
    got[0].add(-1)
    assert dependencies(prog) == want  # the remembered answer was not handed out
    # the list schedule's view: the latest dependency on each other module
    latest = [sorted(max(x for x in d if prog[x].module == mod)
                     for mod in {prog[x].module for x in d}) for d in want]
    assert [sorted(t) for t in latest_dependencies(prog)] == latest
    assert [sorted(t) for t in latest_dependencies(prog, from_full_sets=True)] == latest
