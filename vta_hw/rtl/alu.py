"""The vector ALU: one int32 operation per accumulator lane (``batch x block_out`` lanes).

Semantics are those of ``isa.AluOp``: results wrap to 32 bits; SHR/RSHR shift by the low 6
bits of the operand read as a signed amount (negative shifts left); RSHR rounds half up without
overflow.  For a shift ``s >= 1`` both use ``t = x >> (s - 1)``: SHR is ``t >> 1`` and RSHR is
``(t + 1) >> 1`` (exactly ``floor((x + 2**(s-1)) / 2**s)``), so one barrel shifter serves both.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from vta_hw import isa
from vta_hw.config import HwConfig

ACC_BITS = 32


def alu_lane(m: Module, op, a, b):
    """Combinational result of ``op(a, b)`` on one signed 32-bit lane."""
    a = a.as_signed()
    b = b.as_signed()
    res = Signal(signed(ACC_BITS))
    s = Signal(signed(isa.SHIFT_BITS))
    m.d.comb += s.eq(b[:isa.SHIFT_BITS].as_signed())
    left_amt = Signal(unsigned(isa.SHIFT_BITS))  # 1..32 when s < 0
    m.d.comb += left_amt.eq(-s)
    left = Signal(signed(ACC_BITS))
    m.d.comb += left.eq((a << left_amt)[:ACC_BITS])
    t = Signal(signed(ACC_BITS))  # x >> (s - 1) for s >= 1
    m.d.comb += t.eq(a >> (s - 1)[:isa.SHIFT_BITS - 1])
    shr = Mux(s == 0, a, Mux(s < 0, left, t >> 1))
    rshr = Mux(s == 0, a, Mux(s < 0, left, ((t + 1) >> 1)[:ACC_BITS]))
    with m.Switch(op):
        with m.Case(isa.AluOp.MIN):
            m.d.comb += res.eq(Mux(a < b, a, b))
        with m.Case(isa.AluOp.MAX):
            m.d.comb += res.eq(Mux(a > b, a, b))
        with m.Case(isa.AluOp.ADD):
            m.d.comb += res.eq((a + b)[:ACC_BITS])
        with m.Case(isa.AluOp.MUL):
            m.d.comb += res.eq((a * b)[:ACC_BITS])
        with m.Case(isa.AluOp.SHR):
            m.d.comb += res.eq(shr)
        with m.Case(isa.AluOp.RSHR):
            m.d.comb += res.eq(rshr)
        with m.Case(isa.AluOp.MOV):
            m.d.comb += res.eq(b)
    return res


class AluLanes(wiring.Component):
    """Combinational ALU over every lane of an acc element.

    Members
    -------
    op : In(3)          an ``AluOp`` value
    a : In(32*n)        acc[dst] lanes (lane i in bits [32i, 32i+32))
    b : In(32*n)        operand lanes (the immediate broadcast, or acc[src])
    result : Out(32*n)  op(a, b) per lane
    """

    def __init__(self, cfg: HwConfig):
        self.lanes = cfg.batch * cfg.block_out
        n = ACC_BITS * self.lanes
        super().__init__({"op": In(isa.ALU_OP_BITS), "a": In(n), "b": In(n), "result": Out(n)})

    def elaborate(self, platform):
        m = Module()
        for i in range(self.lanes):
            sl = slice(ACC_BITS * i, ACC_BITS * (i + 1))
            r = alu_lane(m, self.op, self.a[sl], self.b[sl])
            m.d.comb += self.result[sl].eq(r)
        return m


__all__ = ["AluLanes", "alu_lane", "ACC_BITS"]
