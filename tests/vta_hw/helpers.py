"""Shared pieces of the RTL tests: a cycle loop for Amaranth testbenches, DRAM-port helpers,
module rigs (a unit plus the buffers it talks to) and hand-built programs."""

from __future__ import annotations

from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from vta_hw import isa, timing
from vta_hw.bundle import Bundle, BundleBuilder
from vta_hw.config import HwConfig
from vta_hw.cosim.dram_model import INPUTS, OUTPUTS, PortModel


def run_bench(dut, bench, vcd: str | None = None) -> None:
    """Run one async testbench on ``dut`` with a 100 MHz ``sync`` clock (always present,
    so purely combinational units can be stepped with ``ctx.tick()`` too)."""
    top = Module()
    top.submodules.dut = dut
    toggle = Signal()
    top.d.sync += toggle.eq(~toggle)
    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()


class Dram:
    """A PortModel bound to one DramPort of a DUT, driven from a single testbench loop."""

    def __init__(self, port, mem: bytearray, cfg: HwConfig, name: str = "port", rng=None):
        self.port = port
        self.model = PortModel(name, mem, timing.dram_timing(cfg), rng)
        self._driven: dict[str, int] = {}

    def drive(self, ctx, t: int) -> None:
        self._driven = self.model.drive(t)
        for k in INPUTS:
            ctx.set(getattr(self.port, k), self._driven[k])

    def observe(self, ctx, t: int) -> None:
        o = {k: ctx.get(getattr(self.port, k)) for k in OUTPUTS}
        self.model.observe(t, o, self._driven)
        self.model.check()


def encode(insn: isa.Insn, cfg: HwConfig) -> int:
    return isa.encode_int(insn, cfg)


class UnitRig(Elaboratable):
    """A module under test with the shared buffers it reads or writes (inp, wgt, out)."""

    def __init__(self, unit, cfg: HwConfig, *, inp=None, wgt=None, out=None):
        self.unit = unit
        self.cfg = cfg
        b, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
        self.inp = Memory(shape=8 * b * bi, depth=cfg.inp_buff_depth, init=inp or [])
        self.wgt = Memory(shape=8 * bo * bi, depth=cfg.wgt_buff_depth, init=wgt or [])
        self.out = Memory(shape=8 * b * bo, depth=cfg.out_buff_depth, init=out or [])

    def elaborate(self, platform):
        from amaranth.lib.wiring import connect

        m = Module()
        m.submodules.unit = u = self.unit
        m.submodules.inp = self.inp
        m.submodules.wgt = self.wgt
        m.submodules.out = self.out
        if hasattr(u, "inp_wr"):
            connect(m, u.inp_wr, self.inp.write_port())
            connect(m, u.wgt_wr, self.wgt.write_port())
        if hasattr(u, "inp_rd"):
            connect(m, u.inp_rd, self.inp.read_port())
            connect(m, u.wgt_rd, self.wgt.read_port())
            connect(m, u.out_wr, self.out.write_port())
        if hasattr(u, "out_rd"):
            connect(m, u.out_rd, self.out.read_port())
        return m


def lanes(value: int, n: int, bits: int) -> list[int]:
    """Split a packed element into ``n`` signed lanes of ``bits``."""
    out = []
    for i in range(n):
        v = (value >> (bits * i)) & ((1 << bits) - 1)
        out.append(v - (1 << bits) if v >> (bits - 1) else v)
    return out


def pack(values, bits: int) -> int:
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & ((1 << bits) - 1)) << (bits * i)
    return word


