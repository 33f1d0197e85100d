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
from vta_hw.config import ACC_WIDTH, OUT_WIDTH, int_range

MAX_SHIFT = (1 << isa.OUT_MODE_SHIFT_BITS) - 1


def keep_bits(acc_width: int = ACC_WIDTH, out_width: int = OUT_WIDTH) -> int:
    """Width of ``keep``: the bits ``out_width - 1`` up of an acc lane (7..31 for int8/int32)."""
    return acc_width - (out_width - 1)


def requantize_lane(m: Module, x, shift, keep, relu, name: str, out_width: int = OUT_WIDTH):
    """``clip(rshr(x, shift), 0 if relu else lo, hi)`` of an acc lane (combinational), with
    ``(lo, hi)`` the range of an ``out_width``-bit out lane; ``keep`` is :func:`keep_mask` of
    ``shift``."""
    lo, hi = int_range(out_width)
    x = x.as_signed()
    sign = x[-1]
    kb = len(x) - (out_width - 1)
    fits = Signal(name=f"{name}_fits")
    m.d.comb += fits.eq(~((x[out_width - 1:] ^ sign.replicate(kb)) & keep).any())
    win = Signal(out_width + 1, name=f"{name}_win")  # x[shift-1 .. shift+7], x[-1] = 0
    m.d.comb += win.eq(window(Cat(Const(0, 1), x, sign.replicate(MAX_SHIFT)), shift,
                              out_width + 1))
    rnd, t = win[0], win[1:].as_signed()
    over = Mux(fits, rnd & (t == hi), ~sign)
    under = Mux(fits, relu & t[-1], sign)
    r = Signal(signed(out_width), name=f"{name}_q")
    m.d.comb += r.eq(Mux(over, hi, Mux(under, Mux(relu, 0, lo), t + rnd)))
    return r


def window(v, shift, width: int):
    """``v[shift : shift + width]`` as a log shifter, largest step first so that each level is
    only as wide as the steps after it can reach (Yosys' own shifter steps up from the smallest
    and keeps nearly every bit: ~60% more LUTs here)."""
    for b in reversed(range(len(shift))):
        w = width + (1 << b) - 1
        v = Mux(shift[b], v[1 << b:(1 << b) + w], v[:w])
    return v


def keep_mask(shift, width: int | None = None):
    """Bit ``j`` set iff ``7 + j >= 7 + shift``: the bits of x that must equal its sign
    (``width``: :func:`keep_bits`)."""
    width = keep_bits() if width is None else width
    return (Const((1 << width) - 1, width) << shift)[:width]


class OutMode(wiring.Component):
    """The out-mode registers (``(0, False)`` after reset) and the requantized mirror.

    Members
    -------
    set : In(1)                 latch the mode from ``imm`` (an OUTMODE issue)
    imm : In(signed(16))        the OUTMODE immediate
    acc : In(a*n)               acc lanes a GEMM writes (lane i in bits [ai, ai+a))
    out : Out(o*n)              their out lanes under the current mode (combinational)

    ``a`` and ``o`` are the acc and out lane widths (``cfg.acc_width``, ``cfg.out_width``).
    """

    def __init__(self, lanes: int, acc_width: int = ACC_WIDTH, out_width: int = OUT_WIDTH):
        self.lanes = lanes
        self.acc_width = acc_width
        self.out_width = out_width
        super().__init__({"set": In(1), "imm": In(signed(isa.ALU_IMM_BITS)),
                          "acc": In(acc_width * lanes), "out": Out(out_width * lanes)})

    def elaborate(self, platform):
        m = Module()
        shift = Signal(isa.OUT_MODE_SHIFT_BITS)
        relu = Signal()
        a, o = self.acc_width, self.out_width
        kb = keep_bits(a, o)
        keep = Signal(kb, init=(1 << kb) - 1)
        new_shift = self.imm[:isa.OUT_MODE_SHIFT_BITS]
        with m.If(self.set):
            m.d.sync += [shift.eq(new_shift), relu.eq(self.imm[isa.OUT_MODE_RELU_BIT]),
                         keep.eq(keep_mask(new_shift, kb))]
        for i in range(self.lanes):
            m.d.comb += self.out[o * i:o * (i + 1)].eq(requantize_lane(
                m, self.acc[a * i:a * (i + 1)], shift, keep, relu, f"l{i}", o))
        return m


__all__ = ["OutMode", "requantize_lane", "keep_mask", "keep_bits", "window"]
