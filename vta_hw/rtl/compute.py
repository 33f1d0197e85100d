"""The compute module: micro-op loops, GEMM array, vector ALU, uop and acc buffers.

It executes LOAD uop/acc/acc8 (through its own DMA), GEMM, ALU, FINISH and NOP.  A GEMM or ALU
body is a *sequencer* phase that issues one micro-op iteration every ``II`` cycles
(``iter_out x iter_in x (uop_end - uop_bgn)`` iterations, innermost the micro-op) followed by a
*drain* of ``P`` cycles (``gemm_pipeline_depth`` or ``alu_pipeline_depth``), so
``B = n * II + P`` as in ``docs/timing.md``.

Iteration *k* reads its micro-op in body cycle ``1 + II*k``; its operands are addressed the
next cycle (stage ``t = 0``).  From there, with ``P`` the pipeline depth:

* GEMM: inp/wgt are read at ``t = 0``; the products and adder trees take ``M`` register stages;
  acc[dst] is read so that its (registered) value meets the sum at ``t = 1 + M``; the sum is
  added (and registered once more when ``P >= 5``) and written at ``t = P - 1``.  The
  distance from the acc read to its write is at most ``P - 1`` cycles, so an iteration ``P`` or
  more iterations later always reads the written value (the hazard window of the model).
* ALU: acc[dst] is read at ``t = 0``; with a tensor operand acc[src] at ``t = 1`` (one read
  port, hence II = 2); the op is evaluated when its operands are there (``t = 1`` immediate,
  ``t = 2`` tensor) and ``P - 2`` registers lie between the operands and the write (the
  first, when there is one, registers the operands so the op starts from flip-flops).

Every acc write (LOAD acc/acc8, GEMM, ALU) also writes ``out[idx] = saturate_int8(acc[idx])``
when ``idx < out_buff_depth``.  The acc buffer has one read and one write port, the uop buffer
one of each; both are synchronous-read ``amaranth.lib.memory`` memories.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.lib.wiring import In, Out, connect, flipped

from vta_hw import isa
from vta_hw.config import HwConfig
from vta_hw.rtl.alu import ACC_BITS, AluLanes
from vta_hw.rtl.control import IssueControl
from vta_hw.rtl.dma import ReadDma
from vta_hw.rtl.dram_port import DramPort
from vta_hw.rtl.gemm import GemmArray
from vta_hw.rtl.layouts import alu_layout, gemm_layout, header_layout, mem_layout, uop_layout
from vta_hw.rtl.queues import CmdPop, TokenPop, TokenPush


def gemm_stages(p: int) -> tuple[int, int]:
    """``(M, X)`` for GEMM depth ``p``: array register stages and post-add registers."""
    k = p - 2
    x = 1 if k >= 3 else 0
    return k - x, x


def saturate8(m: Module, v):
    """int8 saturation of a signed 32-bit value."""
    r = Signal(signed(8))
    v = v.as_signed()
    m.d.comb += r.eq(Mux(v > 127, 127, Mux(v < -128, -128, v[:8])))
    return r


class Compute(wiring.Component):
    """The compute module.

    Members
    -------
    cmd : Out(CmdPop)         its command queue
    prev_in : Out(TokenPop)   load->compute tokens (pop_prev)
    next_in : Out(TokenPop)   store->compute tokens (pop_next)
    prev_out : Out(TokenPush) compute->load tokens (push_prev)
    next_out : Out(TokenPush) compute->store tokens (push_next)
    dram : Out(DramPort)      reads for LOAD uop/acc/acc8
    inp_rd : In(ReadPort)     the inp buffer's read port (addr/en driven here)
    wgt_rd : In(ReadPort)     the wgt buffer's read port
    out_wr : In(WritePort)    the out buffer's write port
    finish : Out(1)           FINISH retires this cycle
    busy : Out(1)             an instruction is in flight
    active : Out(1)           issuing, in a body or retiring this cycle
    """

    def __init__(self, cfg: HwConfig):
        self.cfg = cfg
        b, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
        self.inp_bits = 8 * b * bi
        self.wgt_bits = 8 * bo * bi
        self.acc_bits = ACC_BITS * b * bo
        self.out_bits = 8 * b * bo
        super().__init__({
            "cmd": Out(CmdPop()),
            "prev_in": Out(TokenPop()), "next_in": Out(TokenPop()),
            "prev_out": Out(TokenPush()), "next_out": Out(TokenPush()),
            "dram": Out(DramPort(cfg)),
            "inp_rd": In(ReadPort.Signature(addr_width=cfg.log_inp_buff_depth,
                                            shape=self.inp_bits)),
            "wgt_rd": In(ReadPort.Signature(addr_width=cfg.log_wgt_buff_depth,
                                            shape=self.wgt_bits)),
            "out_wr": In(WritePort.Signature(addr_width=cfg.log_out_buff_depth,
                                             shape=self.out_bits)),
            "finish": Out(1), "busy": Out(1), "active": Out(1),
        })

    def elaborate(self, platform):  # noqa: C901 - one datapath, read top to bottom
        m = Module()
        cfg = self.cfg
        lanes = cfg.batch * cfg.block_out
        la, li, lw, lu = (cfg.log_acc_buff_depth, cfg.log_inp_buff_depth,
                          cfg.log_wgt_buff_depth, cfg.log_uop_buff_depth)
        src_bits = cfg.uop_src_bits

        # ------------------------------------------------------------ buffers
        m.submodules.uop_mem = uop_mem = Memory(shape=isa.UOP_BITS, depth=cfg.uop_buff_depth,
                                                init=[])
        m.submodules.acc_mem = acc_mem = Memory(shape=self.acc_bits, depth=cfg.acc_buff_depth,
                                                init=[])
        uop_wr = uop_mem.write_port()
        uop_rd = uop_mem.read_port()
        acc_wr = acc_mem.write_port()
        acc_rd = acc_mem.read_port()
        m.d.comb += [uop_rd.en.eq(1), acc_rd.en.eq(1), self.inp_rd.en.eq(1),
                     self.wgt_rd.en.eq(1)]

        # ------------------------------------------------------------ issue / retire
        m.submodules.ctl = ctl = IssueControl()
        m.submodules.dma = dma = ReadDma(cfg, (isa.MemType.UOP, isa.MemType.ACC,
                                               isa.MemType.ACC8))
        connect(m, flipped(self.dram), dma.dram)
        connect(m, flipped(self.prev_in), ctl.prev_in)
        connect(m, flipped(self.next_in), ctl.next_in)
        connect(m, flipped(self.prev_out), ctl.prev_out)
        connect(m, flipped(self.next_out), ctl.next_out)
        head = data.View(header_layout(cfg), self.cmd.data)
        memv = data.View(mem_layout(cfg), self.cmd.data)
        gv = data.View(gemm_layout(cfg), self.cmd.data)
        av = data.View(alu_layout(cfg), self.cmd.data)
        is_load = head.opcode == isa.Opcode.LOAD
        is_loop = (head.opcode == isa.Opcode.GEMM) | (head.opcode == isa.Opcode.ALU)
        m.d.comb += [
            ctl.cmd_valid.eq(self.cmd.valid), self.cmd.en.eq(ctl.cmd_pop),
            ctl.pop_prev.eq(head.pop_prev), ctl.pop_next.eq(head.pop_next),
            ctl.push_prev.eq(head.push_prev), ctl.push_next.eq(head.push_next),
            ctl.zero_body.eq(~is_loop & ~(is_load & ~ReadDma.zero_body(memv))),
            dma.cmd.eq(memv), dma.start.eq(ctl.start & is_load),
            self.busy.eq(ctl.busy), self.active.eq(ctl.active),
        ]
        cur_op = Signal(isa.OPCODE_BITS)
        with m.If(ctl.issue):
            m.d.sync += cur_op.eq(head.opcode)
        m.d.comb += self.finish.eq(ctl.retire & (cur_op == isa.Opcode.FINISH))

        # ------------------------------------------------------------ micro-op sequencer
        is_alu = Signal()
        reset = Signal()
        ii2 = Signal()  # ALU with a tensor operand: two acc reads per iteration
        alu_op = Signal(isa.ALU_OP_BITS)
        imm = Signal(signed(isa.ALU_IMM_BITS))
        uop_bgn = Signal(lu)
        uop_end = Signal(lu + 1)
        uop_ptr = Signal(lu + 1)
        iter_out = Signal(isa.LOOP_ITER_BITS)
        iter_in = Signal(isa.LOOP_ITER_BITS)
        i0 = Signal(isa.LOOP_ITER_BITS)
        i1 = Signal(isa.LOOP_ITER_BITS)
        fac = {}  # name -> (factor_out, factor_in, outer base, offset)
        for name, w in (("dst", la), ("src", src_bits), ("wgt", lw)):
            fac[name] = tuple(Signal(w, name=f"{name}_{s}") for s in ("fo", "fi", "ob", "off"))
        phase = Signal()
        it_done = Signal()
        drain = Signal(range(max(cfg.gemm_pipeline_depth, cfg.alu_pipeline_depth)))
        seq_last = Signal()
        v0 = Signal()  # stage t=0 valid: the micro-op read last cycle is on uop_rd.data
        off0 = {name: Signal(len(fac[name][0]), name=f"{name}_off0") for name in fac}
        m.d.sync += v0.eq(0)

        def enter_drain(alu):
            m.d.sync += drain.eq(Mux(alu, cfg.alu_pipeline_depth - 1,
                                     cfg.gemm_pipeline_depth - 1))
            m.next = "DRAIN"

        with m.FSM(name="seq"):
            with m.State("IDLE"):
                with m.If(ctl.start & is_loop):
                    alu = head.opcode == isa.Opcode.ALU
                    g_reset = Mux(alu, av.reset, gv.reset)
                    m.d.sync += [
                        is_alu.eq(alu), reset.eq(g_reset),
                        ii2.eq(alu & ~av.use_imm & ~av.reset),
                        alu_op.eq(av.alu_op), imm.eq(av.imm),
                        uop_bgn.eq(gv.uop_bgn), uop_end.eq(gv.uop_end), uop_ptr.eq(gv.uop_bgn),
                        iter_out.eq(gv.iter_out), iter_in.eq(gv.iter_in),
                        i0.eq(0), i1.eq(0), phase.eq(0), it_done.eq(0),
                    ]
                    for name in fac:
                        fo, fi, ob, off = fac[name]
                        if name == "wgt":
                            src_o, src_i = gv.wgt_factor_out, gv.wgt_factor_in
                        else:
                            src_o = Mux(alu, getattr(av, f"{name}_factor_out"),
                                        getattr(gv, f"{name}_factor_out"))
                            src_i = Mux(alu, getattr(av, f"{name}_factor_in"),
                                        getattr(gv, f"{name}_factor_in"))
                        m.d.sync += [fo.eq(src_o), fi.eq(src_i), ob.eq(0), off.eq(0)]
                    empty = ((gv.iter_out == 0) | (gv.iter_in == 0)
                             | (gv.uop_end <= gv.uop_bgn))
                    with m.If(empty):
                        enter_drain(alu)
                    with m.Else():
                        m.next = "ITER"
            with m.State("ITER"):
                with m.If(~phase):
                    m.d.comb += uop_rd.addr.eq(uop_ptr)
                    m.d.sync += v0.eq(1)
                    for name in fac:
                        m.d.sync += off0[name].eq(fac[name][3])
                    last_u = uop_ptr + 1 == uop_end
                    last_i1 = i1 + 1 == iter_in
                    last_i0 = i0 + 1 == iter_out
                    last = last_u & last_i1 & last_i0
                    with m.If(~last_u):
                        m.d.sync += uop_ptr.eq(uop_ptr + 1)
                    with m.Else():
                        m.d.sync += uop_ptr.eq(uop_bgn)
                        with m.If(~last_i1):
                            m.d.sync += i1.eq(i1 + 1)
                            for _fo, fi, _ob, off in fac.values():
                                m.d.sync += off.eq(off + fi)
                        with m.Else():
                            m.d.sync += [i1.eq(0), i0.eq(i0 + 1)]
                            for fo, _fi, ob, off in fac.values():
                                m.d.sync += [ob.eq(ob + fo), off.eq(ob + fo)]
                    with m.If(ii2):
                        m.d.sync += phase.eq(1)
                        with m.If(last):
                            m.d.sync += it_done.eq(1)
                    with m.Elif(last):
                        enter_drain(is_alu)
                with m.Else():
                    m.d.sync += phase.eq(0)
                    with m.If(it_done):
                        enter_drain(is_alu)
            with m.State("DRAIN"):
                m.d.sync += drain.eq(drain - 1)
                with m.If(drain == 0):
                    m.d.comb += seq_last.eq(1)
                    m.next = "IDLE"
        m.d.comb += ctl.body_last.eq(dma.last | seq_last)

        # ------------------------------------------------------------ stage t = 0: addresses
        uop = data.View(uop_layout(cfg), uop_rd.data)
        dst0 = Signal(la)
        src0 = Signal(src_bits)
        wgt0 = Signal(lw)
        m.d.comb += [dst0.eq(uop.dst + off0["dst"]), src0.eq(uop.src + off0["src"]),
                     wgt0.eq(uop.wgt + off0["wgt"])]

        def delay(sig, n, name):
            """``[sig, sig delayed by 1, ..., by n]``."""
            out = [sig]
            for t in range(1, n + 1):
                r = Signal.like(sig, name=f"{name}_{t}")
                m.d.sync += r.eq(out[-1])
                out.append(r)
            return out

        # acc write request from each source
        acc_we = Signal()
        acc_waddr = Signal(la)
        acc_wdata = Signal(self.acc_bits)

        # ------------------------------------------------------------ GEMM
        pg = cfg.gemm_pipeline_depth
        gm, gx = gemm_stages(pg)
        wg = 1 + gm + gx  # write stage (= P - 1)
        m.submodules.gemm = gemm = GemmArray(cfg, product_reg=gm >= 2, tree_reg=gm >= 1,
                                             extra=max(0, gm - 2))
        assert gemm.latency == gm
        m.d.comb += [self.inp_rd.addr.eq(src0[:li]), self.wgt_rd.addr.eq(wgt0),
                     gemm.inp.eq(self.inp_rd.data), gemm.wgt.eq(self.wgt_rd.data)]
        g_v = delay(v0 & ~is_alu, wg, "gv")
        g_dst = delay(dst0, wg, "gdst")
        if gm >= 1:
            g_rd_addr = g_dst[gm - 1]
            g_acc = Signal(self.acc_bits)
            m.d.sync += g_acc.eq(acc_rd.data)
        else:
            g_rd_addr = g_dst[0]
            g_acc = acc_rd.data
        g_new = Signal(self.acc_bits)
        for i in range(lanes):
            sl = slice(ACC_BITS * i, ACC_BITS * (i + 1))
            m.d.comb += g_new[sl].eq(Mux(reset, 0, g_acc[sl] + gemm.sum[sl]))
        if gx:
            g_res = Signal(self.acc_bits)
            m.d.sync += g_res.eq(g_new)
        else:
            g_res = g_new

        # ------------------------------------------------------------ ALU
        pa = cfg.alu_pipeline_depth
        m.submodules.alu = alu = AluLanes(cfg)
        a_v = delay(v0 & is_alu, 2, "av")
        a_dst = delay(dst0, 2, "adst")
        a_src1 = Signal(la)
        m.d.sync += a_src1.eq(src0[:la])
        a_dst_val = Signal(self.acc_bits)  # acc[dst] read at t=0, held for t=2
        m.d.sync += a_dst_val.eq(acc_rd.data)
        imm32 = Signal(signed(ACC_BITS))
        m.d.comb += imm32.eq(imm)
        imm_lanes = Cat(*([imm32] * lanes))
        op_v = Signal()
        op_dst = Signal(la)
        op_a = Signal(self.acc_bits)
        op_b = Signal(self.acc_bits)
        m.d.comb += [
            op_v.eq(Mux(ii2, a_v[2], a_v[1])),
            op_dst.eq(Mux(ii2, a_dst[2], a_dst[1])),
            op_a.eq(Mux(ii2, a_dst_val, acc_rd.data)),
            op_b.eq(Mux(ii2, acc_rd.data, imm_lanes)),
        ]
        ea = pa - 2  # registers between the operands and the write
        if ea >= 1:  # register the operands: the op starts from flip-flops, not the RAM
            op_v, op_dst, op_a, op_b = (delay(sig, 1, f"aop{i}")[1]
                                        for i, sig in enumerate((op_v, op_dst, op_a, op_b)))
        m.d.comb += [alu.op.eq(alu_op), alu.a.eq(op_a), alu.b.eq(op_b)]
        a_res0 = Signal(self.acc_bits)
        m.d.comb += a_res0.eq(Mux(reset, 0, alu.result))
        ra = ea - 1 if ea >= 1 else 0  # result registers
        r_v = delay(op_v, ra, "rv")
        r_dst = delay(op_dst, ra, "rdst")
        r_res = delay(a_res0, ra, "rres")

        # acc read port: GEMM or ALU addressing
        with m.If(is_alu):
            m.d.comb += acc_rd.addr.eq(Mux(ii2 & a_v[1], a_src1, dst0))
        with m.Else():
            m.d.comb += acc_rd.addr.eq(g_rd_addr)

        # ------------------------------------------------------------ LOAD data -> buffers
        load_acc = Signal(self.acc_bits)
        pad32 = Signal(signed(ACC_BITS))
        m.d.comb += pad32.eq(dma.pad_value)
        with m.If(dma.wr_pad):
            m.d.comb += load_acc.eq(Cat(*([pad32] * lanes)))
        with m.Elif(dma.wr_mem == isa.MemType.ACC8):
            for i in range(lanes):
                lane = Signal(signed(ACC_BITS), name=f"acc8_{i}")
                m.d.comb += [lane.eq(dma.wr_data[8 * i:8 * (i + 1)].as_signed()),
                             load_acc[ACC_BITS * i:ACC_BITS * (i + 1)].eq(lane)]
        with m.Else():
            m.d.comb += load_acc.eq(dma.wr_data)
        m.d.comb += [uop_wr.addr.eq(dma.wr_addr), uop_wr.data.eq(dma.wr_data[:isa.UOP_BITS]),
                     uop_wr.en.eq(dma.wr_en & (dma.wr_mem == isa.MemType.UOP) & ~dma.wr_pad)]

        # ------------------------------------------------------------ acc / out writes
        load_we = dma.wr_en & ((dma.wr_mem == isa.MemType.ACC) | (dma.wr_mem == isa.MemType.ACC8))
        with m.If(load_we):
            m.d.comb += [acc_we.eq(1), acc_waddr.eq(dma.wr_addr), acc_wdata.eq(load_acc)]
        with m.Elif(g_v[wg]):
            m.d.comb += [acc_we.eq(1), acc_waddr.eq(g_dst[wg]), acc_wdata.eq(g_res)]
        with m.Elif(r_v[ra]):
            m.d.comb += [acc_we.eq(1), acc_waddr.eq(r_dst[ra]), acc_wdata.eq(r_res[ra])]
        m.d.comb += [acc_wr.en.eq(acc_we), acc_wr.addr.eq(acc_waddr), acc_wr.data.eq(acc_wdata)]
        lo = cfg.log_out_buff_depth
        in_out = acc_waddr[lo:] == 0 if lo < la else Const(1)
        m.d.comb += [self.out_wr.en.eq(acc_we & in_out), self.out_wr.addr.eq(acc_waddr[:lo])]
        for i in range(lanes):
            m.d.comb += self.out_wr.data[8 * i:8 * (i + 1)].eq(
                saturate8(m, acc_wdata[ACC_BITS * i:ACC_BITS * (i + 1)]))
        return m


__all__ = ["Compute", "gemm_stages", "saturate8"]
