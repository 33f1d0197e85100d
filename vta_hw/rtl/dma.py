"""2-D DMA engines: DRAM -> SRAM with padding (LOAD) and SRAM -> DRAM (STORE).

Both walk a LOAD/STORE region in the order of ``docs/timing.md`` and produce its cycle counts
by construction:

* ``ReadDma`` writes the ``rows x cols`` SRAM region row-major from ``sram_base``: a pad
  element in one cycle (no DRAM traffic), a data element in the cycle its last beat arrives.
  Its row requests run ``dram_latency`` cycles ahead of the writes (a second cursor walks the
  region that much earlier), so the latency is paid once per LOAD, not once per row.
* ``WriteDma`` streams each row's ``x_size`` out elements as one write burst (request and
  first beat in the row's first cycle), the next row's burst from the cycle after the last
  beat, and ends with the last row's acknowledge.  The out buffer is read one cycle ahead:
  the first element in the issue cycle, each next element in the cycle of the previous
  element's last beat.

An element wider than the bus takes ``elem_bytes / bw`` beats, assembled (or split) in
element order; a narrower one takes one narrow beat of ``elem_bytes``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from vta_hw import isa, timing
from vta_hw.config import HwConfig
from vta_hw.rtl.dram_port import ADDR_BITS, DramPort, beat_size_log2
from vta_hw.rtl.layouts import mem_layout

ROW_BITS = isa.MEM_SIZE_BITS + 1  # pad + data + pad rows (or columns)


def _log2(n: int) -> int:
    assert n > 0 and n & (n - 1) == 0, n
    return n.bit_length() - 1


class _Cursor:
    """A position (row, col) in a LOAD region and what is there, walked element by element.

    ``at_data`` (the position is the first column of a data row) is kept in a register next to
    (row, col), so whatever it drives (a DRAM request, a read-ready) leaves a flip-flop.  The
    DMA has two cursors walking the same sequence: the request cursor and, ``L`` cycles behind
    it, the write cursor.
    """

    def __init__(self, name: str):
        self.row = Signal(ROW_BITS, name=f"{name}_row")
        self.col = Signal(ROW_BITS, name=f"{name}_col")
        self.rows_in = Signal(name=f"{name}_rows_in")  # y_pad_0 <= row < y_end
        self.at_data = Signal(name=f"{name}_at_data")

    def reset(self, m: Module, cmd) -> None:
        """Load the start of ``cmd``'s region (in every idle cycle)."""
        h_in = (cmd.y_pad_0 == 0) & (cmd.y_size != 0)
        m.d.sync += [self.row.eq(0), self.col.eq(0), self.rows_in.eq(h_in),
                     self.at_data.eq(h_in & (cmd.x_pad_0 == 0) & (cmd.x_size != 0))]

    def advance(self, m: Module, k, g: _Region) -> Value:
        """Step past ``k`` elements at (row, col); returns "that was the region's last one"."""
        new_col = self.col + k
        done = Signal(name=f"{self.row.name[:-4]}_done")
        with m.If(new_col == g.cols):
            new_row = self.row + 1
            new_in = (new_row >= g.y_pad_0) & (new_row < g.y_end)
            m.d.sync += [self.col.eq(0), self.row.eq(new_row), self.rows_in.eq(new_in),
                         self.at_data.eq(new_in & g.xp0_zero & g.xs_nz)]
            m.d.comb += done.eq(self.row + 1 == g.rows)
        with m.Else():
            m.d.sync += [self.col.eq(new_col),
                         self.at_data.eq(self.rows_in & (new_col == g.x_pad_0) & g.xs_nz)]
        return done


class _Region:
    """The running LOAD's region geometry, registered from the command in every idle cycle."""

    def __init__(self):
        self.rows, self.cols, self.y_end = (Signal(ROW_BITS, name=n)
                                            for n in ("rows", "cols", "y_end"))
        self.y_pad_0 = Signal(isa.MEM_PAD_BITS)
        self.x_pad_0 = Signal(isa.MEM_PAD_BITS)
        self.xp0_zero = Signal()  # x_pad_0 == 0
        self.xs_nz = Signal()  # x_size != 0
        self.has_data = Signal()  # x_size != 0 and y_size != 0: the LOAD reads DRAM

    def load(self, m: Module, cmd) -> None:
        m.d.sync += [
            self.rows.eq(cmd.y_pad_0 + cmd.y_size + cmd.y_pad_1),
            self.cols.eq(cmd.x_pad_0 + cmd.x_size + cmd.x_pad_1),
            self.y_end.eq(cmd.y_pad_0 + cmd.y_size),
            self.y_pad_0.eq(cmd.y_pad_0), self.x_pad_0.eq(cmd.x_pad_0),
            self.xp0_zero.eq(cmd.x_pad_0 == 0), self.xs_nz.eq(cmd.x_size != 0),
            self.has_data.eq((cmd.x_size != 0) & (cmd.y_size != 0)),
        ]


