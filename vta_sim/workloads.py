"""Small hand-written program generators: a blocked matrix multiply and a blocked convolution.

They exist so the simulator, the RTL and the benchmarks have realistic GEMM-heavy programs
before (and independently of) the compiler: tiles double-buffered across two virtual
threads with the four token queues, micro-op kernels loaded once, requantization by a
rounding shift on the ALU, int8 outputs through the saturating out path.  Each generator
returns the bundle and the numpy result it must produce.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vta_hw import isa
from vta_hw.bundle import Bundle, BundleBuilder
from vta_hw.config import HwConfig
from vta_hw.errors import VtaError


class WorkloadError(VtaError):
    """A workload's shape does not fit the configuration."""


@dataclass(frozen=True)
class Workload:
    bundle: Bundle
    expected: np.ndarray  # what the output symbol must hold
    output: str  # symbol name of the output
    macs: int


def requantize_reference(acc: np.ndarray, shift: int) -> np.ndarray:
    """acc int32 -> int8 by a round-half-up shift and saturation (ALU RSHR + out path)."""
    a = acc.astype(np.int64)
    if shift > 0:
        a = (a + (1 << (shift - 1))) >> shift
    a = (a + (1 << 31)) % (1 << 32) - (1 << 31)  # ALU results wrap to int32
    return np.clip(a, -128, 127).astype(np.int8)


class _Program:
    """Instruction list with the token bookkeeping of a double-buffered pipeline."""

    def __init__(self, cfg: HwConfig):
        self.cfg = cfg
        self.insns: list[isa.Insn] = []

    def add(self, insn: isa.Insn) -> None:
        self.insns.append(insn)


def _drain_and_finish(p: _Program, unconsumed_store_tokens: int) -> None:
    """Compute pops the store tokens nobody consumed, so FINISH waits for the last store."""
    for _ in range(max(0, unconsumed_store_tokens - 1)):
        p.add(isa.Nop(module=isa.Module.COMPUTE, pop_next=True))
    p.add(isa.Finish(pop_next=unconsumed_store_tokens > 0))


