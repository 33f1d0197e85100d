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
first read may be issued, and the block-RAM read issued one or two cycles before the beat is
due (one beat per cycle while the master takes them).  A write beat goes into block RAM the
cycle after it is accepted (so data is visible before the acknowledge, which comes later);
the acknowledges are a shift register.

The host port (the UART bridge) is a byte-wide port muxed onto the write path and the fetch
copy's read port while ``host_owns`` is high; the bridge asserts it only while the core is
idle, so the core never sees it.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from vta_hw import timing
from vta_hw.config import HwConfig
from vta_hw.rtl.dram_port import ADDR_BITS, DramPort
from vta_hw.soc.errors import SocError

READERS = ("fetch", "load", "compute")
WRITERS = ("store",)


class HostMemPort(wiring.Signature):
    """A byte-wide memory port for the host bridge (from the bridge's side).

    Members
    -------
    addr : Out(32)   byte address
    re : Out(1)      read ``addr``; ``rdata`` holds the byte from the second cycle on
                     (a read in cycle t is on ``rdata`` in t + 2, t + 3, ... until the
                     next read)
    rdata : In(8)    the byte last read (a register)
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
    """

    def __init__(self, cfg: HwConfig, dram_bytes: int):
        check_dram_bytes(cfg, dram_bytes)
        self.cfg = cfg
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
        mems = {}
        for p in READERS:
            mems[p] = Memory(shape=8 * bw, depth=self.depth, init=[])
            m.submodules[f"dram_{p}"] = mems[p]
        # One write path for every copy, registered: a write lands in the RAMs the cycle after
        # it is accepted -- still before the acknowledge, and before any read a token could
        # order after it -- so the master's data path ends at a flip-flop, not a RAM input.
        wports = [mems[p].write_port(granularity=8) for p in READERS]
        w_addr = Signal(ADDR_BITS)
        w_en = Signal(bw)
        w_data = Signal(8 * bw)
        r_addr = Signal(ADDR_BITS)
        r_en = Signal(bw)
        r_data = Signal(8 * bw)
        m.d.sync += [r_addr.eq(w_addr), r_en.eq(w_en), r_data.eq(w_data)]
        for wp in wports:
            m.d.comb += [wp.addr.eq(self._word(r_addr)), wp.en.eq(r_en), wp.data.eq(r_data)]

        bad = []
        host = self.host
        for p in READERS:
            rp = mems[p].read_port()
            self._reader(m, getattr(self, p), rp, p)
            bad.append(self._range_check(m, getattr(self, p), p))
            if p == READERS[0]:
                # the host reads through this copy while it owns the memory
                h_off = Signal(range(bw), name="host_off")
                with m.If(self.host_owns):
                    m.d.comb += [rp.addr.eq(self._word(host.addr)), rp.en.eq(host.re)]
                    with m.If(host.re):
                        m.d.sync += h_off.eq(self._offset(host.addr))
                # registered here, next to the RAM: the host path never adds the block
                # RAM's clock-to-output to the bridge's logic
                m.d.sync += host.rdata.eq(rp.data.word_select(h_off, 8) if bw > 1 else rp.data)

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

    def _reader(self, m: Module, port, rp, name: str):
        """Serve read bursts on ``port`` from read port ``rp`` with the contract timing
        (``L = read_latency``).

        Accepted requests wait in a FIFO of ``read_queue`` entries; a delay line marks each one
        *mature* ``L - lead`` cycles after its acceptance (``lead``: cycles from issuing a
        block-RAM read to presenting its beat), and the head burst starts issuing reads at the
        first cycle it is mature and the previous burst has issued its last read -- so its
        first beat comes at ``max(q + L, e + 1)``, as the contract says.  With ``L = lead``
        a request is mature when it arrives and bypasses the FIFO if nothing is ahead of it.

        With ``L >= 2`` the beat leaves from a flip-flop: the block-RAM read is issued two
        cycles before the beat is due (stage A: the RAM's output latch; stage B: a register
        after the lane shift), so the slow RAM clock-to-output (~6 ns on ECP5) never adds to
        the master's logic.  With ``L = 1`` there is no time for it: the RAM output (shifted)
        is the beat.  A beat the master does not take stays put and the stages behind it
        hold (B, then the RAM latch with its read enable low); no bubble is inserted.
        """
        bw = self.bus_bytes
        lat = self.dram.read_latency
        staged = lat >= 2
        lead = 2 if staged else 1  # cycles from issuing a RAM read to presenting the beat
        delay = lat - lead  # cycles from a request's acceptance to its maturity
        aw, lw, sw = ADDR_BITS, len(port.req_len), len(port.req_size)
        fifo = SyncFIFO(width=aw + lw + sw, depth=self.dram.read_queue)
        m.submodules[f"{name}_requests"] = fifo

        # the burst issuing reads (``left`` reads to go)
        addr = Signal(ADDR_BITS, name=f"{name}_addr")
        size = Signal.like(port.req_size, name=f"{name}_size")
        left = Signal.like(port.req_len, name=f"{name}_left")
        off_a = Signal(range(bw), name=f"{name}_off")
        valid_a = Signal(name=f"{name}_valid_a")  # the RAM latch holds an unpresented beat
        valid_b = Signal(name=f"{name}_valid_b")  # the output register holds a beat

        acc = Signal(name=f"{name}_accept")
        m.d.comb += [port.req_ready.eq(fifo.w_rdy), acc.eq(port.req_valid & fifo.w_rdy),
                     port.wr_ready.eq(0), port.wr_ack.eq(0)]
        if staged:
            move = Signal(name=f"{name}_move")  # A -> B this cycle
            m.d.comb += move.eq(valid_a & (~valid_b | port.rd_ready))
            room = ~valid_a | move
        else:
            room = ~valid_a | port.rd_ready

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
        m.d.comb += [issue.eq(((left != 0) & room) | start),
                     rp.addr.eq(self._word(a)), rp.en.eq(issue)]
        with m.If(start):
            m.d.sync += size.eq(n_size)
        with m.If(issue):
            m.d.sync += [addr.eq(a + (Const(1, 8) << sz)), left.eq(n - 1),
                         off_a.eq(self._offset(a))]
        shifted = rp.data >> Cat(Const(0, 3), off_a)
        if staged:
            data_b = Signal(8 * bw, name=f"{name}_data")
            with m.If(move):
                m.d.sync += data_b.eq(shifted)
            m.d.sync += [valid_a.eq(issue | (valid_a & ~move)),
                         valid_b.eq(move | (valid_b & ~port.rd_ready))]
            m.d.comb += [port.rd_valid.eq(valid_b), port.rd_data.eq(data_b)]
        else:
            m.d.sync += valid_a.eq(issue | (valid_a & ~port.rd_ready))
            m.d.comb += [port.rd_valid.eq(valid_a), port.rd_data.eq(shifted)]

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
