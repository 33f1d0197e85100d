"""Depthwise conv2d (groups = C, channel multiplier m): NCHW, f32 or int8 -> int32.

The input is first copied into a zero-bordered plane per channel (the conv2d ``pack_x``
kernel with a channel block of 1), so the window loops need no bounds checks; each output row
accumulates in a thread-local row buffer whose inner loop runs along the output width, which
LLVM vectorizes.

fp32 with one output channel per input channel and whole vectors of channels (MobileNet's
depthwise layers) takes a channel-blocked kernel instead (:func:`blocked_depthwise_plan`):
the row-buffer kernel's strided window loads (stride 2) did not vectorize and ran at ~2
GFLOP/s.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import dtypes as dt
from ..kernel_ir import (
    Alloc,
    Assign,
    Cast,
    Const,
    Decl,
    Expr,
    Fma,
    Kernel,
    Let,
    Load,
    Loop,
    Param,
    Shuffle,
    Stmt,
    Store,
    Var,
    idx,
)
from .common import pair2, pick_dtype, positive, shape_of, tag
from .conv2d import conv_out_size, norm_padding, pack_input_kernel, transpose_block
from .gemm import ACTIVATIONS, apply_activation
from .microkernel import default_tile
from .plan import BufferSpec, OpPlan, Step


def depthwise_conv2d_plan(x_shape: Sequence[int], w_shape: Sequence[int], dtype: str = "f32",
                          stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                          dilation: int | Sequence[int] = 1, bias: bool = False,
                          activation: str | None = None, pad_value: int = 0) -> OpPlan:
    """w ``[C*m, 1, KH, KW]``; output channel ``o`` reads input channel ``o // m``; padded
    cells read ``pad_value`` (int8: the input zero point)."""
    op = "depthwise_conv2d"
    n, c, h, w = shape_of(op, "x_shape", x_shape, 4)
    oc, one, kh, kw = shape_of(op, "w_shape", w_shape, 4)
    if one != 1 or oc % c:
        raise ValueError(f"{op}: w_shape must be [C*m, 1, KH, KW] with C={c}, got "
                         f"{tuple(w_shape)}")
    mult = oc // c
    sh, sw = pair2(op, "stride", stride)
    dh, dw = pair2(op, "dilation", dilation)
    positive(op, stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw)
    pad = norm_padding(op, padding)
    ety = pick_dtype(op, "dtype", dtype, ("f32", "i8"))
    if activation not in ACTIVATIONS:
        raise ValueError(f"{op}: activation must be one of {ACTIVATIONS}, got {activation!r}")
    acc = dt.i32 if ety is dt.i8 else dt.f32
    vl = default_tile(False).vl
    if ety is dt.f32 and mult == 1 and c % vl == 0 and pad_value == 0:
        return blocked_depthwise_plan((n, c, h, w), (kh, kw), (sh, sw), pad, (dh, dw), bias,
                                      activation, vl)
    oh = conv_out_size(op, h, kh, sh, dh, pad[0], pad[2], "height")
    ow = conv_out_size(op, w, kw, sw, dw, pad[1], pad[3], "width")
    hp, wp = h + pad[0] + pad[2], w + pad[1] + pad[3]
    name = f"dwconv_{ety.name}_" \
        f"{tag(x_shape, w_shape, sh, sw, dh, dw, pad, bias, activation, pad_value)}"
    px = pack_input_kernel(f"{name}_pack_x", n, c, h, w, 1, pad, ety, acc,
                           pad_value=pad_value)

    q = Var("q")  # (n, oc, oy)
    oy, plane = q % oh, q // oh
    o = Var("plane") % oc
    xplane = Var("plane") // oc * c + o // mult
    row0 = Let("xrow", (xplane * hp + Var("oy") * sh) * wp)
    init: Expr = Load("bias", o, acc) if bias else Const(0, acc)
    accum = Loop("ky", kh, (Loop("kx", kw, (
        Let("wv", Load("w", (o * kh + Var("ky")) * kw + Var("kx"), ety)),
        Loop("ox", ow, (Store("row", Var("ox"), Load("row", Var("ox"), acc) + Cast(
            Var("wv", ety), acc) * Load("xp", Var("xrow") + Var("ky") * dh * wp + Var("ox") * sw
                                        + Var("kx") * dw, acc)),)),)),))
    res: Expr = Load("row", Var("ox"), acc)
    res = apply_activation(res, activation)
    body = (Alloc("row", acc, ow), Let("oy", oy), Let("plane", plane), row0,
            Loop("ox", ow, (Store("row", Var("ox"), init),)), accum,
            Loop("ox", ow, (Store("y", Var("plane") * (oh * ow) + Var("oy") * ow + Var("ox"),
                                  res),)))
    params = [Param("xp", acc), Param("w", ety)] + ([Param("bias", acc)] if bias else []) + [
        Param("y", acc)]
    main = Kernel(f"{name}_main", tuple(params), (Loop("q", n * oc * oh, body, "parallel"),))
    bufs = [BufferSpec("x", ety, (n, c, h, w), "input"),
            BufferSpec("w", ety, (oc, 1, kh, kw), "input")]
    if bias:
        bufs.append(BufferSpec("bias", acc, (oc,), "input"))
    bufs += [BufferSpec("y", acc, (n, oc, oh, ow), "output"),
             BufferSpec("xp", acc, (n * c * hp * wp,))]
    args = ("xp", "w", "bias", "y") if bias else ("xp", "w", "y")
    return OpPlan(name, (px, main), tuple(bufs),
                  (Step(px.name, ("x", "xp")), Step(main.name, args)),
                  {"out_shape": (n, oc, oh, ow)})


def blocked_depthwise_plan(x_shape: tuple[int, int, int, int], kernel: tuple[int, int],
                           stride: tuple[int, int], pad: tuple[int, int, int, int],
                           dil: tuple[int, int], bias: bool, activation: str | None,
                           vl: int) -> OpPlan:
    """fp32 depthwise (multiplier 1, ``C % vl == 0``) on a channel-blocked copy.

    1. ``pack_x`` (the conv2d kernel): ``x`` -> ``xp[N][C/vl][Hp][Wp][vl]``, zero borders;
    2. ``pack_w`` (weight-only, run once by ``bind``): ``w[C][1][KH][KW]`` ->
       ``wp[C/vl][KH][KW][vl]``;
    3. ``main``, parallel over (n, channel block, output row): tiles of ``vl`` output pixels
       x ``vl`` channels in ``vl`` vector accumulators, one FMA per pixel and tap with the
       tap's weight vector (every load contiguous, whatever the stride), then a register
       transpose and one NCHW row store per channel, bias and activation fused."""
    op = "depthwise_conv2d"
    n, c, h, w = x_shape
    kh, kw = kernel
    sh, sw = stride
    dh, dw = dil
    f32 = dt.f32
    oh = conv_out_size(op, h, kh, sh, dh, pad[0], pad[2], "height")
    ow = conv_out_size(op, w, kw, sw, dw, pad[1], pad[3], "width")
    hp, wp = h + pad[0] + pad[2], w + pad[1] + pad[3]
    ncb = c // vl
    name = f"dwblk_f32_{tag(x_shape, kernel, stride, pad, dil, bias, activation, vl)}"
    px = pack_input_kernel(f"{name}_pack_x", n, c, h, w, vl, pad, f32, f32)
    cb_, lane = Var("cb"), Var("lane")
    pw = Kernel(f"{name}_pack_w", (Param("w", f32), Param("wp", f32)), (Loop("cb", ncb, (
        Loop("ky", kh, (Loop("kx", kw, (Loop("lane", vl, (Store(
            "wp", ((cb_ * kh + Var("ky")) * kw + Var("kx")) * vl + lane,
            Load("w", ((cb_ * vl + lane) * kh + Var("ky")) * kw + Var("kx"), f32)),)),)),)),),
        "parallel"),))
    q = Var("q")
    oy, cblk, nn = Var("oy"), Var("cblk"), Var("nn")
    lets: list[Stmt] = [Let("oy", q % oh), Let("cblk", (q // oh) % ncb),
                        Let("nn", q // (oh * ncb))]

    def tile(prefix: str, ox0: Expr, rows: int) -> list[Stmt]:
        accs = [f"{prefix}{r}" for r in range(rows)]
        init: Expr = Load("bias", cblk * vl, f32, vl) if bias else Const(0.0, f32, vl)
        body: list[Stmt] = [Decl(a, init) for a in accs]
        xrow = ((nn * ncb + cblk) * hp + oy * sh + Var("ky") * dh) * wp
        taps: list[Stmt] = [Let(f"{prefix}w", Load(
            "wp", ((cblk * kh + Var("ky")) * kw + Var("kx")) * vl, f32, vl))]
        for r, a in enumerate(accs):
            x = Load("xp", (xrow + (ox0 + r) * sw + Var("kx") * dw) * vl, f32, vl)
            taps.append(Assign(a, Fma(x, Var(f"{prefix}w", f32, vl), Var(a, f32, vl))))
        body.append(Loop("ky", kh, (Loop("kx", kw, tuple(taps)),)))
        vals = [apply_activation(Var(a, f32, vl), activation) for a in accs]
        lets_t, cols = transpose_block(f"{prefix}t", vals, vl)
        body += lets_t
        for j, col in enumerate(cols):
            dst = ((nn * c + cblk * vl + j) * oh + oy) * ow + ox0
            body.append(Store("y", dst, col if rows == vl
                              else Shuffle(col, col, tuple(range(rows)))))
        return body

    full, rem = divmod(ow, vl)
    tiles: list[Stmt] = []
    if full:
        tiles.append(Loop("owt", full, tuple(tile("a", Var("owt") * vl, vl))))
    if rem:
        tiles += tile("r", idx(full * vl), rem)
    params = [Param("xp", f32), Param("wp", f32)] + ([Param("bias", f32)] if bias else []) + [
        Param("y", f32)]
    main = Kernel(f"{name}_main", tuple(params),
                  (Loop("q", n * ncb * oh, (*lets, *tiles), "parallel"),))
    bufs = [BufferSpec("x", f32, (n, c, h, w), "input"),
            BufferSpec("w", f32, (c, 1, kh, kw), "input")]
    if bias:
        bufs.append(BufferSpec("bias", f32, (c,), "input"))
    bufs += [BufferSpec("y", f32, (n, c, oh, ow), "output"),
             BufferSpec("xp", f32, (n * ncb * hp * wp * vl,)),
             BufferSpec("wp", f32, (ncb * kh * kw * vl,))]
    args = ("xp", "wp", "bias", "y") if bias else ("xp", "wp", "y")
    return OpPlan(name, (px, pw, main), tuple(bufs),
                  (Step(pw.name, ("w", "wp")), Step(px.name, ("x", "xp")),
                   Step(main.name, args)), {"out_shape": (n, c, oh, ow)})
