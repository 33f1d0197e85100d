"""The out mode (ALU OUTMODE) and the requantization of the GEMM's out-buffer mirror.

While the mode is ``(s, relu)`` a GEMM write of ``acc[i]`` mirrors
``out[i] = clip(rshr(acc[i], s), 0 if relu else -128, 127)`` (``isa.out_mode_fields``; ``rshr``
exact, rounding half up).  Per lane, without a 33-bit add or a full barrel shifter (the
requantization is on the out mirror's path, from Qg or the accumulate to the out buffer):

* ``rshr(x, s) = (x >> s) + x[s - 1]`` (the rounding bit; none for ``s = 0``), and ``x >> s``
  is within ``[-128, 127]`` iff the bits of ``x`` from ``7 + s`` up all equal its sign: a
  masked compare with a mask (``keep``) latched with the mode;
* if it is, only its low byte ``t`` is needed, with the rounding bit a 9-bit window
  ``x[s-1 .. s+7]`` (:func:`window`): ``t + rnd`` leaves ``[-128, 127]`` only at
  ``127 + 1``, and for ReLU clamps to 0 exactly when ``t < 0`` (``-1 + 1`` is 0 anyway), both
  tested on ``t`` beside the increment;
* if it is not, the result is the bound on the side of the sign: ``x >> s`` is at least 128,
  or at most -129, which the rounding bit brings to at most -128, the lower bound either way.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from vta_hw import isa

ACC_BITS = 32
MAX_SHIFT = (1 << isa.OUT_MODE_SHIFT_BITS) - 1
KEEP_BITS = ACC_BITS - 7  # the bits 7..31 of x that ``keep`` masks


def requantize_lane(m: Module, x, shift, keep, relu, name: str):
    """``clip(rshr(x, shift), 0 if relu else -128, 127)`` of a 32-bit lane (combinational);
    ``keep`` is :func:`keep_mask` of ``shift``."""
    x = x.as_signed()
    sign = x[-1]
    fits = Signal(name=f"{name}_fits")
    m.d.comb += fits.eq(~((x[7:] ^ sign.replicate(KEEP_BITS)) & keep).any())
    win = Signal(9, name=f"{name}_win")  # x[shift-1 .. shift+7], x[-1] = 0
    m.d.comb += win.eq(window(Cat(Const(0, 1), x, sign.replicate(MAX_SHIFT)), shift, 9))
    rnd, t = win[0], win[1:].as_signed()
    over = Mux(fits, rnd & (t == 127), ~sign)
    under = Mux(fits, relu & t[-1], sign)
    r = Signal(signed(8), name=f"{name}_q")
    m.d.comb += r.eq(Mux(over, 127, Mux(under, Mux(relu, 0, -128), t + rnd)))
    return r


def window(v, shift, width: int):
    """``v[shift : shift + width]`` as a log shifter, largest step first so that each level is
    only as wide as the steps after it can reach (Yosys' own shifter steps up from the smallest
    and keeps nearly every bit: ~60% more LUTs here)."""
    for b in reversed(range(len(shift))):
        w = width + (1 << b) - 1
        v = Mux(shift[b], v[1 << b:(1 << b) + w], v[:w])
    return v


def keep_mask(shift):
    """Bit ``j`` set iff ``7 + j >= 7 + shift``: the bits of x that must equal its sign."""
    return (Const((1 << KEEP_BITS) - 1, KEEP_BITS) << shift)[:KEEP_BITS]


class OutMode(wiring.Component):
    """The out-mode registers (``(0, False)`` after reset) and the requantized mirror.

    Members
    -------
    set : In(1)                 latch the mode from ``imm`` (an OUTMODE issue)
    imm : In(signed(16))        the OUTMODE immediate
    acc : In(32*n)              acc lanes a GEMM writes (lane i in bits [32i, 32i+32))
    out : Out(8*n)              their out bytes under the current mode (combinational)
    """

    def __init__(self, lanes: int):
        self.lanes = lanes
        super().__init__({"set": In(1), "imm": In(signed(isa.ALU_IMM_BITS)),
                          "acc": In(ACC_BITS * lanes), "out": Out(8 * lanes)})

    def elaborate(self, platform):
        m = Module()
        shift = Signal(isa.OUT_MODE_SHIFT_BITS)
        relu = Signal()
        keep = Signal(KEEP_BITS, init=(1 << KEEP_BITS) - 1)
        new_shift = self.imm[:isa.OUT_MODE_SHIFT_BITS]
        with m.If(self.set):
            m.d.sync += [shift.eq(new_shift), relu.eq(self.imm[isa.OUT_MODE_RELU_BIT]),
                         keep.eq(keep_mask(new_shift))]
        for i in range(self.lanes):
            m.d.comb += self.out[8 * i:8 * (i + 1)].eq(requantize_lane(
                m, self.acc[ACC_BITS * i:ACC_BITS * (i + 1)], shift, keep, relu, f"l{i}"))
        return m


__all__ = ["OutMode", "requantize_lane", "keep_mask", "window"]
