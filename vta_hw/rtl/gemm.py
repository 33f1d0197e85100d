"""The GEMM array: ``batch x block_out`` dot products of length ``block_in`` per cycle.

``sum[b][o] = sum_k inp[b][k] * wgt[o][k]`` with int8 operands (an inp element is
``batch x block_in`` int8 row-major, a wgt element ``block_out x block_in``); each sum is
sign-extended to 32 bits.  The array is pipelined by up to three register stages (on the
operands, i.e. the inp/wgt block-RAM outputs; after the products; after the adder trees) plus
``extra`` delay stages, as the compute module's ``gemm_pipeline_depth`` allows (see
``docs/rtl.md``).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from vta_hw.config import HwConfig
from vta_hw.rtl.stage import assign

ACC_BITS = 32


def _tree_sum(m: Module, terms: list, width: int, reg: bool, name: str):
    while len(terms) > 1:
        nxt = []
        for i in range(0, len(terms) - 1, 2):
            nxt.append(terms[i] + terms[i + 1])
        if len(terms) % 2:
            nxt.append(terms[-1])
        terms = nxt
    out = Signal(signed(width), name=name)
    assign(m, reg, out.eq(terms[0]))
    return out


class GemmArray(wiring.Component):
    """Multiply an inp element by a wgt element transposed.

    Members
    -------
    inp : In(8*batch*block_in)      inp element (lane (b, k) in bits [8(b*block_in+k), +8))
    wgt : In(8*block_out*block_in)  wgt element (lane (o, k) in bits [8(o*block_in+k), +8))
    sum : Out(32*batch*block_out)   dot products, ``latency`` cycles later (lane (b, o))
    """

    def __init__(self, cfg: HwConfig, product_reg: bool = False, tree_reg: bool = False,
                 extra: int = 0, input_reg: bool = False):
        self.cfg = cfg
        self.input_reg = input_reg
        self.product_reg = product_reg
        self.tree_reg = tree_reg
        self.extra = extra
        self.latency = int(input_reg) + int(product_reg) + int(tree_reg) + extra
        b, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
        super().__init__({"inp": In(8 * b * bi), "wgt": In(8 * bo * bi),
                          "sum": Out(ACC_BITS * b * bo)})

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        b, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
        sum_bits = 16 + (bi - 1).bit_length()
        inp, wgt = self.inp, self.wgt
        if self.input_reg:
            inp = Signal(len(self.inp), name="inp_q", reset_less=True)
            wgt = Signal(len(self.wgt), name="wgt_q", reset_less=True)
            m.d.sync += [inp.eq(self.inp), wgt.eq(self.wgt)]
        lanes = []
        for bb in range(b):
            for o in range(bo):
                prods = []
                for k in range(bi):
                    x = inp[8 * (bb * bi + k):8 * (bb * bi + k + 1)].as_signed()
                    w = wgt[8 * (o * bi + k):8 * (o * bi + k + 1)].as_signed()
                    p = Signal(signed(16), name=f"p_{bb}_{o}_{k}")
                    assign(m, self.product_reg, p.eq(x * w))
                    prods.append(p)
                s = _tree_sum(m, prods, sum_bits, self.tree_reg, f"s_{bb}_{o}")
                for e in range(self.extra):
                    d = Signal(signed(sum_bits), name=f"s_{bb}_{o}_d{e}")
                    m.d.sync += d.eq(s)
                    s = d
                lanes.append(s)
        for i, s in enumerate(lanes):
            m.d.comb += self.sum[ACC_BITS * i:ACC_BITS * (i + 1)].eq(s)
        return m


__all__ = ["GemmArray"]
