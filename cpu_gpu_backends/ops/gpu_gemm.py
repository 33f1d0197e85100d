"""GPU schedules for the GEMM-like operators: shared-memory tiled GEMM and implicit-GEMM conv.

Grid mapping: one thread block per ``BM x BN`` output tile (``block.y``/``block.x``), 16 x 16
threads each owning a 4 x 4 sub-tile strided by 16 (so warps touch consecutive columns: global
stores and shared-memory reads coalesce).  Per ``BK`` step the block cooperatively stages an
A tile and a B tile in shared memory, synchronises, and runs the 4 x 4 outer products.

The element loaders are callbacks, so the same schedule serves dense (A, B read directly) and
conv2d (B gathered from the NCHW input on the fly: implicit GEMM, no im2col buffer).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .. import dtypes as dt
from ..dtypes import DType
from ..kernel_ir import (
    Alloc,
    Assign,
    Barrier,
    Cast,
    Const,
    Decl,
    Expr,
    Fma,
    If,
    Kernel,
    Let,
    Load,
    Loop,
    Param,
    Stmt,
    Store,
    Var,
    ge,
    land,
    lt,
)
from .common import ceil_div, pick_dtype, positive, shape_of, tag
from .conv2d import conv_out_size, norm_padding
from .gemm import ACTIVATIONS, apply_activation
from .plan import BufferSpec, OpPlan, Step

BM = BN = 64
BK = 16
TS = 16  # threads per block side
PT = BM // TS  # outputs per thread per side


def _v(n: str) -> Var:
    return Var(n)


def tiled_gemm_kernel(name: str, m: int, n: int, k: int, ety: DType, params: Sequence[Param],
                      a_elem: Callable[[Expr, Expr], tuple[Expr, Expr]],
                      b_elem: Callable[[Expr, Expr], tuple[Expr, Expr]],
                      store: Callable[[Expr, Expr, Expr], list[Stmt]]) -> Kernel:
    """a_elem(m, k) / b_elem(k, n) return ``(in_bounds, value)`` or ``(in_bounds, value,
    fill)``: what the shared tile holds where ``in_bounds`` is false (default 0; a conv's
    padding reads the input zero point there, harmless past K since A's tile is 0 there);
    store(m, n, acc) writes one output (the caller fuses bias and activation there)."""
    acc_ty = dt.i32 if ety is dt.i8 else dt.f32
    sty = acc_ty  # shared tiles hold widened values: one multiply-add per element
    tid = _v("ty") * TS + _v("tx")
    loads: list[Stmt] = []
    for which, rows, elem in (("as", BM, a_elem), ("bs", BN, b_elem)):
        for rep in range(BK * rows // (TS * TS)):
            e = tid + rep * TS * TS
            kk, rr = e // rows, e % rows
            gk = _v("kt") * BK + kk
            got = elem(_v("by") * BM + rr, gk) if which == "as" else elem(gk, _v("bx") * BN + rr)
            ok, val, fill = got if len(got) == 3 else (*got, 0)
            dst = kk * rows + rr
            loads.append(If(ok, (Store(which, dst, Cast(val, sty)),),
                            (Store(which, dst, Const(fill, sty)),)))
    inner: list[Stmt] = []
    for i in range(PT):
        inner.append(Let(f"a{i}", Load("as", _v("kk") * BM + _v("ty") + TS * i, sty)))
    for j in range(PT):
        inner.append(Let(f"b{j}", Load("bs", _v("kk") * BN + _v("tx") + TS * j, sty)))
    for i in range(PT):
        for j in range(PT):
            a, b, c = Var(f"a{i}", sty), Var(f"b{j}", sty), Var(f"acc{i}_{j}", acc_ty)
            inner.append(Assign(f"acc{i}_{j}", Fma(a, b, c) if sty.is_float else c + a * b))
    kloop = Loop("kt", ceil_div(k, BK), (*loads, Barrier(),
                                         Loop("kk", BK, tuple(inner), "unroll"), Barrier()))
    out: list[Stmt] = []
    for i in range(PT):
        for j in range(PT):
            gm = _v("by") * BM + _v("ty") + TS * i
            gn = _v("bx") * BN + _v("tx") + TS * j
            out.append(If(land(lt(gm, m), lt(gn, n)),
                          tuple(store(gm, gn, Var(f"acc{i}_{j}", acc_ty)))))
    body: tuple[Stmt, ...] = (
        Alloc("as", sty, BK * BM, "shared"), Alloc("bs", sty, BK * BN, "shared"),
        *[Decl(f"acc{i}_{j}", Const(0, acc_ty)) for i in range(PT) for j in range(PT)],
        kloop, *out)
    nest = Loop("by", ceil_div(m, BM), (Loop("bx", ceil_div(n, BN), (
        Loop("ty", TS, (Loop("tx", TS, body, "thread.x"),), "thread.y"),), "block.x"),),
        "block.y")
    return Kernel(name, tuple(params), (nest,))


def _epilogue(acc: Expr, bias: Expr | None, activation: str | None) -> Expr:
    if bias is not None:
        acc = acc + bias
    return apply_activation(acc, activation)


def gpu_dense_plan(m: int, k: int, n: int, dtype: str = "f32", bias: bool = False,
                   transpose_b: bool = False, activation: str | None = None) -> OpPlan:
    """GPU version of :func:`.gemm.dense_plan` (same buffers, one tiled kernel)."""
    positive("dense", m=m, k=k, n=n)
    ety = pick_dtype("dense", "dtype", dtype, ("f32", "i8"))
    if activation not in ACTIVATIONS:
        raise ValueError(f"dense: activation must be one of {ACTIVATIONS}, got {activation!r}")
    acc = dt.i32 if ety is dt.i8 else dt.f32

    def a_elem(mi: Expr, ki: Expr) -> tuple[Expr, Expr]:
        return land(lt(mi, m), lt(ki, k)), Load("a", mi * k + ki, ety)

    def b_elem(ki: Expr, ni: Expr) -> tuple[Expr, Expr]:
        at = ni * k + ki if transpose_b else ki * n + ni
        return land(lt(ki, k), lt(ni, n)), Load("b", at, ety)

    def store(mi: Expr, ni: Expr, a: Expr) -> list[Stmt]:
        return [Store("out", mi * n + ni,
                      _epilogue(a, Load("bias", ni, acc) if bias else None, activation))]

    params = [Param("a", ety), Param("b", ety)] + ([Param("bias", acc)] if bias else []) + [
        Param("out", acc)]
    name = f"gpu_dense_{ety.name}_{tag(m, k, n, bias, transpose_b, activation)}"
    kern = tiled_gemm_kernel(name, m, n, k, ety, params, a_elem, b_elem, store)
    bufs = [BufferSpec("a", ety, (m, k), "input"),
            BufferSpec("b", ety, (n, k) if transpose_b else (k, n), "input")]
    if bias:
        bufs.append(BufferSpec("bias", acc, (n,), "input"))
    bufs.append(BufferSpec("out", acc, (m, n), "output"))
    step = Step(name, tuple(p.name for p in params), (ceil_div(n, BN), ceil_div(m, BM), 1),
                (TS, TS, 1))
    return OpPlan(name, (kern,), tuple(bufs), (step,), {"shared_bytes": 2 * BK * BM * 4})


def gpu_conv2d_plan(x_shape: Sequence[int], w_shape: Sequence[int], dtype: str = "f32",
                    stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                    dilation: int | Sequence[int] = 1, bias: bool = False,
                    activation: str | None = None, pad_value: int = 0) -> OpPlan:
    """Implicit-GEMM conv2d: M = output channels, N = output pixels, K = C * KH * KW.
    Out-of-image pixels read ``pad_value`` (an int8 input's zero point; 0 for float)."""
    from .common import pair2

    op = "conv2d"
    nb, c, h, w = shape_of(op, "x_shape", x_shape, 4)
    oc, wc, kh, kw = shape_of(op, "w_shape", w_shape, 4)
    if wc != c:
        raise ValueError(f"{op}: w_shape[1]={wc} must equal x_shape[1]={c}")
    sh, sw = pair2(op, "stride", stride)
    dh, dw = pair2(op, "dilation", dilation)
    positive(op, stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw)
    pt, pl, pb, pr = norm_padding(op, padding)
    ety = pick_dtype(op, "dtype", dtype, ("f32", "i8"))
    acc = dt.i32 if ety is dt.i8 else dt.f32
    oh = conv_out_size(op, h, kh, sh, dh, pt, pb, "height")
    ow = conv_out_size(op, w, kw, sw, dw, pl, pr, "width")
    kdim, npix = c * kh * kw, nb * oh * ow

    def a_elem(mi: Expr, ki: Expr) -> tuple[Expr, Expr]:
        return land(lt(mi, oc), lt(ki, kdim)), Load("w", mi * kdim + ki, ety)

    def b_elem(ki: Expr, pi: Expr) -> tuple[Expr, Expr]:
        ci, r = ki // (kh * kw), ki % (kh * kw)
        ky, kx = r // kw, r % kw
        ni, pr_ = pi // (oh * ow), pi % (oh * ow)
        iy = (pr_ // ow) * sh - pt + ky * dh
        ix = (pr_ % ow) * sw - pl + kx * dw
        ok = land(land(lt(ki, kdim), lt(pi, npix)),
                  land(land(ge(iy, 0), lt(iy, h)), land(ge(ix, 0), lt(ix, w))))
        return ok, Load("x", ((ni * c + ci) * h + iy) * w + ix, ety), pad_value

    def store(mi: Expr, pi: Expr, a: Expr) -> list[Stmt]:
        ni, pr_ = pi // (oh * ow), pi % (oh * ow)
        return [Store("y", (ni * oc + mi) * (oh * ow) + pr_,
                      _epilogue(a, Load("bias", mi, acc) if bias else None, activation))]

    params = [Param("x", ety), Param("w", ety)] + ([Param("bias", acc)] if bias else []) + [
        Param("y", acc)]
    if pad_value and ety is not dt.i8:
        raise ValueError(f"{op}: pad_value applies to int8 inputs only, got {pad_value}")
    name = f"gpu_conv2d_{ety.name}_{tag(x_shape, w_shape, sh, sw, dh, dw, pt, pl, pb, pr, bias, activation, pad_value)}"  # noqa: E501
    kern = tiled_gemm_kernel(name, oc, npix, kdim, ety, params, a_elem, b_elem, store)
    bufs = [BufferSpec("x", ety, (nb, c, h, w), "input"),
            BufferSpec("w", ety, (oc, c, kh, kw), "input")]
    if bias:
        bufs.append(BufferSpec("bias", acc, (oc,), "input"))
    bufs.append(BufferSpec("y", acc, (nb, oc, oh, ow), "output"))
    step = Step(name, tuple(p.name for p in params), (ceil_div(npix, BN), ceil_div(oc, BM), 1),
                (TS, TS, 1))

    return OpPlan(name, (kern,), tuple(bufs), (step,), {"out_shape": (nb, oc, oh, ow)})
