"""Dense / matmul: ``C[M, N] = A[M, K] @ B[K, N] (+ bias[N])``, fp32 or int8 -> int32.

Plan: ``pack_b`` lays B out as column panels ``Bp[N/NR][K][NR]`` (int8: ``[K/2][NR][2]`` i16
pairs, or with VNNI ``[K/4][NR][4]`` i8 quads) plus a zero-padded bias (quads: minus
``128 * sum_k B``, the correction for the A side's ``+128``); when B is a weight this step
runs once (``CompiledOp.bind``).
The main kernel's parallel loop runs over blocks of ``MC`` rows of A; each block is packed
into a thread-local ``Ap[MC/MR][K][MR]`` and multiplied panel by panel with the register-blocked
micro-kernel (:mod:`.microkernel`).  The whole reduction stays in registers (no K blocking):
one B panel (K x NR) stays in L2 while the A block is swept.
"""

from __future__ import annotations

from .. import dtypes as dt
from ..kernel_ir import (
    Alloc,
    Assign,
    Cast,
    Const,
    Decl,
    Expr,
    Kernel,
    Load,
    Loop,
    Param,
    Stmt,
    Store,
    Var,
    idx,
    lt,
    maximum,
    minimum,
)
from .common import ceil_div, pick_dtype, positive, tag, when
from .microkernel import TileShape, acc_name, default_tile, micro_tile, zeros
from .plan import BufferSpec, OpPlan, Step

# activations fused into the write-back of conv2d, depthwise_conv2d and dense (relu6:
# MobileNet's Clip(0, 6), so a float Conv + Clip is one kernel like Conv + Relu)
ACTIVATIONS = (None, "relu", "relu6")


def apply_activation(acc: Expr, activation: str | None) -> Expr:
    """``acc`` (scalar or vector) through one of :data:`ACTIVATIONS`."""
    if activation is None:
        return acc
    zero = Const(0, acc.dtype, acc.lanes)
    if activation == "relu":
        return maximum(acc, zero)
    if activation == "relu6":
        return minimum(maximum(acc, zero), Const(6, acc.dtype, acc.lanes))
    raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")


def _v(name: str) -> Var:
    return Var(name)


def to_a_side(v: Expr, t: TileShape) -> Expr:
    """An int8 value as the broadcast side stores it: i16 (pairs) or u8 ``v + 128`` (quads)."""
    wide = Cast(v, dt.i16)
    return Cast(wide + Const(128, dt.i16, v.lanes), dt.u8) if t.quads else wide


def to_b_side(v: Expr, t: TileShape) -> Expr:
    """An int8 value as the vector side stores it: i16 (pairs) or i8 (quads)."""
    return v if t.quads else Cast(v, dt.i16)


