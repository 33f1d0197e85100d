"""The 2-D DMAs: every element lands where the ISA says, in the cycle the timing model says."""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.lib.memory import Memory
from hypothesis import given, settings
from hypothesis import strategies as st

from vta_hw import isa, timing
from vta_hw.config import DEFAULT, TINY
from vta_hw.rtl.dma import ReadDma, WriteDma

from .helpers import Dram, encode, run_bench

WIDEBUS = TINY.replace(name="widebus", log_dram_bytes_per_cycle=6, dram_latency=1)
SLOWBUS = TINY.replace(name="slowbus", log_dram_bytes_per_cycle=0, dram_latency=9)


def read_schedule(cfg, insn: isa.Load, s: int):
    """(cycle, sram address, (y, x) or None for a pad) of every element, and the last cycle.

    The walk of ``docs/timing.md``: pads one cycle, data elements ``ec`` cycles, the whole walk
    ``L`` cycles after the body's start when the LOAD reads DRAM at all.
    """
    e = isa.elem_bytes(cfg, insn.mem)
    ec = timing.elem_cycles(cfg, e)
    reads = insn.x_size > 0 and insn.y_size > 0
    t, addr, ev = s + 1 + (cfg.dram_latency if reads else 0), insn.sram_base, []
    for r in range(insn.rows):
        y = r - insn.y_pad_0
        data = 0 <= y < insn.y_size and insn.x_size > 0
        for c in range(insn.cols):
            x = c - insn.x_pad_0
            if data and 0 <= x < insn.x_size:
                ev.append((t + ec - 1, addr, (y, x)))
                t += ec
            else:
                ev.append((t, addr, None))
                t += 1
            addr += 1
    return ev, t - 1


def run_read(cfg, insn: isa.Load, dram: bytes, rng=None):
    kinds = (isa.MemType.INP, isa.MemType.WGT)
    dut = ReadDma(cfg, kinds)
    writes, last = [], []

    async def bench(ctx):
        port = Dram(dut.dram, bytearray(dram), cfg, rng=rng)
        ctx.set(dut.cmd.as_value(), encode(insn, cfg))
        ctx.set(dut.start, 1)
        for c in range(20000):
            port.drive(ctx, c)
            if ctx.get(dut.wr_en):
                writes.append((c, ctx.get(dut.wr_addr), ctx.get(dut.wr_pad),
                               ctx.get(dut.wr_data), ctx.get(dut.pad_value)))
            if ctx.get(dut.last):
                last.append(c)
                return
            port.observe(ctx, c)
            await ctx.tick()
            ctx.set(dut.start, 0)

    run_bench(dut, bench)
    return writes, last[0]


def _check_read(cfg, insn, seed=0, backpressure=False):
    e = isa.elem_bytes(cfg, insn.mem)
    base_bytes = insn.dram_base * e
    size = base_bytes + (insn.y_size * max(insn.x_stride, insn.x_size) + 4) * e
    dram = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    writes, last = run_read(cfg, insn, dram, random.Random(seed) if backpressure else None)
    ev, want_last = read_schedule(cfg, insn, 0)
    assert len(writes) == len(ev) == insn.sram_elems
    for (c, addr, pad, data, padv), (wc, waddr, what) in zip(writes, ev, strict=True):
        assert addr == waddr
        if what is None:
            assert pad == 1 and padv == insn.pad_value
        else:
            y, x = what
            a = (insn.dram_base + y * insn.x_stride + x) * e
            assert pad == 0 and (data & ((1 << 8 * e) - 1)) == int.from_bytes(dram[a:a + e],
                                                                              "little")
        if not backpressure:
            assert c == wc
    if not backpressure:
        assert last == want_last == timing.dma_cost(cfg, insn).total


@pytest.mark.parametrize("cfg", [TINY, DEFAULT, WIDEBUS, SLOWBUS], ids=lambda c: c.name)
@pytest.mark.parametrize("mem", [isa.MemType.INP, isa.MemType.WGT])
def test_read_dma_padded_strided(cfg, mem):
    insn = isa.Load(mem=mem, sram_base=3, dram_base=5, y_size=3, x_size=2, x_stride=4,
                    y_pad_0=1, y_pad_1=2, x_pad_0=2, x_pad_1=1, pad_value=-7)
    _check_read(cfg, insn)


