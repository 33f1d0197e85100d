"""Depthwise conv2d (groups = C, channel multiplier m): NCHW, f32 or int8 -> int32.

The input is first copied into a zero-bordered plane per channel (the conv2d ``pack_x``
kernel with a channel block of 1), so the window loops need no bounds checks; each output row
accumulates in a thread-local row buffer whose inner loop runs along the output width, which
LLVM vectorizes.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import dtypes as dt
from ..kernel_ir import (
    Alloc,
    Cast,
    Const,
    Expr,
    Kernel,
    Let,
    Load,
    Loop,
    Param,
    Store,
    Var,
)
from .common import pair2, pick_dtype, positive, shape_of, tag
from .conv2d import conv_out_size, norm_padding, pack_input_kernel
from .gemm import ACTIVATIONS, apply_activation
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