class ReadDma(wiring.Component):
    """DRAM -> SRAM 2-D DMA with padding, for the memory types ``kinds``.

    Two cursors walk the region in SRAM order (``docs/timing.md``): the *request* cursor from
    the first body cycle on, a pad element per cycle and ``x_size * elem_cycles`` cycles per
    data row, requesting each data row (one read burst) as it reaches it; the *write* cursor
    the same walk ``L = dram_latency`` cycles later, writing pads and, at a data row, taking
    the row's beats as the DRAM port delivers them (an element in the cycle its last beat
    arrives).  Under the port's timing contract every beat arrives exactly when the write
    cursor wants it, so the body is ``L`` plus the walk; with a slower memory the write cursor
    waits for beats and the request cursor for ``req_ready`` -- the data do not change.

    Members
    -------
    start : In(1)        issue cycle: begin the body next cycle with ``cmd`` (which is loaded
                         in every idle cycle: it must be a register, the queue's head)
    cmd : In(MEM)        the LOAD instruction (valid with ``start``)
    last : Out(1)        the final body cycle
    busy : Out(1)        in a body
    wr_en : Out(1)       write one SRAM element this cycle
    wr_addr : Out(n)     SRAM element index
    wr_data : Out(8*E)   element bytes as they are in DRAM (E = widest element of ``kinds``)
    wr_pad : Out(1)      the element is padding: every lane is ``pad_value``
    wr_mem : Out(3)      memory type of the running LOAD (a ``MemType`` value)
    pad_value : Out(signed(p))  the running LOAD's pad value (``p``: the ISA field's width)
    dram : Out(DramPort) read bursts (up to ``L`` in flight)
    """

    def __init__(self, cfg: HwConfig, kinds: tuple[isa.MemType, ...]):
        self.cfg = cfg
        self.kinds = tuple(kinds)
        self.elem_bits = 8 * max(isa.elem_bytes(cfg, k) for k in self.kinds)
        pad_bits = isa.formats(cfg)[isa.Opcode.LOAD].field("pad_value").width
        super().__init__({
            "start": In(1), "cmd": In(mem_layout(cfg)),
            "last": Out(1), "busy": Out(1),
            "wr_en": Out(1), "wr_addr": Out(isa.sram_index_bits(cfg)),
            "wr_data": Out(self.elem_bits), "wr_pad": Out(1), "wr_mem": Out(isa.MEM_TYPE_BITS),
            "pad_value": Out(signed(pad_bits)),
            "dram": Out(DramPort(cfg)),
        })

    @staticmethod
    def zero_body(cmd):
        """The LOAD ``cmd`` writes no element (B = 0): no rows or no columns (the sums of the
        pad and size fields cannot wrap, so they are zero exactly when every term is)."""
        no_rows = (cmd.y_pad_0 == 0) & (cmd.y_size == 0) & (cmd.y_pad_1 == 0)
        no_cols = (cmd.x_pad_0 == 0) & (cmd.x_size == 0) & (cmd.x_pad_1 == 0)
        return no_rows | no_cols

    def elaborate(self, platform):
        m = Module()
        cfg, cmd, dram = self.cfg, self.cmd, self.dram
        bw = cfg.dram_bytes_per_cycle
        lat = timing.dram_timing(cfg).read_latency  # how far row requests run ahead
        max_ec = max(timing.elem_cycles(cfg, isa.elem_bytes(cfg, k)) for k in self.kinds)
        buf_bits = max(self.elem_bits, 8 * bw)

        g = _Region()
        req, wr = _Cursor("req"), _Cursor("wr")
        mem = Signal(isa.MEM_TYPE_BITS)
        sram_addr = Signal(isa.sram_index_bits(cfg))
        dram_row = Signal(isa.DRAM_ADDR_BITS)
        x_size = Signal(isa.MEM_SIZE_BITS)
        x_stride = Signal(isa.MEM_SIZE_BITS)
        beat = Signal(range(max_ec))
        ec_m1 = Signal(range(max_ec))
        elem_left = Signal(isa.MEM_SIZE_BITS)
        buf = Signal(buf_bits)
        lag = Signal(range(lat + 1))  # write cursor: cycles still to wait behind the requests
        req_done = Signal()  # the request cursor has walked the whole region
        req_in_row = Signal()  # ... and is inside a data row's transfer time
        req_left = Signal.like(dram.req_len)  # its cycles left there, minus one
        m.d.comb += self.wr_mem.eq(mem)

        # Per memory type: element beats, beat size and the byte address of a row.
        byte_addr = Signal(ADDR_BITS)
        with m.Switch(mem):
            for k in self.kinds:
                e = isa.elem_bytes(cfg, k)
                ec = timing.elem_cycles(cfg, e)
                with m.Case(k):
                    m.d.comb += [ec_m1.eq(ec - 1),
                                 byte_addr.eq(dram_row << _log2(e)),
                                 dram.req_len.eq(x_size << _log2(ec)),
                                 dram.req_size.eq(beat_size_log2(cfg, e))]

        with m.FSM(name="dma"):
            with m.State("IDLE"):
                # the command is loaded in every idle cycle (``cmd`` is the head of the
                # queue, a register): ``start`` only moves the state
                g.load(m, cmd)
                req.reset(m, cmd)
                wr.reset(m, cmd)
                m.d.sync += [
                    mem.eq(cmd.mem), sram_addr.eq(cmd.sram_base), dram_row.eq(cmd.dram_base),
                    x_size.eq(cmd.x_size), x_stride.eq(cmd.x_stride),
                    self.pad_value.eq(cmd.pad_value),
                    lag.eq(Mux((cmd.x_size != 0) & (cmd.y_size != 0), lat, 0)),
                    req_done.eq(0), req_in_row.eq(0), beat.eq(0), elem_left.eq(cmd.x_size),
                ]
                with m.If(self.start):
                    m.next = "WALK"
            with m.State("WALK"):
                m.d.comb += self.busy.eq(1)
                # -- the request cursor: a pad per cycle; a data row is requested, then its
                # transfer time passes (req_len cycles in all)
                with m.If(req_done):
                    pass
                with m.Elif(req_in_row):
                    with m.If(req_left == 0):
                        m.d.sync += [req_in_row.eq(0), req_done.eq(req.advance(m, x_size, g))]
                    with m.Else():
                        m.d.sync += req_left.eq(req_left - 1)
                with m.Elif(req.at_data):
                    m.d.comb += [dram.req_valid.eq(1), dram.req_addr.eq(byte_addr)]
                    with m.If(dram.req_ready):
                        m.d.sync += dram_row.eq(dram_row + x_stride)
                        with m.If(dram.req_len == 1):
                            m.d.sync += req_done.eq(req.advance(m, x_size, g))
                        with m.Else():
                            m.d.sync += [req_in_row.eq(1), req_left.eq(dram.req_len - 2)]
                with m.Else():
                    m.d.sync += req_done.eq(req.advance(m, 1, g))

                # -- the write cursor, L cycles behind
                def wr_step(k):
                    with m.If(wr.advance(m, k, g)):
                        m.d.comb += self.last.eq(1)
                        m.next = "IDLE"
                    m.d.sync += [beat.eq(0), elem_left.eq(x_size)]

                with m.If(lag != 0):
                    m.d.sync += lag.eq(lag - 1)
                with m.Elif(wr.at_data):
                    m.d.comb += dram.rd_ready.eq(1)
                    buf_next = Signal(buf_bits)
                    m.d.comb += [buf_next.eq(buf),
                                 buf_next.word_select(beat, 8 * bw).eq(dram.rd_data)]
                    with m.If(dram.rd_valid):
                        m.d.sync += buf.eq(buf_next)
                        with m.If(beat == ec_m1):
                            m.d.sync += [beat.eq(0), sram_addr.eq(sram_addr + 1),
                                         elem_left.eq(elem_left - 1)]
                            m.d.comb += [self.wr_en.eq(1), self.wr_addr.eq(sram_addr),
                                         self.wr_data.eq(buf_next[:self.elem_bits])]
                            with m.If(elem_left == 1):
                                wr_step(x_size)
                        with m.Else():
                            m.d.sync += beat.eq(beat + 1)
                with m.Else():
                    m.d.comb += [self.wr_en.eq(1), self.wr_pad.eq(1),
                                 self.wr_addr.eq(sram_addr)]
                    m.d.sync += sram_addr.eq(sram_addr + 1)
                    wr_step(1)
        return m


