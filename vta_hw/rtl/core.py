"""``VtaCore``: the whole accelerator -- fetch, load, compute, store, queues and buffers.

::

             +-------+  load_q   +------+  inp/wgt   +---------+  out  +-------+
   DRAM  <-> | fetch | --------> | load | ---------> | compute | ----> | store | <-> DRAM
             +-------+ compute_q +------+  <-tokens-> +---------+ <-tok-> +-------+
                       store_q       ^ DRAM              ^ DRAM

The inp, wgt and out buffers live here (each written by one module and read by another);
uop and acc live in compute.  Four DRAM ports (one per module) and a control/status
interface are the core's only connections to the outside.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, connect, flipped

from vta_hw import isa
from vta_hw.config import HwConfig
from vta_hw.rtl.compute import Compute
from vta_hw.rtl.control import token_port
from vta_hw.rtl.dram_port import ADDR_BITS, DramPort
from vta_hw.rtl.fetch import COUNT_BITS, Fetch
from vta_hw.rtl.load import Load
from vta_hw.rtl.queues import CommandQueue, TokenQueue
from vta_hw.rtl.sram import bind_read, sram
from vta_hw.rtl.store import Store

CYCLE_BITS = 64
PORTS = ("fetch", "load", "compute", "store")


class ControlStatus(wiring.Signature):
    """The host's view of the core (from the core's side).

    Members
    -------
    start : In(1)        pulse: run ``insn_count`` instructions from ``insn_addr``
    insn_addr : In(32)   byte address of the first instruction (sampled with ``start``)
    insn_count : In(32)  number of instructions (sampled with ``start``)
    done : Out(1)        FINISH has retired (stays high until the next ``start``)
    cycles : Out(64)     cycles from the one after ``start`` to FINISH's retire, inclusive
    running : Out(1)     started and not done
    idle : Out(1)        every module idle, every command queue empty, fetch finished
    active : Out(1)      some unit made progress this cycle (for no-progress detection)
    """

    def __init__(self):
        super().__init__({
            "start": In(1), "insn_addr": In(ADDR_BITS), "insn_count": In(COUNT_BITS),
            "done": Out(1), "cycles": Out(CYCLE_BITS), "running": Out(1),
            "idle": Out(1), "active": Out(1),
        })


class VtaCore(wiring.Component):
    """The accelerator core for one ``HwConfig``.

    Members
    -------
    ctrl : Out(ControlStatus)  control and status
    fetch_dram, load_dram, compute_dram, store_dram : Out(DramPort)  one DRAM port per module
    """

    def __init__(self, cfg: HwConfig):
        self.cfg = cfg
        members = {"ctrl": Out(ControlStatus())}
        for p in PORTS:
            members[f"{p}_dram"] = Out(DramPort(cfg))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.submodules.fetch = fetch = Fetch(cfg)
        m.submodules.load = load = Load(cfg)
        m.submodules.compute = compute = Compute(cfg)
        m.submodules.store = store = Store(cfg)
        for p, unit in zip(PORTS, (fetch, load, compute, store), strict=True):
            connect(m, flipped(getattr(self, f"{p}_dram")), unit.dram)

        # buffers shared between modules
        # (block RAM without read-during-write emulation, see sram.py)
        m.submodules.inp_mem = inp_mem = sram(load.inp_bits, cfg.inp_buff_depth)
        m.submodules.wgt_mem = wgt_mem = sram(load.wgt_bits, cfg.wgt_buff_depth)
        m.submodules.out_mem = out_mem = sram(store.out_bits, cfg.out_buff_depth)
        connect(m, load.inp_wr, inp_mem.write_port())
        connect(m, load.wgt_wr, wgt_mem.write_port())
        bind_read(m, inp_mem, compute.inp_rd, "inp_rd")
        bind_read(m, wgt_mem, compute.wgt_rd, "wgt_rd")
        connect(m, compute.out_wr, out_mem.write_port())
        bind_read(m, out_mem, store.out_rd, "out_rd")

        # command queues
        queues = []
        for name, unit in (("load", load), ("compute", compute), ("store", store)):
            q = CommandQueue(cfg.cmd_queue_depth)
            m.submodules[f"{name}_q"] = q
            connect(m, getattr(fetch, f"{name}_q"), q.w)
            connect(m, unit.cmd, q.r)
            queues.append(q)

        # token queues: one per isa.TOKEN_QUEUES entry, between the ports its flags name
        units = {isa.Module.LOAD: load, isa.Module.COMPUTE: compute, isa.Module.STORE: store}
        for src, dst in isa.TOKEN_QUEUES:
            q = TokenQueue(cfg.token_queue_depth)
            m.submodules[f"{src.name.lower()}_to_{dst.name.lower()}"] = q
            connect(m, getattr(units[src], token_port(isa.push_flag(src, dst))), q.w)
            connect(m, getattr(units[dst], token_port(isa.pop_flag(src, dst))), q.r)

        # control / status
        ctrl = self.ctrl
        m.d.comb += [fetch.start.eq(ctrl.start), fetch.insn_addr.eq(ctrl.insn_addr),
                     fetch.insn_count.eq(ctrl.insn_count)]
        with m.If(ctrl.start):
            m.d.sync += [ctrl.running.eq(1), ctrl.done.eq(0), ctrl.cycles.eq(0)]
        with m.Elif(ctrl.running):
            m.d.sync += ctrl.cycles.eq(ctrl.cycles + 1)
            with m.If(compute.finish):
                m.d.sync += [ctrl.running.eq(0), ctrl.done.eq(1)]
        idle = Signal()
        m.d.comb += [
            idle.eq(~load.busy & ~compute.busy & ~store.busy & fetch.finished
                    & (queues[0].level == 0) & (queues[1].level == 0) & (queues[2].level == 0)),
            ctrl.idle.eq(idle),
            ctrl.active.eq(fetch.active | load.active | compute.active | store.active),
        ]
        return m


__all__ = ["VtaCore", "ControlStatus", "PORTS", "CYCLE_BITS"]
