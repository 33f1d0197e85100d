"""The vector ALU: one int32 operation per accumulator lane (``batch x block_out`` lanes).

Semantics are those of ``isa.AluOp``: results wrap to 32 bits; SHR/RSHR shift by the low 6
bits of the operand read as a signed amount (negative shifts left); RSHR rounds half up without
overflow.  For a shift ``s >= 1`` both use ``t = x >> (s - 1)``: SHR is ``t >> 1`` and RSHR is
``(t + 1) >> 1`` (exactly ``floor((x + 2**(s-1)) / 2**s)``), so one barrel shifter serves both.

Every op is split in two halves so that the compute module can put a register between them:

* **stage 1** (from the operands): compares, the 32-bit add, the barrel shifter, and for MUL
  the three 18x18 partial products of the low 32 bits of ``a * b``
  (``a = ah*2**17 + al``, ``b = bh*2**17 + bl`` with 17-bit ``al``, ``bl``):
  ``al*bl`` (32 bits kept) and the low 15 bits of ``al*bh`` and ``ah*bl`` (``ah*bh`` only
  reaches bit 34).  Each product is one MULT18X18D, three per lane as before.
* **stage 2**: MUL's sum ``(al*bl + ((al*bh + ah*bl) << 17))`` (a 15-bit three-input add on
  the high half), RSHR's rounding ``(t + 1) >> 1``, and the choice between them and the
  result of every other op (computed in stage 1).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from vta_hw import isa
from vta_hw.rtl.stage import assign

LO = 17  # low operand half of the multiply (unsigned)


def _hi(width: int) -> int:
    """Bits of the result the cross products reach (15 for a 32-bit lane)."""
    return width - LO


def alu_stage1(m: Module, op, a, b, *, reg: bool, name: str = "s1"):
    """Stage 1 of one lane: returns ``(r1, p0, p1, p2, rnd, mul)`` (registered when ``reg``).

    ``r1`` is the result of every op but MUL (before RSHR's rounding); the products leave the
    multipliers straight into their own registers.
    """
    width = len(a)  # the accumulator lane width (cfg.acc_width)
    hi_bits = _hi(width)
    a = a.as_signed()
    b = b.as_signed()
    s = Signal(signed(isa.SHIFT_BITS), name=f"{name}_s")
    m.d.comb += s.eq(b[:isa.SHIFT_BITS].as_signed())
    # no adder before the shifters: for s < 0, a << -s = (2a) << ~s (~s = -s - 1 in 0..31);
    # for s >= 1, a >> (s - 1) = (2a) >> s on a 33-bit 2a
    a2 = Signal(signed(width + 1), name=f"{name}_a2")
    m.d.comb += a2.eq(a << 1)
    left = Signal(signed(width), name=f"{name}_left")
    m.d.comb += left.eq((a2 << (~s)[:isa.SHIFT_BITS - 1])[:width])
    t = Signal(signed(width), name=f"{name}_t")  # x >> (s - 1) for s >= 1
    m.d.comb += t.eq((a2 >> s[:isa.SHIFT_BITS - 1])[:width])
    p0c = Signal(width, name=f"{name}_p0c")
    p1c = Signal(hi_bits, name=f"{name}_p1c")
    p2c = Signal(hi_bits, name=f"{name}_p2c")
    m.d.comb += [p0c.eq(a[:LO].as_unsigned() * b[:LO].as_unsigned()),
                 p1c.eq(a[:LO].as_unsigned() * b[LO:].as_unsigned()),
                 p2c.eq(a[LO:].as_unsigned() * b[:LO].as_unsigned())]
    # the non-MUL result: a 4-way choice (min/max, add, shift, mov) of flat candidates
    is_min = op == isa.AluOp.MIN
    is_rshr = op == isa.AluOp.RSHR
    kind_add = op == isa.AluOp.ADD
    kind_shift = (op == isa.AluOp.SHR) | is_rshr
    kind_mov = op == isa.AluOp.MOV
    lt = Signal(name=f"{name}_lt")
    m.d.comb += lt.eq(a < b)
    minmax = Mux(lt ^ ~is_min, a, b)  # MIN: a < b ? a : b; MAX: a > b ? a : b (= b < a ...)
    right = Mux(is_rshr, t, t >> 1)
    shifted = Mux(s == 0, a, Mux(s < 0, left, right))
    r1c = Signal(signed(width), name=f"{name}_r1c")
    m.d.comb += r1c.eq(Mux(kind_shift, shifted, Mux(kind_add, (a + b)[:width],
                                                    Mux(kind_mov, b, minmax))))
    r1 = Signal(signed(width), name=f"{name}_r1")
    p0 = Signal(width, name=f"{name}_p0")
    p1 = Signal(hi_bits, name=f"{name}_p1")
    p2 = Signal(hi_bits, name=f"{name}_p2")
    rnd = Signal(name=f"{name}_rnd")
    mul = Signal(name=f"{name}_mul")
    assign(m, reg, [r1.eq(r1c), p0.eq(p0c), p1.eq(p1c), p2.eq(p2c),
                     rnd.eq(is_rshr & (s > 0)), mul.eq(op == isa.AluOp.MUL)])
    return r1, p0, p1, p2, rnd, mul


def alu_stage2(m: Module, r1, p0, p1, p2, rnd, mul, name: str = "s2"):
    """Stage 2 of one lane: the lane's result (combinational): MUL sums its partial
    products, RSHR rounds, the rest pass ``r1``."""
    width = len(r1)
    hi = Signal(_hi(width), name=f"{name}_hi")
    m.d.comb += hi.eq(p0[LO:] + p1 + p2)
    rounded = Signal(signed(width), name=f"{name}_rounded")
    m.d.comb += rounded.eq((r1 + 1)[1:])  # (t + 1) >> 1 on 33 bits, no overflow
    res = Signal(signed(width), name=f"{name}_res")
    m.d.comb += res.eq(Mux(mul, Cat(p0[:LO], hi), Mux(rnd, rounded, r1)))
    return res


class AluLanes(wiring.Component):
    """The ALU over every lane of an acc element.

    ``result`` is ``op(a, b)`` of the same cycle, or of the previous cycle with
    ``stage_reg=True`` (a register between stage 1 and stage 2; ``latency`` says which).

    Members
    -------
    op : In(3)          an ``AluOp`` value
    a : In(w*n)         acc[dst] lanes (lane i in bits [wi, wi+w), w = cfg.acc_width)
    b : In(w*n)         operand lanes (the immediate broadcast, or acc[src])
    result : Out(w*n)   op(a, b) per lane
    """

    def __init__(self, cfg, stage_reg: bool = False):
        self.lanes = cfg.batch * cfg.block_out
        self.stage_reg = stage_reg
        self.latency = int(stage_reg)
        self.width = cfg.acc_width
        n = self.width * self.lanes
        super().__init__({"op": In(isa.ALU_OP_BITS), "a": In(n), "b": In(n), "result": Out(n)})

    def elaborate(self, platform):
        m = Module()
        for i in range(self.lanes):
            sl = slice(self.width * i, self.width * (i + 1))
            st1 = alu_stage1(m, self.op, self.a[sl], self.b[sl], reg=self.stage_reg,
                             name=f"l{i}_s1")
            m.d.comb += self.result[sl].eq(alu_stage2(m, *st1, name=f"l{i}_s2"))
        return m


__all__ = ["AluLanes", "alu_stage1", "alu_stage2"]
