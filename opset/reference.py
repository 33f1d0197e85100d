"""The numpy reference of every operator: what each device must compute, bit for bit.

Quantized operators take their :mod:`opset` description and compute in int64 numpy,
wrapping to int32 after each ALU step exactly as the accelerator's ALU does and saturating to
int8 at the end as its out buffer does (the arithmetic of :mod:`opset.requant`, written out
independently here: nothing in this module is shared with a device's code generation).  The
simulator, the RTL and the CPU backend are all checked against these with ``assert_equal``.

The float path (fp32 operators, ONNX QuantizeLinear/DequantizeLinear, softmax) and the raw
accumulating kernels (int8 x int8 -> int32 with an optional bias and ReLU) have their
references at the end; floats are compared with ``assert_allclose``.

The ISA-level golden model (one Python operation per lane per micro-op) is a different
thing and stays in ``tests/reference.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from opset.elementwise import Elementwise
from opset.gemm_ops import Conv2d, Dense, DepthwiseConv2d
from opset.pooling import GlobalAvgPool, Pool2d
from opset.requant import INT8_MAX, INT8_MIN, Epilogue
from vta_hw.config import ACC_WIDTH

_2_32 = 1 << ACC_WIDTH
_2_31 = 1 << (ACC_WIDTH - 1)


# ----------------------------------------------------------------------------- arithmetic
def wrap32(x) -> np.ndarray:
    """Two's-complement wrap of integers to int32 (kept as int64)."""
    return (np.asarray(x, dtype=np.int64) + _2_31) % _2_32 - _2_31


def rshr(x, s) -> np.ndarray:
    """Round-half-up arithmetic right shift ``floor((x + 2**(s-1)) / 2**s)``; s = 0: x."""
    x = np.asarray(x, dtype=np.int64)
    s = np.asarray(s, dtype=np.int64)
    rnd = np.where(s > 0, np.left_shift(np.int64(1), np.maximum(s - 1, 0)), 0)
    return np.where(s > 0, (x + rnd) >> np.maximum(s, 0), x)


def sat8(x) -> np.ndarray:
    """Saturate to int8, as the accelerator's out path does on every write."""
    return np.clip(np.asarray(x, dtype=np.int64), INT8_MIN, INT8_MAX).astype(np.int8)


def _chan(v, ndim: int) -> np.ndarray:
    """A per-channel vector broadcast over (N, C, ...) of ``ndim`` dims."""
    a = np.asarray(v, dtype=np.int64)
    return a.reshape((1, -1) + (1,) * (ndim - 2)) if a.ndim == 1 else a


def epilogue(acc, ep: Epilogue, bias=None, multiplier=None, shift=None,
             residual=None) -> np.ndarray:
    """The fused epilogue on int32 accumulators (N, C, ...) -> int8."""
    x = wrap32(acc)
    nd = x.ndim
    if ep.bias:
        x = wrap32(x + _chan(bias, nd))
    rq = ep.requant
    if rq is not None:
        if rq.pre_shift:
            x = rshr(x, rq.pre_shift)
        if rq.per_channel:
            x = rshr(wrap32(x * _chan(multiplier, nd)), _chan(shift, nd))
        else:
            if rq.multiplier != 1:
                x = wrap32(x * rq.multiplier)
            if rq.shift:
                x = rshr(x, rq.shift)
    if ep.residual:
        x = wrap32(x + np.asarray(residual, dtype=np.int64))
    if ep.offset:
        x = wrap32(x + ep.offset)
    if ep.relu:
        x = np.maximum(x, 0)
    if ep.clip is not None:
        x = np.minimum(np.maximum(x, ep.clip[0]), ep.clip[1])
    return sat8(x)


def alu(op_name: str, x, y) -> np.ndarray:
    """One ALU step on int32 values (y an immediate or an array); shifts by 0..31."""
    x = np.asarray(x, dtype=np.int64)
    y = np.asarray(y, dtype=np.int64)
    if op_name == "min":
        return np.minimum(x, y)
    if op_name == "max":
        return np.maximum(x, y)
    if op_name == "add":
        return wrap32(x + y)
    if op_name == "mul":
        return wrap32(x * y)
    if op_name == "shr":
        return x >> y
    if op_name == "rshr":
        return rshr(x, y)
    if op_name == "mov":
        return np.broadcast_to(y, np.broadcast_shapes(x.shape, y.shape)).copy()
    raise ValueError(op_name)


