"""numpy golden references for the cpu_gpu_backends operators.

Integer results are computed exactly in int64; float results in float64 and compared with
``assert_allclose``.  Each reference spells the semantics the kernels promise.
"""

from __future__ import annotations

import numpy as np


def pad4(padding):
    if isinstance(padding, int):
        return (padding,) * 4
    p = tuple(padding)
    return (p[0], p[1], p[0], p[1]) if len(p) == 2 else p


def conv2d(x, w, bias=None, stride=(1, 1), padding=0, dilation=(1, 1), groups=1,
           activation=None):
    """NCHW / OIHW convolution; int inputs accumulate exactly (int64 -> int32 result)."""
    is_int = x.dtype.kind == "i"
    acc = np.int64 if is_int else np.float64
    pt, pl, pb, pr = pad4(padding)
    sh, sw = stride
    dh, dw = dilation
    n, c, h, wd = x.shape
    oc, cg, kh, kw = w.shape
    xp = np.pad(x.astype(acc), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    cols = np.empty((n, c, kh, kw, oh, ow), acc)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh,
                                  j * dw: j * dw + sw * (ow - 1) + 1: sw]
    out = np.empty((n, oc, oh, ow), acc)
    opg = oc // groups
    for g in range(groups):
        cs = cols[:, g * cg:(g + 1) * cg].reshape(n, cg * kh * kw, oh * ow)
        wg = w[g * opg:(g + 1) * opg].reshape(opg, -1).astype(acc)
        out[:, g * opg:(g + 1) * opg] = np.einsum("ok,nkp->nop", wg, cs).reshape(n, opg, oh, ow)
    if bias is not None:
        out += bias.astype(acc)[None, :, None, None]
    if activation == "relu":
        out = np.maximum(out, 0)
    return out.astype(np.int32) if is_int else out


def dense(a, b, bias=None, transpose_b=False, activation=None):
    is_int = a.dtype.kind == "i"
    acc = np.int64 if is_int else np.float64
    bb = b.T if transpose_b else b
    out = a.astype(acc) @ bb.astype(acc)
    if bias is not None:
        out = out + bias.astype(acc)
    if activation == "relu":
        out = np.maximum(out, 0)
    return out.astype(np.int32) if is_int else out


def pool2d(x, kind, kernel, stride, padding=0, count_include_pad=False):
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


def global_avg_pool(x):
    return x.astype(np.float64).mean(axis=(2, 3), keepdims=True)


def softmax(x):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def quantize(x, scale, zp):
    """ONNX QuantizeLinear (round half to even, saturate to int8)."""
    q = np.rint(x.astype(np.float32) / scale.astype(np.float32)) + zp.astype(np.float32)
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize(x, scale, zp):
    return (x.astype(np.int64) - zp.astype(np.int64)).astype(np.float32) * scale


def requantize(x, mult, shift, zp):
    """clip(((x * mult + ((1 << shift) >> 1)) >> shift) + zp, -128, 127) in int64."""
    x64, m64, s64 = x.astype(np.int64), mult.astype(np.int64), shift.astype(np.int64)
    v = ((x64 * m64 + ((np.int64(1) << s64) >> 1)) >> s64) + zp.astype(np.int64)
    return np.clip(v, -128, 127).astype(np.int8)


def nchw_to_blocked(x, bc):
    n, c, h, w = x.shape
    cb = -(-c // bc)
    xp = np.zeros((n, cb * bc, h, w), x.dtype)
    xp[:, :c] = x
    return xp.reshape(n, cb, bc, h, w).transpose(0, 1, 3, 4, 2).copy()


def blocked_to_nchw(y, c):
    n, cb, h, w, bc = y.shape
    return y.transpose(0, 1, 4, 2, 3).reshape(n, cb * bc, h, w)[:, :c].copy()