def blocked_matmul(cfg: HwConfig, m: int, n: int, k: int, *, shift: int = 8,
                   tile_m: int | None = None, tile_n: int | None = None,
                   virtual_threads: int = 2, seed: int = 0) -> Workload:
    """C = requant(A @ B^T) with A: m x k, B: n x k int8, tiled over (m, n), full k per tile.

    ``m`` must be a multiple of batch, ``n`` of block_out and ``k`` of block_in.
    """
    b, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
    for name, v, q in (("m", m, b), ("n", n, bo), ("k", k, bi)):
        if v <= 0 or v % q:
            raise WorkloadError(f"{name}={v} must be a positive multiple of {q}")
    if virtual_threads not in (1, 2):
        raise WorkloadError("virtual_threads must be 1 or 2")
    mb, nb, kb = m // b, n // bo, k // bi
    vt = virtual_threads
    window = cfg.gemm_pipeline_depth
    # Largest tiles that fit every buffer once per virtual thread.
    inp_cap, wgt_cap = cfg.inp_buff_depth // vt, cfg.wgt_buff_depth // vt
    acc_cap = min(cfg.acc_buff_depth, cfg.out_buff_depth) // vt
    tn = tile_n or max(1, min(nb, wgt_cap // kb))
    tm = tile_m or max(1, min(mb, inp_cap // kb, acc_cap // tn))
    if tm * kb > inp_cap or tn * kb > wgt_cap or tm * tn > acc_cap or kb > wgt_cap:
        raise WorkloadError(f"k={k} is too deep for the buffers of {cfg.name!r}: a tile needs "
                            f"{tm * kb} inp / {tn * kb} wgt elements per virtual thread")
    uop_cap = cfg.uop_buff_depth // vt
    if tm * tn > uop_cap:
        raise WorkloadError(f"tile {tm}x{tn} needs {tm * tn} micro-ops, more than {uop_cap}")

    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    bmat = rng.integers(-128, 128, size=(n, k), dtype=np.int8)
    # DRAM layouts: A as inp elements [mb, kb, b, bi]; B as wgt elements [nb, kb, bo, bi];
    # C as out elements [mb, nb, b, bo].
    a_blk = a.reshape(mb, b, kb, bi).transpose(0, 2, 1, 3)
    b_blk = bmat.reshape(nb, bo, kb, bi).transpose(0, 2, 1, 3)
    bb = BundleBuilder(cfg)
    ra = bb.add("A", np.ascontiguousarray(a_blk).tobytes(), dtype="int8", shape=a_blk.shape)
    rb = bb.add("B", np.ascontiguousarray(b_blk).tobytes(), dtype="int8", shape=b_blk.shape)
    rc = bb.alloc("C", mb * nb * cfg.out_elem_bytes, dtype="int8", shape=(mb, nb, b, bo))

    p = _Program(cfg)
    # (tm, tn, buf, kk) -> uop range; kk > 0 only when each k block needs its own GEMM
    kernels: dict[tuple[int, int, int, int], tuple[int, int]] = {}
    uops: list[isa.Uop] = []

    def kernel(tm_: int, tn_: int, buf: int, kk: int = 0) -> tuple[int, int]:
        key = (tm_, tn_, buf, kk)
        if key not in kernels:
            lo = len(uops)
            for i in range(tm_):
                for j in range(tn_):
                    uops.append(isa.Uop(dst=buf * acc_cap + i * tn_ + j,
                                        src=buf * inp_cap + i * kb + kk,
                                        wgt=buf * wgt_cap + j * kb + kk))
            kernels[key] = (lo, len(uops))
        return kernels[key]

    def per_k(tm_: int, tn_: int) -> bool:
        """Too few outputs to cover the accumulator pipeline: one GEMM per k block."""
        return tm_ * tn_ < window and kb > 1

    tiles = [(i0, j0) for i0 in range(0, mb, tm) for j0 in range(0, nb, tn)]
    for i0, j0 in tiles:  # build every kernel first: one uop LOAD up front
        tm_, tn_ = min(tm, mb - i0), min(tn, nb - j0)
        for buf in range(vt):
            for kk in range(kb if per_k(tm_, tn_) else 1):
                kernel(tm_, tn_, buf, kk)
    if len(uops) > cfg.uop_buff_depth:
        raise WorkloadError(f"{len(uops)} micro-ops exceed the uop buffer ({cfg.uop_buff_depth})")
    ru = bb.add_uops("uops", uops)
    p.add(isa.Load(mem=isa.MemType.UOP, sram_base=0, dram_base=ru.addr // 4, y_size=1,
                   x_size=len(uops), x_stride=len(uops)))
    e_inp, e_wgt, e_out = cfg.inp_elem_bytes, cfg.wgt_elem_bytes, cfg.out_elem_bytes
    for t, (i0, j0) in enumerate(tiles):
        buf = t % vt
        tm_, tn_ = min(tm, mb - i0), min(tn, nb - j0)
        # load module: inputs and weights of this tile (wait until compute freed the buffer)
        p.add(isa.Load(mem=isa.MemType.INP, sram_base=buf * inp_cap,
                       dram_base=ra.addr // e_inp + i0 * kb, y_size=1, x_size=tm_ * kb,
                       x_stride=tm_ * kb, pop_next=t >= vt))
        p.add(isa.Load(mem=isa.MemType.WGT, sram_base=buf * wgt_cap,
                       dram_base=rb.addr // e_wgt + j0 * kb, y_size=1, x_size=tn_ * kb,
                       x_stride=tn_ * kb, push_next=True))
        # compute: reset, accumulate over k, requantize
        lo, hi = kernel(tm_, tn_, buf)
        p.add(isa.Gemm(reset=True, uop_bgn=lo, uop_end=hi, iter_out=1, iter_in=1,
                       pop_prev=True, pop_next=t >= vt))
        if not per_k(tm_, tn_):
            p.add(isa.Gemm(uop_bgn=lo, uop_end=hi, iter_out=kb, iter_in=1, src_factor_out=1,
                           wgt_factor_out=1))
        else:
            for kk in range(kb):
                klo, khi = kernel(tm_, tn_, buf, kk)
                p.add(isa.Gemm(uop_bgn=klo, uop_end=khi, iter_out=1, iter_in=1))
        p.add(isa.Alu(alu_op=isa.AluOp.RSHR, use_imm=True, imm=shift, uop_bgn=lo, uop_end=hi,
                      iter_out=1, iter_in=1, push_prev=True, push_next=True))
        # store: one row of tn_ out elements per m block
        p.add(isa.Store(sram_base=buf * acc_cap, dram_base=rc.addr // e_out + i0 * nb + j0,
                        y_size=tm_, x_size=tn_, x_stride=nb, pop_prev=True, push_prev=True))
    _drain_and_finish(p, min(len(tiles), vt))
    bb.set_program(p.insns)
    bundle = bb.build({"workload": "blocked_matmul", "m": m, "n": n, "k": k, "shift": shift})
    ref = a.astype(np.int64) @ bmat.astype(np.int64).T
    expected = requantize_reference(ref, shift).reshape(mb, b, nb, bo).transpose(0, 2, 1, 3)
    return Workload(bundle, np.ascontiguousarray(expected), "C", m * n * k)

