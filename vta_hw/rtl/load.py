"""The load module: LOAD of inp and wgt (2-D DMA with padding), and NOP(load).

Pad elements are written with every lane equal to ``pad_value``.  The load module's only
neighbour is compute: ``pop_next`` pops compute->load tokens, ``push_next`` pushes
load->compute tokens.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux
from amaranth.lib import data, wiring
from amaranth.lib.memory import WritePort
from amaranth.lib.wiring import In, Out, connect, flipped

from vta_hw import isa
from vta_hw.config import HwConfig
from vta_hw.rtl.control import IssueControl
from vta_hw.rtl.dma import ReadDma
from vta_hw.rtl.dram_port import DramPort
from vta_hw.rtl.layouts import header_layout, mem_layout
from vta_hw.rtl.queues import CmdPop, TokenPop, TokenPush


class Load(wiring.Component):
    """The load module.

    Members
    -------
    cmd : Out(CmdPop)          its command queue
    next_in : Out(TokenPop)    compute->load tokens (pop_next)
    next_out : Out(TokenPush)  load->compute tokens (push_next)
    dram : Out(DramPort)       reads
    inp_wr : In(WritePort)     the inp buffer's write port
    wgt_wr : In(WritePort)     the wgt buffer's write port
    busy : Out(1)              an instruction is in flight
    active : Out(1)            issuing, in a body or retiring this cycle
    """

    def __init__(self, cfg: HwConfig):
        self.cfg = cfg
        self.inp_bits = cfg.inp_elem_bits
        self.wgt_bits = cfg.wgt_elem_bits
        super().__init__({
            "cmd": Out(CmdPop()),
            "next_in": Out(TokenPop()), "next_out": Out(TokenPush()),
            "dram": Out(DramPort(cfg)),
            "inp_wr": In(WritePort.Signature(addr_width=cfg.log_inp_buff_depth,
                                             shape=self.inp_bits)),
            "wgt_wr": In(WritePort.Signature(addr_width=cfg.log_wgt_buff_depth,
                                             shape=self.wgt_bits)),
            "busy": Out(1), "active": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.submodules.ctl = ctl = IssueControl()
        m.submodules.dma = dma = ReadDma(cfg, (isa.MemType.INP, isa.MemType.WGT))
        connect(m, flipped(self.dram), dma.dram)
        connect(m, flipped(self.next_in), ctl.next_in)
        connect(m, flipped(self.next_out), ctl.next_out)
        head = data.View(header_layout(cfg), self.cmd.data)
        memv = data.View(mem_layout(cfg), self.cmd.data)
        is_load = head.opcode == isa.Opcode.LOAD
        m.d.comb += [
            ctl.cmd_valid.eq(self.cmd.valid), self.cmd.en.eq(ctl.cmd_pop),
            ctl.pop_prev.eq(head.pop_prev), ctl.pop_next.eq(head.pop_next),
            ctl.push_prev.eq(head.push_prev), ctl.push_next.eq(head.push_next),
            ctl.zero_body.eq(~is_load | ReadDma.zero_body(memv)),
            dma.cmd.eq(memv), dma.start.eq(ctl.start),
            ctl.body_last.eq(dma.last),
            self.busy.eq(ctl.busy), self.active.eq(ctl.active),
        ]
        for port, kind, bits, lane in (
                (self.inp_wr, isa.MemType.INP, self.inp_bits, cfg.inp_width),
                (self.wgt_wr, isa.MemType.WGT, self.wgt_bits, cfg.wgt_width)):
            pad = Cat(*([dma.pad_value.as_signed()[:lane]] * (bits // lane)))
            m.d.comb += [port.en.eq(dma.wr_en & (dma.wr_mem == kind)),
                         port.addr.eq(dma.wr_addr),
                         port.data.eq(Mux(dma.wr_pad, pad, dma.wr_data[:bits]))]
        return m


__all__ = ["Load"]
