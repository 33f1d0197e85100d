"""The race checker (vta_sim.races): minimal races on every shared buffer and their
token-ordered fixes, the access ranges it computes, the hand-written and random corpora
(race-free), and the simulator's ``check_races`` option and ``vta sim --check-races``."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.programs import random_programs
from tests.programs.corpus import CORPUS
from tests.vta_hw import helpers
from vta.cli import main
from vta_hw import isa
from vta_hw.bundle import Bundle, BundleBuilder
from vta_hw.config import DEFAULT, PRESETS, TINY
from vta_sim import CycleLimitError, DeadlockError, RaceError, simulate
from vta_sim.races import (
    MAX_LISTED,
    Agent,
    Buffer,
    access_table,
    check_bundle_races,
    find_races,
    happens_before,
)

M = isa.MemType
CFG = TINY


def _bundle(body: list[isa.Insn], cfg=CFG) -> Bundle:
    """``body`` after a uop LOAD of one micro-op (0, 0, 0), with symbols ``inp`` (8 inp
    elements of data), ``wgt`` (4), ``out`` (8 out elements) and ``uops``; dram_base fields
    of LOAD/STORE in ``body`` are relative to the symbol named by their memory type."""
    rng = np.random.default_rng(0)
    bb = BundleBuilder(cfg)
    e = {m: isa.elem_bytes(cfg, m) for m in M}
    regions = {
        M.INP: bb.add("inp", rng.integers(-9, 9, 8 * e[M.INP], dtype=np.int8).tobytes()),
        M.WGT: bb.add("wgt", rng.integers(-9, 9, 4 * e[M.WGT], dtype=np.int8).tobytes()),
        M.OUT: bb.alloc("out", 8 * e[M.OUT]),
    }
    ur = bb.add_uops("uops", [isa.Uop(0, 0, 0)])
    insns: list[isa.Insn] = [isa.Load(mem=M.UOP, dram_base=ur.addr // 4, y_size=1, x_size=1,
                                      x_stride=1)]
    for x in body:
        if isinstance(x, (isa.Load, isa.Store)) and x.mem in regions:
            x = replace(x, dram_base=x.dram_base + regions[x.mem].addr // e[x.mem])
        insns.append(x)
    bb.set_program(insns)
    return bb.build()


def _load(mem=M.INP, **kw) -> isa.Load:
    return isa.Load(mem=mem, y_size=1, x_size=1, x_stride=1, **kw)


def _gemm(**kw) -> isa.Gemm:
    return isa.Gemm(uop_bgn=0, uop_end=1, iter_out=1, iter_in=1, **kw)


def _store(**kw) -> isa.Store:
    return isa.Store(mem=M.OUT, y_size=1, x_size=1, x_stride=1, **kw)


def _nop(**kw) -> isa.Nop:
    return isa.Nop(module=isa.Module.COMPUTE, **kw)


FIN = isa.Finish(pop_next=True)

# name -> (racy body, token-ordered fix, expected (kind, buffer, (first, second) in body
# positions)).  Every body ends with a STORE whose token FINISH pops.
CASES = {
    "inp_raw": (
        [_load(), _gemm(push_next=True), _store(pop_prev=True, push_prev=True), FIN],
        [_load(push_next=True), _gemm(pop_prev=True, push_next=True),
         _store(pop_prev=True, push_prev=True), FIN],
        ("RAW", Buffer.INP, (0, 1))),
    "wgt_raw": (
        [_load(M.WGT), _gemm(push_next=True), _store(pop_prev=True, push_prev=True), FIN],
        [_load(M.WGT, push_next=True), _gemm(pop_prev=True, push_next=True),
         _store(pop_prev=True, push_prev=True), FIN],
        ("RAW", Buffer.WGT, (0, 1))),
    "inp_war": (  # the second LOAD overwrites inp[0] while the GEMM may still read it
        [_load(push_next=True), _gemm(pop_prev=True, push_next=True), _load(dram_base=1),
         _store(pop_prev=True, push_prev=True), FIN],
        [_load(push_next=True), _gemm(pop_prev=True, push_next=True, push_prev=True),
         _load(dram_base=1, pop_next=True), _store(pop_prev=True, push_prev=True), FIN],
        ("WAR", Buffer.INP, (1, 2))),
    "out_raw": (  # the STORE may read out[0] before the GEMM's mirror wrote it
        [_gemm(), _store(push_prev=True), FIN],
        [_gemm(push_next=True), _store(pop_prev=True, push_prev=True), FIN],
        ("RAW", Buffer.OUT, (0, 1))),
    "out_war": (  # the second GEMM rewrites out[0] while the STORE may still read it
        [_gemm(push_next=True), _store(pop_prev=True), _gemm(reset=True, push_next=True),
         _store(pop_prev=True, push_prev=True, dram_base=1), FIN],
        [_gemm(push_next=True), _store(pop_prev=True, push_prev=True),
         _gemm(reset=True, pop_next=True, push_next=True),
         _store(pop_prev=True, push_prev=True, dram_base=1), FIN],
        ("WAR", Buffer.OUT, (1, 2))),
    "dram_raw": (  # a LOAD reads DRAM bytes a STORE writes, with nothing in between
        [_store(push_prev=True), _load(), FIN],
        [_store(push_prev=True), _nop(pop_next=True, push_prev=True),
         _load(pop_next=True), isa.Finish()],
        ("RAW", Buffer.DRAM, (0, 1))),
    "dram_war": (  # a STORE overwrites DRAM bytes a LOAD may not have read yet
        [_load(), _store(push_prev=True), FIN],
        [_load(push_next=True), _nop(pop_prev=True, push_next=True),
         _store(pop_prev=True, push_prev=True), FIN],
        ("WAR", Buffer.DRAM, (0, 1))),
}


def _build_case(name: str, body: list[isa.Insn]) -> Bundle:
    """The DRAM cases' LOAD reads the bytes of the ``out`` symbol the STORE writes."""
    if not name.startswith("dram"):
        return _bundle(body)
    probe = _bundle(body)
    out = probe.symbols["out"].addr // CFG.inp_elem_bytes
    inp = probe.symbols["inp"].addr // CFG.inp_elem_bytes
    return _bundle([replace(x, dram_base=x.dram_base + out - inp) if isinstance(x, isa.Load)
                    else x for x in body])