# ---------------------------------------------------------------------------- programs
def hazard_boundary(cfg: HwConfig, kind: str) -> Bundle:
    """GEMM / ALU whose iterations reuse an accumulator exactly one hazard window apart.

    ``kind``: ``gemm`` (dst repeats every P_gemm iterations), ``alu_imm`` (dst every P_alu),
    ``alu_tensor`` (iteration j reads as src what iteration j - P_alu wrote).  Legal
    programs at the edge of the model's read-after-write rule: the RTL must read the
    written value, never a stale one.
    """
    import numpy as np

    rng = np.random.default_rng(7)
    bb = BundleBuilder(cfg)
    inp = bb.add("inp", rng.integers(-128, 128, 4 * cfg.inp_elem_bytes, dtype=np.int8).tobytes())
    wgt = bb.add("wgt", rng.integers(-128, 128, 4 * cfg.wgt_elem_bytes, dtype=np.int8).tobytes())
    p = cfg.gemm_pipeline_depth if kind == "gemm" else cfg.alu_pipeline_depth
    n_acc = 4 * p + 4
    acc = bb.add("acc", rng.integers(-2**20, 2**20, n_acc * cfg.batch * cfg.block_out,
                                     dtype=np.int32).tobytes())
    if kind == "alu_tensor":
        # iteration j writes acc[j] and reads acc[j - P], written P iterations earlier
        # (the first P read an element no iteration writes)
        uops = [isa.Uop(dst=j, src=j - p if j >= p else 3 * p, wgt=0) for j in range(3 * p)]
    else:
        uops = [isa.Uop(dst=j % p, src=j % 4, wgt=(j // 2) % 4) for j in range(3 * p)]
    ur = bb.add_uops("uops", uops)
    out = bb.alloc("out", 16 * cfg.out_elem_bytes)
    e = {m: isa.elem_bytes(cfg, m) for m in isa.MemType}
    insns: list[isa.Insn] = [
        isa.Load(mem=isa.MemType.UOP, dram_base=ur.addr // 4, y_size=1, x_size=len(uops),
                 x_stride=len(uops)),
        isa.Load(mem=isa.MemType.ACC, dram_base=acc.addr // e[isa.MemType.ACC], y_size=1,
                 x_size=n_acc, x_stride=n_acc),
        isa.Load(mem=isa.MemType.INP, dram_base=inp.addr // e[isa.MemType.INP], y_size=1,
                 x_size=4, x_stride=4),
        isa.Load(mem=isa.MemType.WGT, dram_base=wgt.addr // e[isa.MemType.WGT], y_size=1,
                 x_size=4, x_stride=4, push_next=True),
    ]
    if kind == "gemm":
        insns.append(isa.Gemm(pop_prev=True, uop_bgn=0, uop_end=len(uops), iter_out=2,
                              iter_in=2, push_next=True))
    elif kind == "alu_imm":
        insns.append(isa.Alu(pop_prev=True, uop_bgn=0, uop_end=len(uops), iter_out=1,
                             iter_in=3, alu_op=isa.AluOp.ADD, use_imm=True, imm=-1000,
                             push_next=True))
    else:
        insns.append(isa.Alu(pop_prev=True, uop_bgn=0, uop_end=len(uops), iter_out=1,
                             iter_in=1, alu_op=isa.AluOp.ADD, push_next=True))
    insns += [isa.Store(mem=isa.MemType.OUT, pop_prev=True,
                        dram_base=out.addr // e[isa.MemType.OUT], y_size=1, x_size=16,
                        x_stride=16, push_prev=True),
              isa.Finish(pop_next=True)]
    bb.set_program(insns)
    return bb.build(meta={"program": f"hazard_boundary_{kind}"})


def requantize_edges(shift: int) -> list[int]:
    """int32 values at and next to those where ``rshr(x, shift)`` crosses a rounding step or
    the int8 / ReLU clamp, and the int32 extremes."""
    one = 1 << shift
    half = one >> 1
    centers = [0, 127 * one + half, 128 * one, -128 * one - half, -129 * one, -half, -one,
               one - half, -2**31, 2**31 - 1]
    xs = [c + d for c in centers for d in (-1, 0, 1)]
    return [x for x in xs if -2**31 <= x < 2**31]


def out_mode_sweep(cfg: HwConfig) -> tuple[Bundle, list[tuple[int, bool, list[int]]]]:
    """Every OUTMODE ``(shift, relu)`` in turn on its :func:`requantize_edges`, mirrored by a
    GEMM with zero products (the inp/wgt buffers are never loaded) and stored.

    Returns the bundle and, per mode in order, ``(shift, relu, values)``: the ``output``
    region holds their requantized bytes, each mode's padded to whole acc elements with 0.
    """
    import numpy as np

    lanes = cfg.batch * cfg.block_out
    modes = [(s, relu, requantize_edges(s)) for s in range(1 << isa.OUT_MODE_SHIFT_BITS)
             for relu in (False, True)]
    k = max(-(-len(v) // lanes) for _s, _r, v in modes)  # acc elements per mode
    padded = [v + [0] * (k * lanes - len(v)) for _s, _r, v in modes]
    bb = BundleBuilder(cfg)
    e = {m: isa.elem_bytes(cfg, m) for m in isa.MemType}
    acc = bb.add("acc", np.array(padded, np.int32).tobytes())
    out = bb.alloc("output", len(modes) * k * e[isa.MemType.OUT])
    ur = bb.add_uops("uops", [isa.Uop(dst=0, src=0, wgt=0)])
    insns: list[isa.Insn] = [isa.Load(mem=isa.MemType.UOP, dram_base=ur.addr // 4, y_size=1,
                                      x_size=1, x_stride=1)]
    for i, (s, relu, _v) in enumerate(modes):
        insns += [
            # reloading acc[0, k) also rewrites out[0, k): after the previous STORE's token
            isa.Load(mem=isa.MemType.ACC, pop_next=i > 0, y_size=1, x_size=k, x_stride=k,
                     dram_base=acc.addr // e[isa.MemType.ACC] + i * k),
            isa.Alu(alu_op=isa.AluOp.OUTMODE, use_imm=True, imm=isa.out_mode_imm(s, relu)),
            isa.Gemm(uop_bgn=0, uop_end=1, iter_out=1, iter_in=k, dst_factor_in=1,
                     push_next=True),
            isa.Store(mem=isa.MemType.OUT, pop_prev=True, push_prev=True, y_size=1, x_size=k,
                      x_stride=k, dram_base=out.addr // e[isa.MemType.OUT] + i * k),
        ]
    bb.set_program(insns + [isa.Finish(pop_next=True)])
    return bb.build(meta={"program": "out_mode_sweep"}), [(s, r, p) for (s, r, _), p in
                                                          zip(modes, padded, strict=True)]


def deadlock_program(cfg: HwConfig, where: str) -> Bundle:
    """A program that hangs: ``token`` (compute pops a token nobody pushes), ``after_finish``
    (a STORE waits forever while FINISH retires) or ``full`` (load pushes more tokens than
    the queue holds and nobody pops them)."""
    bb = BundleBuilder(cfg)
    if where == "token":
        insns = [isa.Gemm(pop_prev=True), isa.Finish()]
    elif where == "after_finish":
        insns = [isa.Store(mem=isa.MemType.OUT, pop_prev=True), isa.Finish()]
    else:
        insns = [isa.Nop(module=isa.Module.LOAD, push_next=True)
                 for _ in range(cfg.token_queue_depth + 1)] + [isa.Finish()]
    bb.set_program(insns)
    return bb.build()
