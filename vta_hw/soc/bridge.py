"""The host bridge: the framed UART protocol of ``vta_hw.soc.protocol`` in gateware.

It parses request frames byte by byte (CRC-8 checked before anything is acted on: WRITE data
is buffered and committed to DRAM only after the CRC matched), executes them against the
DRAM's host port and the core's control/status, and sends exactly one reply frame per
request.  DRAM access and START are refused with BUSY while the core runs, which is also what
makes the host port safe: ``host_owns`` is high only while the core is idle.

A request that stalls mid-frame for ``byte_timeout`` cycles is dropped with a TIMEOUT reply,
so a host that died halfway through a frame cannot wedge the parser.  Bytes that arrive while
a request executes or a reply is sent are dropped (one request outstanding).

A request is decided and acted on in two cycles, CHECK then EXEC.  CHECK evaluates every check
of the command (length, zero count, BUSY, DRAM range; the first that fails gives the status,
in the order BAD_LEN, BAD_ARG, BUSY, RANGE) and registers only the outcome: the reply status
and a one-hot register of the action to take.  EXEC then acts on those flip-flops alone.  Why:
on the 1x16x16 SoC (``default-85f`` at GEMM depth 6, ALU depth 5, 66.48 MHz) the critical path
ran from the ``cmd`` register through five LUT levels of that decode to the clock enable of
``rsh`` (the reply shift register, loaded from the core's cycle counter and so placed next to
the core, far from the bridge) and of ``reset_q``: 15.04 ns, 13.3 ns of it routing.  The wide
comparisons (``addr + n > dram_bytes``, the length checks) are registers too, computed every
cycle from ``args`` and ``length``, which do not change in the CRC state, so they are exact in
CHECK.  The bridge runs at UART speed: one more cycle per request costs nothing.  (``host_ok``
cannot fall between CHECK and EXEC: only START, from this bridge, starts the core.)
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from vta_hw.rtl.core import ControlStatus
from vta_hw.soc import protocol as P
from vta_hw.soc.errors import SocError
from vta_hw.soc.memory import HostMemPort

ARG_BYTES = 8  # the first payload bytes of every command are kept in a register
# what a request that passed its checks does (the bits of CHECK's one-hot action register)
_ACTIONS = ("info", "status", "write", "read", "start", "abort")


def _crc_matrix() -> list[list[int]]:
    """For each output bit of one CRC-8 step, the bits of ``crc ^ byte`` it XORs."""
    rows = [[] for _ in range(8)]
    for i in range(8):
        out = P.crc8_update(0, 1 << i)
        for j in range(8):
            if out >> j & 1:
                rows[j].append(i)
    return rows


_CRC_ROWS = _crc_matrix()


def crc8_step(crc, byte):
    """Amaranth expression of one CRC-8 step (CRC-8 is linear: an XOR network)."""
    x = crc ^ byte
    bits = []
    for row in _CRC_ROWS:
        v = Const(0, 1)
        for i in row:
            v = v ^ x[i]
        bits.append(v)
    return Cat(*bits)


class HostBridge(wiring.Component):
    """Request parser, executor and reply sender.

    Members
    -------
    rx : In(stream(8))       bytes from the UART receiver (always taken)
    tx : Out(stream(8))      bytes to the UART transmitter
    mem : Out(HostMemPort)   the DRAM's host port
    host_owns : Out(1)       the DRAM's host port is in effect (core idle)
    core : In(ControlStatus) the core's control/status (start, insn_addr/count out; done,
                             cycles, running, idle in)
    core_reset : Out(1)      pulse: reset the core and the DRAM ports (ABORT; a register set
                             in EXEC from CHECK's registered decision, as ``core.start``)
    range_error : In(1)      pulse from the DRAM: a core burst reached past its end
    busy : Out(1)            executing or replying (for the simulation harness)
    """

    def __init__(self, info: P.SocInfo, *, byte_timeout: int):
        if info.max_write & (info.max_write - 1) or not 1 <= info.max_write <= 4096:
            raise SocError(f"max_write {info.max_write} must be a power of two in 1..4096")
        if byte_timeout < 16:
            raise SocError(f"byte_timeout {byte_timeout} cycles is too short")
        self.info = info
        self.byte_timeout = byte_timeout
        super().__init__({
            "rx": In(stream.Signature(8, always_ready=True)),
            "tx": Out(stream.Signature(8)),
            "mem": Out(HostMemPort()),
            "host_owns": Out(1),
            "core": In(ControlStatus()),
            "core_reset": Out(1),
            "range_error": In(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):  # noqa: C901 - one protocol engine, read top to bottom
        m = Module()
        info = self.info
        rx, tx, mem, core = self.rx, self.tx, self.mem, self.core
        host_ok = Signal()
        # a register (the core's idle flag is a wide AND of its modules' states, far from the
        # DRAM's host multiplexers); low from the cycle after a START, as ``running`` is
        m.d.sync += host_ok.eq(~core.running & core.idle & ~core.start)
        # START and ABORT leave registers: the command decode never drives the core's start
        # logic or its reset (a net to every flip-flop of the core) in the same cycle
        start_q = Signal()
        reset_q = Signal()
        m.d.sync += [start_q.eq(0), reset_q.eq(0)]
        m.d.comb += [core.start.eq(start_q), self.core_reset.eq(reset_q)]
        m.d.comb += self.host_owns.eq(host_ok)

        cmd = Signal(8)
        length = Signal(16)
        idx = Signal(16)
        args = Signal(8 * ARG_BYTES)
        crc = Signal(8)
        status = Signal(8)
        sticky_range = Signal()
        with m.If(self.range_error):
            m.d.sync += sticky_range.eq(1)

        m.submodules.wbuf = wbuf = Memory(shape=8, depth=info.max_write, init=[])
        wb_w = wbuf.write_port()
        wb_r = wbuf.read_port()

        addr = args[:32]
        count16 = args[32:48]
        count32 = args[32:64]
        m.d.comb += [core.insn_addr.eq(addr), core.insn_count.eq(count32)]

        # the request's checks as registers, recomputed every cycle: args and length hold still
        # in the CRC state (at least one cycle), so in CHECK these are the frame's own, and the
        # adders and comparators end in flip-flops instead of feeding the decode
        n_w = length - 4
        len_zero = Signal()
        len_bad_write = Signal()
        len_bad_read = Signal()
        len_bad_start = Signal()
        count16_zero = Signal()
        count32_zero = Signal()
        range_write = Signal()
        range_read = Signal()
        m.d.sync += [
            len_zero.eq(length == 0),
            len_bad_write.eq((length < 5) | (n_w > info.max_write)),
            len_bad_read.eq(length != 6),
            len_bad_start.eq(length != 8),
            count16_zero.eq(count16 == 0),
            count32_zero.eq(count32 == 0),
            range_write.eq(addr + n_w > info.dram_bytes),
            range_read.eq(addr + count16 > info.dram_bytes),
        ]
        # CHECK's outcome: what EXEC does (one-hot; all zero for a refused request, whose
        # reason is then already in ``status``)
        act = Signal(data.StructLayout({name: 1 for name in _ACTIONS}))

        # reply: payload length, source (shift register or DRAM), counters
        rlen = Signal(16)
        rleft = Signal(16)
        from_mem = Signal()
        shreg_bytes = max(P.INFO_BYTES, P.STATUS_BYTES)
        rsh = Signal(8 * shreg_bytes)
        raddr = Signal(32)
        tcrc = Signal(8)
        ci = Signal(range(info.max_write + 2))
        cv = Signal()
        nwrite = Signal(16)

        timeout = Signal(range(self.byte_timeout + 1))
        in_frame = Signal()
        with m.If(rx.valid | ~in_frame):
            m.d.sync += timeout.eq(0)
        with m.Else():
            m.d.sync += timeout.eq(timeout + 1)

        def reply(code, nbytes=0, *, mem_src=False):
            m.d.sync += [status.eq(code), rlen.eq(nbytes), from_mem.eq(int(mem_src))]
            m.next = "TX_SYNC"

        def receiving():
            """In a state that waits for a frame byte: count the silence, give up at the limit."""
            m.d.comb += in_frame.eq(1)
            with m.If(~rx.valid & (timeout == self.byte_timeout)):
                reply(P.Status.TIMEOUT)

        info_word = int.from_bytes(info.to_payload(), "little")

        with m.FSM(name="bridge"):
            # -------------------------------------------------------------- receive
            with m.State("SYNC"):
                with m.If(rx.valid & (rx.payload == P.REQ_SYNC)):
                    m.d.sync += crc.eq(0)
                    m.next = "CMD"
            for state, nxt in (("CMD", "LEN0"), ("LEN0", "LEN1")):
                with m.State(state):
                    receiving()
                    with m.If(rx.valid):
                        m.d.sync += crc.eq(crc8_step(crc, rx.payload))
                        if state == "CMD":
                            m.d.sync += cmd.eq(rx.payload)
                        else:
                            m.d.sync += length[:8].eq(rx.payload)
                        m.next = nxt
            with m.State("LEN1"):
                receiving()
                with m.If(rx.valid):
                    m.d.sync += [crc.eq(crc8_step(crc, rx.payload)), length[8:].eq(rx.payload),
                                 idx.eq(0), args.eq(0)]
                    with m.If((rx.payload == 0) & (length[:8] == 0)):
                        m.next = "CRC"
                    with m.Else():
                        m.next = "PAYLOAD"
            with m.State("PAYLOAD"):
                receiving()
                with m.If(rx.valid):
                    m.d.sync += [crc.eq(crc8_step(crc, rx.payload)), idx.eq(idx + 1)]
                    with m.If(idx < ARG_BYTES):
                        m.d.sync += args.word_select(idx[:3], 8).eq(rx.payload)
                    widx = idx - 4
                    m.d.comb += [wb_w.addr.eq(widx), wb_w.data.eq(rx.payload),
                                 wb_w.en.eq((cmd == P.Cmd.WRITE) & (idx >= 4)
                                            & (widx < info.max_write))]
                    with m.If(idx + 1 == length):
                        m.next = "CRC"
            with m.State("CRC"):
                receiving()
                with m.If(rx.valid):
                    with m.If(rx.payload == crc):
                        m.next = "CHECK"
                    with m.Else():
                        reply(P.Status.BAD_CRC)

            # -------------------------------------------------------------- execute
            with m.State("CHECK"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [act.eq(0), status.eq(P.Status.OK)]
                m.next = "EXEC"

                def refuse(code):
                    m.d.sync += status.eq(code)

                def accept(action):
                    m.d.sync += getattr(act, action).eq(1)

                with m.Switch(cmd):
                    for c, action in ((P.Cmd.INFO, "info"), (P.Cmd.STATUS, "status"),
                                      (P.Cmd.ABORT, "abort")):
                        with m.Case(c):
                            with m.If(~len_zero):
                                refuse(P.Status.BAD_LEN)
                            with m.Else():
                                accept(action)
                    with m.Case(P.Cmd.WRITE):
                        with m.If(len_bad_write):
                            refuse(P.Status.BAD_LEN)
                        with m.Elif(~host_ok):
                            refuse(P.Status.BUSY)
                        with m.Elif(range_write):
                            refuse(P.Status.RANGE)
                        with m.Else():
                            accept("write")
                    with m.Case(P.Cmd.READ):
                        with m.If(len_bad_read):
                            refuse(P.Status.BAD_LEN)
                        with m.Elif(count16_zero):
                            refuse(P.Status.BAD_ARG)
                        with m.Elif(~host_ok):
                            refuse(P.Status.BUSY)
                        with m.Elif(range_read):
                            refuse(P.Status.RANGE)
                        with m.Else():
                            accept("read")
                    with m.Case(P.Cmd.START):
                        with m.If(len_bad_start):
                            refuse(P.Status.BAD_LEN)
                        with m.Elif(count32_zero):
                            refuse(P.Status.BAD_ARG)
                        with m.Elif(~host_ok):
                            refuse(P.Status.BUSY)
                        with m.Else():
                            accept("start")
                    with m.Default():
                        refuse(P.Status.BAD_CMD)
            with m.State("EXEC"):
                # every enable and mux select here is a bit of ``act`` (and the state)
                m.d.comb += self.busy.eq(1)
                m.d.sync += [rlen.eq(0), from_mem.eq(0)]
                m.next = "TX_SYNC"  # the status is in place since CHECK
                with m.If(act.info):
                    m.d.sync += [rsh.eq(info_word), rlen.eq(P.INFO_BYTES)]
                with m.If(act.status):
                    flags = (core.running * P.FLAG_RUNNING | core.done * P.FLAG_DONE
                             | core.idle * P.FLAG_IDLE | sticky_range * P.FLAG_DRAM_RANGE)
                    m.d.sync += [rsh.eq(flags | (core.cycles << 8)), rlen.eq(P.STATUS_BYTES)]
                with m.If(act.write):
                    m.d.sync += [ci.eq(0), cv.eq(0), raddr.eq(addr), nwrite.eq(n_w)]
                    m.next = "COMMIT"  # which replies when the data is in DRAM
                with m.If(act.read):
                    m.d.sync += [raddr.eq(addr), rlen.eq(count16), from_mem.eq(1)]
                with m.If(act.start):
                    m.d.sync += [start_q.eq(1), sticky_range.eq(0)]
                with m.If(act.abort):
                    m.d.sync += [reset_q.eq(1), sticky_range.eq(0)]
            with m.State("COMMIT"):
                m.d.comb += [self.busy.eq(1), wb_r.addr.eq(ci)]
                m.d.sync += [ci.eq(ci + 1), cv.eq(ci < nwrite)]
                with m.If(cv):
                    m.d.comb += [mem.we.eq(1), mem.addr.eq(raddr), mem.wdata.eq(wb_r.data)]
                    m.d.sync += raddr.eq(raddr + 1)
                    with m.If(ci == nwrite):
                        reply(P.Status.OK)

            # -------------------------------------------------------------- reply
            def send(byte, nxt, *, update_crc=True):
                m.d.comb += [self.busy.eq(1), tx.valid.eq(1), tx.payload.eq(byte)]
                with m.If(tx.ready):
                    if update_crc:
                        m.d.sync += tcrc.eq(crc8_step(tcrc, byte))
                    m.next = nxt

            with m.State("TX_SYNC"):
                m.d.sync += [tcrc.eq(0), rleft.eq(rlen)]
                send(P.REPLY_SYNC, "TX_STATUS", update_crc=False)
            with m.State("TX_STATUS"):
                send(status, "TX_LEN0")
            with m.State("TX_LEN0"):
                send(rlen[:8], "TX_LEN1")
            with m.State("TX_LEN1"):
                m.d.comb += [self.busy.eq(1), tx.valid.eq(1), tx.payload.eq(rlen[8:])]
                with m.If(tx.ready):
                    m.d.sync += tcrc.eq(crc8_step(tcrc, rlen[8:]))
                    with m.If(rleft == 0):
                        m.next = "TX_CRC"
                    with m.Elif(from_mem):
                        m.next = "TX_MEMRD"
                    with m.Else():
                        m.next = "TX_SHREG"
            with m.State("TX_SHREG"):
                m.d.comb += [self.busy.eq(1), tx.valid.eq(1), tx.payload.eq(rsh[:8])]
                with m.If(tx.ready):
                    m.d.sync += [tcrc.eq(crc8_step(tcrc, rsh[:8])), rsh.eq(rsh >> 8),
                                 rleft.eq(rleft - 1)]
                    with m.If(rleft == 1):
                        m.next = "TX_CRC"
            with m.State("TX_MEMRD"):
                m.d.comb += [self.busy.eq(1), mem.addr.eq(raddr), mem.re.eq(1)]
                m.next = "TX_MEMQ1"
            # the memory registers the address in front of the block RAM and the byte behind
            # it (HostMemPort: a read in cycle t is on rdata in t + 3)
            with m.State("TX_MEMQ1"):
                m.d.comb += self.busy.eq(1)
                m.next = "TX_MEMQ2"
            with m.State("TX_MEMQ2"):
                m.d.comb += self.busy.eq(1)
                m.next = "TX_MEM"
            with m.State("TX_MEM"):
                m.d.comb += [self.busy.eq(1), tx.valid.eq(1), tx.payload.eq(mem.rdata)]
                with m.If(tx.ready):
                    m.d.sync += [tcrc.eq(crc8_step(tcrc, mem.rdata)), raddr.eq(raddr + 1),
                                 rleft.eq(rleft - 1)]
                    with m.If(rleft == 1):
                        m.next = "TX_CRC"
                    with m.Else():
                        m.next = "TX_MEMRD"
            with m.State("TX_CRC"):
                m.d.comb += [self.busy.eq(1), tx.valid.eq(1), tx.payload.eq(tcrc)]
                with m.If(tx.ready):
                    m.next = "SYNC"

        return m


__all__ = ["HostBridge", "crc8_step", "ARG_BYTES"]
