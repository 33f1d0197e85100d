"""Data effects of each instruction kind, vectorized: one numpy pass per instruction.

Semantics are those of ``docs/semantics.md``; ``tests/reference.py`` is the slow golden model
they are checked against.  GEMM turns all of an instruction's micro-op iterations into one
float64 BLAS product (exact: int8 x int8 sums stay far below 2**53) instead of a loop;
ALU applies its iterations in as few "waves" as the read/write dependences allow.
"""

from __future__ import annotations

import numpy as np

from vta_hw import isa, timing
from vta_hw.config import ACC_WIDTH, OUT_WIDTH, HwConfig, int_range
from vta_sim.errors import HazardError, OutOfRangeError
from vta_sim.state import UOP_DTYPE, MachineState, lane_dtype, uop_fields

# The lane arithmetic of the ISA (every HwConfig has these widths: config.py checks it).
INT8_MIN, INT8_MAX = int_range(OUT_WIDTH)  # the out lanes' saturation bounds
_ACC = lane_dtype(ACC_WIDTH)
_OUT = lane_dtype(OUT_WIDTH)
_U32 = np.int64(1 << ACC_WIDTH)
_I31 = np.int64(1 << (ACC_WIDTH - 1))


def wrap32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values to the accumulator width (int32)."""
    return ((x.astype(np.int64) + _I31) % _U32 - _I31).astype(_ACC)


def saturate8(x: np.ndarray) -> np.ndarray:
    return np.clip(x, INT8_MIN, INT8_MAX).astype(_OUT)


def _where(index: int, insn: isa.Insn) -> str:
    return f"instruction {index} ({type(insn).__name__.upper()})"


# ---------------------------------------------------------------------------- DMA
def _lanes(cfg: HwConfig, mem: isa.MemType) -> tuple[np.dtype, tuple[int, ...]]:
    """DRAM dtype (of its DRAM format) and lane shape (of its SRAM buffer) of one element of
    ``mem``."""
    if mem == isa.MemType.UOP:
        return UOP_DTYPE, ()
    b, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
    shape = {"inp": (b, bi), "wgt": (bo, bi)}.get(isa.sram_buffer(mem), (b, bo))
    return lane_dtype(getattr(cfg, f"{isa.dram_format(mem)}_width")), shape


def _dram_rows(state: MachineState, insn: isa.Load | isa.Store, index: int) -> np.ndarray:
    """A (y_size, x_size * elem_bytes) uint8 view of the DMA's DRAM rows, bounds-checked."""
    e = isa.elem_bytes(state.cfg, insn.mem)
    y, x, stride = insn.y_size, insn.x_size, insn.x_stride
    start = insn.dram_base * e
    last = (insn.dram_base + (y - 1) * stride + x) * e
    if last > state.dram.size:
        raise OutOfRangeError(
            f"{_where(index, insn)}: DRAM bytes [{start}, {last}) of mem={insn.mem.name.lower()} "
            f"(dram_base={insn.dram_base}, y_size={y}, x_size={x}, x_stride={stride}, "
            f"{e}-byte elements) exceed the {state.dram.size}-byte DRAM image")
    return np.lib.stride_tricks.as_strided(state.dram[start:], shape=(y, x * e),
                                           strides=(stride * e, 1), writeable=False)


def _check_sram(state: MachineState, insn: isa.Insn, mem: isa.MemType, base: int, n: int,
                index: int) -> None:
    depth = isa.sram_depth(state.cfg, mem)
    if base + n > depth:
        buf = isa.sram_buffer(mem)
        raise OutOfRangeError(f"{_where(index, insn)}: {buf} elements [{base}, {base + n}) exceed "
                              f"the {buf} buffer depth {depth}")


def requantize8(x: np.ndarray, shift: int, relu: bool) -> np.ndarray:
    """The GEMM out mirror under OUTMODE ``(shift, relu)``: exact rounding right shift, then
    clip to ``[0 if relu else -128, 127]`` (``shift=0, relu=False`` is plain saturation)."""
    if shift:  # widened only here: the plain mirror (every LOAD/ALU write) clips int32 as is
        x = (x.astype(np.int64) + (1 << (shift - 1))) >> shift
    return np.clip(x, 0 if relu else INT8_MIN, INT8_MAX).astype(_OUT)


