"""The pass pipeline: named passes in data-flow order, verification between them, IR dumps."""

from __future__ import annotations

from dataclasses import replace

import pytest

from compiler import (
    PASSES,
    Conv2d,
    Epilogue,
    Requant,
    VerifyError,
    compile_op,
    default_schedule,
    run_pipeline,
)
from compiler.ir import GemmTile, Instr, Program, Ref, SramRegion, format_program, verify
from compiler.layout import LayoutOptions
from compiler.lower.interleave import check_order
from vta_hw import isa
from vta_hw.config import DEFAULT, TINY

OP = Conv2d(1, 8, 6, 6, 8, 3, 3, 1, 1, Epilogue(bias=True, requant=Requant(shift=6), relu=True))


def test_pass_order():
    assert [n for n, _ in PASSES] == ["layout", "tiling", "tensorize", "alu_epilogue", "dma",
                                      "interleave", "tokens", "emit"]


def test_dump_after_every_pass(tmp_path):
    c = compile_op(OP, TINY, dump=tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [f"{k:02d}_{n}.txt" for k, (n, _) in enumerate(PASSES)]
    tiling = (tmp_path / "01_tiling.txt").read_text()
    assert "gemm_tile acc=acc.0" in tiling and "init_tile" in tiling
    assert "load_tile consts" in tiling
    final = (tmp_path / "07_emit.txt").read_text()
    assert "FINISH" in final and final == format_program(c.program)


def test_dump_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("VTA_DUMP_IR", str(tmp_path / "ir"))
    compile_op(OP, TINY)
    assert (tmp_path / "ir" / "02_tensorize.txt").exists()


def _program_after(name: str) -> Program:
    names = [n for n, _ in PASSES]
    s = default_schedule(OP, TINY)
    return run_pipeline(OP, TINY, s, LayoutOptions(), passes=PASSES[:names.index(name) + 1])


def test_verify_rejects_overlapping_regions():
    p = _program_after("tiling")
    bad = replace(p, regions=p.regions + (SramRegion("evil", "acc", 0, 4),))
    with pytest.raises(VerifyError, match="overlap in the acc buffer"):
        verify(bad)


def test_verify_rejects_out_of_buffer_region():
    p = _program_after("tiling")
    bad = replace(p, regions=p.regions + (SramRegion("big", "wgt", 60, 8),))
    with pytest.raises(VerifyError, match=r"big wgt\[60:68\] exceeds the wgt buffer depth 64"):
        verify(bad)


def test_verify_rejects_unlowered_and_dangling_nodes():
    p = _program_after("tensorize")
    g = GemmTile(Ref("acc.0"), Ref("inp.0"), Ref("wgt.0"), ())
    with pytest.raises(VerifyError, match=r"after pass 'tensorize': node 0 \(GemmTile\) should "
                       "have been lowered"):
        verify(replace(p, nodes=(g,) + p.nodes))
    with pytest.raises(VerifyError, match="unknown SRAM region 'nowhere'"):
        verify(replace(p, nodes=(replace(g, acc=Ref("nowhere")),)), "tiling")


def test_verify_rejects_early_flags_and_bad_kernels():
    p = _program_after("dma")
    k = next(i for i, n in enumerate(p.nodes) if isinstance(n.insn, isa.Gemm))
    n = p.nodes[k]
    with pytest.raises(VerifyError, match="dependency flags set before the token pass"):
        verify(replace(p, nodes=p.nodes[:k] + (replace(n, insn=replace(n.insn, pop_prev=True)),)
                       + p.nodes[k + 1:]))
    with pytest.raises(VerifyError, match="exceeds kernel"):
        verify(replace(p, nodes=(replace(n, insn=replace(n.insn, uop_end=1000)),)))


def test_interleave_order_is_checked():
    p = _program_after("interleave")
    nodes = list(p.nodes)
    k = next(i for i, n in enumerate(nodes) if isinstance(n.insn, isa.Gemm))
    nodes.insert(1, nodes.pop(k))  # the first GEMM before the loads it needs
    with pytest.raises(VerifyError, match="is placed before instruction"):
        check_order(replace(p, nodes=tuple(nodes)))


def test_final_program_is_plain_isa():
    c = compile_op(OP, DEFAULT)
    assert all(isinstance(n, Instr) and n.kernel is None for n in c.program.nodes)
    insns = [n.insn for n in c.instrs]
    assert isinstance(insns[-1], isa.Finish) and insns[0].mem == isa.MemType.UOP
    for i, insn in enumerate(insns):
        isa.check(insn, DEFAULT, i)