def grouped_copy(kdim: int, g: int, cols: int, width: int, dst, val, zero: Expr) -> list[Stmt]:
    """``dst(kk, j, h) = val(kk * g + h)`` over ``kk < ceil(kdim / g)``, ``h < g``, ``j < cols``;
    zero past ``kdim`` and for ``cols <= j < width`` (reduction groups of ``g`` int8 values)."""
    def group(kk: Expr, valid: int) -> tuple[Stmt, ...]:
        return (Loop("j", cols, tuple(Store(*dst(kk, _v("j"), h), val(kk, h) if h < valid
                                           else zero) for h in range(g))),
                Loop("j", width, tuple(Store(*dst(kk, _v("j"), h), zero) for h in range(g)),
                     start=cols))
    out: list[Stmt] = [Loop("kk", kdim // g, group(_v("kk"), g))]
    if kdim % g:
        out.extend(group(idx(kdim // g), kdim % g))
    return out


def pack_b_kernel(name: str, k: int, n: int, t: TileShape, transpose_b: bool,
                  bias: bool) -> Kernel:
    """B (``[K, N]``, or ``[N, K]`` when ``transpose_b``) -> column panels; bias -> padded.

    Quads: ``biasp`` also carries ``-128 * sum_k B[k, col]``, which cancels the ``+128`` the
    A side is stored with (so it is written with or without a bias)."""
    nr = t.cols
    np_ = ceil_div(n, nr)
    full, rem = n // nr, n % nr
    p = _v("p")
    ety = dt.i8 if t.int8 else dt.f32
    g = t.group
    kg = ceil_div(k, g)

    def src(kk: Expr, col: Expr) -> Expr:
        return Load("b", kk * n + col if not transpose_b else col * k + kk, ety)

    def panel(ncols: int) -> list[Stmt]:
        col = p * nr + _v("j")
        body: list[Stmt] = []
        if not t.int8:
            dst = lambda j: (p * k + _v("kk")) * nr + j  # noqa: E731
            body.append(Loop("kk", k, (
                Loop("j", ncols, (Store("bp", dst(_v("j")), src(_v("kk"), col)),)),
                Loop("j", nr, (Store("bp", dst(_v("j")), Const(0.0, dt.f32)),), start=ncols),
            )))
        else:
            body += grouped_copy(
                k, g, ncols, nr, lambda kk, j, h: ("bp", ((p * kg + kk) * nr + j) * g + h),
                lambda kk, h: to_b_side(src(kk * g + h, col), t), Const(0, t.b_type))
        if bias or t.quads:
            bty = t.acc_type
            init: Expr = Load("bias", col, bty) if bias else Const(0, bty)
            fill: list[Stmt] = []
            if t.quads:
                fill = [Decl("colsum", Const(0, dt.i32)),
                        Loop("kk", k, (Assign("colsum", Var("colsum", dt.i32) + Cast(
                            src(_v("kk"), col), dt.i32)),))]
                init = init - Var("colsum", dt.i32) * 128
            body.append(Loop("j", ncols, (*fill, Store("biasp", p * nr + _v("j"), init))))
            body.append(Loop("j", nr, (Store("biasp", p * nr + _v("j"), Const(0, bty)),),
                             start=ncols))
        return body

    inner = when(True if rem == 0 else lt(p, full), panel(nr), panel(rem) if rem else None)
    params = [Param("b", ety), Param("bp", t.b_type)]
    if bias:
        params.append(Param("bias", t.acc_type))
    if bias or t.quads:
        params.append(Param("biasp", t.acc_type))
    return Kernel(name, tuple(params), (Loop("p", np_, tuple(inner), "parallel"),))


def choose_mc(m: int, k: int, t: TileShape, threads: int = 2) -> int:
    """Rows per parallel block: a multiple of ``rows``, the A block <= ~256 KiB (L2).  Among
    the sizes whose busiest thread computes at most 5% more rows than the best split (padding
    and imbalance included), the largest: B panels are re-read once per block."""
    bytes_per_row = k * t.a_type.itemsize
    if t.quads and t.rows * bytes_per_row <= 24 * 1024:
        # VNNI quads: one register tile per block, its packed A (<= 24 KiB) stays in L1
        # while every B panel streams from L2 -- measured 3-9% faster than 28-112-row
        # blocks on int8 GEMM 512/1024 (Zen 4, one thread), and the finest thread split
        return t.rows
    mc_max = max(t.rows, min(96, (256 * 1024) // bytes_per_row) // t.rows * t.rows)
    sizes = range(t.rows, mc_max + 1, t.rows)
    busiest = {mc: ceil_div(ceil_div(m, mc), threads) * mc for mc in sizes}
    floor = min(busiest.values())
    return max(mc for mc in sizes if busiest[mc] <= floor * 1.05)


def gemm_kernel(name: str, m: int, k: int, n: int, t: TileShape, bias: bool,
                activation: str | None, mc: int) -> Kernel:
    mr, nr, vl = t.rows, t.cols, t.vl
    nmb = ceil_div(m, mc)
    np_, full, rem = ceil_div(n, nr), n // nr, n % nr
    g = t.group
    kg = ceil_div(k, g)
    acc_ty = t.acc_type
    mb, mrv = _v("mb"), _v("mr")
    uses_biasp = bias or t.quads

    # ---- pack this block of A into ap[MC/MR][K][MR] (int8: [K/g][MR][g] groups)
    row = mb * mc + mrv * mr + _v("r")
    if not t.int8:
        a_dst = lambda kk: (mrv * k + kk) * mr + _v("r")  # noqa: E731
        copy: tuple[Stmt, ...] = (Loop("kk", k, (Store("ap", a_dst(_v("kk")),
                                                     Load("a", row * k + _v("kk"), dt.f32)),)),)
        zero: tuple[Stmt, ...] = (Loop("kk", k, (Store("ap", a_dst(_v("kk")),
                                                     Const(0.0, dt.f32)),)),)
    else:
        def a_dst(kk: Expr, j: Expr, h: int) -> tuple[str, Expr]:
            return "ap", ((mrv * kg + kk) * mr + _v("r")) * g + h

        def a_val(kk: Expr, h: int) -> Expr:
            return to_a_side(Load("a", row * k + kk * g + h, dt.i8), t)

        z = Const(0, t.a_type)
        if t.quads:  # whole quads as one 4-byte vector each (4x fewer operations)
            quad = Load("a", row * k + _v("kk") * 4, dt.i8, 4)
            copy = (Loop("kk", k // 4, (Store(*a_dst(_v("kk"), idx(0), 0),
                                              to_a_side(quad, t)),)),)
            if k % 4:
                copy += tuple(grouped_copy(k % 4, g, 1, 1,
                                           lambda kk, j, h: a_dst(idx(k // 4), j, h),
                                           lambda kk, h: a_val(idx(k // 4), h), z))
        else:
            copy = tuple(grouped_copy(k, g, 1, 1, a_dst, a_val, z))
        zero = (Loop("kk", kg, tuple(Store(*a_dst(_v("kk"), idx(0), h), z)
                                     for h in range(g))),)
    pack_a = Loop("mr", mc // mr, (Loop("r", mr, tuple(when(lt(row, m), list(copy),
                                                            list(zero)))),))

    # ---- one micro-tile against panel `nb`
    def tile(nb: Expr, ncols: int, rows: int = mr) -> list[Stmt]:
        tt = TileShape(rows, t.nv, vl, t.int8, t.quads)
        a_index = lambda r: ((mrv * kg + _v("kk")) * mr + r) * g  # noqa: E731
        b_index = lambda v: ((nb * kg + _v("kk")) * nr + v * vl) * g  # noqa: E731
        init = (lambda r, v: Load("biasp", nb * nr + v * vl, acc_ty, vl)) if uses_biasp \
            else zeros(t)
        body = micro_tile(tt, "c", [("kk", kg, "serial")], "ap", a_index, "bp", b_index, init)
        for r in range(rows):
            rr = mb * mc + mrv * mr + r
            stores: list[Stmt] = []
            for v in range(t.nv):
                acc: Expr = Var(acc_name("c", r, v), acc_ty, vl)
                acc = apply_activation(acc, activation)
                col0 = v * vl
                dst = rr * n + nb * nr + col0
                if col0 + vl <= ncols:
                    stores.append(Store("c", dst, acc))
                elif col0 < ncols:
                    stores.append(Store("tail", idx(0), acc))
                    stores.append(Loop("q", ncols - col0, (
                        Store("c", dst + _v("q"), Load("tail", _v("q"), acc_ty)),)))
            body += when(lt(rr, m), stores)
        return body

    def sweep(rows: int) -> list[Stmt]:
        """The block against every panel, with tiles of ``rows`` rows."""
        out: list[Stmt] = [Loop("nb", full, (Loop("mr", mc // mr,
                                                  tuple(tile(_v("nb"), nr, rows))),))]
        if rem:
            out.append(Loop("mr", mc // mr, tuple(tile(idx(full), rem, rows))))
        return out

    # one tile per block (mc == mr): the last block computes only the rows left, not a
    # whole tile's worth of zero rows (512 = 36 x 14 + 8)
    last_rows = m % mr if mc == mr else 0
    panels = when(lt(mb, nmb - 1), sweep(mr), sweep(last_rows)) if last_rows else sweep(mr)
    del np_
    body = (Alloc("ap", t.a_type, mc * g * kg), Alloc("tail", acc_ty, vl), pack_a, *panels)
    params = [Param("a", dt.i8 if t.int8 else dt.f32), Param("bp", t.b_type)]
    if uses_biasp:
        params.append(Param("biasp", acc_ty))
    params.append(Param("c", acc_ty))
    return Kernel(name, tuple(params), (Loop("mb", nmb, body, "parallel"),))


def dense_plan(m: int, k: int, n: int, dtype: str = "f32", bias: bool = False,
               transpose_b: bool = False, activation: str | None = None,
               tile: TileShape | None = None) -> OpPlan:
    """Plan for ``out = act(a @ b + bias)``.

    a: ``[m, k]``; b: ``[k, n]`` (``[n, k]`` with ``transpose_b``, the ONNX Gemm/Linear
    weight layout); bias: ``[n]``.  ``dtype`` is ``f32`` (output f32) or ``i8`` (int8 inputs,
    int32 bias and output, exact int32 accumulation).
    """
    positive("dense", m=m, k=k, n=n)
    ety = pick_dtype("dense", "dtype", dtype, ("f32", "i8"))
    if activation not in ACTIVATIONS:
        raise ValueError(f"dense: activation must be one of {ACTIVATIONS}, got {activation!r}")
    int8 = ety is dt.i8
    t = tile or default_tile(int8)
    if t.int8 != int8:
        raise ValueError("dense: tile.int8 must match dtype")
    acc = t.acc_type
    mc = choose_mc(m, k, t)
    name = f"dense_{ety.name}_{tag(m, k, n, bias, transpose_b, activation, t, mc)}"
    kp = t.group * ceil_div(k, t.group)
    np_ = ceil_div(n, t.cols)
    bufs = [BufferSpec("a", ety, (m, k), "input"),
            BufferSpec("b", ety, (n, k) if transpose_b else (k, n), "input")]
    if bias:
        bufs.append(BufferSpec("bias", acc, (n,), "input"))
    bufs += [BufferSpec("out", acc, (m, n), "output"),
             BufferSpec("bp", t.b_type, (np_ * kp * t.cols,)),
             BufferSpec("biasp", acc, (np_ * t.cols,))]
    pack = pack_b_kernel(f"{name}_pack_b", k, n, t, transpose_b, bias)
    main = gemm_kernel(f"{name}_main", m, k, n, t, bias, activation, mc)
    biasp = ("biasp",) if bias or t.quads else ()
    pack_args = ("b", "bp", *(("bias",) if bias else ()), *biasp)
    main_args = ("a", "bp", *biasp, "out")
    return OpPlan(name, (pack, main), tuple(bufs),
                  (Step(pack.name, pack_args), Step(main.name, main_args)),
                  {"m": m, "k": k, "n": n, "tile": t, "mc": mc})
