"""Load, compute and store modules on their own: buffer contents against the golden
reference machine, issue and retire cycles against the timing model."""

from __future__ import annotations

from collections import deque
from dataclasses import replace

import numpy as np
import pytest

from tests.reference import RefMachine, sat8
from vta_hw import isa, timing
from vta_hw.config import TINY, WIDE
from vta_hw.rtl.compute import Compute
from vta_hw.rtl.load import Load
from vta_hw.rtl.store import Store

from .helpers import Dram, UnitRig, encode, lanes, pack, run_bench

P2 = TINY.replace(name="p2", gemm_pipeline_depth=2, alu_pipeline_depth=2)
P7 = TINY.replace(name="p7", gemm_pipeline_depth=7, alu_pipeline_depth=6)


def _with_pushes(insn: isa.Insn, flag: str) -> isa.Insn:
    return replace(insn, **{flag: True})


def run_unit(rig: UnitRig, unit, cfg, insns, dram: bytearray, push_port, max_cycles=5000):
    """Feed ``insns`` through the unit's command port; returns [(issue, retire)] and the
    rig's buffers (as packed ints) at the end."""
    todo = deque(encode(i, cfg) for i in insns)
    log: list[list[int]] = []
    mems = {}

    async def bench(ctx):
        port = Dram(unit.dram, dram, cfg)
        for tok in ("prev_in", "next_in"):
            if hasattr(unit, tok):
                ctx.set(getattr(unit, tok).avail, 1)
        for tok in ("prev_out", "next_out"):
            if hasattr(unit, tok):
                ctx.set(getattr(unit, tok).room, 1)
        popped = False
        for c in range(max_cycles):
            if popped:
                todo.popleft()
            ctx.set(unit.cmd.valid, int(bool(todo)))
            ctx.set(unit.cmd.data, todo[0] if todo else 0)
            port.drive(ctx, c)
            popped = bool(ctx.get(unit.cmd.en))
            if popped:
                log.append([c])
            if ctx.get(push_port.push):
                log[-1].append(c)
            port.observe(ctx, c)
            if not todo and len(log) == len(insns) and len(log[-1]) == 2:
                break
            await ctx.tick()
        for name in ("inp", "wgt", "out"):
            mem = getattr(rig, name)
            mems[name] = [ctx.get(mem.data[i]) for i in range(mem.depth)]

    run_bench(rig, bench)
    return [tuple(x) for x in log], mems


def _expected_times(cfg, insns):
    out, s = [], 0
    for insn in insns:
        r = s + timing.body_cost(cfg, insn).total + 1
        out.append((s, r))
        s = r + 1
    return out


def _rand_image(cfg, seed=0, nbytes=4096):
    return bytearray(np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8))


@pytest.mark.parametrize("cfg", [TINY, WIDE], ids=lambda c: c.name)
def test_load_module_fills_inp_and_wgt(cfg):
    insns = [
        isa.Load(mem=isa.MemType.INP, sram_base=2, dram_base=3, y_size=2, x_size=3,
                 x_stride=4, y_pad_0=1, x_pad_1=1, pad_value=-2),
        isa.Nop(module=isa.Module.LOAD),
        isa.Load(mem=isa.MemType.WGT, sram_base=1, dram_base=1, y_size=2, x_size=2,
                 x_stride=3, x_pad_0=1, pad_value=3),
        isa.Load(mem=isa.MemType.INP, sram_base=30, y_size=0, x_size=0),
    ]
    insns = [_with_pushes(i, "push_next") for i in insns]
    dram = _rand_image(cfg)
    unit = Load(cfg)
    rig = UnitRig(unit, cfg)
    times, mems = run_unit(rig, unit, cfg, insns, dram, unit.next_out)
    assert times == _expected_times(cfg, insns)
    ref = RefMachine(cfg, bytearray(dram))
    ref.run(insns)
    assert mems["inp"] == [pack(v, 8) for v in ref.inp]
    assert mems["wgt"] == [pack(v, 8) for v in ref.wgt]