def _mirror_out(state: MachineState, idx: np.ndarray | slice, gemm: bool = False) -> None:
    """out[i] = saturate(acc[i]) for every written acc index below the out depth (for GEMM
    writes, requantized by the OUTMODE state)."""
    d = state.cfg.out_buff_depth
    mode = (state.out_shift, state.out_relu) if gemm else (0, False)
    if isinstance(idx, slice):
        lo, hi = idx.start, min(idx.stop, d)
        if hi > lo:
            state.out[lo:hi] = requantize8(state.acc[lo:hi], *mode)
        return
    idx = idx[idx < d]
    if idx.size:
        state.out[idx] = requantize8(state.acc[idx], *mode)


def apply_load(state: MachineState, insn: isa.Load, index: int) -> None:
    cfg, mem = state.cfg, insn.mem
    rows, cols = insn.rows, insn.cols
    _check_sram(state, insn, mem, insn.sram_base, rows * cols, index)
    if rows * cols == 0:
        return
    dtype, lanes = _lanes(cfg, mem)
    buf = state.sram(mem)
    region = np.full((rows, cols, *lanes), insn.pad_value, dtype=buf.dtype)
    if insn.dram_elems:
        data = _dram_rows(state, insn, index).copy().view(dtype)
        data = data.reshape(insn.y_size, insn.x_size, *lanes)
        region[insn.y_pad_0:insn.y_pad_0 + insn.y_size,
               insn.x_pad_0:insn.x_pad_0 + insn.x_size] = data
    sl = slice(insn.sram_base, insn.sram_base + rows * cols)
    buf[sl] = region.reshape(rows * cols, *lanes)
    if mem in (isa.MemType.ACC, isa.MemType.ACC8):
        _mirror_out(state, sl)


def apply_store(state: MachineState, insn: isa.Store, index: int) -> None:
    n = insn.y_size * insn.x_size
    _check_sram(state, insn, isa.MemType.OUT, insn.sram_base, n, index)
    if n == 0:
        return
    e = isa.elem_bytes(state.cfg, insn.mem)
    _dram_rows(state, insn, index)  # bounds check
    data = state.out[insn.sram_base:insn.sram_base + n].reshape(insn.y_size, insn.x_size * e)
    data = data.view(np.uint8)
    start, stride = insn.dram_base * e, insn.x_stride * e
    if insn.x_stride >= insn.x_size or insn.y_size == 1:
        view = np.lib.stride_tricks.as_strided(state.dram[start:], shape=data.shape,
                                               strides=(stride, 1))
        view[...] = data
    else:  # overlapping rows: later rows win, as on the hardware
        for y in range(insn.y_size):
            state.dram[start + y * stride:start + y * stride + data.shape[1]] = data[y]


# ---------------------------------------------------------------------------- micro-op loops
def loop_indices(state: MachineState, insn: isa.Gemm | isa.Alu, index: int
                 ) -> dict[str, np.ndarray]:
    """dst/src(/wgt) index of every iteration, in execution order (i0, i1, uop)."""
    cfg = state.cfg
    if insn.uop_end > cfg.uop_buff_depth:
        raise OutOfRangeError(f"{_where(index, insn)}: micro-ops [{insn.uop_bgn}, "
                              f"{insn.uop_end}) exceed the uop buffer depth {cfg.uop_buff_depth}")
    words = state.uop[insn.uop_bgn:insn.uop_end].astype(np.int64)
    i0 = np.arange(insn.iter_out, dtype=np.int64)[:, None, None]
    i1 = np.arange(insn.iter_in, dtype=np.int64)[None, :, None]
    names = ("dst", "src", "wgt") if isinstance(insn, isa.Gemm) else ("dst", "src")
    out = {}
    for name, (shift, mask) in uop_fields(cfg).items():
        if name not in names:
            continue
        base = ((words >> shift) & mask)[None, None, :]
        idx = base + i0 * getattr(insn, f"{name}_factor_out") + i1 * getattr(
            insn, f"{name}_factor_in")
        out[name] = idx.reshape(-1)
    return out


def _check_index(insn: isa.Insn, index: int, name: str, idx: np.ndarray, depth: int,
                 buf: str) -> None:
    if idx.size and int(idx.max()) >= depth:
        k = int(np.argmax(idx >= depth))
        raise OutOfRangeError(f"{_where(index, insn)}: iteration {k} {name} index {int(idx[k])} "
                              f"exceeds the {buf} buffer depth {depth}")


def _check_hazards(cfg: HwConfig, insn: isa.Gemm | isa.Alu, index: int, dst: np.ndarray,
                   src: np.ndarray | None) -> None:
    window = timing.hazard_window(cfg, insn)
    n = dst.size
    for k in range(1, min(window, n)):
        for what, reads in (("dst", dst), ("src", src)):
            if reads is None:
                continue
            clash = np.flatnonzero(reads[k:] == dst[:-k])
            if clash.size:
                j = int(clash[0]) + k
                raise HazardError(
                    f"{_where(index, insn)}: iteration {j} reads acc[{int(reads[j])}] ({what}) "
                    f"that iteration {j - k} writes only {k} iteration(s) earlier; the "
                    f"accumulator read-after-write window is {window}")


