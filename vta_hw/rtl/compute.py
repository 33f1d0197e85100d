"""The compute module: micro-op loops, GEMM array, vector ALU, uop and acc buffers.

It executes LOAD uop/acc/acc8 (through its own DMA), GEMM, ALU, FINISH and NOP.  A GEMM or ALU
body issues one micro-op iteration every ``II`` cycles (``iter_out x iter_in x (uop_end -
uop_bgn)`` iterations, innermost the micro-op) and then waits for the pipeline, so that
``B = n * II + P`` as in ``docs/timing.md`` (``P`` = ``gemm_pipeline_depth`` or
``alu_pipeline_depth``).

Iteration *k*'s micro-op address is presented in its *slot* ``c_k = s + II*k`` (``s`` the
issue cycle: iteration 0 is addressed from the command queue's registered head in the issue
cycle itself).  Times below are cycles after the slot (``tau``).  Two facts bound the pipeline:

* every write must land by the cycle after the body, ``s + B + 1`` (the earliest retire: the
  next compute instruction issues after it, the store reads the out buffer after the token
  pushed in it), so an iteration may write at ``tau <= P + II + 1``;
* the model's hazard window: iteration ``j >= i + P`` must read what ``i`` wrote, so the
  distance from an acc read to the write of the same iteration is at most ``II*P - 1``.

Between the fixed block-RAM reads (uop at ``tau = 0``, inp/wgt/acc) optional registers are
placed by :func:`plan` in order of benefit until those bounds are used up (``docs/rtl.md``
lists them per preset): ``U`` on the micro-op, before the address adders; GEMM ``I`` on the
inp/wgt words, ``Pr`` after the products, ``T`` after the adder trees, ``G`` on the acc word,
``Qg`` after the accumulate, ``Qr`` after the out mirror's requantization; ALU ``O`` on the
operands, ``S1`` inside the op (the multiply's partial products), ``Qa`` after the op, ``Qo``
before the out mirror's saturation.

Every acc write (LOAD acc/acc8, GEMM, ALU) also writes ``out[idx]`` when
``idx < out_buff_depth``: ``saturate_int8(acc[idx])``, or for a GEMM write that requantized by
the out mode (ALU OUTMODE, ``outmode.py``); in the same cycle, or one later with ``Qr``/``Qo``.
A GEMM with ``overwrite`` adds its products to 0 instead of the acc word it still reads; an
OUTMODE's iterations write nothing (unless ``reset``).  A LOAD's writes are registered once
(they land one cycle after the DMA delivers the element, at the latest in the retire cycle).
The acc buffer has one read and one write port, the uop buffer one of each (``sram.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out, connect, flipped

from vta_hw import isa
from vta_hw.config import OUT_WIDTH, HwConfig, int_range
from vta_hw.rtl.alu import AluLanes
from vta_hw.rtl.control import IssueControl
from vta_hw.rtl.dma import ReadDma
from vta_hw.rtl.dram_port import DramPort
from vta_hw.rtl.gemm import GemmArray
from vta_hw.rtl.layouts import alu_layout, gemm_layout, header_layout, mem_layout, uop_layout
from vta_hw.rtl.outmode import OutMode
from vta_hw.rtl.queues import CmdPop, TokenPop, TokenPush
from vta_hw.rtl.sram import SramRead, sram


@dataclass(frozen=True)
class Stages:
    """The optional pipeline registers of one config (see the module docstring)."""

    uop: bool  # U: micro-op word registered before the address adders
    gemm_in: bool  # I: inp/wgt words registered before the multipliers
    product: bool  # Pr: products registered
    tree: bool  # T: adder-tree sums registered
    gemm_acc: bool  # G: acc word registered before the accumulate
    gemm_out: bool  # Qg: accumulate result registered before the write
    alu_in: bool  # O: operands registered
    alu_mid: bool  # S1: between the two halves of the op (see alu.py)
    alu_out: bool  # Qa: op result registered before the write
    alu_out_late: bool = False  # Qo: the ALU's out-buffer mirror written one cycle after acc
    gemm_out_late: bool = False  # Qr: the GEMM's requantized out bytes registered (out written
    #                              one cycle after acc)

    @property
    def addr(self) -> int:
        """tau of the address adders' outputs (inp/wgt reads, the ALU's acc[dst] read)."""
        return 1 + self.uop

    @property
    def gemm_sum(self) -> int:
        """tau at which the GEMM array's sums are valid (the accumulate)."""
        return self.addr + 1 + self.gemm_in + self.product + self.tree

    @property
    def gemm_read(self) -> int:
        return self.gemm_sum - 1 - self.gemm_acc

    @property
    def gemm_write(self) -> int:
        return self.gemm_sum + self.gemm_out

    @property
    def gemm_out_write(self) -> int:
        """tau of the GEMM's out-buffer write (the acc write's, or one later with ``Qr``)."""
        return self.gemm_write + self.gemm_out_late

    def alu_write(self, tensor: bool) -> int:
        return self.addr + 1 + int(tensor) + self.alu_in + self.alu_mid + self.alu_out

    def alu_out_write(self, tensor: bool) -> int:
        """tau of the ALU's out-buffer write (the acc write's, or one later with ``Qo``)."""
        return self.alu_write(tensor) + self.alu_out_late


