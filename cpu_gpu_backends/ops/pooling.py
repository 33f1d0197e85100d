"""Max / average / global-average pooling over NCHW.

One parallel task per output row; bounds against the (virtual) padding are resolved per
window position, so padded cells never contribute to a max and are counted in an average only
with ``count_include_pad``.
"""

from __future__ import annotations

from collections.abc import Sequence

from opset.layout import ActLayout

from .. import dtypes as dt
from ..kernel_ir import (
    Assign,
    Cast,
    Const,
    Decl,
    Expr,
    Kernel,
    Let,
    Load,
    Loop,
    Param,
    Store,
    Var,
    binary,
    ge,
    idx,
    land,
    lt,
    maximum,
    minimum,
)
from .common import pair2, pick_dtype, positive, shape_of, tag, when
from .conv2d import conv_out_size, norm_padding
from .plan import BufferSpec, OpPlan, Step


def pool2d_plan(x_shape: Sequence[int], kind: str, kernel: int | Sequence[int],
                stride: int | Sequence[int] | None = None, padding: int | Sequence[int] = 0,
                count_include_pad: bool = False, dtype: str = "f32") -> OpPlan:
    """``kind`` is ``max`` (f32 or i8) or ``avg`` (f32).  stride defaults to the kernel."""
    op = f"{kind}_pool2d"
    if kind not in ("max", "avg"):
        raise ValueError(f"pool2d: kind must be 'max' or 'avg', got {kind!r}")
    n, c, h, w = shape_of(op, "x_shape", x_shape, 4)
    kh, kw = pair2(op, "kernel", kernel)
    sh, sw = pair2(op, "stride", stride if stride is not None else (kh, kw))
    positive(op, kernel_h=kh, kernel_w=kw, stride_h=sh, stride_w=sw)
    pt, pl, pb, pr = norm_padding(op, padding)
    if max(pt, pb) >= kh or max(pl, pr) >= kw:
        raise ValueError(f"{op}: padding {padding!r} must be smaller than the kernel")
    ty = pick_dtype(op, "dtype", dtype, ("f32", "i8") if kind == "max" else ("f32",))
    oh = conv_out_size(op, h, kh, sh, 1, pt, pb, "height")
    ow = conv_out_size(op, w, kw, sw, 1, pl, pr, "width")
    q, ox = Var("q"), Var("ox")
    oy, plane = q % oh, q // oh
    ih = Var("oy") * sh - pt + Var("ky")
    iw = ox * sw - pl + Var("kx")
    inside = land(land(ge(ih, 0), lt(ih, h)), land(ge(iw, 0), lt(iw, w)))
    x_at = Load("x", (Var("plane") * h + ih) * w + iw, ty)
    if kind == "max":
        init: Expr = Const(ty.min(), ty)
        upd = [Assign("acc", maximum(Var("acc", ty), x_at))]
        window = Loop("ky", kh, (Loop("kx", kw, tuple(when(inside, upd))),))
        result: Expr = Var("acc", ty)
        extra: list = []
    else:
        init = Const(0.0, dt.f32)
        upd = [Assign("acc", Var("acc", dt.f32) + x_at),
               Assign("cnt", Var("cnt", dt.i64) + 1)]
        window = Loop("ky", kh, (Loop("kx", kw, tuple(when(inside, upd))),))
        if count_include_pad:
            # ONNX counts padded cells but not cells beyond the padded border
            hs, ws = Var("oy") * sh - pt, ox * sw - pl
            cnt_h = minimum(hs + kh, idx(h + pb)) - hs
            cnt_w = minimum(ws + kw, idx(w + pr)) - ws
            denom: Expr = Cast(cnt_h * cnt_w, dt.f32)
        else:
            denom = Cast(maximum(Var("cnt", dt.i64), idx(1)), dt.f32)
        result = binary("div", Var("acc", dt.f32), denom)
        extra = [Decl("cnt", idx(0))]
    body = Loop("ox", ow, (Decl("acc", init), *extra, window,
                           Store("y", (Var("plane") * oh + Var("oy")) * ow + ox, result)))
    name = f"{kind}pool_{ty.name}_{tag(x_shape, kh, kw, sh, sw, pt, pl, pb, pr, count_include_pad)}"
    k = Kernel(name, (Param("x", ty), Param("y", ty)),
               (Loop("q", n * c * oh, (Let("oy", oy), Let("plane", plane), body), "parallel"),))
    bufs = (BufferSpec("x", ty, (n, c, h, w), "input"),
            BufferSpec("y", ty, (n, c, oh, ow), "output"))
    return OpPlan(name, (k,), bufs, (Step(name, ("x", "y")),), {"out_shape": (n, c, oh, ow)})


def global_avg_pool_plan(x_shape: Sequence[int]) -> OpPlan:
    """``y[n, c, 0, 0] = mean(x[n, c])`` in f32."""
    op = "global_avg_pool"
    n, c, h, w = shape_of(op, "x_shape", x_shape, 4)
    p = Var("p")
    body = (Decl("acc", Const(0.0, dt.f32)),
            Loop("i", h * w, (Assign("acc", Var("acc", dt.f32) +
                                     Load("x", p * (h * w) + Var("i"), dt.f32)),)),
            Store("y", p, binary("div", Var("acc", dt.f32), Const(float(h * w), dt.f32))))
    name = f"gap_{tag(x_shape)}"
    k = Kernel(name, (Param("x", dt.f32), Param("y", dt.f32)),
               (Loop("p", n * c, body, "parallel"),))
    bufs = (BufferSpec("x", dt.f32, (n, c, h, w), "input"),
            BufferSpec("y", dt.f32, (n, c, 1, 1), "output"))
    return OpPlan(name, (k,), bufs, (Step(name, ("x", "y")),), {"out_shape": (n, c, 1, 1)})