@pytest.mark.parametrize("name", sorted(CASES))
def test_minimal_race_found_and_fix_accepted(name):
    racy, fixed, (kind, buf, (a, b)) = CASES[name]
    bundle = _build_case(name, racy)
    report = find_races(bundle.instructions(), CFG, bundle.dram, insn_addr=bundle.insn_addr)
    assert len(report.races) == 1, report.message()
    race = report.races[0]
    assert (race.kind, race.buffer) == (kind, buf)
    assert race.indices == (a + 1, b + 1)  # +1: the uop LOAD in front
    assert race.lo < race.hi and race.size > 0
    with pytest.raises(RaceError) as e:
        simulate(bundle, check_races=True)
    msg = str(e.value)
    assert f"{kind} on {buf.name.lower()}[" in msg
    assert f"instruction {a + 1}," in msg and f"instruction {b + 1}," in msg
    simulate(bundle)  # without the check the simulator runs it (one outcome of the race)
    good = _build_case(name, fixed)
    assert check_bundle_races(good).ok
    simulate(good, check_races=True)


def test_store_into_instruction_words_races_with_fetch():
    """A STORE that overwrites the instruction stream races with fetch reading it."""
    probe = _bundle([_gemm(push_next=True), _store(pop_prev=True, push_prev=True), FIN])
    e = CFG.out_elem_bytes
    target = (probe.insn_addr + 3 * isa.INSN_BYTES) // e  # the word of the FINISH
    body = [_gemm(push_next=True),
            isa.Store(mem=M.OUT, y_size=1, x_size=1, x_stride=1, pop_prev=True,
                      push_prev=True, dram_base=target - probe.symbols["out"].addr // e), FIN]
    bundle = _bundle(body)
    races = check_races_of(bundle)
    assert [(r.first.agent, r.second.agent, r.buffer) for r in races] == \
        [(Agent.STORE, Agent.FETCH, Buffer.DRAM)]
    assert races[0].indices == (2, 3)  # the STORE and the FINISH's instruction word


def check_races_of(bundle: Bundle):
    return find_races(bundle.instructions(), bundle.config, bundle.dram,
                      insn_addr=bundle.insn_addr).races


def test_store_not_before_finish_races_with_the_host():
    bundle = _bundle([_gemm(push_next=True), _store(pop_prev=True), isa.Finish()])
    (race,) = check_races_of(bundle)
    assert race.first.index == 2 and race.second.agent == Agent.HOST
    assert race.kind == "RAW" and "the host reads DRAM once FINISH" in race.describe()


def test_same_module_conflicts_are_not_races():
    """Two LOADs of the same inp element, two STOREs of the same DRAM bytes: one module's
    order serializes them (no two modules ever write the same buffer, so a WAW between
    modules cannot occur in this ISA)."""
    bundle = _bundle([_load(), _load(dram_base=1), _gemm(push_next=True),
                      _store(pop_prev=True), _store(push_prev=True), FIN])
    assert [r.first.index for r in check_races_of(bundle)] == [1, 2]  # only the inp RAWs


def test_every_pair_reported_and_message_capped():
    """One STORE of out[0, n) against n racing GEMM resets: one race per pair; the message
    lists MAX_LISTED of them."""
    n = MAX_LISTED + 3
    body = [isa.Gemm(reset=True, uop_bgn=0, uop_end=1, iter_out=1, iter_in=1, push_next=True),
            isa.Store(mem=M.OUT, y_size=1, x_size=8, x_stride=8, pop_prev=True)]
    body += [isa.Gemm(reset=True, uop_bgn=0, uop_end=1, iter_out=1, iter_in=1,
                      dst_factor_in=1) for _ in range(n)]
    body += [_nop(push_next=True), _store(pop_prev=True, push_prev=True, dram_base=1), FIN]
    bundle = _bundle(body)
    report = find_races(bundle.instructions(), CFG, bundle.dram, insn_addr=bundle.insn_addr)
    assert [r.indices for r in report.races] == [(2, 3 + k) for k in range(n)]
    assert all(r.kind == "WAR" and r.buffer == Buffer.OUT for r in report.races)
    msg = report.message()
    assert msg.count("\n  WAR") == MAX_LISTED and "... and 3 more" in msg


def test_huge_numbers_of_races_are_truncated_not_slow(monkeypatch):
    import vta_sim.races as races

    monkeypatch.setattr(races, "MAX_RACES", 5)
    insns = [_load() for _ in range(4)] + [_gemm() for _ in range(4)] + [isa.Finish()]
    report = find_races(insns, CFG, bytes(64))
    assert report.truncated and len(report.races) == 5
    assert report.message().startswith("at least 5 data races")
    monkeypatch.setattr(races, "MAX_RACES", 16)
    report = find_races(insns, CFG, bytes(64))
    assert not report.truncated and len(report.races) == 16  # every (LOAD, GEMM) pair


def test_access_ranges():
    """Ranges from the fields: padded LOAD rows, strided DMA rows in DRAM bytes, the GEMM's
    micro-op loops (micro-ops read from the image), the acc LOAD's out mirror."""
    cfg = TINY
    bb = BundleBuilder(cfg)
    ur = bb.add_uops("uops", [isa.Uop(dst=1, src=2, wgt=3), isa.Uop(dst=5, src=2, wgt=0)])
    insns = [
        isa.Load(mem=M.UOP, dram_base=ur.addr // 4, y_size=1, x_size=2, x_stride=2),
        isa.Load(mem=M.INP, sram_base=4, dram_base=10, y_size=2, x_size=3, x_stride=5,
                 x_pad_0=1, y_pad_1=1),
        isa.Gemm(uop_bgn=0, uop_end=2, iter_out=2, iter_in=1, dst_factor_out=10,
                 src_factor_out=1),
        isa.Load(mem=M.ACC, sram_base=cfg.out_buff_depth - 2, dram_base=0, y_size=1,
                 x_size=4, x_stride=4),
        isa.Finish(),
    ]
    bb.set_program(insns)
    b = bb.build()
    t = access_table(b.instructions(), cfg, b.dram, b.insn_addr)
    e_inp = cfg.inp_elem_bytes
    assert sorted(t.of(1, Agent.LOAD)) == sorted([
        (Buffer.INP, "write", 4, 4 + 3 * 4),  # (2 + 1 pad rows) x (1 pad + 3) elements
        (Buffer.DRAM, "read", 10 * e_inp, 13 * e_inp),
        (Buffer.DRAM, "read", 15 * e_inp, 18 * e_inp)])
    assert sorted(t.of(2, Agent.COMPUTE)) == sorted([
        (Buffer.UOP, "read", 0, 2),
        (Buffer.ACC, "write", 1, 2), (Buffer.ACC, "write", 5, 6),
        (Buffer.ACC, "write", 11, 12), (Buffer.ACC, "write", 15, 16),
        (Buffer.OUT, "write", 1, 2), (Buffer.OUT, "write", 5, 6),
        (Buffer.OUT, "write", 11, 12), (Buffer.OUT, "write", 15, 16),
        (Buffer.ACC, "read", 1, 2), (Buffer.ACC, "read", 5, 6),
        (Buffer.ACC, "read", 11, 12), (Buffer.ACC, "read", 15, 16),
        (Buffer.INP, "read", 2, 4),
        (Buffer.WGT, "read", 0, 1), (Buffer.WGT, "read", 3, 4)])
    d = cfg.out_buff_depth
    assert (Buffer.OUT, "write", d - 2, d) in t.of(3)  # the mirror stops at the out depth
    assert (Buffer.ACC, "write", d - 2, d + 2) in t.of(3)
    assert (Buffer.DRAM, "read", b.insn_addr + 16, b.insn_addr + 32) in t.of(1, Agent.FETCH)


def test_happens_before_is_transitive_through_tokens():
    insns = [_load(push_next=True), _gemm(pop_prev=True, push_next=True),
             _store(pop_prev=True, push_prev=True), isa.Finish(pop_next=True)]
    c = happens_before(insns)
    assert c[2].tolist() == [3, 1, 1, 1]  # the STORE knows the LOAD through the GEMM
    assert c[3].tolist() == [4, 1, 2, 1]
    with pytest.raises(DeadlockError, match="instruction 1 .* no push matches"):
        happens_before([_load(), _gemm(pop_prev=True), isa.Finish()])


@pytest.mark.parametrize("cfg", list(PRESETS.values()), ids=list(PRESETS))
def test_hand_written_corpus_is_race_free(cfg):
    for name, make in CORPUS.items():
        assert check_bundle_races(make(cfg)).ok, name
    for kind in ("gemm", "alu_imm", "alu_tensor"):
        assert check_bundle_races(helpers.hazard_boundary(cfg, kind)).ok, kind
    assert check_bundle_races(helpers.out_mode_sweep(cfg)[0]).ok


@pytest.mark.parametrize("cfg", [TINY, DEFAULT], ids=["tiny", "default"])
def test_random_programs_are_race_free(cfg):
    for seed in range(60):
        b = random_programs.random_bundle(cfg, seed)
        report = check_bundle_races(b)
        assert report.ok, (seed, report.message())


def test_cycle_bound():
    b = CORPUS["gemm_basic"](TINY)
    cycles = simulate(b).cycles
    assert simulate(b, max_cycles=cycles).cycles == cycles
    with pytest.raises(CycleLimitError, match=f"bound of {cycles - 1} cycles"):
        simulate(b, max_cycles=cycles - 1)


def test_cli_check_races(tmp_path, capsys):
    racy = _build_case("inp_raw", CASES["inp_raw"][0]).save(tmp_path / "racy.vtab")
    assert main(["sim", str(racy)]) == 0
    capsys.readouterr()
    assert main(["sim", str(racy), "--check-races"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 1 data race:") and err.count("error:") == 1
    assert "RAW on inp[0, 1): LOAD inp (instruction 1, load) writes, GEMM (instruction 2, " \
           "compute) reads" in err
    good = _build_case("inp_raw", CASES["inp_raw"][1]).save(tmp_path / "good.vtab")
    assert main(["sim", str(good), "--check-races", "--max-cycles", "100000"]) == 0
    assert "races: none (" in capsys.readouterr().out
    assert main(["sim", str(good), "--max-cycles", "5"]) == 2
    assert "bound of 5 cycles" in capsys.readouterr().err
