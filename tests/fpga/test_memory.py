"""SocMemory in Amaranth's simulator: the timing contract, cycle by cycle, on every port.

The contract (``vta_hw.rtl.dram_port``): ready whenever no burst is in flight; read beat *k*
of a request accepted in cycle ``q`` in cycle ``q + L + k``; write beats taken in consecutive
cycles and acknowledged ``L`` cycles after the last.  The cosim tests prove it indirectly
(equal cycle counts); this checks the beats directly, including a master that refuses beats
(the core never does, the protocol allows it), narrow beats and L = 1, 2 and 4.
"""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from vta_hw.config import TINY
from vta_hw.soc.memory import READERS, SocMemory

DRAM = 4096


def _mem(lat: int, bus_log2: int = 2) -> SocMemory:
    return SocMemory(TINY.replace(dram_latency=lat, log_dram_bytes_per_cycle=bus_log2), DRAM)


def _run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


async def _host_write(ctx, dut, addr, data):
    ctx.set(dut.host_owns, 1)
    for i, b in enumerate(data):
        ctx.set(dut.host.addr, addr + i)
        ctx.set(dut.host.wdata, b)
        ctx.set(dut.host.we, 1)
        await ctx.tick()
    ctx.set(dut.host.we, 0)
    await ctx.tick()
    await ctx.tick()
    ctx.set(dut.host_owns, 0)


async def _read_burst(ctx, port, addr, beats, size, rng=None):
    """Request a burst; returns (accept cycle, [(cycle, data)]) counting from the call."""
    t = 0
    ctx.set(port.req_valid, 1)
    ctx.set(port.req_addr, addr)
    ctx.set(port.req_len, beats)
    ctx.set(port.req_size, size)
    ctx.set(port.req_write, 0)
    while not ctx.get(port.req_ready):
        await ctx.tick()
        t += 1
    q = t
    await ctx.tick()
    t += 1
    ctx.set(port.req_valid, 0)
    got = []
    while len(got) < beats:
        ready = 1 if rng is None else int(rng.random() < 0.5)
        ctx.set(port.rd_ready, ready)
        if ctx.get(port.rd_valid) and ready:
            got.append((t, ctx.get(port.rd_data)))
        await ctx.tick()
        t += 1
        assert t < 1000, "no data"
    ctx.set(port.rd_ready, 0)
    return q, got


@pytest.mark.parametrize("lat", [1, 2, 4])
@pytest.mark.parametrize("reader", READERS)
def test_read_beats_arrive_exactly_on_contract(lat, reader):
    dut = _mem(lat)
    data = bytes(range(7, 7 + 64))

    async def bench(ctx):
        await _host_write(ctx, dut, 256, data)
        port = getattr(dut, reader)
        q, got = await _read_burst(ctx, port, 256, 8, 2)
        assert [t - q for t, _ in got] == [lat + k for k in range(8)]
        assert b"".join(v.to_bytes(4, "little") for _, v in got) == data[:32]
        # ready again the cycle after the last beat: a second burst, narrow 1-byte beats
        q2, got2 = await _read_burst(ctx, port, 256 + 5, 3, 0)
        assert q2 == 0 and [t - q2 for t, _ in got2] == [lat, lat + 1, lat + 2]
        assert [v & 0xFF for _, v in got2] == list(data[5:8])

    _run(dut, bench)


@pytest.mark.parametrize("lat", [1, 2, 4])
def test_a_master_that_refuses_beats_gets_every_beat_in_order(lat):
    dut = _mem(lat, bus_log2=3)
    data = bytes(random.Random(lat).randrange(256) for _ in range(128))

    async def bench(ctx):
        await _host_write(ctx, dut, 0, data)
        q, got = await _read_burst(ctx, dut.load, 8, 12, 3, rng=random.Random(7))
        assert b"".join(v.to_bytes(8, "little") for _, v in got) == data[8:104]
        assert all(t - q >= lat + k for k, (t, _) in enumerate(got))

    _run(dut, bench)


@pytest.mark.parametrize("lat", [1, 2, 4])
def test_write_burst_is_acknowledged_l_cycles_after_its_last_beat(lat):
    dut = _mem(lat, bus_log2=3)

    async def bench(ctx):
        st = dut.store
        ctx.set(dut.host_owns, 0)
        ctx.set(st.req_valid, 1)
        ctx.set(st.req_addr, 64 + 4)
        ctx.set(st.req_len, 3)
        ctx.set(st.req_size, 2)  # 4-byte beats on an 8-byte bus: byte lanes 4..7, 0..3, ...
        ctx.set(st.req_write, 1)
        ctx.set(st.wr_valid, 1)
        t, sent, ack = 0, 0, None
        while ack is None:
            assert ctx.get(st.req_ready) or t > 0
            ctx.set(st.wr_data, 0x11223344 + sent)
            if ctx.get(st.wr_valid) and ctx.get(st.wr_ready):
                sent += 1
                last = t
            if ctx.get(st.wr_ack):
                ack = t
            await ctx.tick()
            t += 1
            ctx.set(st.req_valid, 0)
            ctx.set(st.wr_valid, int(sent < 3))
        assert last == 2 and ack == last + lat
        assert ctx.get(st.req_ready)  # free again the cycle after the acknowledge
        # every copy holds the words: read them back through each reader
        for r in READERS:
            _, got = await _read_burst(ctx, getattr(dut, r), 64, 2, 3)
            assert got[0][1] == (0x11223344 << 32) and got[1][1] == (0x11223346 << 32
                                                                      | 0x11223345)

    _run(dut, bench)


def test_out_of_range_burst_raises_the_flag():
    dut = _mem(4)

    async def bench(ctx):
        seen = 0
        port = dut.fetch
        ctx.set(port.req_valid, 1)
        ctx.set(port.req_addr, DRAM - 8)
        ctx.set(port.req_len, 4)
        ctx.set(port.req_size, 2)
        for _ in range(3):
            await ctx.tick()
            ctx.set(port.req_valid, 0)
            seen |= ctx.get(dut.range_error)
        assert seen

    _run(dut, bench)
