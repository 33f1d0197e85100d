"""Fetch dispatch timing and routing; the issue/retire control of a module."""

from __future__ import annotations

import pytest

from vta_hw import isa, timing
from vta_hw.config import DEFAULT, TINY
from vta_hw.rtl.control import IssueControl
from vta_hw.rtl.fetch import Fetch

from .helpers import Dram, run_bench

PROGRAM = [
    isa.Load(mem=isa.MemType.INP, x_size=1, y_size=1),  # load
    isa.Load(mem=isa.MemType.UOP, x_size=1, y_size=1),  # compute
    isa.Gemm(uop_end=1, iter_out=1, iter_in=1),  # compute
    isa.Store(mem=isa.MemType.OUT, x_size=1, y_size=1),  # store
    isa.Nop(module=isa.Module.STORE),  # store
    isa.Nop(module=isa.Module.LOAD),  # load
    isa.Load(mem=isa.MemType.WGT),  # load
    isa.Alu(),  # compute
    isa.Load(mem=isa.MemType.ACC8),  # compute
    isa.Finish(),  # compute
]


@pytest.mark.parametrize("cfg", [TINY, DEFAULT], ids=lambda c: c.name)
def test_fetch_routes_and_times_dispatch(cfg):
    base = 48
    image = bytearray(base) + bytearray(isa.encode_program(PROGRAM, cfg)) + bytearray(32)
    dut = Fetch(cfg)
    queues = {isa.Module.LOAD: dut.load_q, isa.Module.COMPUTE: dut.compute_q,
              isa.Module.STORE: dut.store_q}
    blocked = range(30, 75)  # the compute queue is full during these cycles
    pushes = []

    async def bench(ctx):
        port = Dram(dut.dram, image, cfg)
        ctx.set(dut.insn_addr, base)
        ctx.set(dut.insn_count, len(PROGRAM))
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for c in range(2000):
            for mod, q in queues.items():
                ctx.set(q.rdy, 0 if (mod == isa.Module.COMPUTE and c in blocked) else 1)
            port.drive(ctx, c)
            for mod, q in queues.items():
                if ctx.get(q.en):
                    pushes.append((c, mod, ctx.get(q.data)))
            port.observe(ctx, c)
            if ctx.get(dut.finished):
                return
            await ctx.tick()

    run_bench(dut, bench)
    r = timing.fetch_read_cycles(cfg)
    f, want = 0, []
    for insn in PROGRAM:
        mod = isa.module_of(insn)
        d = f + r
        while mod == isa.Module.COMPUTE and d in blocked:
            d += 1
        want.append((d, mod, isa.encode_int(insn, cfg)))
        f = d + 1
    assert pushes == want


def test_issue_control_waits_for_tokens_and_room():
    dut = IssueControl()
    log = []

    async def bench(ctx):
        # head command: pop_prev, push_next, a body the unit ends after 3 cycles
        ctx.set(dut.cmd_valid, 1)
        ctx.set(dut.pop_prev, 1)
        ctx.set(dut.push_next, 1)
        body = None
        for c in range(20):
            ctx.set(dut.cmd_valid, int(body is None))  # one command
            ctx.set(dut.prev_in.avail, int(c >= 4))  # token visible from cycle 4
            ctx.set(dut.next_out.room, int(c >= 12))  # room from cycle 12
            ctx.set(dut.body_last, int(body is not None and c == body + 3))
            if ctx.get(dut.start):
                body = c
                log.append(("issue", c, ctx.get(dut.prev_in.pop), ctx.get(dut.cmd_pop)))
            if ctx.get(dut.retire):
                log.append(("retire", c, ctx.get(dut.next_out.push)))
            await ctx.tick()

    run_bench(dut, bench)
    assert log == [("issue", 4, 1, 1), ("retire", 12, 1)]


def test_issue_control_zero_body_retires_next_cycle():
    dut = IssueControl()
    log = []

    async def bench(ctx):
        ctx.set(dut.cmd_valid, 1)
        ctx.set(dut.zero_body, 1)
        for c in range(6):
            if ctx.get(dut.issue):
                log.append(("issue", c, ctx.get(dut.start)))
            if ctx.get(dut.retire):
                log.append(("retire", c))
            await ctx.tick()

    run_bench(dut, bench)
    # back-to-back zero-body instructions: issue s, retire s + 1, next issue s + 2
    assert log == [("issue", 0, 0), ("retire", 1), ("issue", 2, 0), ("retire", 3),
                   ("issue", 4, 0), ("retire", 5)]
