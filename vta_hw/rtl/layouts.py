"""Amaranth layouts of the instruction and micro-op formats, generated from ``vta_hw.isa``.

Nothing here writes down a bit offset: every field's position and width comes from
:func:`vta_hw.isa.formats` and :func:`vta_hw.isa.uop_format`, so a change to the ISA tables
changes the RTL's decoders with it.  Signed fields (``pad_value``, ``imm``) get signed shapes;
enum fields are plain unsigned values compared against the ``IntEnum`` members.
"""

from __future__ import annotations

from functools import lru_cache

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from vta_hw import isa
from vta_hw.config import HwConfig


def _layout(fmt: isa.Format, size: int) -> data.FlexibleLayout:
    fields = {}
    for f in fmt.fields:
        lsb, width = fmt.offsets[f.name]
        shape = signed(width) if f.signed else unsigned(width)
        fields[f.name] = data.Field(shape, lsb)
    return data.FlexibleLayout(size, fields)


@lru_cache(maxsize=64)
def insn_layouts(cfg: HwConfig) -> dict[isa.Opcode, data.FlexibleLayout]:
    """One 128-bit layout per opcode (LOAD and STORE share the MEM layout)."""
    return {op: _layout(fmt, isa.INSN_BITS) for op, fmt in isa.formats(cfg).items()}


def mem_layout(cfg: HwConfig) -> data.FlexibleLayout:
    """LOAD / STORE: header, mem, sram_base, dram_base, sizes, stride, pads, pad_value."""
    return insn_layouts(cfg)[isa.Opcode.LOAD]


def gemm_layout(cfg: HwConfig) -> data.FlexibleLayout:
    return insn_layouts(cfg)[isa.Opcode.GEMM]


def alu_layout(cfg: HwConfig) -> data.FlexibleLayout:
    return insn_layouts(cfg)[isa.Opcode.ALU]


def nop_layout(cfg: HwConfig) -> data.FlexibleLayout:
    return insn_layouts(cfg)[isa.Opcode.NOP]


def header_layout(cfg: HwConfig) -> data.FlexibleLayout:
    """Opcode and the four dependency flags (the fields every format starts with)."""
    return insn_layouts(cfg)[isa.Opcode.FINISH]


@lru_cache(maxsize=64)
def uop_layout(cfg: HwConfig) -> data.FlexibleLayout:
    """The 32-bit micro-op: dst (acc index), src (inp or acc index), wgt."""
    return _layout(isa.uop_format(cfg), isa.UOP_BITS)


__all__ = ["insn_layouts", "mem_layout", "gemm_layout", "alu_layout", "nop_layout",
           "header_layout", "uop_layout"]
