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

from opset.layout import ActLayout

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
from .conv2d import BLOCK, conv_out_size, norm_padding, pack_input_kernel, transpose_block
from .gemm import ACTIVATIONS, apply_activation
from .microkernel import default_tile
from .plan import BufferSpec, OpPlan, Step


def depthwise_conv2d_plan(x_shape: Sequence[int], w_shape: Sequence[int], dtype: str = "f32",
                          stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                          dilation: int | Sequence[int] = 1, bias: bool = False,
                          activation: str | None = None, pad_value: int = 0,
                          in_layout: ActLayout | None = None,
                          out_layout: ActLayout | None = None) -> OpPlan:
    """w ``[C*m, 1, KH, KW]``; output channel ``o`` reads input channel ``o // m``; padded
    cells read ``pad_value`` (int8: the input zero point).  ``in_layout`` / ``out_layout``:
    blocked input / output (f32, multiplier 1, whole vectors of channels:
    :func:`blocked_depthwise_plan`)."""
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
                                      activation, vl, in_layout, out_layout)
    if in_layout is not None or out_layout is not None:
        raise ValueError(f"{op}: blocked layouts need f32, multiplier 1 and a multiple of "
                         f"{vl} channels, got {ety.name}, {mult}, {c}")
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
                           vl: int, in_layout: ActLayout | None = None,
                           out_layout: ActLayout | None = None) -> OpPlan:
    """fp32 depthwise (multiplier 1, ``C % vl == 0``) on a channel-blocked copy.

    1. ``pack_x`` (the conv2d kernel): ``x`` -> ``xp[N][C/cb][Hp][Wp][cb]``, zero borders
       (``cb`` = :data:`~.conv2d.BLOCK` when it divides C, else ``vl``); none with
       ``in_layout`` (``x`` already blocked, its halo at least the padding);
    2. ``pack_w`` (weight-only, run once by ``bind``): ``w[C][1][KH][KW]`` ->
       ``wp[C/cb][KH][KW][cb]``;
    3. ``main``, parallel over (n, channel block, output row): per vector of ``vl``
       channels, tiles of ``vl`` output pixels in ``vl`` vector accumulators, one FMA per
       pixel and tap with the tap's weight vector (every load contiguous, whatever the
       stride), then bias and activation and either a register transpose and one NCHW row
       store per channel, or with ``out_layout`` one blocked store per pixel."""
    op = "depthwise_conv2d"
    n, c, h, w = x_shape
    kh, kw = kernel
    sh, sw = stride
    dh, dw = dil
    f32 = dt.f32
    oh = conv_out_size(op, h, kh, sh, dh, pad[0], pad[2], "height")
    ow = conv_out_size(op, w, kw, sw, dw, pad[1], pad[3], "width")
    cb = BLOCK if c % BLOCK == 0 else vl
    for what, lay, dims in (("in_layout", in_layout, (c, h, w)),
                            ("out_layout", out_layout, (c, oh, ow))):
        if lay is not None and ((lay.n, lay.c, lay.h, lay.w) != (n, *dims) or lay.batch != 1
                                or lay.block != cb or lay.c_blocks != c // cb):
            raise ValueError(f"{op}: {what} {lay} must describe ({n}, {dims[0]}, {dims[1]}, "
                             f"{dims[2]}) in blocks of {cb}, batch 1")
    if in_layout is not None:
        if pad[0] != pad[2] or pad[1] != pad[3] or in_layout.halo[0] < pad[0] \
                or in_layout.halo[1] < pad[1]:
            raise ValueError(f"{op}: a blocked input needs symmetric padding within its halo "
                             f"{in_layout.halo}, got {pad}")
        hp, wp = in_layout.hp, in_layout.wp
        offy, offx = in_layout.halo[0] - pad[0], in_layout.halo[1] - pad[1]
    else:
        hp, wp = h + pad[0] + pad[2], w + pad[1] + pad[3]
        offy = offx = 0
    ncb = c // cb
    name = f"dwblk_f32_{tag(x_shape, kernel, stride, pad, dil, bias, activation, vl)}" + (
        f"_blk{tag(in_layout, out_layout)}" if in_layout or out_layout else "")
    px = pack_input_kernel(f"{name}_pack_x", n, c, h, w, cb, pad, f32, f32)
    cb_, lane = Var("cb"), Var("lane")
    pw = Kernel(f"{name}_pack_w", (Param("w", f32), Param("wp", f32)), (Loop("cb", ncb, (
        Loop("ky", kh, (Loop("kx", kw, (Loop("lane", cb, (Store(
            "wp", ((cb_ * kh + Var("ky")) * kw + Var("kx")) * cb + lane,
            Load("w", ((cb_ * cb + lane) * kh + Var("ky")) * kw + Var("kx"), f32)),)),)),)),),
        "parallel"),))
    q = Var("q")
    oy, cblk, nn = Var("oy"), Var("cblk"), Var("nn")
    lets: list[Stmt] = [Let("oy", q % oh), Let("cblk", (q // oh) % ncb),
                        Let("nn", q // (oh * ncb))]

    def tile(prefix: str, ox0: Expr, rows: int, v: int) -> list[Stmt]:
        accs = [f"{prefix}{r}" for r in range(rows)]
        ch0 = cblk * cb + v * vl
        init: Expr = Load("bias", ch0, f32, vl) if bias else Const(0.0, f32, vl)
        body: list[Stmt] = [Decl(a, init) for a in accs]
        xrow = ((nn * ncb + cblk) * hp + oy * sh + Var("ky") * dh + offy) * wp
        taps: list[Stmt] = [Let(f"{prefix}w", Load(
            "wp", ((cblk * kh + Var("ky")) * kw + Var("kx")) * cb + v * vl, f32, vl))]
        for r, a in enumerate(accs):
            x = Load("xp", (xrow + (ox0 + r) * sw + Var("kx") * dw + offx) * cb + v * vl,
                     f32, vl)
            taps.append(Assign(a, Fma(x, Var(f"{prefix}w", f32, vl), Var(a, f32, vl))))
        body.append(Loop("ky", kh, (Loop("kx", kw, tuple(taps)),)))
        vals = [apply_activation(Var(a, f32, vl), activation) for a in accs]
        if out_layout is not None:  # pixels x channels: the blocked layout already
            lay = out_layout
            for r, val in enumerate(vals):
                dst = (((nn * ncb + cblk) * lay.hp + oy + lay.halo[0]) * lay.wp + ox0 + r
                       + lay.halo[1]) * cb + v * vl
                body.append(Store("y", dst, val))
            return body
        lets_t, cols = transpose_block(f"{prefix}t", vals, vl)
        body += lets_t
        for j, col in enumerate(cols):
            dst = ((nn * c + ch0 + j) * oh + oy) * ow + ox0
            body.append(Store("y", dst, col if rows == vl
                              else Shuffle(col, col, tuple(range(rows)))))
        return body

    full, rem = divmod(ow, vl)
    tiles: list[Stmt] = []
    for v in range(cb // vl):
        if full:
            tiles.append(Loop("owt", full, tuple(tile(f"a{v}_", Var("owt") * vl, vl, v))))
        if rem:
            tiles += tile(f"r{v}_", idx(full * vl), rem, v)
    params = [Param("xp", f32), Param("wp", f32)] + ([Param("bias", f32)] if bias else []) + [
        Param("y", f32)]
    main = Kernel(f"{name}_main", tuple(params),
                  (Loop("q", n * ncb * oh, (*lets, *tiles), "parallel"),))
    bufs = [BufferSpec("x", f32, in_layout.shape if in_layout else (n, c, h, w), "input"),
            BufferSpec("w", f32, (c, 1, kh, kw), "input")]
    if bias:
        bufs.append(BufferSpec("bias", f32, (c,), "input"))
    bufs += [BufferSpec("y", f32, out_layout.shape if out_layout else (n, c, oh, ow),
                        "output"),
             *([] if in_layout else [BufferSpec("xp", f32, (n * ncb * hp * wp * cb,))]),
             BufferSpec("wp", f32, (ncb * kh * kw * cb,))]
    xp = "x" if in_layout else "xp"
    args = (xp, "wp", "bias", "y") if bias else (xp, "wp", "y")
    steps = (Step(pw.name, ("w", "wp")), *(() if in_layout else (Step(px.name, ("x", "xp")),)),
             Step(main.name, args))
    return OpPlan(name, (pw, main) if in_layout else (px, pw, main), tuple(bufs), steps,
                  {"out_shape": (n, c, oh, ow)})