def plan(cfg: HwConfig) -> Stages:
    """Spend each pipeline's register budget, most useful register first.

    GEMM (``II = 1``): it writes at ``2 + U + I + Pr + T + Qg <= P + 2`` and reads acc
    ``1 + G + Qg <= P - 1`` cycles before; ``G`` needs a register stage in the array before
    the sums (the acc read cannot precede the address).  ALU: immediate/reset ops write at
    ``2 + U + O + S1 + Qa <= P + 2``, ``1 + O + S1 + Qa <= P - 1`` cycles after the acc[dst]
    read; tensor ops (``II = 2``) one cycle later, within their wider bounds.
    """
    pg, pa = cfg.gemm_pipeline_depth, cfg.alu_pipeline_depth
    u = pg >= 3 and pa >= 3
    budget = pg - int(u)
    g = {"gemm_acc": pg >= 3}  # (product comes first, so some array register precedes it)
    # a short dot product (block_in <= 4: two adder levels) can share a cycle with the
    # accumulate; the accumulate and the saturation of its result cannot
    order = (("product", "gemm_in", "gemm_out", "tree") if cfg.log_block_in <= 2
             else ("product", "gemm_in", "tree", "gemm_out"))
    for name in order:
        g[name] = budget > 0 and (name != "gemm_out" or 1 + int(g["gemm_acc"]) <= pg - 2)
        budget -= int(g[name])
    a = {}
    head, total = pa - 2, pa - int(u)
    for name in ("alu_in", "alu_mid", "alu_out"):
        a[name] = head > 0 and total > 0
        head -= int(a[name])
        total -= int(a[name])
    # Qo: without Qa the op's result goes straight into the acc write; its out mirror
    # (saturation, and the out buffer placed next to the store) can take one more cycle when
    # the end-of-body bound has room: only the acc write is inside the hazard window (the
    # out buffer is read by the store alone, after the retire)
    a["alu_out_late"] = (not a["alu_out"] and 2 + int(u) + a["alu_in"] + a["alu_mid"] + 1 <= pa + 2)
    # Qr: the GEMM's out mirror requantizes (OUTMODE: a rounding shift and a clamp per lane)
    # and crosses to the out buffer; a register after the requantization fits when the
    # end-of-body bound has a cycle left once the array's registers are placed (the out buffer
    # is not in the hazard window).  Not in place of Qg: the mirror would start from a
    # register all the same, and the accumulate would feed the acc write directly
    st = Stages(uop=u, **g, **a)
    st = replace(st, gemm_out_late=st.gemm_write + 1 <= pg + 2)
    # the two bounds, checked rather than trusted
    assert st.gemm_write <= pg + 2 and st.gemm_write - st.gemm_read <= pg - 1, st
    assert st.gemm_read >= st.addr, st
    assert st.alu_write(False) <= pa + 2 and st.alu_write(False) - st.addr <= pa - 1, st
    assert st.alu_write(True) <= pa + 3 and st.alu_write(True) - st.addr <= 2 * pa - 1, st
    assert st.alu_out_write(False) <= pa + 2 and st.alu_out_write(True) <= pa + 3, st
    assert st.gemm_out_write <= pg + 2, st
    return st