def _compute_program(cfg, dram: bytearray):
    """uop/acc/acc8 loads, GEMM (reset and accumulate) and ALU ops, hazard-free for any
    pipeline depth (no accumulator is reused within an instruction)."""
    uops = [isa.Uop(dst=i, src=i % 3, wgt=i % 2) for i in range(4)]
    ua = 64
    dram[ua * 4:(ua + len(uops)) * 4] = b"".join(isa.encode_uop(u, cfg).to_bytes(4, "little")
                                                  for u in uops)
    return [
        isa.Load(mem=isa.MemType.UOP, sram_base=0, dram_base=ua, y_size=1, x_size=4,
                 x_stride=4),
        isa.Load(mem=isa.MemType.ACC, sram_base=8, dram_base=2, y_size=2, x_size=2,
                 x_stride=3, x_pad_0=1, pad_value=-5),
        isa.Load(mem=isa.MemType.ACC8, sram_base=16, dram_base=1, y_size=1, x_size=3,
                 x_stride=3, y_pad_1=1, pad_value=7),
        isa.Gemm(reset=True, uop_bgn=0, uop_end=4, iter_out=1, iter_in=1),
        isa.Gemm(uop_bgn=0, uop_end=4, iter_out=2, iter_in=3, dst_factor_out=12,
                 dst_factor_in=4, src_factor_in=1, wgt_factor_out=1),
        isa.Alu(uop_bgn=0, uop_end=4, iter_out=1, iter_in=2, dst_factor_in=4,
                alu_op=isa.AluOp.RSHR, use_imm=True, imm=3),
        isa.Alu(uop_bgn=0, uop_end=2, iter_out=2, iter_in=1, dst_factor_out=8,
                src_factor_out=16, alu_op=isa.AluOp.MAX),
        isa.Alu(uop_bgn=1, uop_end=3, iter_out=1, iter_in=2, dst_factor_in=16,
                alu_op=isa.AluOp.MUL, use_imm=True, imm=-3),
        isa.Alu(uop_bgn=0, uop_end=4, iter_out=1, iter_in=1, reset=True),
        isa.Gemm(uop_bgn=0, uop_end=0, iter_out=1, iter_in=1),
        isa.Finish(),
    ]


@pytest.mark.parametrize("cfg", [TINY, P2, P7], ids=lambda c: c.name)
def test_compute_module_against_reference(cfg):
    rng = np.random.default_rng(5)
    dram = _rand_image(cfg, 1)
    insns = [_with_pushes(i, "push_next") for i in _compute_program(cfg, dram)]
    b, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
    inp = [[int(v) for v in rng.integers(-128, 128, b * bi)] for _ in range(cfg.inp_buff_depth)]
    wgt = [[int(v) for v in rng.integers(-128, 128, bo * bi)] for _ in range(cfg.wgt_buff_depth)]
    unit = Compute(cfg)
    rig = UnitRig(unit, cfg, inp=[pack(v, 8) for v in inp], wgt=[pack(v, 8) for v in wgt])
    times, mems = run_unit(rig, unit, cfg, insns, dram, unit.next_out)
    assert times == _expected_times(cfg, insns)
    ref = RefMachine(cfg, bytearray(dram))
    ref.inp = inp
    ref.wgt = wgt
    ref.run(insns)
    want = [[sat8(v) for v in row] for row in ref.acc[:cfg.out_buff_depth]]
    # out mirrors every acc write; never-written entries stay zero in both
    got = [lanes(v, b * bo, 8) for v in mems["out"]]
    assert got == want


@pytest.mark.parametrize("cfg", [TINY, WIDE], ids=lambda c: c.name)
def test_store_module_writes_dram(cfg):
    rng = np.random.default_rng(9)
    n = cfg.batch * cfg.block_out
    out = [[int(v) for v in rng.integers(-128, 128, n)] for _ in range(cfg.out_buff_depth)]
    insns = [
        isa.Store(mem=isa.MemType.OUT, sram_base=3, dram_base=2, y_size=2, x_size=3,
                  x_stride=4),
        isa.Nop(module=isa.Module.STORE),
        isa.Store(mem=isa.MemType.OUT, sram_base=20, dram_base=40, y_size=3, x_size=1,
                  x_stride=1),
        isa.Store(mem=isa.MemType.OUT, sram_base=20, dram_base=40, y_size=0, x_size=1),
    ]
    insns = [_with_pushes(i, "push_prev") for i in insns]
    dram = bytearray(4096)
    unit = Store(cfg)
    rig = UnitRig(unit, cfg, out=[pack(v, 8) for v in out])
    times, _ = run_unit(rig, unit, cfg, insns, dram, unit.prev_out)
    assert times == _expected_times(cfg, insns)
    ref = RefMachine(cfg, bytearray(4096))
    ref.out = out
    ref.run(insns)
    assert dram == ref.dram
