"""The store module: STORE of the out buffer (2-D DMA to DRAM), and NOP(store).

The store module's only neighbour is compute: ``pop_prev`` pops compute->store tokens,
``push_prev`` pushes store->compute tokens.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import data, wiring
from amaranth.lib.memory import ReadPort
from amaranth.lib.wiring import In, Out, connect, flipped

from vta_hw import isa
from vta_hw.config import HwConfig
from vta_hw.rtl.control import IssueControl
from vta_hw.rtl.dma import WriteDma
from vta_hw.rtl.dram_port import DramPort
from vta_hw.rtl.layouts import header_layout, mem_layout
from vta_hw.rtl.queues import CmdPop, TokenPop, TokenPush


class Store(wiring.Component):
    """The store module.

    Members
    -------
    cmd : Out(CmdPop)          its command queue
    prev_in : Out(TokenPop)    compute->store tokens (pop_prev)
    prev_out : Out(TokenPush)  store->compute tokens (push_prev)
    dram : Out(DramPort)       writes
    out_rd : In(ReadPort)      the out buffer's read port
    busy : Out(1)              an instruction is in flight
    active : Out(1)            issuing, in a body or retiring this cycle
    """

    def __init__(self, cfg: HwConfig):
        self.cfg = cfg
        self.out_bits = cfg.out_elem_bits
        super().__init__({
            "cmd": Out(CmdPop()),
            "prev_in": Out(TokenPop()), "prev_out": Out(TokenPush()),
            "dram": Out(DramPort(cfg)),
            "out_rd": In(ReadPort.Signature(addr_width=cfg.log_out_buff_depth,
                                            shape=self.out_bits)),
            "busy": Out(1), "active": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.submodules.ctl = ctl = IssueControl()
        m.submodules.dma = dma = WriteDma(cfg)
        connect(m, flipped(self.dram), dma.dram)
        connect(m, flipped(self.prev_in), ctl.prev_in)
        connect(m, flipped(self.prev_out), ctl.prev_out)
        head = data.View(header_layout(cfg), self.cmd.data)
        memv = data.View(mem_layout(cfg), self.cmd.data)
        is_store = head.opcode == isa.Opcode.STORE
        m.d.comb += [
            ctl.cmd_valid.eq(self.cmd.valid), self.cmd.en.eq(ctl.cmd_pop),
            ctl.pop_prev.eq(head.pop_prev), ctl.pop_next.eq(head.pop_next),
            ctl.push_prev.eq(head.push_prev), ctl.push_next.eq(head.push_next),
            ctl.zero_body.eq(~is_store | WriteDma.zero_body(memv)),
            dma.cmd.eq(memv), dma.start.eq(ctl.start),
            ctl.body_last.eq(dma.last),
            self.out_rd.addr.eq(dma.rd_addr), self.out_rd.en.eq(dma.rd_en),
            dma.rd_data.eq(self.out_rd.data),
            self.busy.eq(ctl.busy), self.active.eq(ctl.active),
        ]
        return m


__all__ = ["Store"]
