"""The host bridge in Amaranth's simulator: every command, every error reply, the timeout.

The bridge talks to a small byte-wide block RAM (its DRAM host port) and to a stand-in for
the core's control/status that the testbench drives; frames go in and out through its byte
streams (the UART is tested on its own in test_uart.py, and everything together in
test_soc_cosim.py).
"""

from __future__ import annotations

import struct

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from vta_hw.config import TINY
from vta_hw.soc import protocol as P
from vta_hw.soc.bridge import HostBridge
from vta_hw.soc.memory import SocMemory

DRAM = 256
INFO = P.SocInfo(version=P.PROTOCOL_VERSION, dram_bytes=DRAM, max_write=16, bus_bytes=4,
                 config_hash="0123456789abcdef", clock_hz=100_000_000, baud_divisor=4)
TIMEOUT = 200


class Dut:
    def __init__(self, dram_latency: int | None = None):
        self.m = m = Module()
        m.submodules.bridge = self.br = br = HostBridge(INFO, byte_timeout=TIMEOUT)
        self.soc = dram_latency is not None
        if self.soc:
            # the SoC's own DRAM (starts zeroed), the core's ports idle
            cfg = TINY.replace(dram_latency=dram_latency,
                               log_dram_bytes_per_cycle=INFO.bus_bytes.bit_length() - 1)
            m.submodules.mem = self.mem = mem = SocMemory(cfg, DRAM)
            wiring.connect(m, br.mem, mem.host)
            m.d.comb += [mem.host_owns.eq(br.host_owns), br.range_error.eq(mem.range_error)]
        else:
            m.submodules.mem = mem = Memory(shape=8, depth=DRAM, init=range(DRAM))
            rp = mem.read_port()
            wp = mem.write_port()
            # HostMemPort's read timing, as SocMemory has it: the address registered in front
            # of the block RAM, the byte behind it -- a read in cycle t is on rdata in t + 3
            m.d.sync += [rp.addr.eq(br.mem.addr), rp.en.eq(br.mem.re),
                         br.mem.rdata.eq(rp.data)]
            m.d.comb += [wp.addr.eq(br.mem.addr), wp.en.eq(br.mem.we),
                         wp.data.eq(br.mem.wdata)]
            self.mem = mem
        self.starts: list[tuple[int, int]] = []
        self.resets = 0
        self.start_seen = Signal()


