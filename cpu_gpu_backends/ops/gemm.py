"""Dense / matmul: ``C[M, N] = A[M, K] @ B[K, N] (+ bias[N])``, fp32 or int8 -> int32.

Plan: ``pack_b`` lays B out as column panels ``Bp[N/NR][K][NR]`` (int8: ``[K/2][NR][2]`` i16
pairs) plus a zero-padded bias; when B is a weight this step runs once (``CompiledOp.bind``).
The main kernel's parallel loop runs over blocks of ``MC`` rows of A; each block is packed
into a thread-local ``Ap[MC/MR][K][MR]`` and multiplied panel by panel with the register-blocked
micro-kernel (:mod:`.microkernel`).  The whole reduction stays in registers (no K blocking):
one B panel (K x NR) stays in L2 while the A block is swept.
"""

from __future__ import annotations

from .. import dtypes as dt
from ..kernel_ir import (
    Alloc,
    Cast,
    Const,
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
)
from .common import ceil_div, pick_dtype, positive, tag, when
from .microkernel import TileShape, acc_name, default_tile, micro_tile, zeros
from .plan import BufferSpec, OpPlan, Step

ACTIVATIONS = (None, "relu")


def _v(name: str) -> Var:
    return Var(name)


def pack_b_kernel(name: str, k: int, n: int, t: TileShape, transpose_b: bool,
                  bias: bool) -> Kernel:
    """B (``[K, N]``, or ``[N, K]`` when ``transpose_b``) -> column panels; bias -> padded."""
    nr = t.cols
    np_ = ceil_div(n, nr)
    full, rem = n // nr, n % nr
    p = _v("p")
    ety = dt.i8 if t.int8 else dt.f32
    k2 = ceil_div(k, 2)

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
            def dst(kk: Expr, j: Expr, h: int) -> Expr:
                return ((p * k2 + kk) * nr + j) * 2 + h

            def val(kk: Expr, h: int) -> Expr:
                return Cast(src(kk * 2 + h, col), dt.i16)

            zero = Const(0, dt.i16)
            pair = (Store("bp", dst(_v("kk"), _v("j"), 0), val(_v("kk"), 0)),
                    Store("bp", dst(_v("kk"), _v("j"), 1), val(_v("kk"), 1)))
            pad = (Store("bp", dst(_v("kk"), _v("j"), 0), zero),
                   Store("bp", dst(_v("kk"), _v("j"), 1), zero))
            body.append(Loop("kk", k // 2, (Loop("j", ncols, pair),
                                            Loop("j", nr, pad, start=ncols))))
            if k % 2:
                last = idx(k // 2)
                body.append(Loop("j", ncols, (
                    Store("bp", dst(last, _v("j"), 0), val(last, 0)),
                    Store("bp", dst(last, _v("j"), 1), zero))))
                body.append(Loop("j", nr, (Store("bp", dst(last, _v("j"), 0), zero),
                                           Store("bp", dst(last, _v("j"), 1), zero)),
                                 start=ncols))
        if bias:
            bty = t.acc_type
            body.append(Loop("j", ncols, (Store("biasp", p * nr + _v("j"),
                                                Load("bias", col, bty)),)))
            body.append(Loop("j", nr, (Store("biasp", p * nr + _v("j"), Const(0, bty)),),
                             start=ncols))
        return body

    inner = when(True if rem == 0 else lt(p, full), panel(nr), panel(rem) if rem else None)
    params = [Param("b", ety), Param("bp", dt.i16 if t.int8 else dt.f32)]
    if bias:
        params += [Param("bias", t.acc_type), Param("biasp", t.acc_type)]
    return Kernel(name, tuple(params), (Loop("p", np_, tuple(inner), "parallel"),))


def choose_mc(m: int, k: int, t: TileShape, threads: int = 2) -> int:
    """Rows per parallel block: a multiple of ``rows``, the A block <= ~256 KiB (L2).  Among
    the sizes whose busiest thread computes at most 5% more rows than the best split (padding
    and imbalance included), the largest: B panels are re-read once per block."""
    bytes_per_row = k * (2 if t.int8 else 4)
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
    k2 = ceil_div(k, 2)
    kred = k2 if t.int8 else k
    acc_ty = t.acc_type
    mb, mrv = _v("mb"), _v("mr")

    # ---- pack this block of A into ap[MC/MR][K][MR] (int8: [K/2][MR][2] i16)
    row = mb * mc + mrv * mr + _v("r")
    if not t.int8:
        a_dst = lambda kk: (mrv * k + kk) * mr + _v("r")  # noqa: E731
        copy: tuple[Stmt, ...] = (Loop("kk", k, (Store("ap", a_dst(_v("kk")),
                                                     Load("a", row * k + _v("kk"), dt.f32)),)),)
        zero: tuple[Stmt, ...] = (Loop("kk", k, (Store("ap", a_dst(_v("kk")),
                                                     Const(0.0, dt.f32)),)),)
    else:
        def a_dst(kk: Expr, h: int) -> Expr:
            return ((mrv * k2 + kk) * mr + _v("r")) * 2 + h

        def a_val(kk: Expr, h: int) -> Expr:
            return Cast(Load("a", row * k + kk * 2 + h, dt.i8), dt.i16)

        z16 = Const(0, dt.i16)
        copy = (Loop("kk", k // 2, (Store("ap", a_dst(_v("kk"), 0), a_val(_v("kk"), 0)),
                                    Store("ap", a_dst(_v("kk"), 1), a_val(_v("kk"), 1)))),)
        if k % 2:
            last = idx(k // 2)
            copy += (Store("ap", a_dst(last, 0), a_val(last, 0)),
                     Store("ap", a_dst(last, 1), z16))
        zero = (Loop("kk", k2, (Store("ap", a_dst(_v("kk"), 0), z16),
                                Store("ap", a_dst(_v("kk"), 1), z16))),)
    pack_a = Loop("mr", mc // mr, (Loop("r", mr, tuple(when(lt(row, m), list(copy),
                                                            list(zero)))),))

    # ---- one micro-tile against panel `nb`
    def tile(nb: Expr, ncols: int) -> list[Stmt]:
        if t.int8:
            a_index = lambda r: ((mrv * k2 + _v("kk")) * mr + r) * 2  # noqa: E731
            b_index = lambda v: ((nb * k2 + _v("kk")) * nr + v * vl) * 2  # noqa: E731
        else:
            a_index = lambda r: (mrv * k + _v("kk")) * mr + r  # noqa: E731
            b_index = lambda v: (nb * k + _v("kk")) * nr + v * vl  # noqa: E731
        init = (lambda r, v: Load("biasp", nb * nr + v * vl, acc_ty, vl)) if bias else zeros(t)
        body = micro_tile(t, "c", [("kk", kred, "serial")], "ap", a_index, "bp", b_index, init)
        for r in range(mr):
            rr = mb * mc + mrv * mr + r
            stores: list[Stmt] = []
            for v in range(t.nv):
                acc: Expr = Var(acc_name("c", r, v), acc_ty, vl)
                if activation == "relu":
                    acc = maximum(acc, Const(0, acc_ty, vl))
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

    panels: list[Stmt] = [Loop("nb", full, (Loop("mr", mc // mr, tuple(tile(_v("nb"), nr))),))]
    if rem:
        panels.append(Loop("mr", mc // mr, tuple(tile(idx(full), rem))))
    del np_
    body = (Alloc("ap", dt.i16 if t.int8 else dt.f32, mc * (2 * k2 if t.int8 else k)),
            Alloc("tail", acc_ty, vl), pack_a, *panels)
    params = [Param("a", dt.i8 if t.int8 else dt.f32), Param("bp", dt.i16 if t.int8 else dt.f32)]
    if bias:
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
    kp = 2 * ceil_div(k, 2) if int8 else k
    np_ = ceil_div(n, t.cols)
    bufs = [BufferSpec("a", ety, (m, k), "input"),
            BufferSpec("b", ety, (n, k) if transpose_b else (k, n), "input")]
    if bias:
        bufs.append(BufferSpec("bias", acc, (n,), "input"))
    bufs += [BufferSpec("out", acc, (m, n), "output"),
             BufferSpec("bp", dt.i16 if int8 else dt.f32, (np_ * kp * t.cols,)),
             BufferSpec("biasp", acc, (np_ * t.cols,))]
    pack = pack_b_kernel(f"{name}_pack_b", k, n, t, transpose_b, bias)
    main = gemm_kernel(f"{name}_main", m, k, n, t, bias, activation, mc)
    pack_args = ("b", "bp", "bias", "biasp") if bias else ("b", "bp")
    main_args = ("a", "bp", "biasp", "out") if bias else ("a", "bp", "out")
    return OpPlan(name, (pack, main), tuple(bufs),
                  (Step(pack.name, pack_args), Step(main.name, main_args)),
                  {"m": m, "k": k, "n": n, "tile": t, "mc": mc})