def test_read_dma_only_pads_and_zero_width_rows():
    cfg = TINY
    _check_read(cfg, isa.Load(mem=isa.MemType.INP, y_size=2, x_size=0, x_pad_0=1, x_pad_1=2,
                              pad_value=5))
    _check_read(cfg, isa.Load(mem=isa.MemType.WGT, y_size=0, x_size=3, y_pad_0=1,
                              pad_value=-1))


def test_read_dma_backpressure_same_data():
    insn = isa.Load(mem=isa.MemType.WGT, sram_base=1, dram_base=2, y_size=3, x_size=3,
                    x_stride=5, x_pad_0=1, y_pad_1=1, pad_value=9)
    for seed in range(3):
        _check_read(TINY, insn, seed, backpressure=True)


@settings(max_examples=12, deadline=None)
@given(st.integers(1, 3), st.integers(0, 4), st.integers(0, 3), st.integers(0, 2),
       st.integers(0, 2), st.integers(0, 2), st.integers(0, 2), st.sampled_from([0, 1]))
def test_read_dma_random_geometry(y, x, extra_stride, yp0, yp1, xp0, xp1, kind):
    mem = (isa.MemType.INP, isa.MemType.WGT)[kind]
    insn = isa.Load(mem=mem, sram_base=7, dram_base=3, y_size=y, x_size=x,
                    x_stride=x + extra_stride, y_pad_0=yp0, y_pad_1=yp1, x_pad_0=xp0,
                    x_pad_1=xp1, pad_value=-100)
    if insn.sram_elems == 0:
        return
    _check_read(TINY, insn)


class _StoreRig(Elaboratable):
    def __init__(self, cfg, init):
        self.dma = WriteDma(cfg)
        self.mem = Memory(shape=8 * cfg.out_elem_bytes, depth=cfg.out_buff_depth, init=init)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dma = self.dma
        m.submodules.mem = self.mem
        rp = self.mem.read_port()
        m.d.comb += [rp.addr.eq(self.dma.rd_addr), rp.en.eq(self.dma.rd_en),
                     self.dma.rd_data.eq(rp.data)]
        return m


def _check_store(cfg, insn: isa.Store, seed=0, backpressure=False):
    e = cfg.out_elem_bytes
    rng = np.random.default_rng(seed)
    out = [int(v) for v in rng.integers(0, 2**63, cfg.out_buff_depth, dtype=np.uint64)]
    out = [v & ((1 << 8 * e) - 1) for v in out]
    rig = _StoreRig(cfg, out)
    size = (insn.dram_base + insn.y_size * max(insn.x_stride, insn.x_size) + 4) * e
    mem = bytearray(size)
    last = []

    async def bench(ctx):
        port = Dram(rig.dma.dram, mem, cfg, rng=random.Random(seed) if backpressure else None)
        ctx.set(rig.dma.cmd.as_value(), encode(insn, cfg))
        ctx.set(rig.dma.start, 1)
        for c in range(20000):
            port.drive(ctx, c)
            if ctx.get(rig.dma.last):
                last.append(c)
            port.observe(ctx, c)
            await ctx.tick()
            ctx.set(rig.dma.start, 0)
            if last:
                return

    run_bench(rig, bench)
    want = bytearray(size)
    for y in range(insn.y_size):
        for x in range(insn.x_size):
            a = (insn.dram_base + y * insn.x_stride + x) * e
            want[a:a + e] = out[insn.sram_base + y * insn.x_size + x].to_bytes(e, "little")
    assert mem == want
    if not backpressure:
        assert last[0] == timing.dma_cost(cfg, insn).total


@pytest.mark.parametrize("cfg", [TINY, DEFAULT, WIDEBUS, SLOWBUS], ids=lambda c: c.name)
def test_write_dma_rows(cfg):
    _check_store(cfg, isa.Store(mem=isa.MemType.OUT, sram_base=4, dram_base=3, y_size=3,
                                x_size=3, x_stride=5))


def test_write_dma_overlapping_rows_and_backpressure():
    insn = isa.Store(mem=isa.MemType.OUT, sram_base=0, dram_base=1, y_size=3, x_size=4,
                     x_stride=2)
    _check_store(TINY, insn)
    for seed in range(3):
        _check_store(TINY, insn, seed, backpressure=True)
