"""The Amaranth layouts decode exactly what isa.encode wrote (no hand-written offsets)."""

from __future__ import annotations

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import data
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from vta_hw import isa
from vta_hw.config import DEFAULT, TINY, WIDE
from vta_hw.rtl.layouts import insn_layouts, uop_layout


def _read_fields(layout, word: int) -> dict[str, int]:
    """Field values of ``word`` seen through ``layout`` (evaluated by Amaranth)."""
    sig = Signal(layout.size)
    view = data.View(layout, sig)
    m = Module()
    m.d.comb += Signal(layout.size).eq(sig)
    out = {}

    async def bench(ctx):
        ctx.set(sig, word)
        for name, _ in layout:
            out[name] = ctx.get(getattr(view, name))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    return out


@pytest.mark.parametrize("cfg", [TINY, DEFAULT, WIDE], ids=lambda c: c.name)
def test_layout_offsets_follow_the_isa_tables(cfg):
    for op, layout in insn_layouts(cfg).items():
        fmt = isa.formats(cfg)[op]
        assert layout.size == isa.INSN_BITS
        for f in fmt.fields:
            lsb, width = fmt.offsets[f.name]
            fld = layout[f.name]
            assert (fld.offset, fld.width, fld.shape.signed) == (lsb, width, f.signed)
    uf = isa.uop_format(cfg)
    for f in uf.fields:
        assert (uop_layout(cfg)[f.name].offset, uop_layout(cfg)[f.name].width) == uf.offsets[f.name]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(-128, 127), st.integers(0, 15))
def test_mem_fields_round_trip(dram_base, pad, ypad):
    cfg = TINY
    insn = isa.Load(mem=isa.MemType.WGT, sram_base=5, dram_base=dram_base, y_size=3, x_size=7,
                    x_stride=9, y_pad_0=ypad, x_pad_1=2, pad_value=pad, push_next=True)
    got = _read_fields(insn_layouts(cfg)[isa.Opcode.LOAD], isa.encode_int(insn, cfg))
    assert got["dram_base"] == dram_base and got["pad_value"] == pad
    assert got["y_pad_0"] == ypad and got["mem"] == isa.MemType.WGT and got["push_next"] == 1
    assert got["opcode"] == isa.Opcode.LOAD and got["x_stride"] == 9


def test_alu_imm_is_signed():
    insn = isa.Alu(alu_op=isa.AluOp.SHR, use_imm=True, imm=-5, uop_end=3, iter_out=2, iter_in=1)
    got = _read_fields(insn_layouts(TINY)[isa.Opcode.ALU], isa.encode_int(insn, TINY))
    assert got["imm"] == -5 and got["alu_op"] == isa.AluOp.SHR and got["uop_end"] == 3
