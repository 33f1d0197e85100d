"""Hand-written programs: each exercises one mechanism, for every config preset.

Used by the simulator's tests (data and timing) and by RTL co-simulation (same DRAM bytes,
same cycles).  Each entry maps a name to ``cfg -> Bundle``; inputs are random but seeded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from vta_hw import isa
from vta_hw.bundle import Bundle, BundleBuilder
from vta_hw.config import HwConfig
from vta_sim.workloads import blocked_matmul

M = isa.MemType
A = isa.AluOp


def _rand(cfg: HwConfig, nbytes: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8).tobytes()


def _builder(cfg: HwConfig, seed: int = 1) -> tuple[BundleBuilder, dict[str, int]]:
    """Input data for every memory type plus an output area; returns element bases."""
    bb = BundleBuilder(cfg)
    inp = bb.add("inp", _rand(cfg, 16 * cfg.inp_elem_bytes, seed))
    wgt = bb.add("wgt", _rand(cfg, 8 * cfg.wgt_elem_bytes, seed + 1))
    acc = bb.add("acc", _rand(cfg, 16 * cfg.acc_elem_bytes, seed + 2))
    out = bb.alloc("out", 32 * cfg.out_elem_bytes)
    return bb, {"inp": inp.addr // cfg.inp_elem_bytes, "wgt": wgt.addr // cfg.wgt_elem_bytes,
                "acc": acc.addr // cfg.acc_elem_bytes, "acc8": acc.addr // cfg.out_elem_bytes,
                "out": out.addr // cfg.out_elem_bytes}


def _uops(bb: BundleBuilder, name: str, uops: list[isa.Uop]) -> isa.Load:
    r = bb.add_uops(name, uops)
    return isa.Load(mem=M.UOP, dram_base=r.addr // 4, y_size=1, x_size=len(uops),
                    x_stride=len(uops))


def _done(bb: BundleBuilder, insns: list[isa.Insn], name: str) -> Bundle:
    bb.set_program(insns)
    return bb.build({"corpus": name})


def finish_only(cfg: HwConfig) -> Bundle:
    bb, _ = _builder(cfg)
    return _done(bb, [isa.Finish()], "finish_only")


def single_load(cfg: HwConfig) -> Bundle:
    bb, base = _builder(cfg)
    return _done(bb, [isa.Load(mem=M.INP, dram_base=base["inp"], y_size=1, x_size=4,
                               x_stride=4), isa.Finish()], "single_load")


def load_acc_store(cfg: HwConfig) -> Bundle:
    """Strided, padded acc load mirrored to out (saturated) and stored."""
    bb, base = _builder(cfg)
    insns = [
        isa.Load(mem=M.ACC, sram_base=0, dram_base=base["acc"], y_size=2, x_size=3,
                 x_stride=5, y_pad_0=1, x_pad_1=2, pad_value=-7, push_next=True),
        isa.Store(sram_base=0, dram_base=base["out"], y_size=3, x_size=5, x_stride=6,
                  pop_prev=True, push_prev=True),
        isa.Finish(pop_next=True),
    ]
    return _done(bb, insns, "load_acc_store")


def load_acc8_store(cfg: HwConfig) -> Bundle:
    bb, base = _builder(cfg)
    insns = [
        isa.Load(mem=M.ACC8, sram_base=3, dram_base=base["acc8"], y_size=3, x_size=2,
                 x_stride=2, x_pad_0=1, y_pad_1=1, pad_value=-128, push_next=True),
        isa.Store(sram_base=3, dram_base=base["out"], y_size=1, x_size=12, x_stride=12,
                  pop_prev=True, push_prev=True),
        isa.Finish(pop_next=True),
    ]
    return _done(bb, insns, "load_acc8_store")


def gemm_basic(cfg: HwConfig) -> Bundle:
    """Inputs and weights loaded, a reset and an accumulating GEMM over two affine loops."""
    bb, base = _builder(cfg)
    n_out = max(4, cfg.gemm_pipeline_depth)
    uops = [isa.Uop(dst=i, src=i % 4, wgt=i % 2) for i in range(n_out)]
    insns = [
        isa.Load(mem=M.INP, sram_base=0, dram_base=base["inp"], y_size=2, x_size=4,
                 x_stride=4),
        isa.Load(mem=M.WGT, sram_base=0, dram_base=base["wgt"], y_size=1, x_size=6,
                 x_stride=6, push_next=True),
        _uops(bb, "uops", uops),
        isa.Gemm(reset=True, uop_bgn=0, uop_end=n_out, iter_out=1, iter_in=1),
        isa.Gemm(uop_bgn=0, uop_end=n_out, iter_out=2, iter_in=2, src_factor_out=4,
                 src_factor_in=1, wgt_factor_out=2, wgt_factor_in=1, pop_prev=True,
                 push_next=True),
        isa.Store(sram_base=0, dram_base=base["out"], y_size=1, x_size=n_out, x_stride=n_out,
                  pop_prev=True, push_prev=True),
        isa.Finish(pop_next=True),
    ]
    return _done(bb, insns, "gemm_basic")


def gemm_overwrite_outmode(cfg: HwConfig) -> Bundle:
    """An overwrite GEMM over random accumulators, then accumulating GEMMs under two OUTMODEs
    (rounding shift with ReLU, then a shift without), and an ALU write (plain saturation)."""
    bb, base = _builder(cfg, seed=5)
    n = max(6, 2 * cfg.gemm_pipeline_depth)
    uops = [isa.Uop(dst=i, src=i % 5, wgt=i % 3) for i in range(n)]
    insns = [
        isa.Load(mem=M.ACC, sram_base=0, dram_base=base["acc"], y_size=1, x_size=min(n, 16),
                 x_stride=16),
        isa.Load(mem=M.INP, sram_base=0, dram_base=base["inp"], y_size=1, x_size=8,
                 x_stride=8),
        isa.Load(mem=M.WGT, sram_base=0, dram_base=base["wgt"], y_size=1, x_size=6,
                 x_stride=6, push_next=True),
        _uops(bb, "uops", uops),
        isa.Gemm(overwrite=True, uop_bgn=0, uop_end=n, iter_out=1, iter_in=1, pop_prev=True),
        isa.Alu(alu_op=A.OUTMODE, use_imm=True, imm=isa.out_mode_imm(5, True)),
        isa.Gemm(uop_bgn=0, uop_end=n // 2, iter_out=2, iter_in=1, src_factor_out=1,
                 wgt_factor_out=1),
        isa.Alu(alu_op=A.OUTMODE, use_imm=True, imm=isa.out_mode_imm(2, False)),
        isa.Gemm(uop_bgn=n // 2, uop_end=n, iter_out=1, iter_in=2, src_factor_in=2),
        isa.Gemm(overwrite=True, uop_bgn=0, uop_end=1, iter_out=1, iter_in=1,
                 dst_factor_in=0),
        isa.Alu(alu_op=A.ADD, use_imm=True, imm=-300, uop_bgn=1, uop_end=2, iter_out=1,
                iter_in=1, push_next=True),
        isa.Store(sram_base=0, dram_base=base["out"], y_size=1, x_size=n, x_stride=n,
                  pop_prev=True, push_prev=True),
        isa.Finish(pop_next=True),
    ]
    return _done(bb, insns, "gemm_overwrite_outmode")


def alu_all_ops(cfg: HwConfig) -> Bundle:
    """Every ALU op with an immediate and with a tensor operand, on random int32 data."""
    bb, base = _builder(cfg)
    uops = [isa.Uop(dst=i, src=8 + i) for i in range(8)]
    insns: list[isa.Insn] = [
        isa.Load(mem=M.ACC, sram_base=0, dram_base=base["acc"], y_size=1, x_size=16,
                 x_stride=16),
        _uops(bb, "uops", uops),
    ]
    imms = {A.MIN: -3, A.MAX: 5, A.ADD: 32767, A.SHR: 3, A.MUL: -32768, A.RSHR: 7, A.MOV: -1,
            A.OUTMODE: isa.out_mode_imm(3, True)}
    for op in A:
        insns.append(isa.Alu(alu_op=op, use_imm=True, imm=imms[op], uop_bgn=0, uop_end=4,
                             iter_out=1, iter_in=1))
        if op != A.OUTMODE:  # its mode is always the immediate
            insns.append(isa.Alu(alu_op=op, uop_bgn=4, uop_end=8, iter_out=1, iter_in=1))
    insns[-1] = dataclasses.replace(insns[-1], push_next=True)
    insns += [isa.Store(sram_base=0, dram_base=base["out"], y_size=1, x_size=16, x_stride=16,
                        pop_prev=True, push_prev=True),
              isa.Finish(pop_next=True)]
    return _done(bb, insns, "alu_all_ops")


def alu_shift_edges(cfg: HwConfig) -> Bundle:
    """Shifts by every amount class: negative (left), zero, 31, and out-of-field values."""
    bb, base = _builder(cfg)
    insns: list[isa.Insn] = [
        isa.Load(mem=M.ACC, sram_base=0, dram_base=base["acc"], y_size=1, x_size=16,
                 x_stride=16),
        _uops(bb, "uops", [isa.Uop(dst=i) for i in range(16)]),
    ]
    for k, s in enumerate((-5, 0, 31, 33, -32, 63, 1, 17)):
        op = A.SHR if k % 2 else A.RSHR
        insns.append(isa.Alu(alu_op=op, use_imm=True, imm=s, uop_bgn=2 * k, uop_end=2 * k + 2,
                             iter_out=1, iter_in=1))
    insns += [isa.Nop(module=isa.Module.COMPUTE, push_next=True),
              isa.Store(sram_base=0, dram_base=base["out"], y_size=2, x_size=8, x_stride=9,
                        pop_prev=True, push_prev=True),
              isa.Finish(pop_next=True)]
    return _done(bb, insns, "alu_shift_edges")


def pooling_accumulate(cfg: HwConfig) -> Bundle:
    """Max over repeated destinations (as max-pooling emits) and an accumulating ADD."""
    bb, base = _builder(cfg)
    w = cfg.alu_pipeline_depth
    uops = [isa.Uop(dst=i, src=8 + i) for i in range(w)]
    insns = [
        isa.Load(mem=M.ACC8, sram_base=0, dram_base=base["acc8"], y_size=1, x_size=16,
                 x_stride=16),
        _uops(bb, "uops", uops),
        isa.Alu(alu_op=A.MAX, uop_bgn=0, uop_end=w, iter_out=2, iter_in=1, src_factor_out=1),
        isa.Alu(alu_op=A.ADD, uop_bgn=0, uop_end=w, iter_out=1, iter_in=2, src_factor_in=2),
        isa.Alu(alu_op=A.RSHR, use_imm=True, imm=1, uop_bgn=0, uop_end=w, iter_out=1,
                iter_in=1, push_next=True),
        isa.Store(sram_base=0, dram_base=base["out"], y_size=1, x_size=16, x_stride=16,
                  pop_prev=True, push_prev=True),
        isa.Finish(pop_next=True),
    ]
    return _done(bb, insns, "pooling_accumulate")


def token_stall(cfg: HwConfig) -> Bundle:
    """Compute waits for a long weight load (load->compute) before its GEMM."""
    bb, base = _builder(cfg)
    n = max(4, cfg.gemm_pipeline_depth)
    insns = [
        _uops(bb, "uops", [isa.Uop(dst=i, src=i, wgt=0) for i in range(n)]),
        isa.Load(mem=M.INP, dram_base=base["inp"], y_size=1, x_size=n, x_stride=n),
        isa.Load(mem=M.WGT, dram_base=base["wgt"], y_size=4, x_size=2, x_stride=2,
                 push_next=True),
        isa.Gemm(uop_bgn=0, uop_end=n, iter_out=1, iter_in=1, pop_prev=True, push_next=True),
        isa.Store(dram_base=base["out"], y_size=1, x_size=n, x_stride=n, pop_prev=True,
                  push_prev=True),
        isa.Finish(pop_next=True),
    ]
    return _done(bb, insns, "token_stall")


def queues_full(cfg: HwConfig) -> Bundle:
    """Load pushes more tokens than the queue holds while compute is busy (push stall), and
    fetch fills the load command queue (dispatch stall)."""
    bb, base = _builder(cfg)
    d = cfg.token_queue_depth
    insns: list[isa.Insn] = [
        isa.Load(mem=M.ACC, dram_base=base["acc"], y_size=4, x_size=4, x_stride=4),
    ]
    insns += [isa.Nop(module=isa.Module.LOAD, push_next=True) for _ in range(d + 2)]
    insns += [isa.Nop(module=isa.Module.COMPUTE, pop_prev=True) for _ in range(d + 2)]
    insns += [isa.Finish()]
    return _done(bb, insns, "queues_full")


def store_overlapping_rows(cfg: HwConfig) -> Bundle:
    """A STORE whose rows overlap in DRAM (x_stride < x_size): later rows win."""
    bb, base = _builder(cfg)
    insns = [
        isa.Load(mem=M.ACC, dram_base=base["acc"], y_size=1, x_size=8, x_stride=8,
                 push_next=True),
        isa.Store(dram_base=base["out"], y_size=3, x_size=4, x_stride=2, pop_prev=True,
                  push_prev=True),
        isa.Finish(pop_next=True),
    ]
    return _done(bb, insns, "store_overlapping_rows")


def matmul_vt1(cfg: HwConfig) -> Bundle:
    return blocked_matmul(cfg, 4 * cfg.batch, 4 * cfg.block_out, 4 * cfg.block_in,
                          virtual_threads=1, tile_m=2, tile_n=2).bundle


def matmul_vt2(cfg: HwConfig) -> Bundle:
    return blocked_matmul(cfg, 4 * cfg.batch, 4 * cfg.block_out, 4 * cfg.block_in,
                          virtual_threads=2, tile_m=2, tile_n=2).bundle


CORPUS: dict[str, Callable[[HwConfig], Bundle]] = {
    f.__name__: f for f in (finish_only, single_load, load_acc_store, load_acc8_store,
                            gemm_basic, gemm_overwrite_outmode, alu_all_ops, alu_shift_edges,
                            pooling_accumulate, token_stall, queues_full,
                            store_overlapping_rows, matmul_vt1, matmul_vt2)
}
