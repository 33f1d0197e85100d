"""Small hand-written program generators: a blocked matrix multiply and a blocked convolution.

They exist so the simulator, the RTL and the benchmarks have realistic GEMM-heavy programs
before (and independently of) the compiler: tiles double-buffered across two virtual
threads with the four token queues, micro-op kernels loaded once, requantization by a
rounding shift on the ALU, int8 outputs through the saturating out path.  Each generator
returns the bundle and the numpy result it must produce.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from vta_hw import isa, timing
from vta_hw.bundle import Bundle, BundleBuilder
from vta_hw.config import ACC_WIDTH, OUT_WIDTH, HwConfig, int_range
from vta_hw.errors import VtaError
from vta_sim.state import lane_dtype


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
    half = 1 << (ACC_WIDTH - 1)
    a = (a + half) % (2 * half) - half  # ALU results wrap to int32
    return np.clip(a, *int_range(OUT_WIDTH)).astype(lane_dtype(OUT_WIDTH))


def _random_lanes(rng: np.random.Generator, shape: tuple[int, ...], bits: int) -> np.ndarray:
    """Uniform random lanes of a signed ``bits``-bit type (the whole range)."""
    lo, hi = int_range(bits)
    return rng.integers(lo, hi + 1, size=shape, dtype=lane_dtype(bits))


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
    window = timing.hazard_window(cfg, isa.Gemm())
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
    a = _random_lanes(rng, (m, k), cfg.inp_width)
    bmat = _random_lanes(rng, (n, k), cfg.wgt_width)
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
    p.add(isa.Load(mem=isa.MemType.UOP, sram_base=0, dram_base=ru.addr // isa.UOP_BYTES, y_size=1,
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



def blocked_conv2d(cfg: HwConfig, height: int, width: int, in_channels: int,
                   out_channels: int, *, kernel: int = 3, stride: int = 1, pad: int = 1,
                   shift: int = 8, tile_rows: int | None = None,
                   tile_out_blocks: int | None = None, virtual_threads: int = 2,
                   seed: int = 0) -> Workload:
    """A conv2d (batch = cfg.batch images, NCHW) as double-buffered GEMM tiles.

    Layouts: input [C/bi][H][W] elements of batch x bi; weights [O/bo][C/bi][kh][kw]
    elements of bo x bi; output [O/bo][Ho][Wo] elements of batch x bo.  A tile is
    ``tile_rows`` output rows x the full width x ``tile_out_blocks`` output-channel blocks,
    with every input-channel block; its micro-op kernel per (input block, kh) runs over
    (kw, ow) so consecutive iterations write different accumulators.
    """
    b, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
    if in_channels % bi or out_channels % bo:
        raise WorkloadError(f"channels ({in_channels}, {out_channels}) must be multiples of "
                            f"block_in={bi} and block_out={bo}")
    if virtual_threads not in (1, 2):
        raise WorkloadError("virtual_threads must be 1 or 2")
    if not 0 <= pad <= 15 or kernel < 1 or stride < 1:
        raise WorkloadError("need kernel >= 1, stride >= 1 and 0 <= pad <= 15")
    cb, ob_total = in_channels // bi, out_channels // bo
    ho = (height + 2 * pad - kernel) // stride + 1
    wo = (width + 2 * pad - kernel) // stride + 1
    if ho < 1 or wo < 1:
        raise WorkloadError("the kernel is larger than the padded input")
    wp = width + 2 * pad
    vt = virtual_threads
    inp_cap, wgt_cap = cfg.inp_buff_depth // vt, cfg.wgt_buff_depth // vt
    acc_cap = min(cfg.acc_buff_depth, cfg.out_buff_depth) // vt
    kk = kernel * kernel
    tob = tile_out_blocks or max(1, min(ob_total, wgt_cap // (cb * kk), acc_cap // wo))
    rows_for = lambda th: (th - 1) * stride + kernel  # noqa: E731
    th = tile_rows
    if th is None:
        th = 1
        while (th < ho and cb * rows_for(th + 1) * wp <= inp_cap
               and tob * (th + 1) * wo <= acc_cap):
            th += 1
    if cb * rows_for(th) * wp > inp_cap or tob * cb * kk > wgt_cap or tob * th * wo > acc_cap:
        raise WorkloadError(f"conv {in_channels}x{height}x{width} -> {out_channels} does not "
                            f"fit the buffers of {cfg.name!r} with {th} rows x {tob} blocks")
    rng = np.random.default_rng(seed)
    x = _random_lanes(rng, (b, in_channels, height, width), cfg.inp_width)
    wts = _random_lanes(rng, (out_channels, in_channels, kernel, kernel), cfg.wgt_width)
    x_blk = x.reshape(b, cb, bi, height, width).transpose(1, 3, 4, 0, 2)  # cb,H,W,b,bi
    w_blk = wts.reshape(ob_total, bo, cb, bi, kernel, kernel).transpose(0, 2, 4, 5, 1, 3)
    bb = BundleBuilder(cfg)
    rx = bb.add("input", np.ascontiguousarray(x_blk).tobytes(), dtype="int8",
                shape=x_blk.shape)
    rw = bb.add("weight", np.ascontiguousarray(w_blk).tobytes(), dtype="int8",
                shape=w_blk.shape)
    ry = bb.alloc("output", ob_total * ho * wo * cfg.out_elem_bytes, dtype="int8",
                  shape=(ob_total, ho, wo, b, bo))

    uops: list[isa.Uop] = []
    kernels: dict[tuple[int, int, int], tuple[int, int]] = {}

    def kernel_for(buf: int, c: int, kh: int) -> tuple[int, int]:
        key = (buf, c, kh)
        if key not in kernels:
            lo = len(uops)
            rows_in = rows_for(th)
            for kw in range(kernel):
                for ow in range(wo):
                    uops.append(isa.Uop(
                        dst=buf * acc_cap + ow,
                        src=buf * inp_cap + (c * rows_in + kh) * wp + ow * stride + kw,
                        wgt=buf * wgt_cap + (c * kernel + kh) * kernel + kw))
            kernels[key] = (lo, len(uops))
        return kernels[key]

    for buf in range(vt):
        for c in range(cb):
            for kh in range(kernel):
                kernel_for(buf, c, kh)
    if len(uops) > cfg.uop_buff_depth:
        raise WorkloadError(f"{len(uops)} micro-ops exceed the uop buffer "
                            f"({cfg.uop_buff_depth})")
    window = timing.hazard_window(cfg, isa.Gemm())
    if kernel > 1 and wo < window:
        raise WorkloadError(f"output width {wo} is too narrow to cover the accumulator "
                            f"pipeline ({window})")
    ru = bb.add_uops("uops", uops)
    p = _Program(cfg)
    p.add(isa.Load(mem=isa.MemType.UOP, dram_base=ru.addr // isa.UOP_BYTES, y_size=1,
                   x_size=len(uops), x_stride=len(uops)))
    e_in, e_w, e_out = cfg.inp_elem_bytes, cfg.wgt_elem_bytes, cfg.out_elem_bytes
    tiles = [(j0, r0) for j0 in range(0, ob_total, tob) for r0 in range(0, ho, th)]
    wgt_in_buf: dict[int, int] = {}
    for t, (j0, r0) in enumerate(tiles):
        buf = t % vt
        tob_, th_ = min(tob, ob_total - j0), min(th, ho - r0)
        y_lo = r0 * stride - pad  # first input row (may be negative: padding)
        rows = rows_for(th_)
        top = max(0, -y_lo)
        bottom = max(0, y_lo + rows - height)
        for c in range(cb):
            p.add(isa.Load(mem=isa.MemType.INP, sram_base=buf * inp_cap + c * rows_for(th) * wp,
                           dram_base=rx.addr // e_in + (c * height + y_lo + top) * width,
                           y_size=rows - top - bottom, x_size=width, x_stride=width,
                           y_pad_0=top, y_pad_1=bottom, x_pad_0=pad, x_pad_1=pad,
                           pop_next=(t >= vt and c == 0)))
        if wgt_in_buf.get(buf) != j0:
            n = tob_ * cb * kk
            p.add(isa.Load(mem=isa.MemType.WGT, sram_base=buf * wgt_cap,
                           dram_base=rw.addr // e_w + j0 * cb * kk, y_size=1, x_size=n,
                           x_stride=n))
            wgt_in_buf[buf] = j0
        p.insns[-1] = _with(p.insns[-1], push_next=True)
        lo, hi = kernel_for(buf, 0, 0)
        loops = dict(iter_out=th_, iter_in=tob_, dst_factor_out=wo, dst_factor_in=th * wo)
        p.add(isa.Gemm(reset=True, uop_bgn=lo, uop_end=lo + wo, pop_prev=True,
                       pop_next=t >= vt, **loops))
        for c in range(cb):
            for kh in range(kernel):
                klo, khi = kernel_for(buf, c, kh)
                p.add(isa.Gemm(uop_bgn=klo, uop_end=khi, src_factor_out=stride * wp,
                               wgt_factor_in=cb * kk, **loops))
        p.add(isa.Alu(alu_op=isa.AluOp.RSHR, use_imm=True, imm=shift, uop_bgn=lo,
                      uop_end=lo + wo, push_prev=True, push_next=True, **loops))
        for j in range(tob_):
            p.add(isa.Store(sram_base=buf * acc_cap + j * th * wo,
                            dram_base=ry.addr // e_out + ((j0 + j) * ho + r0) * wo,
                            y_size=th_, x_size=wo, x_stride=wo, pop_prev=j == 0,
                            push_prev=j == tob_ - 1))
    _drain_and_finish(p, min(len(tiles), vt))
    bb.set_program(p.insns)
    bundle = bb.build({"workload": "blocked_conv2d", "height": height, "width": width,
                       "in_channels": in_channels, "out_channels": out_channels,
                       "kernel": kernel, "stride": stride, "pad": pad, "shift": shift})
    xp = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    acc = np.zeros((b, out_channels, ho, wo), np.int64)
    w64 = wts.astype(np.int64)
    for kh in range(kernel):
        for kw in range(kernel):
            patch = xp[:, :, kh:kh + (ho - 1) * stride + 1:stride, kw:kw + (wo - 1) * stride + 1:
                       stride]
            acc += np.einsum("bchw,oc->bohw", patch, w64[:, :, kh, kw])
    y = requantize_reference(acc, shift)  # b, O, Ho, Wo
    expected = y.reshape(b, ob_total, bo, ho, wo).transpose(1, 3, 4, 0, 2)
    return Workload(bundle, np.ascontiguousarray(expected), "output",
                    b * out_channels * ho * wo * in_channels * kk)


def _with(insn: isa.Insn, **flags: bool) -> isa.Insn:
    return dataclasses.replace(insn, **flags)
