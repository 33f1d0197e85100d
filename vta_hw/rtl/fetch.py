"""Fetch: reads the instruction stream from DRAM and dispatches it to the command queues.

Timing (``docs/timing.md``): instruction *i* is requested in cycle ``f_i`` as one read burst of
``elem_cycles(16)`` beats; it arrives ``R = L + elem_cycles(16)`` cycles later and is pushed
into its module's command queue in the first cycle ``d_i >= f_i + R`` with room;
``f_0 = 0`` (the cycle after ``start``) and ``f_{i+1} = d_i + 1``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from vta_hw import isa, timing
from vta_hw.config import HwConfig
from vta_hw.rtl.dram_port import ADDR_BITS, DramPort, beat_size_log2
from vta_hw.rtl.layouts import header_layout, mem_layout, nop_layout
from vta_hw.rtl.queues import CmdPush

COUNT_BITS = 32


class Fetch(wiring.Component):
    """The fetch unit.

    Members
    -------
    start : In(1)            begin fetching (``insn_addr``/``insn_count`` are sampled now)
    insn_addr : In(32)       byte address of the first instruction
    insn_count : In(32)      number of instructions
    dram : Out(DramPort)     instruction reads
    load_q, compute_q, store_q : Out(CmdPush)  the three command queues
    finished : Out(1)        every instruction has been dispatched (or none was started)
    active : Out(1)          requesting, receiving or dispatching this cycle
    """

    def __init__(self, cfg: HwConfig):
        self.cfg = cfg
        super().__init__({
            "start": In(1), "insn_addr": In(ADDR_BITS), "insn_count": In(COUNT_BITS),
            "dram": Out(DramPort(cfg)),
            "load_q": Out(CmdPush()), "compute_q": Out(CmdPush()), "store_q": Out(CmdPush()),
            "finished": Out(1, init=1), "active": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, dram = self.cfg, self.dram
        bw = cfg.dram_bytes_per_cycle
        ec = timing.elem_cycles(cfg, isa.INSN_BYTES)
        buf = Signal(max(isa.INSN_BITS, 8 * bw))
        word = buf[:isa.INSN_BITS]
        beat = Signal(range(ec))
        addr = Signal(ADDR_BITS)
        left = Signal(COUNT_BITS)

        m.d.comb += [dram.req_addr.eq(addr), dram.req_len.eq(ec),
                     dram.req_size.eq(beat_size_log2(cfg, isa.INSN_BYTES)), dram.req_write.eq(0)]
        for q in (self.load_q, self.compute_q, self.store_q):
            m.d.comb += q.data.eq(word)

        # Which module's queue the instruction in ``buf`` goes to (isa.module_of).
        head = data.View(header_layout(cfg), word)
        memf = data.View(mem_layout(cfg), word)
        nop = data.View(nop_layout(cfg), word)
        target = Signal(isa.MODULE_BITS)
        with m.Switch(head.opcode):
            with m.Case(isa.Opcode.LOAD):
                with m.If((memf.mem == isa.MemType.INP) | (memf.mem == isa.MemType.WGT)):
                    m.d.comb += target.eq(isa.Module.LOAD)
                with m.Else():
                    m.d.comb += target.eq(isa.Module.COMPUTE)
            with m.Case(isa.Opcode.STORE):
                m.d.comb += target.eq(isa.Module.STORE)
            with m.Case(isa.Opcode.NOP):
                m.d.comb += target.eq(nop.module)
            with m.Default():
                m.d.comb += target.eq(isa.Module.COMPUTE)
        queues = {isa.Module.LOAD: self.load_q, isa.Module.COMPUTE: self.compute_q,
                  isa.Module.STORE: self.store_q}
        room = Signal()
        with m.Switch(target):
            for mod, q in queues.items():
                with m.Case(mod):
                    m.d.comb += room.eq(q.rdy)
            with m.Default():  # an illegal NOP module: compute takes it
                m.d.comb += room.eq(self.compute_q.rdy)

        with m.FSM(name="fetch"):
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [addr.eq(self.insn_addr), left.eq(self.insn_count)]
                    with m.If(self.insn_count != 0):
                        m.d.sync += self.finished.eq(0)
                        m.next = "REQ"
            with m.State("REQ"):
                m.d.comb += [self.active.eq(1), dram.req_valid.eq(1)]
                with m.If(dram.req_ready):
                    m.d.sync += beat.eq(0)
                    m.next = "WAIT"
            with m.State("WAIT"):
                m.d.comb += [self.active.eq(1), dram.rd_ready.eq(1)]
                with m.If(dram.rd_valid):
                    m.d.sync += buf.word_select(beat, 8 * bw).eq(dram.rd_data)
                    with m.If(beat == ec - 1):
                        m.next = "DISPATCH"
                    with m.Else():
                        m.d.sync += beat.eq(beat + 1)
            with m.State("DISPATCH"):
                with m.If(room):
                    m.d.comb += self.active.eq(1)
                    with m.Switch(target):
                        for mod, q in queues.items():
                            with m.Case(mod):
                                m.d.comb += q.en.eq(1)
                        with m.Default():
                            m.d.comb += self.compute_q.en.eq(1)
                    m.d.sync += [addr.eq(addr + isa.INSN_BYTES), left.eq(left - 1)]
                    with m.If(left == 1):
                        m.d.sync += self.finished.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "REQ"
        return m


__all__ = ["Fetch"]