def run(frames: list[bytes], *, core: dict | None = None, gap: int = 1,
        after: list = (), dram_latency: int | None = None
        ) -> tuple[list[tuple[int, bytes]], Dut, list[int]]:
    """Send each frame and collect its reply; returns [(status, payload)], dut, final DRAM
    (empty with ``dram_latency``: the bridge then talks to a ``SocMemory`` of that latency)."""
    dut = Dut(dram_latency)
    br = dut.br
    replies: list[tuple[int, bytes]] = []
    final: list[int] = []
    core = {"running": 0, "idle": 1, "done": 0, "cycles": 0, **(core or {})}

    txbuf = bytearray()  # every byte the bridge sends (tx.ready is always high)

    async def tick(ctx):
        if ctx.get(br.core.start):
            dut.starts.append((ctx.get(br.core.insn_addr), ctx.get(br.core.insn_count)))
        dut.resets += ctx.get(br.core_reset)
        if ctx.get(br.tx.valid):
            txbuf.append(ctx.get(br.tx.payload))
        await ctx.tick()

    async def receive(ctx, limit=20000):
        for _ in range(limit):
            if len(txbuf) >= 4 and len(txbuf) >= 5 + int.from_bytes(txbuf[2:4], "little"):
                n = 5 + int.from_bytes(txbuf[2:4], "little")
                buf = bytes(txbuf[:n])
                del txbuf[:n]
                assert buf[0] == P.REPLY_SYNC
                assert P.crc8(buf[1:-1]) == buf[-1], "reply CRC"
                return buf[1], buf[4:-1]
            await tick(ctx)
        raise AssertionError("no reply")

    async def bench(ctx):
        for k, v in core.items():
            ctx.set(getattr(br.core, k), v)
        ctx.set(br.tx.ready, 1)
        for frame in frames:
            for b in frame:
                ctx.set(br.rx.valid, 1)
                ctx.set(br.rx.payload, b)
                await tick(ctx)
                ctx.set(br.rx.valid, 0)
                for _ in range(gap):
                    await tick(ctx)
            replies.append(await receive(ctx))
        for f in after:
            await f(ctx, dut, replies, receive, tick)
        for a in range(0 if dut.soc else DRAM):
            final.append(ctx.get(dut.mem.data[a]))

    sim = Simulator(dut.m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return replies, dut, final


def req(cmd, payload=b""):
    return P.request(cmd, payload)


def test_info_reports_the_soc():
    (status, data), = run([req(P.Cmd.INFO)])[0]
    assert status == P.Status.OK
    assert P.SocInfo.from_payload(data) == INFO


def test_write_then_read_round_trip_and_status_flags():
    data = bytes(range(100, 116))
    replies, _, final = run([req(P.Cmd.WRITE, P.write_payload(40, data)),
                             req(P.Cmd.READ, P.read_payload(38, 20)),
                             req(P.Cmd.STATUS)],
                            core={"done": 1, "cycles": 0x1122334455667788})
    assert replies[0] == (P.Status.OK, b"")
    assert replies[1] == (P.Status.OK, bytes([38, 39]) + data + bytes([56, 57]))
    st = P.SocStatus.from_payload(replies[2][1])
    assert (st.done, st.idle, st.running, st.cycles) == (True, True, False, 0x1122334455667788)
    assert final[40:56] == list(data) and final[39] == 39 and final[56] == 56


@pytest.mark.parametrize("lat", [1, 2, 4])
def test_write_then_read_through_the_soc_dram(lat):
    """The bridge against the SoC's real DRAM (its host read timing, not a stand-in's), for
    each read pipeline (lead 1, 2 and 3): unaligned bytes across bus words come back."""
    data = bytes(range(100, 100 + INFO.max_write))
    replies, _, _ = run([req(P.Cmd.WRITE, P.write_payload(41, data)),
                         req(P.Cmd.READ, P.read_payload(38, len(data) + 5))], dram_latency=lat)
    assert replies[0] == (P.Status.OK, b"")
    assert replies[1] == (P.Status.OK, bytes(3) + data + bytes(2))


def test_bad_crc_is_refused_and_has_no_effect():
    frame = bytearray(req(P.Cmd.WRITE, P.write_payload(0, b"\xff" * 4)))
    frame[-1] ^= 0x01
    replies, _, final = run([bytes(frame)])
    assert replies == [(P.Status.BAD_CRC, b"")]
    assert final[:4] == [0, 1, 2, 3]


@pytest.mark.parametrize("frame, status", [
    (req(0x77), P.Status.BAD_CMD),
    (req(P.Cmd.INFO, b"\x00"), P.Status.BAD_LEN),
    (req(P.Cmd.STATUS, b"\x00"), P.Status.BAD_LEN),
    (req(P.Cmd.WRITE, P.write_payload(0, bytes(17))), P.Status.BAD_LEN),  # > max_write
    (req(P.Cmd.WRITE, P.write_payload(0, b"")), P.Status.BAD_LEN),
    (req(P.Cmd.READ, b"\x00" * 5), P.Status.BAD_LEN),
    (req(P.Cmd.READ, P.read_payload(0, 0)), P.Status.BAD_ARG),
    (req(P.Cmd.READ, P.read_payload(DRAM - 4, 5)), P.Status.RANGE),
    (req(P.Cmd.WRITE, P.write_payload(DRAM - 2, b"abc")), P.Status.RANGE),
    (req(P.Cmd.START, P.start_payload(0, 0)), P.Status.BAD_ARG),
    (req(P.Cmd.START, b"\x00" * 4), P.Status.BAD_LEN),
])
def test_error_replies(frame, status):
    replies, dut, final = run([frame])
    assert replies == [(status, b"")]
    assert final == list(range(DRAM)) and dut.starts == []


BUSY_CORE = {"running": 1, "idle": 0}


@pytest.mark.parametrize("frame, core, status", [
    # a request that fails several checks gets the first: BAD_LEN, BAD_ARG, BUSY, RANGE
    (req(P.Cmd.WRITE, P.write_payload(DRAM - 2, bytes(17))), BUSY_CORE, P.Status.BAD_LEN),
    (req(P.Cmd.WRITE, P.write_payload(DRAM - 2, b"abc")), BUSY_CORE, P.Status.BUSY),
    (req(P.Cmd.READ, b"\x00" * 5), BUSY_CORE, P.Status.BAD_LEN),
    (req(P.Cmd.READ, P.read_payload(DRAM + 8, 0)), BUSY_CORE, P.Status.BAD_ARG),
    (req(P.Cmd.READ, P.read_payload(DRAM + 8, 0)), {}, P.Status.BAD_ARG),
    (req(P.Cmd.READ, P.read_payload(DRAM - 4, 5)), BUSY_CORE, P.Status.BUSY),
    (req(P.Cmd.START, P.start_payload(0, 0)[:4]), BUSY_CORE, P.Status.BAD_LEN),
    (req(P.Cmd.START, P.start_payload(0, 0)), BUSY_CORE, P.Status.BAD_ARG),
    (req(P.Cmd.INFO, b"\x00"), BUSY_CORE, P.Status.BAD_LEN),
    (req(P.Cmd.ABORT, b"\x00"), {}, P.Status.BAD_LEN),
])
def test_refusal_precedence(frame, core, status):
    replies, dut, final = run([frame], core=core)
    assert replies == [(status, b"")]
    assert final == list(range(DRAM)) and dut.starts == [] and dut.resets == 0


def test_busy_core_refuses_dram_access_and_start_but_answers_status():
    replies, dut, final = run([req(P.Cmd.WRITE, P.write_payload(0, b"x")),
                               req(P.Cmd.READ, P.read_payload(0, 1)),
                               req(P.Cmd.START, P.start_payload(16, 3)),
                               req(P.Cmd.STATUS)],
                              core={"running": 1, "idle": 0, "cycles": 77})
    assert [r[0] for r in replies[:3]] == [P.Status.BUSY] * 3
    st = P.SocStatus.from_payload(replies[3][1])
    assert st.running and not st.idle and st.cycles == 77
    assert dut.starts == [] and final[0] == 0


def test_start_pulses_the_core_with_its_arguments_and_abort_resets_it():
    replies, dut, _ = run([req(P.Cmd.START, P.start_payload(0x1230, 42)),
                           req(P.Cmd.ABORT)])
    assert replies == [(P.Status.OK, b""), (P.Status.OK, b"")]
    assert dut.starts == [(0x1230, 42)]
    assert dut.resets == 1


def test_stalled_frame_times_out_and_the_next_frame_works():
    async def stall_then_info(ctx, dut, replies, receive, tick):
        br = dut.br
        for b in req(P.Cmd.READ, P.read_payload(0, 4))[:5]:  # half a frame
            ctx.set(br.rx.valid, 1)
            ctx.set(br.rx.payload, b)
            await tick(ctx)
            ctx.set(br.rx.valid, 0)
            await tick(ctx)
        replies.append(await receive(ctx, limit=2 * TIMEOUT))
        for b in req(P.Cmd.READ, P.read_payload(4, 2)):
            ctx.set(br.rx.valid, 1)
            ctx.set(br.rx.payload, b)
            await tick(ctx)
            ctx.set(br.rx.valid, 0)
            await tick(ctx)
        replies.append(await receive(ctx))

    replies, _, _ = run([], after=[stall_then_info])
    assert replies == [(P.Status.TIMEOUT, b""), (P.Status.OK, b"\x04\x05")]


def test_garbage_before_sync_is_ignored():
    frame = b"\x00\x13\xa5" + req(P.Cmd.READ, P.read_payload(7, 1))
    replies, _, _ = run([frame])
    assert replies == [(P.Status.OK, b"\x07")]


def test_sticky_range_flag_is_reported_in_status():
    # the flag comes from the DRAM: drive its input for one cycle, then ask
    async def flag_then_status(ctx, dut, replies, receive, tick):
        br = dut.br
        ctx.set(br.range_error, 1)
        await tick(ctx)
        ctx.set(br.range_error, 0)
        for b in req(P.Cmd.STATUS):
            ctx.set(br.rx.valid, 1)
            ctx.set(br.rx.payload, b)
            await tick(ctx)
        ctx.set(br.rx.valid, 0)
        replies.append(await receive(ctx))

    replies, _, _ = run([], after=[flag_then_status])
    assert P.SocStatus.from_payload(replies[0][1]).dram_range_error


def test_crc8_matches_the_reference_check_value():
    # CRC-8 (poly 0x07, init 0): the catalogue check value of b"123456789" is 0xF4
    assert P.crc8(b"123456789") == 0xF4
    assert struct.calcsize(P.INFO_FORMAT) == P.INFO_BYTES