class WriteDma(wiring.Component):
    """out SRAM -> DRAM 2-D DMA (STORE: no padding).

    Each row's ``x_size`` elements go out as one write burst; the next row's request and first
    beat follow in the cycle after the row's last beat, so the rows stream back to back and
    the body ends with the last row's acknowledge (the memory acknowledges in order; the DMA
    counts them).  The out buffer is read one cycle ahead: the first element in the issue
    cycle, each next element in the cycle of the previous element's last beat.

    Members
    -------
    start : In(1)       issue cycle: ``cmd`` (read in every idle cycle) starts
    cmd : In(MEM)       the STORE instruction (valid with ``start``)
    last : Out(1)       the final body cycle (the last row's acknowledge)
    busy : Out(1)       in a body
    rd_addr : Out(n)    out buffer read address (synchronous read port)
    rd_en : Out(1)      read enable: the port's data register loads ``out[rd_addr]``
    rd_data : In(8*E)   the out element last read
    dram : Out(DramPort) write bursts
    """

    def __init__(self, cfg: HwConfig):
        self.cfg = cfg
        self.elem_bytes = cfg.out_elem_bytes
        super().__init__({
            "start": In(1), "cmd": In(mem_layout(cfg)),
            "last": Out(1), "busy": Out(1),
            "rd_addr": Out(cfg.log_out_buff_depth), "rd_en": Out(1),
            "rd_data": In(8 * self.elem_bytes),
            "dram": Out(DramPort(cfg)),
        })

    @staticmethod
    def zero_body(cmd):
        return (cmd.y_size == 0) | (cmd.x_size == 0)

    def elaborate(self, platform):
        m = Module()
        cfg, cmd, dram = self.cfg, self.cmd, self.dram
        e = self.elem_bytes
        bw = cfg.dram_bytes_per_cycle
        ec = timing.elem_cycles(cfg, e)

        sram_ptr = Signal(cfg.log_out_buff_depth)
        dram_row = Signal(isa.DRAM_ADDR_BITS)
        y_left = Signal(isa.MEM_SIZE_BITS)  # rows still to send, the current one included
        acks_left = Signal(isa.MEM_SIZE_BITS)  # acknowledges still to come
        x_size = Signal(isa.MEM_SIZE_BITS)
        x_stride = Signal(isa.MEM_SIZE_BITS)
        elem_left = Signal(isa.MEM_SIZE_BITS)
        beat = Signal(range(ec))
        req_done = Signal()  # the current row's request was accepted
        data_done = Signal()  # every row's beats were accepted

        m.d.comb += [self.rd_addr.eq(sram_ptr + 1),
                     dram.req_addr.eq(dram_row << _log2(e)),
                     dram.req_len.eq(x_size << _log2(ec)),
                     dram.req_size.eq(beat_size_log2(cfg, e)),
                     dram.req_write.eq(1)]
        if e >= bw:
            m.d.comb += dram.wr_data.eq(self.rd_data.word_select(beat, 8 * bw))
        else:
            m.d.comb += dram.wr_data.eq(self.rd_data)

        with m.FSM(name="dma"):
            with m.State("IDLE"):
                # read out[head's sram_base] and load the command in every idle cycle (the
                # head is a register): in the issue cycle that is the first element's read
                m.d.comb += [self.rd_en.eq(1), self.rd_addr.eq(cmd.sram_base)]
                m.d.sync += [sram_ptr.eq(cmd.sram_base), dram_row.eq(cmd.dram_base),
                             y_left.eq(cmd.y_size), acks_left.eq(cmd.y_size),
                             x_size.eq(cmd.x_size), x_stride.eq(cmd.x_stride),
                             elem_left.eq(cmd.x_size), beat.eq(0), req_done.eq(0),
                             data_done.eq(0)]
                with m.If(self.start):
                    m.next = "ROWS"
            with m.State("ROWS"):
                # a row's beats are offered only with or after its request's acceptance: a
                # slow memory that took them first would leave the row without a request
                m.d.comb += [self.busy.eq(1), dram.req_valid.eq(~req_done & ~data_done),
                             dram.wr_valid.eq(~data_done & (req_done | dram.req_ready))]
                with m.If(dram.req_valid & dram.req_ready):
                    m.d.sync += req_done.eq(1)
                with m.If(dram.wr_valid & dram.wr_ready):
                    with m.If(beat == ec - 1):
                        m.d.comb += self.rd_en.eq(1)
                        m.d.sync += [beat.eq(0), sram_ptr.eq(sram_ptr + 1),
                                     elem_left.eq(elem_left - 1)]
                        with m.If(elem_left == 1):  # the row's last beat: on to the next
                            m.d.sync += [y_left.eq(y_left - 1), elem_left.eq(x_size),
                                         dram_row.eq(dram_row + x_stride), req_done.eq(0)]
                            with m.If(y_left == 1):
                                m.d.sync += data_done.eq(1)
                    with m.Else():
                        m.d.sync += beat.eq(beat + 1)
                with m.If(dram.wr_ack):
                    m.d.sync += acks_left.eq(acks_left - 1)
                    with m.If(acks_left == 1):
                        m.d.comb += self.last.eq(1)
                        m.next = "IDLE"
        return m


__all__ = ["ReadDma", "WriteDma"]
