"""SocMemory in Amaranth's simulator: the timing contract, cycle by cycle, on every port.

The contract (``vta_hw.rtl.dram_port``): read requests queued, beat *k* of a read burst
accepted in cycle ``q`` in cycle ``max(q + L, e + 1) + k`` (``e``: the previous burst's last
beat); write beats taken in consecutive cycles and each burst acknowledged ``L`` cycles after
its last, several acknowledges pending.  The cosim tests prove it indirectly
(equal cycle counts); this checks the beats directly, including a master that refuses beats
(the core never does, the protocol allows it), narrow beats and L = 1 to 6: each of the read
pipelines (L = 1, L = 2, L = 3 with the RAM's address registered, and L >= 4 with the RAM's
output register too: the behavioural copy has the DP16KD copy's latency, see
``test_dram_copy.py``), and host reads.
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


@pytest.mark.parametrize("lat", [1, 2, 3, 4])
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


@pytest.mark.parametrize("lat", [1, 2, 3, 4])
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


async def _read_stream(ctx, port, bursts, rng, take_rng=None, ready_cycles=None):
    """Request ``bursts`` [(addr, beats, size)] at random moments (``rng``), the master taking
    beats always or, with ``take_rng``, at random (its ready cycles appended to
    ``ready_cycles`` if given); returns (accept cycles, [(cycle, data)])."""
    t, i, accepted, got = 0, 0, [], []
    total = sum(b for _, b, _ in bursts)
    while len(got) < total:
        want = i < len(bursts) and rng.random() < 0.7
        if want:
            a, b, sz = bursts[i]
            ctx.set(port.req_addr, a)
            ctx.set(port.req_len, b)
            ctx.set(port.req_size, sz)
            ctx.set(port.req_write, 0)
        ctx.set(port.req_valid, int(want))
        ready = 1 if take_rng is None else int(take_rng.random() < 0.6)
        ctx.set(port.rd_ready, ready)
        if ready and ready_cycles is not None:
            ready_cycles.append(t)
        if want and ctx.get(port.req_ready):
            accepted.append(t)
            i += 1
        if ctx.get(port.rd_valid) and ready:
            got.append((t, ctx.get(port.rd_data)))
        await ctx.tick()
        t += 1
        assert t < 2000, "no data"
    ctx.set(port.req_valid, 0)
    return accepted, got


@pytest.mark.parametrize("lat", [1, 2, 3, 4, 6])
def test_queued_read_bursts_pay_the_latency_once(lat):
    """Several bursts in flight: each starts at max(q + L, previous end + 1), no bubbles."""
    dut = _mem(lat)
    data = bytes(random.Random(lat).randrange(256) for _ in range(512))
    rng = random.Random(lat + 10)
    bursts = [(4 * rng.randrange(100), rng.randrange(1, 6), 2) for _ in range(12)]

    async def bench(ctx):
        await _host_write(ctx, dut, 0, data)
        accepted, got = await _read_stream(ctx, dut.compute, bursts, rng)
        assert len(accepted) == len(bursts)
        expect, end = [], -1
        for q, (_, beats, _) in zip(accepted, bursts, strict=True):
            start = max(q + lat, end + 1)
            expect += [start + k for k in range(beats)]
            end = start + beats - 1
        assert [t for t, _ in got] == expect
        words = [data[a + 4 * k:a + 4 * k + 4] for a, b, _ in bursts for k in range(b)]
        assert [v.to_bytes(4, "little") for _, v in got] == words

    _run(dut, bench)


@pytest.mark.parametrize("lat", [1, 2, 3, 4])
def test_queued_bursts_to_a_refusing_master_arrive_in_order(lat):
    dut = _mem(lat, bus_log2=3)
    data = bytes(random.Random(lat).randrange(256) for _ in range(1024))
    rng = random.Random(3 * lat)
    bursts = [(8 * rng.randrange(100), rng.randrange(1, 5), rng.choice((0, 2, 3)))
              for _ in range(10)]

    async def bench(ctx):
        await _host_write(ctx, dut, 0, data)
        _, got = await _read_stream(ctx, dut.load, bursts, rng, random.Random(lat))
        beats = [(a + (k << s), 1 << s) for a, b, s in bursts for k in range(b)]
        assert len(got) == len(beats)
        for (_, v), (a, n) in zip(got, beats, strict=True):
            assert (v & ((1 << 8 * n) - 1)).to_bytes(n, "little") == data[a:a + n]

    _run(dut, bench)


@pytest.mark.parametrize("lat", [1, 2, 3, 4, 5])
def test_refused_beats_cost_only_the_refused_cycles(lat):
    """Queued bursts, a master refusing beats at random: beat j is taken in the first cycle
    the master is ready that is no earlier than its contract cycle (as if the master took
    every beat) nor than the cycle after beat j - 1 -- exactly, so the memory neither loses
    nor delays a beat nor inserts a bubble of its own (the registered RAM address of L >= 3
    has three beats in flight when the master stops, four with L >= 4's output register)."""
    dut = _mem(lat, bus_log2=3)
    data = bytes(random.Random(lat).randrange(256) for _ in range(1024))
    rng = random.Random(5 * lat)
    bursts = [(8 * rng.randrange(100), rng.randrange(1, 7), 3) for _ in range(14)]

    async def bench(ctx):
        await _host_write(ctx, dut, 0, data)
        ready: list[int] = []
        accepted, got = await _read_stream(ctx, dut.compute, bursts, rng,
                                           random.Random(lat + 1), ready)
        assert len(accepted) == len(bursts)
        ready_set, expect, end, prev = set(ready), [], -1, -1
        for q, (_, beats, _) in zip(accepted, bursts, strict=True):
            start = max(q + lat, end + 1)
            end = start + beats - 1
            for k in range(beats):
                t = max(start + k, prev + 1)
                while t not in ready_set:
                    t += 1
                    assert t <= ready[-1], "more beats expected than the master was ready for"
                expect.append(t)
                prev = t
        assert [t for t, _ in got] == expect
        words = [data[a + 8 * k:a + 8 * k + 8] for a, b, _ in bursts for k in range(b)]
        assert [v.to_bytes(8, "little") for _, v in got] == words

    _run(dut, bench)


@pytest.mark.parametrize("lat", [1, 2, 5])
def test_back_to_back_write_bursts_have_several_acks_pending(lat):
    dut = _mem(lat, bus_log2=2)
    lens = [1, 3, 1, 2, 1]

    async def bench(ctx):
        st = dut.store
        ctx.set(dut.host_owns, 0)
        t, i, sent, lasts, acks, word = 0, 0, 0, [], [], 0
        while len(acks) < len(lens):
            if i < len(lens):
                ctx.set(st.req_valid, int(sent == 0))
                ctx.set(st.req_addr, 512 + 4 * sum(lens[:i]))
                ctx.set(st.req_len, lens[i])
                ctx.set(st.req_size, 2)
                ctx.set(st.req_write, 1)
                ctx.set(st.wr_valid, 1)
                ctx.set(st.wr_data, 0xA0000000 + word)
            else:
                ctx.set(st.req_valid, 0)
                ctx.set(st.wr_valid, 0)
            if ctx.get(st.wr_ack):
                acks.append(t)
            if i < len(lens) and (sent or ctx.get(st.req_ready)) and ctx.get(st.wr_ready):
                sent += 1
                word += 1
                if sent == lens[i]:
                    lasts.append(t)
                    i, sent = i + 1, 0
            await ctx.tick()
            t += 1
            assert t < 200, "no acknowledge"
        assert acks == [e + lat for e in lasts]
        # the bursts went back to back: the next request the cycle after a last beat
        assert lasts == [sum(lens[:k + 1]) - 1 for k in range(len(lens))]
        ctx.set(st.wr_valid, 0)
        await ctx.tick()
        _, got = await _read_burst(ctx, dut.fetch, 512, sum(lens), 2)
        assert [v for _, v in got] == [0xA0000000 + k for k in range(sum(lens))]

    _run(dut, bench)


@pytest.mark.parametrize("lat", [1, 2, 3, 5])
def test_host_reads_a_byte_three_cycles_later(lat):
    """HostMemPort: a read in cycle t is on ``rdata`` from t + 3 until the next read (the
    previous read's byte until then)."""
    dut = _mem(lat, bus_log2=3)
    data = bytes((37 * i + lat) % 256 for i in range(64))  # distinct bytes

    async def bench(ctx):
        await _host_write(ctx, dut, 128, data)
        ctx.set(dut.host_owns, 1)
        before = None
        for at in (128, 135, 136, 128 + 63):
            ctx.set(dut.host.addr, at)
            ctx.set(dut.host.re, 1)
            await ctx.tick()
            ctx.set(dut.host.re, 0)
            await ctx.tick()
            if before is not None:  # t + 2: still the previous byte
                assert ctx.get(dut.host.rdata) == before
            await ctx.tick()
            assert ctx.get(dut.host.rdata) == data[at - 128]  # t + 3
            await ctx.tick()
            assert ctx.get(dut.host.rdata) == data[at - 128]
            before = data[at - 128]
        ctx.set(dut.host_owns, 0)

    _run(dut, bench)
