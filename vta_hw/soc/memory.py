"""The SoC's DRAM: block RAM behind the core's four DRAM ports, with the exact timing contract.

The simulator assumes that the four ports (fetch, load, compute, store) never contend and that
each sees the DRAM contract ``vta_hw.timing.DramTiming`` (its parameters come from
``timing.dram_timing(cfg)``): read requests queued (up to ``read_queue``), a read burst
accepted in cycle ``q`` delivering its first beat at ``read_start`` (``read_latency`` later,
after the previous burst), write beats taken every cycle and each write burst acknowledged
``ack_latency`` cycles after its last beat, with several acknowledges pending.  A single
block RAM has at most two ports, so the DRAM is **replicated per reader**: fetch, load and
compute each read their own copy, and every write (from store, the only port that writes,
or from the host) goes to all copies in the same cycle.  Each reader therefore has a private,
always-free read port and the contract holds exactly; the cost is one copy of the DRAM per
reader (3x block RAM), which is why the DRAM is sized for small models (see ``docs/fpga.md``).

A read port's pipeline: a request FIFO, a delay line that marks each request mature when its
first read may be issued, and the block-RAM read computed one, two, three (``read_latency``
3) or four (``read_latency >= 4``) cycles before the beat is due (one beat per cycle while
the master takes them).  With three or four, the RAM's address and read enable come from a
register next to each copy, so the address logic never drives the RAM's pins across the die,
and beats wait in a small output queue sized so that a read already at the RAM always finds
room (a master may refuse beats).  With four, the RAM's own output register is on as well
(on ECP5 the copies are hand-built DP16KDs with ``REGMODE_B = OUTREG``, ``dram_copy.py``:
~1 ns clock-to-output instead of 5.8 ns, and no depth-cascade mux; in simulation the
behavioural copy has the same register, so the tests check the board's pipeline).
A write beat goes into block RAM the cycle after it is accepted (so data is visible before the
acknowledge, which comes later); the acknowledges are a shift register.

The host port (the UART bridge) is a byte-wide port muxed onto the write path and the fetch
copy's read port while ``host_owns`` is high; the bridge asserts it only while the core is
idle, so the core never sees it.  Its reads pass a register before the RAM and one after it
(the RAM's output register with ``read_latency >= 4``): a byte read in t is there in t + 3.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from vta_hw import timing
from vta_hw.config import HwConfig
from vta_hw.rtl.dram_port import ADDR_BITS, DramPort
from vta_hw.soc.dram_copy import DramCopy, primitive_problem
from vta_hw.soc.errors import SocError, refuse

READERS = ("fetch", "load", "compute")
WRITERS = ("store",)


class HostMemPort(wiring.Signature):
    """A byte-wide memory port for the host bridge (from the bridge's side).

    Members
    -------
    addr : Out(32)   byte address
    re : Out(1)      read ``addr``; ``rdata`` holds the byte from the third cycle on
                     (a read in cycle t is on ``rdata`` in t + 3, t + 4, ... until the
                     next read's byte replaces it; the address is registered in front of
                     the block RAM and the byte behind it)
    rdata : In(8)    the byte last read (from a register: the RAM's output register,
                     lane-selected, or a byte register behind the RAM)
    we : Out(1)      write ``wdata`` to ``addr`` this cycle
    wdata : Out(8)   the byte to write
    """

    def __init__(self):
        super().__init__({"addr": Out(ADDR_BITS), "re": Out(1), "rdata": In(8),
                          "we": Out(1), "wdata": Out(8)})


def check_dram_bytes(cfg: HwConfig, dram_bytes: int) -> None:
    """Raise SocError unless ``dram_bytes`` is a usable DRAM size for ``cfg``."""
    bw = timing.dram_timing(cfg).bus_bytes
    if dram_bytes <= 0 or dram_bytes & (dram_bytes - 1):
        raise SocError(f"DRAM size {dram_bytes} must be a power of two")
    if dram_bytes < 64 * bw:
        raise SocError(f"DRAM size {dram_bytes} is smaller than 64 bus words of {bw} bytes")
    if dram_bytes > 1 << 24:
        raise SocError(f"DRAM size {dram_bytes} exceeds the 16 MiB the block RAM DRAM supports")


class SocMemory(wiring.Component):
    """Replicated block-RAM DRAM serving the core's ports and the host.

    Members
    -------
    fetch, load, compute, store : In(DramPort)  the core's ports (memory side)
    host : In(HostMemPort)   the bridge's byte port (effective while ``host_owns``)
    host_owns : In(1)        the host has the memory (the core is idle)
    range_error : Out(1)     pulse: a core burst reached past the DRAM (addresses wrap)

    ``primitive``: how each copy is built (``vta_hw.soc.dram_copy``): ``"memory"`` (inferred
    block RAM; the Verilator model, the tests) or ``"dp16kd"`` (hand-instantiated ECP5
    DP16KDs with the read side's output register, for the board); the cycle behaviour is
    the same.
    """

    def __init__(self, cfg: HwConfig, dram_bytes: int, *, primitive: str = "memory"):
        check_dram_bytes(cfg, dram_bytes)
        refuse(self, primitive_problem(primitive))
        self.cfg = cfg
        self.primitive = primitive
        self.dram = timing.dram_timing(cfg)
        self.dram_bytes = dram_bytes
        members = {p: In(DramPort(cfg)) for p in READERS + WRITERS}
        members.update(host=In(HostMemPort()), host_owns=In(1), range_error=Out(1))
        super().__init__(members)

    # ------------------------------------------------------------------ helpers
    @property
    def bus_bytes(self) -> int:
        return self.dram.bus_bytes

    @property
    def depth(self) -> int:
        return self.dram_bytes // self.bus_bytes

    def _word(self, addr):
        lb = (self.bus_bytes - 1).bit_length()
        return addr[lb:lb + (self.depth - 1).bit_length()]

    def _offset(self, addr):
        lb = (self.bus_bytes - 1).bit_length()
        return addr[:lb] if lb else Const(0, 1)

    def _range_check(self, m: Module, port, name: str):
        """Registered flag: the burst accepted this cycle ends past the DRAM."""
        end = Signal(ADDR_BITS + 1 + 16, name=f"{name}_end")
        m.d.comb += end.eq(port.req_addr + (port.req_len << port.req_size))
        bad = Signal(name=f"{name}_range")
        m.d.sync += bad.eq(port.req_valid & port.req_ready & (end > self.dram_bytes))
        return bad

    # ------------------------------------------------------------------ elaborate
    def elaborate(self, platform):
        m = Module()
        bw = self.bus_bytes
        copies = {}
        for p in READERS:
            copies[p] = DramCopy(bw, self.depth, outreg=self.read_lead == 4,
                                 primitive=self.primitive)
            m.submodules[f"dram_{p}"] = copies[p]
        # One write path for every copy, registered: a write lands in the RAMs the cycle after
        # it is accepted -- still before the acknowledge, and before any read a token could
        # order after it -- so the master's data path ends at a flip-flop, not a RAM input.
        w_addr = Signal(ADDR_BITS)
        w_en = Signal(bw)
        w_data = Signal(8 * bw)
        r_addr = Signal(ADDR_BITS)
        r_en = Signal(bw)
        r_data = Signal(8 * bw)
        m.d.sync += [r_addr.eq(w_addr), r_en.eq(w_en), r_data.eq(w_data)]
        for c in copies.values():
            m.d.comb += [c.waddr.eq(self._word(r_addr)), c.wen.eq(r_en), c.wdata.eq(r_data)]

        bad = []
        host = self.host
        for p in READERS:
            # the host reads through the first copy while it owns the memory
            self._reader(m, getattr(self, p), copies[p], p, host if p == READERS[0] else None)
            bad.append(self._range_check(m, getattr(self, p), p))

        st = self.store
        bad.append(self._range_check(m, st, "store"))
        s_addr, s_en, s_data = self._writer(m, st)
        with m.If(self.host_owns):
            lane = self._offset(host.addr)
            m.d.comb += [w_addr.eq(host.addr), w_data.eq(Cat(*([host.wdata] * bw))),
                         w_en.eq(Mux(host.we, Const(1, bw) << lane, 0))]
        with m.Else():
            m.d.comb += [w_addr.eq(s_addr), w_en.eq(s_en), w_data.eq(s_data)]
        m.d.comb += self.range_error.eq(Cat(*bad).any())
        return m

    @property
    def read_lead(self) -> int:
        """Cycles from computing a block-RAM read to presenting its beat (1 to 4).

        4 when the contract's read latency allows it (registered RAM address, RAM latch, the
        RAM's output register, output queue), 3 for ``L = 3`` (no output register), else the
        latency itself: ``L = 1`` and ``L = 2`` have no time for the registers in front of or
        behind the RAM."""
        return min(self.dram.read_latency, 4)

    def _reader(self, m: Module, port, ram: DramCopy, name: str, host=None):
        """Serve read bursts on ``port`` from the copy ``ram`` with the contract timing
        (``L = read_latency``); ``host``: the host port muxed onto this copy, if any.

        Accepted requests wait in a FIFO of ``read_queue`` entries; a delay line marks each one
        *mature* ``L - lead`` cycles after its acceptance (``lead``: :attr:`read_lead`, cycles
        from computing a block-RAM read to presenting its beat), and the head burst starts
        issuing reads at the first cycle it is mature and the previous burst has issued its
        last read -- so its first beat comes at ``max(q + L, e + 1)``, as the contract says.
        With ``L = lead`` a request is mature when it arrives and bypasses the FIFO if nothing
        is ahead of it.

        ``lead`` 3 or 4 (``L >= 3``): the read computed in cycle t reaches the RAM from
        flip-flops next to it in t + 1 (the address logic -- ``start``, the FIFO head, the
        burst counter, the host mux -- never drives the RAM's pins across the die), the RAM's
        output latch holds the word in t + 2, with ``lead`` 4 the RAM's output register in
        t + 3 (the copy's ``outreg``), and the output queue presents it in t + ``lead`` (its
        lane shift between the two, so the RAM's clock-to-output never adds to the master's
        logic).  A read that has reached the RAM cannot be held back, so a read is issued only
        when the output queue is sure to have room for it even if the master refuses every
        beat until it lands: at most ``lead`` beats are in flight (address register, RAM
        latch, output register, queue of ``lead``), and a read is issued while fewer are or
        the master takes one this cycle.  While the master takes every beat, one is in the
        queue and a read issues every cycle; after refusals the queue drains one beat a cycle
        while the reads behind it refill it, so no bubble.

        ``lead`` 2 (``L = 2``): the read is issued (combinationally) two cycles before the
        beat is due (stage A: the RAM's output latch; stage B: a register after the lane
        shift).  ``lead`` 1 (``L = 1``): the RAM output (shifted) is the beat.  With lead 1
        or 2 a beat the master does not take stays put and the stages behind it hold (B,
        then the RAM latch with its read enable low); no bubble is inserted.
        """
        bw = self.bus_bytes
        lat = self.dram.read_latency
        lead = self.read_lead
        delay = lat - lead  # cycles from a request's acceptance to its maturity
        aw, lw, sw = ADDR_BITS, len(port.req_len), len(port.req_size)
        fifo = SyncFIFO(width=aw + lw + sw, depth=self.dram.read_queue)
        m.submodules[f"{name}_requests"] = fifo

        # the burst issuing reads (``left`` reads to go)
        addr = Signal(ADDR_BITS, name=f"{name}_addr")
        size = Signal.like(port.req_size, name=f"{name}_size")
        left = Signal.like(port.req_len, name=f"{name}_left")
        off_i = Signal(range(bw), name=f"{name}_off")  # lane offset of the last read issued
        room = Signal(name=f"{name}_room")  # a read issued now cannot be lost

        acc = Signal(name=f"{name}_accept")
        m.d.comb += [port.req_ready.eq(fifo.w_rdy), acc.eq(port.req_valid & fifo.w_rdy),
                     port.wr_ready.eq(0), port.wr_ack.eq(0)]

        # the next burst: the FIFO head once mature, or (delay 0) the request itself
        head_addr = fifo.r_data[:aw]
        head_len = fifo.r_data[aw:aw + lw]
        head_size = fifo.r_data[aw + lw:]
        if delay == 0:
            bypass = Signal(name=f"{name}_bypass")
            m.d.comb += bypass.eq(acc & ~fifo.r_rdy)
            have_next = fifo.r_rdy | acc
            n_addr = Mux(bypass, port.req_addr, head_addr)
            n_len = Mux(bypass, port.req_len, head_len)
            n_size = Mux(bypass, port.req_size, head_size)
        else:
            line = Signal(delay, name=f"{name}_maturing")  # acceptances of the last cycles
            m.d.sync += line.eq(Cat(acc, line[:-1]))
            mature = Signal(range(self.dram.read_queue + 2), name=f"{name}_mature")  # in FIFO
            now = Signal.like(mature, name=f"{name}_mature_now")
            m.d.comb += now.eq(mature + line[-1])
            have_next = now != 0
            n_addr, n_len, n_size = head_addr, head_len, head_size
        start = Signal(name=f"{name}_start")  # the next burst issues its first read
        m.d.comb += start.eq((left == 0) & have_next & room)
        if delay == 0:
            m.d.comb += [fifo.w_en.eq(acc & ~(bypass & start)), fifo.r_en.eq(start & ~bypass)]
        else:
            m.d.comb += [fifo.w_en.eq(acc), fifo.r_en.eq(start)]
            m.d.sync += mature.eq(now - start)
        m.d.comb += fifo.w_data.eq(Cat(port.req_addr, port.req_len, port.req_size))

        a = Mux(start, n_addr, addr)
        n = Mux(start, n_len, left)
        sz = Mux(start, n_size, size)
        issue = Signal(name=f"{name}_issue")
        m.d.comb += issue.eq(((left != 0) & room) | start)
        with m.If(start):
            m.d.sync += size.eq(n_size)
        with m.If(issue):
            m.d.sync += [addr.eq(a + (Const(1, 8) << sz)), left.eq(n - 1),
                         off_i.eq(self._offset(a))]
        self._drive_ram(m, ram, name, self._word(a), issue, lead >= 3, host)
        if host is not None:
            self._host_rdata(m, ram, host)
        if lead >= 3:
            self._queue_output(m, port, ram, name, issue, off_i, room)
        else:
            self._hold_output(m, port, ram, name, issue, off_i, room, lead == 2)

    def _drive_ram(self, m: Module, ram: DramCopy, name: str, addr, en, registered: bool,
                   host):
        """Drive the read side of ``ram``: the core's read (``addr``, ``en``) or, while the
        host owns the memory, the host's (if ``host``), registered at the RAM if
        ``registered``.

        The host's read always passes one register before the RAM (so a host read in cycle t
        reaches the RAM in t + 1 whatever ``registered``; :meth:`_host_rdata` times the rest).
        The registers are per copy (each is driven by its own reader, so Yosys has nothing
        to merge) and kept by name, so timing reports show them."""
        keep = {"keep": 1}
        word = len(ram.raddr)
        if registered:
            r_addr = Signal(word, name=f"{name}_ram_addr", attrs=keep)
            r_en = Signal(name=f"{name}_ram_en", attrs=keep)
            if host is None:
                m.d.sync += [r_addr.eq(addr), r_en.eq(en)]
            else:
                m.d.sync += [r_addr.eq(Mux(self.host_owns, self._word(host.addr), addr)),
                             r_en.eq(Mux(self.host_owns, host.re, en))]
            m.d.comb += [ram.raddr.eq(r_addr), ram.ren.eq(r_en)]
            return
        m.d.comb += [ram.raddr.eq(addr), ram.ren.eq(en)]
        if host is None:
            return
        h_addr = Signal(word, name="host_ram_addr", attrs=keep)
        h_en = Signal(name="host_ram_en", attrs=keep)
        m.d.sync += [h_addr.eq(self._word(host.addr)), h_en.eq(host.re)]
        with m.If(self.host_owns):
            m.d.comb += [ram.raddr.eq(h_addr), ram.ren.eq(h_en)]

    def _host_rdata(self, m: Module, ram: DramCopy, host):
        """``host.rdata`` in t + 3 for a host read in t (the RAM reads in t + 1).

        Without the copy's output register, the latch's word (t + 2) is lane-selected into a
        register next to the RAM.  With it (``lead`` 4), the output register holds the word
        in t + 3 and ``rdata`` is its lane, selected combinationally: the bridge's wait stays
        three cycles, and the path from the RAM to the bridge still starts at a register
        (~1 ns clock-to-output).  The word holds until the next read while the host owns the
        memory (only the host reads the fetch copy then), and so does the byte."""
        bw = self.bus_bytes

        def lane(word, off):
            return word.word_select(off, 8) if bw > 1 else word

        h_off = Signal(range(bw), name="host_off")  # the read's lane, as the RAM reads it
        h_off_q = Signal(range(bw), name="host_off_q")  # ... and as its word leaves the RAM
        with m.If(self.host_owns & host.re):
            m.d.sync += h_off.eq(self._offset(host.addr))
        m.d.sync += h_off_q.eq(h_off)
        if ram.outreg:
            h_off_r = Signal(range(bw), name="host_off_r")  # ... in the output register
            m.d.sync += h_off_r.eq(h_off_q)
            m.d.comb += host.rdata.eq(lane(ram.rdata, h_off_r))
        else:
            m.d.sync += host.rdata.eq(lane(ram.rdata, h_off_q))

    def _hold_output(self, m: Module, port, ram: DramCopy, name: str, issue, off_i, room,
                     staged: bool):
        """Lead 1 or 2: the beat from the RAM latch (shifted), or from register B after it;
        a refused beat holds the stages behind it."""
        bw = self.bus_bytes
        valid_a = Signal(name=f"{name}_valid_a")  # the RAM latch holds an unpresented beat
        shifted = ram.rdata >> Cat(Const(0, 3), off_i)
        if not staged:
            m.d.comb += room.eq(~valid_a | port.rd_ready)
            m.d.sync += valid_a.eq(issue | (valid_a & ~port.rd_ready))
            m.d.comb += [port.rd_valid.eq(valid_a), port.rd_data.eq(shifted)]
            return
        valid_b = Signal(name=f"{name}_valid_b")  # the output register holds a beat
        move = Signal(name=f"{name}_move")  # A -> B this cycle
        m.d.comb += [move.eq(valid_a & (~valid_b | port.rd_ready)), room.eq(~valid_a | move)]
        data_b = Signal(8 * bw, name=f"{name}_data")
        with m.If(move):
            m.d.sync += data_b.eq(shifted)
        m.d.sync += [valid_a.eq(issue | (valid_a & ~move)),
                     valid_b.eq(move | (valid_b & ~port.rd_ready))]
        m.d.comb += [port.rd_valid.eq(valid_b), port.rd_data.eq(data_b)]

    def _queue_output(self, m: Module, port, ram: DramCopy, name: str, issue, off_i, room):
        """Lead 3 or 4: the copy's word (shifted) enters an output queue of ``lead`` entries
        the cycle it leaves the RAM (latch, or output register with ``lead`` 4); the queue's
        head is the beat.  ``room`` is the credit check of :meth:`_reader`: at most ``lead``
        beats between the address register and the head."""
        bw = self.bus_bytes
        depth = self.read_lead  # beats a read issued now may find ahead of it when it lands
        # stage s holds a beat s + 1 cycles after its read was issued: the RAM reads it (its
        # address register), the latch holds it, [the output register holds it]; the last
        # stage's word enters the queue
        stages = depth - 1
        valid_s = [Signal(name=f"{name}_valid_s{s}") for s in range(stages)]
        off_s = [Signal(range(bw), name=f"{name}_off_s{s}") for s in range(1, stages)]
        m.d.sync += [valid_s[0].eq(issue)] + [valid_s[s].eq(valid_s[s - 1])
                                              for s in range(1, stages)]
        m.d.sync += [off_s[0].eq(off_i)] + [off_s[s].eq(off_s[s - 1])
                                            for s in range(1, len(off_s))]
        landing, off_a = valid_s[-1], off_s[-1]
        data = [Signal(8 * bw, name=f"{name}_q{i}") for i in range(depth)]
        valid = [Signal(name=f"{name}_q{i}_valid") for i in range(depth)]  # a prefix is valid
        pop = Signal(name=f"{name}_pop")
        m.d.comb += pop.eq(valid[0] & port.rd_ready)
        # beats in flight (stages, queue): a read issues while fewer than ``depth`` are, or
        # the master takes one; so there are never more than ``depth``, and at ``depth`` the
        # queue's head is valid (rd_ready is a pop)
        flight = Signal(range(2 * depth + 1), name=f"{name}_in_flight")
        m.d.comb += [flight.eq(sum(valid_s) + sum(valid)),
                     room.eq((flight < depth) | port.rd_ready)]
        shifted = ram.rdata >> Cat(Const(0, 3), off_a)
        for i in range(depth):
            nxt_valid = valid[i + 1] if i + 1 < depth else Const(0)
            stays = Mux(pop, nxt_valid, valid[i])  # entry i holds a beat after the pop
            below = Const(1) if i == 0 else Mux(pop, valid[i], valid[i - 1])
            fill = landing & ~stays & below  # the RAM's word lands here
            if i + 1 < depth:
                with m.If(pop & nxt_valid):
                    m.d.sync += data[i].eq(data[i + 1])
            with m.If(fill):
                m.d.sync += data[i].eq(shifted)
            m.d.sync += valid[i].eq(stays | fill)
        m.d.comb += [port.rd_valid.eq(valid[0]), port.rd_data.eq(data[0])]

    def _writer(self, m: Module, port):
        """Accept write bursts on ``port``; returns (addr, byte enables, data) of this cycle.

        A new request is accepted once the previous burst has taken its last beat; the
        acknowledges ride an ``ack_latency``-long shift register (the last beats of successive
        bursts are in distinct cycles, so one bit per cycle holds every pending acknowledge).
        """
        bw = self.bus_bytes
        busy = Signal(name="store_busy")  # a burst is taking beats
        addr = Signal(ADDR_BITS, name="store_addr")
        size = Signal.like(port.req_size, name="store_size")
        left = Signal.like(port.req_len, name="store_left")

        acc = Signal(name="store_accept")
        m.d.comb += [port.req_ready.eq(~busy), acc.eq(port.req_valid & ~busy),
                     port.rd_valid.eq(0), port.rd_data.eq(0)]
        a = Mux(acc, port.req_addr, addr)
        n = Mux(acc, port.req_len, left)
        sz = Mux(acc, port.req_size, size)
        # Beats are taken from the request's cycle on (under the contract the first beat
        # comes with the request); a beat offered before its request waits, which the
        # protocol allows, instead of being dropped for want of an address.
        m.d.comb += port.wr_ready.eq((acc | busy) & (n != 0))
        beat = Signal(name="store_beat")
        m.d.comb += beat.eq(port.wr_valid & port.wr_ready)
        last = Signal(name="store_last")
        m.d.comb += last.eq(beat & (n == 1))
        with m.If(acc):
            m.d.sync += [busy.eq(1), size.eq(port.req_size), addr.eq(port.req_addr),
                         left.eq(port.req_len)]
        with m.If(beat):
            m.d.sync += [addr.eq(a + (Const(1, 8) << sz)), left.eq(n - 1)]
        with m.If(last):
            m.d.sync += busy.eq(0)
        # bit k: a burst's last beat k + 1 cycles ago
        acks = Signal(self.dram.ack_latency, name="store_acks")
        m.d.sync += acks.eq(Cat(last, acks[:-1]))
        m.d.comb += port.wr_ack.eq(acks[-1])

        off = self._offset(a)
        nbytes = Signal(range(2 * bw + 1), name="store_nbytes")
        m.d.comb += nbytes.eq(Const(1, len(nbytes)) << sz)
        en = Signal(bw, name="store_en")
        for i in range(bw):
            m.d.comb += en[i].eq(beat & (i >= off) & (i < off + nbytes))
        data = Signal(8 * bw, name="store_data")
        m.d.comb += data.eq(port.wr_data << Cat(Const(0, 3), off))
        return a, en, data


__all__ = ["SocMemory", "HostMemPort", "READERS", "WRITERS", "check_dram_bytes"]
