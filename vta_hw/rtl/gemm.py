"""The GEMM array: ``batch x block_out`` dot products of length ``block_in`` per cycle.

``sum[b][o] = sum_k inp[b][k] * wgt[o][k]`` with ``inp_width``/``wgt_width``-bit operands (an
inp element is ``batch x block_in`` lanes row-major, a wgt element ``block_out x block_in``);
each sum is sign-extended to ``acc_width`` bits.  The array is pipelined by up to three
register stages (on the operands, i.e. the inp/wgt block-RAM outputs; after the products;
after the adder trees) plus ``extra`` delay stages, as the compute module's
``gemm_pipeline_depth`` allows (see ``docs/rtl.md``).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from vta_hw.config import HwConfig
from vta_hw.rtl.stage import assign


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
    inp : In(inp_elem_bits)   inp element (lane (b, k) in bits [i(b*block_in+k), +i))
    wgt : In(wgt_elem_bits)   wgt element (lane (o, k) in bits [w(o*block_in+k), +w))
    sum : Out(acc_elem_bits)  dot products, ``latency`` cycles later (lane (b, o))

    ``i``, ``w``: ``cfg.inp_width``, ``cfg.wgt_width``.
    """

    def __init__(self, cfg: HwConfig, product_reg: bool = False, tree_reg: bool = False,
                 extra: int = 0, input_reg: bool = False):
        self.cfg = cfg
        self.input_reg = input_reg
        self.product_reg = product_reg
        self.tree_reg = tree_reg
        self.extra = extra
        self.latency = int(input_reg) + int(product_reg) + int(tree_reg) + extra
        super().__init__({"inp": In(cfg.inp_elem_bits), "wgt": In(cfg.wgt_elem_bits),
                          "sum": Out(cfg.acc_elem_bits)})

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        b, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
        iw, ww, aw = cfg.inp_width, cfg.wgt_width, cfg.acc_width
        prod_bits = iw + ww
        sum_bits = prod_bits + (bi - 1).bit_length()
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
                    x = inp[iw * (bb * bi + k):iw * (bb * bi + k + 1)].as_signed()
                    w = wgt[ww * (o * bi + k):ww * (o * bi + k + 1)].as_signed()
                    p = Signal(signed(prod_bits), name=f"p_{bb}_{o}_{k}")
                    assign(m, self.product_reg, p.eq(x * w))
                    prods.append(p)
                s = _tree_sum(m, prods, sum_bits, self.tree_reg, f"s_{bb}_{o}")
                for e in range(self.extra):
                    d = Signal(signed(sum_bits), name=f"s_{bb}_{o}_d{e}")
                    m.d.sync += d.eq(s)
                    s = d
                lanes.append(s)
        for i, s in enumerate(lanes):
            m.d.comb += self.sum[aw * i:aw * (i + 1)].eq(s)
        return m


__all__ = ["GemmArray"]