# ----------------------------------------------------------------------------- accumulation
def pad4(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    """``p``, ``(ph, pw)`` or ONNX-style ``(top, left, bottom, right)``."""
    if isinstance(padding, int):
        return (padding,) * 4
    p = tuple(int(v) for v in padding)
    return (p[0], p[1], p[0], p[1]) if len(p) == 2 else p  # type: ignore[return-value]


def conv2d_acc(x, w, stride=(1, 1), pad: int | Sequence[int] = 0, pad_value=0,
               dilation=(1, 1), groups: int = 1) -> np.ndarray:
    """``sum_{c,u,v} xp[n, g*cg + c, i*sh + u*dh, j*sw + v*dw] * w[o, c, u, v]`` with ``xp``
    the input padded with ``pad_value``: exact int64 for integer inputs, float64 otherwise."""
    is_int = np.asarray(x).dtype.kind in "iu"
    acc = np.int64 if is_int else np.float64
    pt, pl, pb, pr = pad4(pad)
    sh, sw = stride
    dh, dw = dilation
    n, c, h, wd = x.shape
    oc, cg, kh, kw = w.shape
    xp = np.full((n, c, h + pt + pb, wd + pl + pr), pad_value, acc)
    xp[:, :, pt:pt + h, pl:pl + wd] = x
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    cols = np.empty((n, c, kh, kw, oh, ow), np.float64)
    for u in range(kh):
        for v in range(kw):
            cols[:, :, u, v] = xp[:, :, u * dh:u * dh + sh * (oh - 1) + 1:sh,
                                  v * dw:v * dw + sw * (ow - 1) + 1:sw]
    out = np.empty((n, oc, oh, ow), acc)
    opg = oc // groups
    for g in range(groups):
        cs = cols[:, g * cg:(g + 1) * cg].reshape(n, cg * kh * kw, oh * ow)
        wg = np.asarray(w[g * opg:(g + 1) * opg], np.float64).reshape(opg, -1)
        # float64 sums of int8 x int8 products are exact far beyond these sizes (2**53)
        r = np.einsum("ok,nkp->nop", wg, cs).reshape(n, opg, oh, ow)
        out[:, g * opg:(g + 1) * opg] = np.rint(r) if is_int else r
    return out


def dense_acc(a, b) -> np.ndarray:
    """``a @ b``: exact int64 for integer inputs, float64 otherwise."""
    is_int = np.asarray(a).dtype.kind in "iu"
    r = np.asarray(a, np.float64) @ np.asarray(b, np.float64)
    return np.rint(r).astype(np.int64) if is_int else r


def _windows(x, kh: int, kw: int, stride, pad, fill) -> list[np.ndarray]:
    n, c, h, w = x.shape
    (sh, sw), (ph, pw) = stride, pad
    xp = np.full((n, c, h + 2 * ph, w + 2 * pw), fill, np.int64)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    return [xp[:, :, u:u + (ho - 1) * sh + 1:sh, v:v + (wo - 1) * sw + 1:sw]
            for u in range(kh) for v in range(kw)]


# ----------------------------------------------------------------------------- quantized ops
def conv2d(x, w, op: Conv2d, bias=None, multiplier=None, shift=None,
           residual=None) -> np.ndarray:
    acc = conv2d_acc(x, w, op.stride, op.pad, op.pad_value)
    return epilogue(acc, op.epilogue, bias, multiplier, shift, residual)


def depthwise_conv2d(x, w, op: DepthwiseConv2d, bias=None, multiplier=None, shift=None,
                     residual=None) -> np.ndarray:
    acc = conv2d_acc(x, w, op.stride, op.pad, op.pad_value, groups=op.c)
    return epilogue(acc, op.epilogue, bias, multiplier, shift, residual)


def dense(x, w, op: Dense, bias=None, multiplier=None, shift=None,
          residual=None) -> np.ndarray:
    acc = dense_acc(x, np.asarray(w).T)
    return epilogue(acc, op.epilogue, bias, multiplier, shift, residual)


def elementwise(a, steps, b=None) -> np.ndarray:
    """``steps`` (:class:`~opset.elementwise.AluStep`) applied in order, then saturated."""
    x = np.asarray(a, dtype=np.int64)
    for s in steps:
        x = alu(s.op, x, np.asarray(b, dtype=np.int64) if s.operand is None else s.operand)
    return sat8(x)


def pool2d(x, op: Pool2d) -> np.ndarray:
    taps = _windows(x, op.kh, op.kw, op.stride, op.pad, op.pad_value)
    if op.pool == "max":
        return sat8(np.max(taps, axis=0))
    m, s = op.avg
    acc = wrap32(np.sum(taps, axis=0))
    if m != 1:
        acc = wrap32(acc * m)
    return sat8(rshr(acc, s))


def global_avg_pool(x, op: GlobalAvgPool) -> np.ndarray:
    m, s = op.avg
    acc = wrap32(np.asarray(x, dtype=np.int64).sum(axis=(2, 3), keepdims=True))
    if m != 1:
        acc = wrap32(acc * m)
    return sat8(rshr(acc, s))


def run(op, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """The reference output of any quantized op, its inputs named as ``op.inputs()``."""
    consts = {k: inputs.get(k) for k in ("bias", "multiplier", "shift", "residual")}
    if isinstance(op, Conv2d):
        return conv2d(inputs["x"], inputs["w"], op, **consts)
    if isinstance(op, DepthwiseConv2d):
        return depthwise_conv2d(inputs["x"], inputs["w"], op, **consts)
    if isinstance(op, Dense):
        return dense(inputs["x"], inputs["w"], op, **consts)
    if isinstance(op, Elementwise):
        return elementwise(inputs["a"], op.steps, inputs.get("b")).reshape(op.shape)
    if isinstance(op, Pool2d):
        return pool2d(inputs["x"], op)
    if isinstance(op, GlobalAvgPool):
        return global_avg_pool(inputs["x"], op)
    raise TypeError(f"no reference for {type(op).__name__}")


# ----------------------------------------------------------------------------- raw and float
def linear(acc, bias=None, activation: str | None = None) -> np.ndarray:
    """A raw kernel's tail: ``act(acc + bias)``; integers come back as int32 (exact)."""
    out = np.asarray(acc)
    is_int = out.dtype.kind in "iu"
    if bias is not None:
        out = out + np.asarray(bias).astype(out.dtype).reshape((-1,) + (1,) * (out.ndim - 2))
    if activation == "relu":
        out = np.maximum(out, 0)
    return out.astype(np.int32) if is_int else out


def float_pool2d(x, kind: str, kernel, stride, padding=0, count_include_pad=False):
    """Float max/average pooling (padded cells never win a max; ONNX counting for avg)."""
    kh, kw = kernel
    sh, sw = stride
    pt, pl, pb, pr = pad4(padding)
    n, c, h, w = x.shape
    oh = (h + pt + pb - kh) // sh + 1
    ow = (w + pl + pr - kw) // sw + 1
    out = np.empty((n, c, oh, ow), np.float64 if kind == "avg" else x.dtype)
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * sh - pt, j * sw - pl
            hs, he = max(h0, 0), min(h0 + kh, h)
            ws, we = max(w0, 0), min(w0 + kw, w)
            win = x[:, :, hs:he, ws:we]
            if kind == "max":
                out[:, :, i, j] = win.max(axis=(2, 3))
            else:
                if count_include_pad:
                    cnt = (min(h0 + kh, h + pb) - h0) * (min(w0 + kw, w + pr) - w0)
                else:
                    cnt = (he - hs) * (we - ws)
                out[:, :, i, j] = win.astype(np.float64).sum(axis=(2, 3)) / cnt
    return out


def float_global_avg_pool(x):
    return x.astype(np.float64).mean(axis=(2, 3), keepdims=True)


def softmax(x):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def quantize_linear(x, scale, zp):
    """ONNX QuantizeLinear (round half to even, saturate to int8)."""
    q = np.rint(x.astype(np.float32) / scale.astype(np.float32)) + zp.astype(np.float32)
    return np.clip(q, INT8_MIN, INT8_MAX).astype(np.int8)


def dequantize_linear(x, scale, zp):
    """ONNX DequantizeLinear: ``(x - zp) * scale`` in fp32."""
    return (x.astype(np.int64) - zp.astype(np.int64)).astype(np.float32) * scale


__all__ = ["wrap32", "rshr", "sat8", "epilogue", "alu", "pad4", "conv2d_acc", "dense_acc",
           "conv2d", "depthwise_conv2d", "dense", "elementwise", "pool2d", "global_avg_pool",
           "run", "linear", "float_pool2d", "float_global_avg_pool", "softmax",
           "quantize_linear", "dequantize_linear"]