def blocked_max_pool_plan(in_layout: ActLayout, kernel: int | Sequence[int],
                          stride: int | Sequence[int] | None, padding: int | Sequence[int],
                          out_layout: ActLayout, vl: int, dtype: str = "f32") -> OpPlan:
    """Max pooling from one blocked activation (:class:`opset.layout.ActLayout`) into
    another's interior: ``vl`` channels per vector, so one window tap is one vector max
    (the taps outside the image skipped, as in :func:`pool2d_plan`; the halo is not read).
    ``dtype`` ``f32``, or ``i16``: the int8 values the int8 convolutions keep blocked
    (every window holds an image pixel, so this is int8 max pooling exactly)."""
    op = "max_pool2d"
    ety = pick_dtype(op, "dtype", dtype, ("f32", "i16"))
    lin, lout = in_layout, out_layout
    n, c, h, w = lin.n, lin.c, lin.h, lin.w
    kh, kw = pair2(op, "kernel", kernel)
    sh, sw = pair2(op, "stride", stride if stride is not None else (kh, kw))
    positive(op, kernel_h=kh, kernel_w=kw, stride_h=sh, stride_w=sw)
    pt, pl, pb, pr = norm_padding(op, padding)
    oh = conv_out_size(op, h, kh, sh, 1, pt, pb, "height")
    ow = conv_out_size(op, w, kw, sw, 1, pl, pr, "width")
    cb = lin.block
    if (lout.n, lout.c, lout.h, lout.w, lout.block) != (n, c, oh, ow, cb) or cb % vl \
            or lin.batch != 1 or lout.batch != 1 or lin.c_blocks != lout.c_blocks:
        raise ValueError(f"{op}: layouts {lin} -> {lout} must be one batch, one block (a "
                         f"multiple of {vl}) and ({n}, {c}, {oh}, {ow}) out")
    q, ox = Var("q"), Var("ox")
    ih = Var("oy") * sh - pt + Var("ky")
    iw = ox * sw - pl + Var("kx")
    inside = land(land(ge(ih, 0), lt(ih, h)), land(ge(iw, 0), lt(iw, w)))
    plane = Var("plane")  # n * c_blocks + block
    nv = cb // vl
    accs = [f"acc{v}" for v in range(nv)]
    src = ((plane * lin.hp + ih + lin.halo[0]) * lin.wp + iw + lin.halo[1]) * cb
    upd = [Assign(a, maximum(Var(a, ety, vl), Load("x", src + v * vl, ety, vl)))
           for v, a in enumerate(accs)]
    window = Loop("ky", kh, (Loop("kx", kw, tuple(when(inside, upd))),))
    dst = ((plane * lout.hp + Var("oy") + lout.halo[0]) * lout.wp + ox + lout.halo[1]) * cb
    body = Loop("ox", ow, (*[Decl(a, Const(ety.min(), ety, vl)) for a in accs], window,
                           *[Store("y", dst + v * vl, Var(a, ety, vl))
                             for v, a in enumerate(accs)]))
    name = f"maxpool_blk_{ety.name}_{tag(lin, lout, kh, kw, sh, sw, pt, pl, pb, pr, vl)}"
    k = Kernel(name, (Param("x", ety), Param("y", ety)),
               (Loop("q", n * lin.c_blocks * oh, (Let("oy", q % oh), Let("plane", q // oh),
                                                  body), "parallel"),))
    bufs = (BufferSpec("x", ety, lin.shape, "input"),
            BufferSpec("y", ety, lout.shape, "output"))
    return OpPlan(name, (k,), bufs, (Step(name, ("x", "y")),), {"out_shape": (n, c, oh, ow)})


def blocked_global_avg_pool_plan(in_layout: ActLayout, vl: int) -> OpPlan:
    """``y[n, c, 0, 0] = mean(x[n, c])`` (f32, NCHW out) from a blocked activation: ``vl``
    channels summed per vector over the interior, whole blocks of real channels only."""
    op = "global_avg_pool"
    lay = in_layout
    n, c, h, w, cb = lay.n, lay.c, lay.h, lay.w, lay.block
    if c % cb or cb % vl or lay.batch != 1:
        raise ValueError(f"{op}: a blocked input needs whole blocks of a multiple of {vl} "
                         f"channels and batch 1, got {lay}")
    p = Var("p")  # n * c_blocks + block
    accs = [f"acc{v}" for v in range(cb // vl)]
    src = ((p * lay.hp + Var("y") + lay.halo[0]) * lay.wp + Var("x") + lay.halo[1]) * cb
    upd = tuple(Assign(a, Var(a, dt.f32, vl) + Load("x", src + v * vl, dt.f32, vl))
                for v, a in enumerate(accs))
    count = Const(float(h * w), dt.f32, vl)
    body = (*[Decl(a, Const(0.0, dt.f32, vl)) for a in accs],
            Loop("y", h, (Loop("x", w, upd),)),
            *[Store("y", p * cb + v * vl, binary("div", Var(a, dt.f32, vl), count))
              for v, a in enumerate(accs)])
    name = f"gap_blk_{tag(lay, vl)}"
    k = Kernel(name, (Param("x", dt.f32), Param("y", dt.f32)),
               (Loop("p", n * lay.c_blocks, body, "parallel"),))
    bufs = (BufferSpec("x", dt.f32, lay.shape, "input"),
            BufferSpec("y", dt.f32, (n, c, 1, 1), "output"))
    return OpPlan(name, (k,), bufs, (Step(name, ("x", "y")),), {"out_shape": (n, c, 1, 1)})