def saturate8(m: Module, v, bits: int = OUT_WIDTH):
    """Saturation of a signed acc lane to a ``bits``-bit out lane (int8)."""
    lo, hi = int_range(bits)
    r = Signal(signed(bits))
    v = v.as_signed()
    m.d.comb += r.eq(Mux(v > hi, hi, Mux(v < lo, lo, v[:bits])))
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
        self.stages = plan(cfg)
        self.inp_bits = cfg.inp_elem_bits
        self.wgt_bits = cfg.wgt_elem_bits
        self.acc_bits = cfg.acc_elem_bits
        self.out_bits = cfg.out_elem_bits
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
        cfg, st = self.cfg, self.stages
        lanes = cfg.batch * cfg.block_out
        aw, ow = cfg.acc_width, cfg.out_width  # acc and out lane widths
        la, li, lw, lu = (cfg.log_acc_buff_depth, cfg.log_inp_buff_depth,
                          cfg.log_wgt_buff_depth, cfg.log_uop_buff_depth)
        src_bits = cfg.uop_src_bits
        pg, pa = cfg.gemm_pipeline_depth, cfg.alu_pipeline_depth

        def reg(sig, name):
            """``sig`` delayed by one cycle (a data register: no reset)."""
            r = Signal(len(sig), name=name, reset_less=True)
            m.d.sync += r.eq(sig)
            return r

        def delay(sig, n, name, reset_less=True):
            """``[sig, sig delayed by 1, ..., by n]``."""
            out = [sig]
            for t in range(1, n + 1):
                r = Signal.like(sig, name=f"{name}_{t}", reset_less=reset_less)
                m.d.sync += r.eq(out[-1])
                out.append(r)
            return out

        # ------------------------------------------------------------ buffers
        m.submodules.uop_mem = uop_mem = sram(isa.UOP_BITS, cfg.uop_buff_depth)
        m.submodules.acc_mem = acc_mem = sram(self.acc_bits, cfg.acc_buff_depth)
        uop_wr = uop_mem.write_port()
        acc_wr = acc_mem.write_port()
        uop_rd = SramRead(m, uop_mem, "uop_rd")
        acc_rd = SramRead(m, acc_mem, "acc_rd")
        m.d.comb += [self.inp_rd.en.eq(1), self.wgt_rd.en.eq(1)]

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
        overwrite = Signal()  # GEMM: the products replace acc[dst]
        silent = Signal()  # ALU OUTMODE without reset: its iterations write nothing
        ii2 = Signal()  # ALU with a tensor operand: two acc reads per iteration
        alu_op = Signal(isa.ALU_OP_BITS)
        imm = Signal(signed(isa.ALU_IMM_BITS))
        uop_bgn = Signal(lu)
        uop_end = Signal(lu + 1)
        iter_out = Signal(isa.LOOP_ITER_BITS)
        iter_in = Signal(isa.LOOP_ITER_BITS)
        widths = {"dst": la, "src": src_bits, "wgt": lw}
        fo = {k: Signal(w, name=f"{k}_fo") for k, w in widths.items()}
        fi = {k: Signal(w, name=f"{k}_fi") for k, w in widths.items()}
        # the generator: the loop state of the next iteration to present
        ptr = Signal(lu + 1)
        i0 = Signal(isa.LOOP_ITER_BITS)
        i1 = Signal(isa.LOOP_ITER_BITS)
        ob = {k: Signal(w, name=f"{k}_ob") for k, w in widths.items()}
        off = {k: Signal(w, name=f"{k}_off") for k, w in widths.items()}
        phase = Signal()
        it_done = Signal()
        drain = Signal(range(max(pg, pa) + 1))
        seq_last = Signal()
        v1 = Signal()  # tau = 1: the micro-op addressed last cycle is on uop_rd.data
        off1 = {k: Signal(w, name=f"{k}_off1", reset_less=True) for k, w in widths.items()}
        m.d.sync += v1.eq(0)

        def step(p, c0, c1, obs, offs, bgn, end, n_in, n_out, fos, fis):
            """The loop state after the iteration ``(p, c0, c1, obs, offs)``, and whether
            that iteration is the last."""
            last_u = p + 1 == end
            last_i1 = c1 + 1 == n_in
            wrap = last_u & last_i1
            nxt = {"ptr": Mux(last_u, bgn, p + 1),
                   "i1": Mux(last_u, Mux(last_i1, 0, c1 + 1), c1),
                   "i0": Mux(wrap, c0 + 1, c0)}
            for k in widths:
                nxt[f"ob_{k}"] = Mux(wrap, obs[k] + fos[k], obs[k])
                nxt[f"off_{k}"] = Mux(last_u, Mux(last_i1, obs[k] + fos[k], offs[k] + fis[k]),
                                      offs[k])
            return nxt, wrap & (c0 + 1 == n_out)

        def load_state(nxt):
            m.d.sync += [ptr.eq(nxt["ptr"]), i0.eq(nxt["i0"]), i1.eq(nxt["i1"])]
            for k in widths:
                m.d.sync += [ob[k].eq(nxt[f"ob_{k}"]), off[k].eq(nxt[f"off_{k}"])]

        def enter_drain(alu, cycles_after):
            """Drain for ``P + cycles_after`` cycles (the last one is the body's last)."""
            p = Mux(alu, pa, pg)
            m.d.sync += drain.eq(p + cycles_after - 1)
            m.next = "DRAIN"

        with m.FSM(name="seq"):
            with m.State("IDLE"):
                # Every register of the loop is loaded from the queue's head in every idle
                # cycle (the previous instruction's last write was in the cycle this state
                # began, the head is the next instruction), so only the few flags below wait
                # for ``start``; iteration 0 is addressed in the issue cycle itself.
                m.d.comb += uop_rd.addr.eq(gv.uop_bgn)
                alu = head.opcode == isa.Opcode.ALU
                h_ii2 = alu & ~av.use_imm & ~av.reset
                m.d.sync += [
                    is_alu.eq(alu), reset.eq(Mux(alu, av.reset, gv.reset)), ii2.eq(h_ii2),
                    overwrite.eq(~alu & gv.overwrite),
                    silent.eq(alu & (av.alu_op == isa.AluOp.OUTMODE) & ~av.reset),
                    alu_op.eq(av.alu_op), imm.eq(av.imm),
                    uop_bgn.eq(gv.uop_bgn), uop_end.eq(gv.uop_end),
                    iter_out.eq(gv.iter_out), iter_in.eq(gv.iter_in),
                ]
                h_fo, h_fi = {}, {}
                for k in widths:
                    if k == "wgt":
                        h_fo[k], h_fi[k] = gv.wgt_factor_out, gv.wgt_factor_in
                    else:
                        h_fo[k] = Mux(alu, getattr(av, f"{k}_factor_out"),
                                      getattr(gv, f"{k}_factor_out"))
                        h_fi[k] = Mux(alu, getattr(av, f"{k}_factor_in"),
                                      getattr(gv, f"{k}_factor_in"))
                    m.d.sync += [fo[k].eq(h_fo[k]), fi[k].eq(h_fi[k])]
                zero = {k: Const(0, w) for k, w in widths.items()}
                nxt, last0 = step(gv.uop_bgn, Const(0, isa.LOOP_ITER_BITS),
                                  Const(0, isa.LOOP_ITER_BITS), zero, zero,
                                  gv.uop_bgn, gv.uop_end, gv.iter_in, gv.iter_out, h_fo, h_fi)
                load_state(nxt)
                m.d.sync += [off1[k].eq(0) for k in widths]
                m.d.sync += [phase.eq(h_ii2), it_done.eq(last0)]
                empty = ((gv.iter_out == 0) | (gv.iter_in == 0)
                         | (gv.uop_end <= gv.uop_bgn))
                with m.If(ctl.start & is_loop):
                    with m.If(empty):
                        enter_drain(alu, 0)
                    with m.Else():
                        m.d.sync += v1.eq(1)
                        with m.If(~h_ii2 & last0):
                            enter_drain(alu, 1)
                        with m.Else():
                            m.next = "ITER"
            with m.State("ITER"):
                m.d.comb += uop_rd.addr.eq(ptr)
                with m.If(~phase):
                    m.d.sync += v1.eq(1)
                    m.d.sync += [off1[k].eq(off[k]) for k in widths]
                    nxt, last = step(ptr, i0, i1, ob, off, uop_bgn, uop_end, iter_in, iter_out,
                                     fo, fi)
                    load_state(nxt)
                    with m.If(ii2):
                        m.d.sync += [phase.eq(1), it_done.eq(last)]
                    with m.Elif(last):
                        enter_drain(is_alu, 1)
                with m.Else():
                    m.d.sync += phase.eq(0)
                    with m.If(it_done):
                        enter_drain(is_alu, 1)
            with m.State("DRAIN"):
                m.d.comb += uop_rd.addr.eq(ptr)
                m.d.sync += drain.eq(drain - 1)
                with m.If(drain == 0):
                    m.d.comb += seq_last.eq(1)
                    m.next = "IDLE"
        m.d.comb += ctl.body_last.eq(dma.last | seq_last)

        # ------------------------------------------------------------ tau = addr: addresses
        if st.uop:
            uop_a = data.View(uop_layout(cfg), reg(uop_rd.data, "uop_q"))
            off_a = {k: reg(off1[k], f"{k}_offq") for k in widths}
            v_a = Signal()
            m.d.sync += v_a.eq(v1)
        else:
            uop_a = data.View(uop_layout(cfg), uop_rd.data)
            off_a, v_a = off1, v1
        dst_a = Signal(la)
        src_a = Signal(src_bits)
        wgt_a = Signal(lw)
        m.d.comb += [dst_a.eq(uop_a.dst + off_a["dst"]), src_a.eq(uop_a.src + off_a["src"]),
                     wgt_a.eq(uop_a.wgt + off_a["wgt"])]
        ta = st.addr

        # ------------------------------------------------------------ GEMM
        m.submodules.gemm = gemm = GemmArray(cfg, input_reg=st.gemm_in, product_reg=st.product,
                                             tree_reg=st.tree)
        m.d.comb += [self.inp_rd.addr.eq(src_a[:li]), self.wgt_rd.addr.eq(wgt_a),
                     gemm.inp.eq(self.inp_rd.data), gemm.wgt.eq(self.wgt_rd.data)]
        assert st.gemm_sum == ta + 1 + gemm.latency
        gw = st.gemm_write - ta  # delay-line index of the write
        g_v = delay(v_a & ~is_alu, gw, "gv", reset_less=False)
        g_dst = delay(dst_a, gw, "gdst")
        g_rd_addr = g_dst[st.gemm_read - ta]
        # what the products add to: acc[dst], or 0 for an overwrite GEMM, cleared before G
        # (off the accumulate's path); G is also the ALU's held acc[dst] (overwrite is 0 in
        # ALU instructions; Yosys would merge two equal registers anyway)
        acc_base = Mux(overwrite, 0, acc_rd.data)
        acc_q = reg(acc_base, "acc_q")
        g_acc = acc_q if st.gemm_acc else acc_base
        g_new = Signal(self.acc_bits)
        for i in range(lanes):
            sl = slice(aw * i, aw * (i + 1))
            m.d.comb += g_new[sl].eq(Mux(reset, 0, g_acc[sl] + gemm.sum[sl]))
        g_res = reg(g_new, "g_res") if st.gemm_out else g_new

        # ------------------------------------------------------------ ALU
        a_v = delay(v_a & is_alu & ~silent, 2, "av", reset_less=False)
        a_dst = delay(dst_a, 2, "adst")
        a_src1 = reg(src_a[:la], "a_src1")
        a_hold = acc_q  # acc[dst] read at tau=addr, held for a tensor op
        imm32 = Signal(signed(aw))
        m.d.comb += imm32.eq(imm)
        imm_lanes = Cat(*([imm32] * lanes))
        op_v = Signal()
        op_dst = Signal(la)
        op_a = Signal(self.acc_bits)
        op_b = Signal(self.acc_bits)
        m.d.comb += [
            op_v.eq(Mux(ii2, a_v[2], a_v[1])),
            op_dst.eq(Mux(ii2, a_dst[2], a_dst[1])),
            op_a.eq(Mux(ii2, a_hold, acc_rd.data)),
            op_b.eq(Mux(ii2, acc_rd.data, imm_lanes)),
        ]
        if st.alu_in:  # the op starts from flip-flops, not from the block RAM
            op_v = delay(op_v, 1, "aop_v", reset_less=False)[1]
            op_dst, op_a, op_b = (reg(x, f"aop_{n}") for x, n in
                                  ((op_dst, "dst"), (op_a, "a"), (op_b, "b")))
        m.submodules.alu = alu = AluLanes(cfg, stage_reg=st.alu_mid)
        m.d.comb += [alu.op.eq(alu_op), alu.a.eq(op_a), alu.b.eq(op_b)]
        r_v = delay(op_v, alu.latency + st.alu_out, "rv", reset_less=False)[-1]
        r_dst = delay(op_dst, alu.latency + st.alu_out, "rdst")[-1]
        a_new = Signal(self.acc_bits)
        m.d.comb += a_new.eq(Mux(reset, 0, alu.result))
        a_res = reg(a_new, "a_res") if st.alu_out else a_new

        # acc read port: GEMM or ALU addressing
        with m.If(is_alu):
            m.d.comb += acc_rd.addr.eq(Mux(ii2 & a_v[1], a_src1, dst_a))
        with m.Else():
            m.d.comb += acc_rd.addr.eq(g_rd_addr)

        # ------------------------------------------------------------ LOAD data -> buffers
        load_acc = Signal(self.acc_bits)
        pad32 = Signal(signed(aw))
        m.d.comb += pad32.eq(dma.pad_value)
        with m.If(dma.wr_pad):
            m.d.comb += load_acc.eq(Cat(*([pad32] * lanes)))
        with m.Elif(dma.wr_mem == isa.MemType.ACC8):
            for i in range(lanes):
                lane = Signal(signed(aw), name=f"acc8_{i}")
                m.d.comb += [lane.eq(dma.wr_data[ow * i:ow * (i + 1)].as_signed()),
                             load_acc[aw * i:aw * (i + 1)].eq(lane)]
        with m.Else():
            m.d.comb += load_acc.eq(dma.wr_data)
        m.d.comb += [uop_wr.addr.eq(dma.wr_addr), uop_wr.data.eq(dma.wr_data[:isa.UOP_BITS]),
                     uop_wr.en.eq(dma.wr_en & (dma.wr_mem == isa.MemType.UOP) & ~dma.wr_pad)]
        # acc/acc8 elements are written one cycle after the DMA delivers them
        load_we = Signal()
        m.d.sync += load_we.eq(dma.wr_en & ((dma.wr_mem == isa.MemType.ACC)
                                            | (dma.wr_mem == isa.MemType.ACC8)))
        load_addr = reg(dma.wr_addr[:la], "load_addr")
        load_data = reg(load_acc, "load_data")

        # ------------------------------------------------------------ acc / out writes
        lo = cfg.log_out_buff_depth
        acc_we = Signal()
        acc_waddr = Signal(la)
        acc_wdata = Signal(self.acc_bits)
        out_wdata = Signal(self.out_bits)

        def sat_lanes(v, name):
            """The saturating out mirror of an acc element (each source converts its own value,
            so the multiplexer comes after the conversion)."""
            o = Signal(self.out_bits, name=name)
            for i in range(lanes):
                m.d.comb += o[ow * i:ow * (i + 1)].eq(
                    saturate8(m, v[aw * i:aw * (i + 1)], ow))
            return o

        sources = ((load_we, load_addr, load_data), (g_v[gw], g_dst[gw], g_res),
                   (r_v, r_dst, a_res))
        for i, (we, addr, value) in enumerate(sources):
            with (m.If if i == 0 else m.Elif)(we):
                m.d.comb += [acc_we.eq(1), acc_waddr.eq(addr), acc_wdata.eq(value)]
        m.d.comb += [acc_wr.en.eq(acc_we), acc_wr.addr.eq(acc_waddr), acc_wr.data.eq(acc_wdata)]

        def later(late, we, addr, value, name):
            """``(we, addr, value)``, one cycle later when ``late`` (Qr, Qo)."""
            if not late:
                return we, addr, value
            return (delay(we, 1, f"{name}_we_late", reset_less=False)[1],
                    reg(addr, f"{name}_addr_late"), reg(value, f"{name}_late"))

        # the out mirror: the same writes as bytes (LOAD and ALU saturate, GEMM requantizes
        # under the out mode, which an OUTMODE issue sets: every write of the GEMMs before it
        # has landed, and none after it issues before its retire), the GEMM's one cycle later
        # with Qr, the ALU's with Qo (never in the cycle of another source's: those belong to
        # other instructions, which issue after the instruction's retire, by which its last
        # write has landed)
        m.submodules.out_mode = out_mode = OutMode(lanes, aw, ow)
        m.d.comb += [out_mode.set.eq(ctl.issue & (head.opcode == isa.Opcode.ALU)
                                     & (av.alu_op == isa.AluOp.OUTMODE)),
                     out_mode.imm.eq(av.imm), out_mode.acc.eq(g_res)]
        a_we, a_addr, a_late = later(st.alu_out_late, r_v, r_dst, a_res, "alu")
        out_sources = ((load_we, load_addr, sat_lanes(load_data, "load_out8")),
                       later(st.gemm_out_late, g_v[gw], g_dst[gw], out_mode.out, "gemm_out8"),
                       (a_we, a_addr, sat_lanes(a_late, "alu_out8")))
        out_we = Signal()
        out_waddr = Signal(la)
        for i, (we, addr, byte_lanes) in enumerate(out_sources):
            with (m.If if i == 0 else m.Elif)(we):
                m.d.comb += [out_we.eq(1), out_waddr.eq(addr), out_wdata.eq(byte_lanes)]
        in_out = out_waddr[lo:] == 0 if lo < la else Const(1)
        m.d.comb += [self.out_wr.en.eq(out_we & in_out), self.out_wr.addr.eq(out_waddr[:lo]),
                     self.out_wr.data.eq(out_wdata)]
        return m


__all__ = ["Compute", "Stages", "plan", "saturate8"]