def _unique_inverse(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(x, return_inverse=True)`` for buffer indices (small non-negative
    integers): a presence table and its running count instead of a sort, the simulator's
    hottest step on whole models."""
    if x.size == 0 or int(x.min()) < 0 or int(x.max()) > _TABLE_LIMIT:
        return np.unique(x, return_inverse=True)
    present = np.zeros(int(x.max()) + 1, np.intp)
    present[x] = 1
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present).astype(x.dtype, copy=False), rank[x]


def _all_distinct(x: np.ndarray) -> bool:
    """Whether the non-negative integers ``x`` are pairwise distinct."""
    return x.size == 0 or int(np.bincount(x).max()) <= 1


_TABLE_LIMIT = 1 << 22


def _gemm_dense_pairs(state: MachineState, x: np.ndarray, ud: np.ndarray, dinv: np.ndarray,
                      uw: np.ndarray, winv: np.ndarray) -> np.ndarray:
    """Few distinct (dst, wgt) pairs (convolutions): gather each pair's input into one
    matrix and multiply by the stacked weights in a single BLAS product."""
    cfg = state.cfg
    b, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
    key = dinv * uw.size + winv
    a = np.zeros((ud.size * uw.size, b * bi), np.float64)
    if _all_distinct(key):
        a[key] = x
    else:
        np.add.at(a, key, x.astype(np.float64))
    a = a.reshape(ud.size, uw.size, b, bi).transpose(0, 2, 1, 3).reshape(ud.size * b,
                                                                         uw.size * bi)
    w = state.wgt[uw].astype(np.float64).transpose(0, 2, 1).reshape(uw.size * bi, bo)
    return (a @ w).reshape(ud.size, b, bo)


def _gemm_by_weight(state: MachineState, x: np.ndarray, ud: np.ndarray, dinv: np.ndarray,
                    uw: np.ndarray, winv: np.ndarray) -> np.ndarray:
    """Many distinct weights (matrix multiplies): the iterations sharing a weight element
    form one small product; products of equal size run as one batched matmul, then the
    per-iteration results are summed per accumulator with a sort and ``add.reduceat``.

    float32 is exact here: one product sums block_in <= 64 terms of at most 2**14.
    """
    cfg = state.cfg
    b, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
    n = dinv.size
    order = np.argsort(winv, kind="stable")
    counts = np.bincount(winv, minlength=uw.size)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    wf = state.wgt[uw].astype(np.float32).transpose(0, 2, 1)  # (uw, bi, bo)
    xf = x.astype(np.float32)
    per_iter = np.empty((n, b, bo), np.int64)
    for c in np.unique(counts):
        groups = np.flatnonzero(counts == c)
        idx = order[starts[groups][:, None] + np.arange(c)]  # (g, c) iterations
        prod = xf[idx].reshape(groups.size, c * b, bi) @ wf[groups]
        per_iter[idx.reshape(-1)] = prod.reshape(groups.size * c, b, bo)
    by_dst = np.argsort(dinv, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(dinv, minlength=ud.size))[:-1]))
    return np.add.reduceat(per_iter[by_dst], bounds, axis=0)


def _loops_only_reduce(insn: isa.Gemm) -> bool:
    """Whether the accumulator index ignores both affine loops (they only reduce)."""
    return ((insn.dst_factor_out == 0 or insn.iter_out == 1)
            and (insn.dst_factor_in == 0 or insn.iter_in == 1))


def _gemm_uop_products(state: MachineState, insn: isa.Gemm
                       ) -> tuple[np.ndarray, np.ndarray] | None:
    """Matrix-multiply tiles: when the loops only reduce, micro-op u adds
    X[src_u] @ W[wgt_u] with X[s] the inputs s + loop offsets side by side and W[w] the
    weights likewise.  All (distinct src, distinct wgt) pairs are one BLAS product; the pairs
    the micro-ops name are picked from it.  Returns None when too few pairs are used."""
    cfg = state.cfg
    b, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
    fields = uop_fields(cfg)
    words = state.uop[insn.uop_bgn:insn.uop_end].astype(np.int64)
    d_u, s_u, w_u = (((words >> fields[k][0]) & fields[k][1]) for k in ("dst", "src", "wgt"))
    us, sinv = _unique_inverse(s_u)
    uw, winv = _unique_inverse(w_u)
    if us.size * uw.size > 4 * words.size + 16:
        return None
    i0 = np.arange(insn.iter_out)[:, None]
    i1 = np.arange(insn.iter_in)[None, :]
    src_off = (i0 * insn.src_factor_out + i1 * insn.src_factor_in).reshape(-1)
    wgt_off = (i0 * insn.wgt_factor_out + i1 * insn.wgt_factor_in).reshape(-1)
    k = src_off.size
    xs = state.inp[us[:, None] + src_off[None, :]].astype(np.float64)  # (S, K, b, bi)
    xs = xs.transpose(0, 2, 1, 3).reshape(us.size * b, k * bi)
    ws = state.wgt[uw[:, None] + wgt_off[None, :]].astype(np.float64)  # (W, K, bo, bi)
    ws = ws.transpose(1, 3, 0, 2).reshape(k * bi, uw.size * bo)
    full = (xs @ ws).reshape(us.size, b, uw.size, bo)
    per_uop = full[sinv, :, winv, :]  # (U, b, bo)
    ud, dinv = _unique_inverse(d_u)
    if ud.size == d_u.size:
        res = np.empty((ud.size, b, bo), np.float64)
        res[dinv] = per_uop
    else:
        res = np.zeros((ud.size, b, bo), np.float64)
        np.add.at(res, dinv, per_uop)
    return ud, res


def apply_gemm(state: MachineState, insn: isa.Gemm, index: int) -> None:
    cfg = state.cfg
    if insn.n_iters == 0:
        return
    ix = loop_indices(state, insn, index)
    dst, src, wgt = ix["dst"], ix["src"], ix["wgt"]
    _check_index(insn, index, "dst", dst, cfg.acc_buff_depth, "acc")
    if insn.reset:
        state.acc[dst] = 0
        _mirror_out(state, dst, gemm=True)
        return
    _check_index(insn, index, "src", src, cfg.inp_buff_depth, "inp")
    _check_index(insn, index, "wgt", wgt, cfg.wgt_buff_depth, "wgt")
    _check_hazards(cfg, insn, index, dst, None)
    if insn.overwrite:
        # each iteration replaces acc[dst]: only a destination's last iteration counts
        last = np.unique(dst[::-1], return_index=True)[1]
        keep = np.sort(dst.size - 1 - last)
        if keep.size < dst.size:
            dst, src, wgt = dst[keep], src[keep], wgt[keep]
    if _loops_only_reduce(insn) and not insn.overwrite:
        res_u = _gemm_uop_products(state, insn)
        if res_u is not None:
            ud, res = res_u
            state.acc[ud] = wrap32(_gemm_base(state, insn, ud) + res.astype(np.int64))
            _mirror_out(state, ud, gemm=True)
            return
    ud, dinv = _unique_inverse(dst)
    uw, winv = _unique_inverse(wgt)
    x = state.inp[src].reshape(dst.size, cfg.batch * cfg.block_in)
    if ud.size * uw.size <= 4 * dst.size + 64:
        res = _gemm_dense_pairs(state, x, ud, dinv, uw, winv)
    else:
        res = _gemm_by_weight(state, x, ud, dinv, uw, winv)
    state.acc[ud] = wrap32(_gemm_base(state, insn, ud) + res.astype(np.int64))
    _mirror_out(state, ud, gemm=True)


def _gemm_base(state: MachineState, insn: isa.Gemm, ud: np.ndarray) -> np.ndarray | int:
    """What the products add to: acc[dst], or nothing for an ``overwrite`` GEMM."""
    return 0 if insn.overwrite else state.acc[ud].astype(np.int64)


# ---------------------------------------------------------------------------- ALU
def _shift_amount(y: np.ndarray) -> np.ndarray:
    """Low SHIFT_BITS of the operand, as a signed amount."""
    half = 1 << (isa.SHIFT_BITS - 1)
    return ((y.astype(np.int64) & ((1 << isa.SHIFT_BITS) - 1)) ^ half) - half


def alu_compute(op: isa.AluOp, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """One ALU op on int32 lanes (broadcasting), exactly as the hardware computes it."""
    x = x.astype(np.int64)
    y = np.asarray(y).astype(np.int64)
    if op == isa.AluOp.MIN:
        r = np.minimum(x, y)
    elif op == isa.AluOp.MAX:
        r = np.maximum(x, y)
    elif op == isa.AluOp.ADD:
        r = x + y
    elif op == isa.AluOp.MUL:
        r = x * y
    elif op == isa.AluOp.MOV:
        r = np.broadcast_to(y, np.broadcast_shapes(x.shape, y.shape))
    elif op in (isa.AluOp.SHR, isa.AluOp.RSHR):
        s = _shift_amount(y)
        right = np.maximum(s, 0)
        left = np.maximum(-s, 0)
        if op == isa.AluOp.RSHR:
            rnd = np.where(s > 0, np.int64(1) << np.maximum(s - 1, 0), 0)
            r = np.where(s > 0, (x + rnd) >> right, x << left)
        else:
            r = np.where(s >= 0, x >> right, x << left)
    else:  # pragma: no cover - AluOp is closed
        raise ValueError(op)
    return wrap32(r)


def _previous_same(keys: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """For each iteration j, the last i < j with dst[i] == keys[j] (-1 if none)."""
    n = dst.size
    pos = np.arange(n, dtype=np.int64)
    order = np.lexsort((pos, dst))  # sorted by (dst, position)
    sd, sp = dst[order], pos[order]
    k = np.searchsorted(sd * (n + 1) + sp, keys * (n + 1) + pos, side="left") - 1
    k0 = np.maximum(k, 0)
    return np.where((k >= 0) & (sd[k0] == keys), sp[k0], -1)


def apply_alu(state: MachineState, insn: isa.Alu, index: int) -> None:
    cfg = state.cfg
    if insn.alu_op == isa.AluOp.OUTMODE:
        state.out_shift, state.out_relu = isa.out_mode_fields(insn.imm)
    if insn.n_iters == 0:
        return
    ix = loop_indices(state, insn, index)
    dst, src = ix["dst"], ix["src"]
    _check_index(insn, index, "dst", dst, cfg.acc_buff_depth, "acc")
    acc = state.acc
    if insn.reset:
        acc[dst] = 0
        _mirror_out(state, dst)
        return
    if insn.alu_op == isa.AluOp.OUTMODE:
        return  # its iterations write nothing (the mode was set at issue)
    tensor = not insn.use_imm
    if tensor:
        _check_index(insn, index, "src", src, cfg.acc_buff_depth, "acc")
    _check_hazards(cfg, insn, index, dst, src if tensor else None)
    dep_dst = _previous_same(dst, dst)  # repeated destinations
    dep_src = _previous_same(src, dst) if tensor else np.full(dst.size, -1)  # reads of writes
    repeats, aliased = bool((dep_dst >= 0).any()), bool((dep_src >= 0).any())
    op = insn.alu_op
    if not repeats and not aliased:
        acc[dst] = alu_compute(op, acc[dst], acc[src] if tensor else np.int64(insn.imm))
    elif not aliased and op in _ACCUMULATING:
        # Repeated destinations whose operands are never written here: one ufunc.at call
        # applies them in order (min/max directly; add/mul modulo 2**64, then wrapped).
        ud, inv = _unique_inverse(dst)
        y = acc[src] if tensor else np.full((dst.size, *acc.shape[1:]), insn.imm, np.int64)
        if op in (isa.AluOp.MIN, isa.AluOp.MAX):
            tmp = acc[ud]
            _ACCUMULATING[op].at(tmp, inv, y.astype(_ACC))
            acc[ud] = tmp
        else:
            tmp = acc[ud].astype(np.int64).astype(np.uint64)
            _ACCUMULATING[op].at(tmp, inv, y.astype(np.int64).astype(np.uint64))
            acc[ud] = wrap32(tmp.astype(np.int64))
    else:
        _apply_waves(state, insn, dst, src, np.maximum(dep_dst, dep_src), tensor)
    _mirror_out(state, _unique_inverse(dst)[0])


_ACCUMULATING = {isa.AluOp.MIN: np.minimum, isa.AluOp.MAX: np.maximum,
                 isa.AluOp.ADD: np.add, isa.AluOp.MUL: np.multiply}


def _apply_waves(state: MachineState, insn: isa.Alu, dst: np.ndarray, src: np.ndarray,
                 dep: np.ndarray, tensor: bool) -> None:
    """Apply iterations in maximal runs that neither repeat a dst nor read one written in
    the same run, so each run is one vectorized step with the hardware's sequential result."""
    acc, n, a = state.acc, dst.size, 0
    while a < n:
        later = np.flatnonzero(dep[a + 1:] >= a)
        b = a + 1 + int(later[0]) if later.size else n
        d = dst[a:b]
        y = acc[src[a:b]] if tensor else np.int64(insn.imm)
        acc[d] = alu_compute(insn.alu_op, acc[d], y)
        a = b
