"""Numpy integer references of the quantized operators: the bit-exact contract.

Every operator the compiler lowers is checked against these on the simulator with
``assert_equal``.  The arithmetic is that of ``compiler/ops/epilogue.py`` (and the pooling
docstrings), written out independently here: int64 numpy, wrapping to int32 after each ALU
step exactly as the accelerator's ALU does, saturating to int8 at the end as its out buffer
does.  Nothing here imports the compiler's code generation.
"""

from __future__ import annotations

import numpy as np

_2_32 = 1 << 32
_2_31 = 1 << 31


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
    return np.clip(np.asarray(x, dtype=np.int64), -128, 127).astype(np.int8)


def _chan(v, ndim: int) -> np.ndarray:
    """A per-channel vector broadcast over (N, C, ...) of ``ndim`` dims."""
    a = np.asarray(v, dtype=np.int64)
    return a.reshape((1, -1) + (1,) * (ndim - 2)) if a.ndim == 1 else a


def epilogue(acc, ep, bias=None, multiplier=None, shift=None, residual=None) -> np.ndarray:
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
    if ep.relu:
        x = np.maximum(x, 0)
    if ep.clip is not None:
        x = np.minimum(np.maximum(x, ep.clip[0]), ep.clip[1])
    return sat8(x)


def conv2d_acc(x, w, stride=(1, 1), pad=(0, 0), pad_value=0) -> np.ndarray:
    """sum_{c,u,v} x[n, c, i*sh+u-ph, j*sw+v-pw] * w[o, c, u, v] in int64 (exact)."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, pad
    xp = np.full((n, c, h + 2 * ph, wd + 2 * pw), pad_value, np.int64)
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    ho, wo = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    acc = np.zeros((n, o, ho, wo), np.int64)
    wf = w.astype(np.float64)
    for u in range(kh):
        for v in range(kw):
            patch = xp[:, :, u:u + (ho - 1) * sh + 1:sh, v:v + (wo - 1) * sw + 1:sw]
            # float64 products of int8 sums are exact far beyond these sizes
            acc += np.rint(np.einsum("nchw,oc->nohw", patch.astype(np.float64),
                                     wf[:, :, u, v])).astype(np.int64)
    return acc


def conv2d(x, w, op, bias=None, multiplier=None, shift=None, residual=None) -> np.ndarray:
    acc = conv2d_acc(x, w, op.stride, op.pad, op.pad_value)
    return epilogue(acc, op.epilogue, bias, multiplier, shift, residual)


def depthwise_conv2d(x, w, op, bias=None, multiplier=None, shift=None,
                     residual=None) -> np.ndarray:
    n, c, h, wd = x.shape
    (sh, sw), (ph, pw) = op.stride, op.pad
    xp = np.full((n, c, h + 2 * ph, wd + 2 * pw), op.pad_value, np.int64)
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    ho, wo = op.ho, op.wo
    acc = np.zeros((n, c, ho, wo), np.int64)
    for u in range(op.kh):
        for v in range(op.kw):
            patch = xp[:, :, u:u + (ho - 1) * sh + 1:sh, v:v + (wo - 1) * sw + 1:sw]
            acc += patch * w[:, 0, u, v].astype(np.int64)[None, :, None, None]
    return epilogue(acc, op.epilogue, bias, multiplier, shift, residual)


def dense(x, w, op, bias=None, multiplier=None, shift=None, residual=None) -> np.ndarray:
    acc = np.rint(x.astype(np.float64) @ w.astype(np.float64).T).astype(np.int64)
    return epilogue(acc, op.epilogue, bias, multiplier, shift, residual)


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


def elementwise(a, steps, b=None) -> np.ndarray:
    x = np.asarray(a, dtype=np.int64)
    for s in steps:
        x = alu(s.op, x, np.asarray(b, dtype=np.int64) if s.operand is None else s.operand)
    return sat8(x)


def pool2d(x, op) -> np.ndarray:
    n, c, h, w = x.shape
    (sh, sw), (ph, pw) = op.stride, op.pad
    fill = -128 if op.pool == "max" else 0
    xp = np.full((n, c, h + 2 * ph, w + 2 * pw), fill, np.int64)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    ho, wo = op.ho, op.wo
    taps = [xp[:, :, u:u + (ho - 1) * sh + 1:sh, v:v + (wo - 1) * sw + 1:sw]
            for u in range(op.kh) for v in range(op.kw)]
    if op.pool == "max":
        return sat8(np.max(taps, axis=0))
    m, s = op.avg
    acc = wrap32(np.sum(taps, axis=0))
    if m != 1:
        acc = wrap32(acc * m)
    return sat8(rshr(acc, s))


def global_avg_pool(x, op) -> np.ndarray:
    m, s = op.avg
    acc = wrap32(np.asarray(x, dtype=np.int64).sum(axis=(2, 3), keepdims=True))
    if m != 1:
        acc = wrap32(acc * m)
    return sat8(rshr(acc, s))


__all__ = ["wrap32", "rshr", "sat8", "epilogue", "conv2d_acc", "conv2d", "depthwise_conv2d",
           "dense", "alu", "elementwise", "pool2d", "global_avg_pool"]
