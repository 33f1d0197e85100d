"""Command and token queues keep the visibility rules of docs/timing.md."""

from __future__ import annotations

from vta_hw.rtl.queues import CommandQueue, TokenQueue

from .helpers import run_bench


def test_token_queue_visibility_and_full():
    dut = TokenQueue(2)
    log = []

    async def bench(ctx):
        # cycle 0: push; not yet visible
        ctx.set(dut.w.push, 1)
        log.append(("c0 avail", ctx.get(dut.r.avail)))
        await ctx.tick()
        # cycle 1: visible now; push again (level 1 -> 2)
        log.append(("c1 avail", ctx.get(dut.r.avail)))
        await ctx.tick()
        # cycle 2: full: no room; a pop this cycle frees a slot only from cycle 3
        ctx.set(dut.w.push, 0)
        log.append(("c2 room", ctx.get(dut.w.room)))
        ctx.set(dut.r.pop, 1)
        await ctx.tick()
        ctx.set(dut.r.pop, 0)
        log.append(("c3 room", ctx.get(dut.w.room)))
        log.append(("c3 level", ctx.get(dut.level)))
        # push and pop in the same cycle keep the level
        ctx.set(dut.w.push, 1)
        ctx.set(dut.r.pop, 1)
        await ctx.tick()
        ctx.set(dut.w.push, 0)
        ctx.set(dut.r.pop, 0)
        log.append(("c4 level", ctx.get(dut.level)))
        # pop of an empty queue is ignored
        ctx.set(dut.r.pop, 1)
        await ctx.tick()
        ctx.set(dut.r.pop, 1)
        await ctx.tick()
        ctx.set(dut.r.pop, 0)
        log.append(("c6 level", ctx.get(dut.level)))

    run_bench(dut, bench)
    assert log == [("c0 avail", 0), ("c1 avail", 1), ("c2 room", 0), ("c3 room", 1),
                   ("c3 level", 1), ("c4 level", 1), ("c6 level", 0)]


def test_token_queue_push_into_full_waits_even_when_popped():
    dut = TokenQueue(1)
    seen = []

    async def bench(ctx):
        ctx.set(dut.w.push, 1)
        await ctx.tick()
        # full; pop and try to push in the same cycle: the push is refused (room from level)
        ctx.set(dut.r.pop, 1)
        seen.append(ctx.get(dut.w.room))
        await ctx.tick()
        ctx.set(dut.r.pop, 0)
        seen.append(ctx.get(dut.level))

    run_bench(dut, bench)
    assert seen == [0, 0]


def test_command_queue_fifo_order_and_visibility():
    dut = CommandQueue(4)
    got = []

    async def bench(ctx):
        for i in range(5):
            ctx.set(dut.w.data, 100 + i)
            ctx.set(dut.w.en, 1)
            rdy = ctx.get(dut.w.rdy)
            got.append(("rdy", i, rdy))
            if i == 0:
                assert ctx.get(dut.r.valid) == 0
            await ctx.tick()
        ctx.set(dut.w.en, 0)
        assert ctx.get(dut.level) == 4
        while ctx.get(dut.r.valid):
            got.append(("pop", ctx.get(dut.r.data)))
            ctx.set(dut.r.en, 1)
            await ctx.tick()
        ctx.set(dut.r.en, 0)

    run_bench(dut, bench)
    assert [g for g in got if g[0] == "rdy"] == [("rdy", i, int(i < 4)) for i in range(5)]
    assert [g[1] for g in got if g[0] == "pop"] == [100, 101, 102, 103]
