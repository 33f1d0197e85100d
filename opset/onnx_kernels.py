"""Float (and ONNX integer) kernels of the canonical ONNX ops, in numpy: one definition of
what each op computes, shared by the compiler and the runtime.

Every kernel is ``f(attrs, *arrays) -> tuple of arrays``, keyed by ONNX op type in
:data:`KERNELS`; ``attrs`` is a plain mapping of the op's attributes, all explicit (the
canonical form the frontend produces: Reshape's full ``shape``, Slice's ``starts`` ...,
Clip's ``min``/``max`` as attributes, never inputs).  Convolutions are im2col + one BLAS
matmul per group; reductions accumulate float inputs in float64.

Who calls them: the compiler's float reference (``compiler.graph.reference``: the graph
walker, constant folding, the quantized graph's float islands) and the runtime's generic
host step (``runtime.host_ops``), which runs a module's float islands and int8 data moves
on the host CPU, so a compiled module's host steps compute exactly what the reference does.
This module imports only numpy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from opset.errors import OpsetError
from opset.requant import channel_requant

Attrs = Mapping[str, Any]
Kernel = Callable[..., tuple[np.ndarray, ...]]
KERNELS: dict[str, Kernel] = {}


class KernelError(OpsetError, ValueError):
    """An op type no kernel implements, or arrays/attributes a kernel cannot take."""


def _op(*names: str) -> Callable[[Kernel], Kernel]:
    def register(fn: Kernel) -> Kernel:
        for name in names:
            KERNELS[name] = fn
        return fn
    return register


# --- element-wise ---------------------------------------------------------------------

_UNARY: dict[str, Callable[[Attrs, np.ndarray], np.ndarray]] = {
    "Relu": lambda a, x: np.maximum(x, np.zeros((), x.dtype)),
    "LeakyRelu": lambda a, x: np.where(x >= 0, x, x * x.dtype.type(a.get("alpha"))),
    "Sigmoid": lambda a, x: _sigmoid(x),
    "HardSigmoid": lambda a, x: np.clip(x * x.dtype.type(a.get("alpha"))
                                        + x.dtype.type(a.get("beta")), 0, 1).astype(x.dtype),
    "HardSwish": lambda a, x: x * np.clip(x / x.dtype.type(6) + x.dtype.type(0.5), 0, 1),
    "Tanh": lambda a, x: np.tanh(x),
    "Exp": lambda a, x: np.exp(x),
    "Sqrt": lambda a, x: np.sqrt(x),
    "Neg": lambda a, x: -x,
    "Abs": lambda a, x: np.abs(x),
    "Reciprocal": lambda a, x: 1 / x,
    "Erf": lambda a, x: _erf(x),
    "Gelu": lambda a, x: _gelu(x, a.get("approximate", "none")),
    "Identity": lambda a, x: x,
    "Floor": lambda a, x: np.floor(x),
    "Ceil": lambda a, x: np.ceil(x),
}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a negative argument only: no overflow warnings for large |x|
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


_ERF = np.frompyfunc(math.erf, 1, 1)


def _erf(x: np.ndarray) -> np.ndarray:
    return _ERF(x.astype(np.float64)).astype(x.dtype) if x.size else x.copy()


def _gelu(x: np.ndarray, approximate: str) -> np.ndarray:
    xd = x.astype(np.float64)
    if approximate == "tanh":
        y = 0.5 * xd * (1 + np.tanh(math.sqrt(2 / math.pi) * (xd + 0.044715 * xd ** 3)))
    else:
        y = 0.5 * xd * (1 + _erf(xd / math.sqrt(2)))
    return y.astype(x.dtype)


for _name, _fn in _UNARY.items():
    KERNELS[_name] = (lambda f: lambda attrs, x: (np.asarray(f(attrs, x), x.dtype),))(_fn)


@_op("Clip")
def _clip(attrs: Attrs, x: np.ndarray) -> tuple[np.ndarray, ...]:
    lo, hi = attrs.get("min"), attrs.get("max")
    y = x
    if lo is not None:
        y = np.maximum(y, x.dtype.type(lo))
    if hi is not None:
        y = np.minimum(y, x.dtype.type(hi))
    return (np.asarray(y, x.dtype),)


def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # ONNX integer Div truncates toward zero (C semantics)
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) ^ (b < 0), -q, q).astype(np.result_type(a, b))


_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply,
    "Div": lambda a, b: _int_div(a, b) if a.dtype.kind in "iu" else np.divide(a, b),
    "Pow": lambda a, b: np.power(a, b.astype(a.dtype) if a.dtype.kind == "f" else b),
    "Max": np.maximum, "Min": np.minimum,
    "Equal": np.equal, "Less": np.less, "Greater": np.greater,
}

for _name, _fn in _BINARY.items():
    def _binary(attrs: Attrs, a: np.ndarray, b: np.ndarray, f=_fn, op=_name):
        out = f(a, b)
        return (np.asarray(out, a.dtype if op not in ("Equal", "Less", "Greater") else bool),)
    KERNELS[_name] = _binary


@_op("Where")
def _where(attrs: Attrs, c: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
    return (np.where(c, a, b),)


@_op("Cast")
def _cast(attrs: Attrs, x: np.ndarray) -> tuple[np.ndarray, ...]:
    return (x.astype(attrs.get("to")),)


# --- data movement --------------------------------------------------------------------

@_op("Reshape")
def _reshape(attrs: Attrs, x: np.ndarray) -> tuple[np.ndarray, ...]:
    return (x.reshape(attrs.get("shape")),)


@_op("Expand")
def _expand(attrs: Attrs, x: np.ndarray) -> tuple[np.ndarray, ...]:
    return (np.ascontiguousarray(np.broadcast_to(x, attrs.get("shape"))),)


@_op("Transpose")
def _transpose(attrs: Attrs, x: np.ndarray) -> tuple[np.ndarray, ...]:
    return (np.ascontiguousarray(x.transpose(attrs.get("perm"))),)


@_op("Concat")
def _concat(attrs: Attrs, *xs: np.ndarray) -> tuple[np.ndarray, ...]:
    return (np.concatenate(xs, axis=attrs.get("axis")),)


@_op("Split")
def _split(attrs: Attrs, x: np.ndarray) -> tuple[np.ndarray, ...]:
    bounds = np.cumsum(attrs.get("split"))[:-1]
    return tuple(np.ascontiguousarray(p) for p in np.split(x, bounds, axis=attrs.get("axis")))


@_op("Slice")
def _slice(attrs: Attrs, x: np.ndarray) -> tuple[np.ndarray, ...]:
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(attrs.get("starts"), attrs.get("ends"),
                                      attrs.get("axes"), attrs.get("steps"), strict=True):
        index[axis] = slice(start, None if end < 0 else end, step)
    return (np.ascontiguousarray(x[tuple(index)]),)


@_op("Gather")
def _gather(attrs: Attrs, x: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, ...]:
    axis = attrs.get("axis")
    idx = np.where(idx < 0, idx + x.shape[axis], idx)
    return (np.take(x, idx, axis=axis),)


@_op("Pad")
def _pad(attrs: Attrs, x: np.ndarray) -> tuple[np.ndarray, ...]:
    pads = attrs.get("pads")
    r = x.ndim
    begin, end = pads[:r], pads[r:]
    # negative pads crop
    crop = tuple(slice(max(-b, 0), x.shape[i] - max(-e, 0)) for i, (b, e) in
                 enumerate(zip(begin, end, strict=True)))
    x = x[crop]
    width = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end, strict=True)]
    mode = attrs.get("mode")
    if mode == "constant":
        return (np.pad(x, width, mode="constant", constant_values=attrs.get("value")),)
    return (np.pad(x, width, mode={"reflect": "reflect", "edge": "edge"}[mode]),)


@_op("Resize")
def _resize(attrs: Attrs, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """Nearest-neighbour resize: one index vector per axis (ONNX's coordinate modes)."""
    out_shape = attrs.get("size")
    scales = attrs.get("scales")
    ctm, nearest = attrs.get("coordinate_transformation_mode"), attrs.get("nearest_mode")
    y = x
    for axis, (n_in, n_out) in enumerate(zip(x.shape, out_shape, strict=True)):
        if n_in == n_out and scales[axis] == 1.0:
            continue
        scale = scales[axis]
        o = np.arange(n_out, dtype=np.float64)
        if ctm == "half_pixel":
            src = (o + 0.5) / scale - 0.5
        elif ctm == "pytorch_half_pixel":
            src = (o + 0.5) / scale - 0.5 if n_out > 1 else np.zeros_like(o)
        elif ctm == "align_corners":
            src = o * (n_in - 1) / (n_out - 1) if n_out > 1 else np.zeros_like(o)
        else:  # asymmetric
            src = o / scale
        if nearest == "floor":
            idx = np.floor(src)
        elif nearest == "ceil":
            idx = np.ceil(src)
        elif nearest == "round_prefer_ceil":
            idx = np.floor(src + 0.5)
        else:  # round_prefer_floor
            idx = np.ceil(src - 0.5)
        idx = np.clip(idx, 0, n_in - 1).astype(np.int64)
        y = np.take(y, idx, axis=axis)
    return (np.ascontiguousarray(y),)


# --- convolution, matmul --------------------------------------------------------------

def _windows(x: np.ndarray, kernel: tuple[int, ...], strides: tuple[int, ...],
             dilations: tuple[int, ...]) -> np.ndarray:
    """(N, C, *out, *kernel) view of a padded (N, C, *spatial) array."""
    nd = len(kernel)
    span = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilations, strict=True))
    w = sliding_window_view(x, span, axis=tuple(range(2, 2 + nd)))
    index = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in strides) \
        + tuple(slice(None, None, d) for d in dilations)
    return w[index]


def _pad_spatial(x: np.ndarray, pads: tuple[int, ...], value: float = 0.0) -> np.ndarray:
    nd = x.ndim - 2
    if not any(pads):
        return x
    width = [(0, 0), (0, 0)] + [(pads[i], pads[i + nd]) for i in range(nd)]
    return np.pad(x, width, mode="constant", constant_values=value)


def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, *, strides, pads, dilations,
         group: int) -> np.ndarray:
    """N-d grouped convolution as im2col + one batched matmul (BLAS) over the groups."""
    n, c = x.shape[:2]
    m, cg = w.shape[:2]
    kernel = w.shape[2:]
    nd = len(kernel)
    win = _windows(_pad_spatial(x, pads), kernel, strides, dilations)
    out_sp = win.shape[2:2 + nd]
    p = int(np.prod(out_sp))
    k = cg * int(np.prod(kernel))
    # (N, G, Cg, *out, *kernel) -> (G, N*P, Cg*K)
    win = win.reshape((n, group, cg) + win.shape[2:])
    perm = (1, 0) + tuple(range(3, 3 + nd)) + (2,) + tuple(range(3 + nd, 3 + 2 * nd))
    cols = win.transpose(perm).reshape(group, n * p, k)
    wg = w.reshape(group, m // group, k).transpose(0, 2, 1)
    y = np.matmul(cols, wg)  # (G, N*P, Mg)
    y = y.reshape(group, n, p, m // group).transpose(1, 0, 3, 2).reshape((n, m) + out_sp)
    if b is not None:
        y = y + b.reshape((1, m) + (1,) * nd)
    return np.ascontiguousarray(y.astype(x.dtype, copy=False))


def _conv_kwargs(attrs: Attrs) -> dict:
    return dict(strides=attrs.get("strides"), pads=attrs.get("pads"),
                dilations=attrs.get("dilations"), group=attrs.get("group"))


@_op("Conv")
def _conv(attrs: Attrs, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None):
    return (conv(x, w.astype(x.dtype), None if b is None else b.astype(x.dtype),
                 **_conv_kwargs(attrs)),)


@_op("ConvTranspose")
def _conv_transpose(attrs: Attrs, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None):
    """Transposed conv = zero-insert the input by the stride, pad by the dilated kernel
    extent minus the pads, and convolve with the flipped, in/out-swapped kernel."""
    strides, pads, dil = attrs.get("strides"), attrs.get("pads"), attrs.get("dilations")
    group, out_pad = attrs.get("group"), attrs.get("output_padding")
    n, c = x.shape[:2]
    nd = x.ndim - 2
    kernel = w.shape[2:]
    mg = w.shape[1]
    up_shape = (n, c) + tuple((s - 1) * st + 1 for s, st in zip(x.shape[2:], strides,
                                                                   strict=True))
    up = np.zeros(up_shape, x.dtype)
    up[(slice(None), slice(None)) + tuple(slice(None, None, st) for st in strides)] = x
    full = []
    for i in range(nd):
        ext = (kernel[i] - 1) * dil[i]
        full.append(ext - pads[i])
    full_end = [(kernel[i] - 1) * dil[i] - pads[i + nd] + out_pad[i] for i in range(nd)]
    width = [(0, 0), (0, 0)]
    crop = [slice(None), slice(None)]
    for b_, e_ in zip(full, full_end, strict=True):
        width.append((max(b_, 0), max(e_, 0)))
        crop.append(slice(max(-b_, 0), None if e_ >= 0 else e_))
    up = np.pad(up, width)[tuple(crop)]
    # w: (C, Mg, *k) -> (G*Mg, C/G, *k) flipped
    cg = c // group
    wt = w.reshape((group, cg, mg) + kernel).swapaxes(1, 2).reshape((group * mg, cg) + kernel)
    wt = np.flip(wt, axis=tuple(range(2, 2 + nd)))
    y = conv(up, np.ascontiguousarray(wt).astype(x.dtype), None if b is None else
             b.astype(x.dtype), strides=(1,) * nd, pads=(0,) * (2 * nd), dilations=dil,
             group=group)
    return (y,)


@_op("Gemm")
def _gemm(attrs: Attrs, a: np.ndarray, b: np.ndarray, c: np.ndarray | None = None):
    a = a.T if attrs.get("trans_a") else a
    b = b.T if attrs.get("trans_b") else b
    y = (a @ b.astype(a.dtype)) * a.dtype.type(attrs.get("alpha"))
    if c is not None:
        y = y + c.astype(a.dtype) * a.dtype.type(attrs.get("beta"))
    return (np.asarray(y, a.dtype),)


@_op("MatMul")
def _matmul(attrs: Attrs, a: np.ndarray, b: np.ndarray):
    return (np.matmul(a, b.astype(a.dtype)),)


# --- normalization, pooling, reductions ----------------------------------------------

def _channel(v: np.ndarray, rank: int) -> np.ndarray:
    return v.reshape((1, -1) + (1,) * (rank - 2))


@_op("BatchNormalization")
def _batch_norm(attrs: Attrs, x, scale, bias, mean, var):
    s = scale / np.sqrt(var + var.dtype.type(attrs.get("epsilon")))
    y = (x - _channel(mean, x.ndim)) * _channel(s, x.ndim) + _channel(bias, x.ndim)
    return (y.astype(x.dtype),)


@_op("LayerNormalization")
def _layer_norm(attrs: Attrs, x, scale, bias=None):
    axes = tuple(range(attrs.get("axis"), x.ndim))
    xd = x.astype(np.float64)
    mean = xd.mean(axis=axes, keepdims=True)
    var = ((xd - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (xd - mean) / np.sqrt(var + attrs.get("epsilon")) * scale
    if bias is not None:
        y = y + bias
    return (y.astype(x.dtype),)


@_op("Softmax")
def _softmax(attrs: Attrs, x):
    axis = attrs.get("axis")
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return ((e / e.sum(axis=axis, keepdims=True)).astype(x.dtype),)


@_op("LRN")
def _lrn(attrs: Attrs, x):
    size = attrs.get("size")
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    sq = np.pad(x.astype(np.float64) ** 2, [(0, 0), (lo, hi)] + [(0, 0)] * (x.ndim - 2))
    csum = np.concatenate([np.zeros_like(sq[:, :1]), np.cumsum(sq, axis=1)], axis=1)
    window = csum[:, size:] - csum[:, :-size]
    denom = (attrs.get("bias") + attrs.get("alpha") / size * window) ** attrs.get("beta")
    return ((x / denom).astype(x.dtype),)


def pool_output_size(n: int, k: int, s: int, pad_begin: int, pad_end: int, d: int,
                     ceil_mode: int) -> int:
    """ONNX pooling output length; with ceil_mode the last window must start inside the
    input or its left padding (as onnxruntime and PyTorch do)."""
    span = (k - 1) * d + 1
    if ceil_mode:
        out = -(-(n + pad_begin + pad_end - span) // s) + 1
        if (out - 1) * s >= n + pad_begin:
            out -= 1
        return out
    return (n + pad_begin + pad_end - span) // s + 1


def _pool(attrs: Attrs, x: np.ndarray, reduce: str) -> np.ndarray:
    kernel = attrs.get("kernel_shape")
    strides, pads = attrs.get("strides"), attrs.get("pads")
    dil = attrs.get("dilations", (1,) * len(kernel))
    nd = len(kernel)
    ceil_mode = attrs.get("ceil_mode", 0)
    outs, extra = [], []
    for i in range(nd):
        o = pool_output_size(x.shape[2 + i], kernel[i], strides[i], pads[i], pads[i + nd],
                             dil[i], ceil_mode)
        outs.append(o)
        need = (o - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1
        extra.append(max(0, need - (x.shape[2 + i] + pads[i] + pads[i + nd])))
    full = tuple(pads[:nd]) + tuple(pads[nd + i] + extra[i] for i in range(nd))
    if reduce == "max":
        fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        win = _windows(_pad_spatial(x, full, fill), kernel, strides, dil)
        y = win.max(axis=tuple(range(2 + nd, 2 + 2 * nd)))
    else:
        win = _windows(_pad_spatial(x, full), kernel, strides, dil)
        total = win.sum(axis=tuple(range(2 + nd, 2 + 2 * nd)), dtype=np.float64)
        ones = np.ones((1, 1) + x.shape[2:])
        if attrs.get("count_include_pad"):
            # explicit pads count, the ceil-mode overhang does not
            ones = _pad_spatial(ones, tuple(pads), 1.0)
            ones = _pad_spatial(ones, (0,) * nd + tuple(extra), 0.0)
        else:
            ones = _pad_spatial(ones, full, 0.0)
        count = _windows(ones, kernel, strides, dil).sum(axis=tuple(range(2 + nd, 2 + 2 * nd)))
        y = total / count
    return np.ascontiguousarray(y[(slice(None), slice(None)) + tuple(slice(0, o) for o in outs)]
                                .astype(x.dtype))


@_op("MaxPool")
def _max_pool(attrs: Attrs, x):
    return (_pool(attrs, x, "max"),)


@_op("AveragePool")
def _avg_pool(attrs: Attrs, x):
    return (_pool(attrs, x, "avg"),)


@_op("GlobalAveragePool")
def _global_avg(attrs: Attrs, x):
    return (x.mean(axis=tuple(range(2, x.ndim)), keepdims=True, dtype=np.float64)
            .astype(x.dtype),)


@_op("GlobalMaxPool")
def _global_max(attrs: Attrs, x):
    return (x.max(axis=tuple(range(2, x.ndim)), keepdims=True),)


_REDUCERS = {"ReduceMean": np.mean, "ReduceSum": np.sum, "ReduceMax": np.max,
             "ReduceMin": np.min, "ReduceProd": np.prod}


def _reducer(op: str) -> Kernel:
    f = _REDUCERS[op]

    def reduce(attrs: Attrs, x):
        axes = attrs.get("axes")
        keep = bool(attrs.get("keepdims"))
        if op in ("ReduceMean", "ReduceSum") and x.dtype.kind == "f":
            return (f(x, axis=axes, keepdims=keep, dtype=np.float64).astype(x.dtype),)
        return (np.asarray(f(x, axis=axes, keepdims=keep), x.dtype),)
    return reduce


for _name in _REDUCERS:
    KERNELS[_name] = _reducer(_name)


# --- quantized ops (integer arithmetic, exact in float64 / int64) ---------------------

def _axis_param(v: np.ndarray, axis: int, rank: int) -> np.ndarray:
    if v.ndim == 0 or v.size == 1:
        return v.reshape(())
    shape = [1] * rank
    shape[axis] = v.size
    return v.reshape(shape)


def _saturate(q: np.ndarray, dtype: np.dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(q, info.min, info.max).astype(dtype)


@_op("QuantizeLinear")
def _quantize(attrs: Attrs, x, scale, zero_point=None):
    axis = attrs.get("axis")
    dtype = np.dtype(attrs.get("dtype"))
    s = _axis_param(scale.astype(np.float64), axis, x.ndim)
    z = 0 if zero_point is None else _axis_param(zero_point.astype(np.int64), axis, x.ndim)
    q = np.rint(x.astype(np.float64) / s) + z  # rint: round half to even, as ONNX
    return (_saturate(q, dtype),)


@_op("DequantizeLinear")
def _dequantize(attrs: Attrs, q, scale, zero_point=None):
    axis = attrs.get("axis")
    s = _axis_param(scale, axis, q.ndim)
    z = 0 if zero_point is None else _axis_param(zero_point.astype(np.int64), axis, q.ndim)
    return (((q.astype(np.int64) - z) * s.astype(np.float64)).astype(scale.dtype),)


def _int_conv(attrs: Attrs, x, w, xz, wz) -> np.ndarray:
    xd = x.astype(np.float64) - (0 if xz is None else xz.astype(np.float64).reshape(()))
    wd = w.astype(np.float64)
    if wz is not None:
        wd = wd - (wz.astype(np.float64).reshape((-1,) + (1,) * (w.ndim - 1))
                   if wz.size > 1 else wz.astype(np.float64).reshape(()))
    return conv(xd, wd, None, **_conv_kwargs(attrs))


@_op("ConvInteger")
def _conv_integer(attrs: Attrs, x, w, xz=None, wz=None):
    return (_int_conv(attrs, x, w, xz, wz).astype(np.int32),)


@_op("MatMulInteger")
def _matmul_integer(attrs: Attrs, a, b, az=None, bz=None):
    ad = a.astype(np.float64) - (0 if az is None else az.astype(np.float64))
    bd = b.astype(np.float64) - (0 if bz is None else bz.astype(np.float64))
    return (np.matmul(ad, bd).astype(np.int32),)


@_op("QLinearConv")
def _qlinear_conv(attrs: Attrs, x, xs, xz, w, ws, wz, ys, yz, b=None):
    acc = _int_conv(attrs, x, w, xz, wz)
    if b is not None:
        acc = acc + b.astype(np.float64).reshape((1, -1) + (1,) * (x.ndim - 2))
    m = (xs.astype(np.float64) * ws.astype(np.float64)).reshape(-1) / float(ys.reshape(()))
    y = np.rint(acc * m.reshape((1, -1) + (1,) * (x.ndim - 2))) + int(yz.reshape(()))
    return (_saturate(y, yz.dtype),)


@_op("QLinearMatMul")
def _qlinear_matmul(attrs: Attrs, a, as_, az, b, bs, bz, ys, yz):
    ad = a.astype(np.float64) - az.astype(np.float64)
    bd = b.astype(np.float64) - bz.astype(np.float64)
    acc = np.matmul(ad, bd)
    y = np.rint(acc * (as_.astype(np.float64) * bs.astype(np.float64) / ys)) + \
        yz.astype(np.int64)
    return (_saturate(y, yz.dtype),)


# --- toolkit ops (not ONNX): dynamic quantization ---------------------------------------

@_op("AbsMaxScale")
def _abs_max_scale(attrs: Attrs, x):
    """The symmetric scale ``max|x| / levels`` (float32, shape (1,); 1 for an all-zero tensor,
    any scale represents it): what ``QuantizeLinear(x, scale)`` then uses, so the largest
    magnitude maps to ``levels`` (127: int8 without -128, as ORT's symmetric schemes)."""
    amax = float(np.max(np.abs(x))) if x.size else 0.0
    return (np.full(1, amax / float(attrs.get("levels", 127)) if amax > 0 else 1.0,
                    np.float32),)


@_op("RequantTable")
def _requant_table(attrs: Attrs, scale_a, scale_b):
    """The per-channel requantization rows ``(multiplier, shift)`` (int32, ``channels``
    each, all equal) of ``scale_a * scale_b * factor`` under the compiled ``pre_shift``
    (:func:`opset.requant.channel_requant`): an accumulator of two operands quantized at
    run time, requantized into a scale fixed at compile time (``factor`` = any folded
    constant / the output's scale).  A non-positive product (a dry run on zeros) gives
    multiplier 0."""
    ratio = float(scale_a.reshape(())) * float(scale_b.reshape(())) * float(attrs["factor"])
    m, shift = (channel_requant(ratio, int(attrs["pre_shift"]), int(attrs.get("bits", 15)))
                if ratio > 0 and math.isfinite(ratio) else (0, 0))
    channels = int(attrs["channels"])
    return np.full(channels, m, np.int32), np.full(channels, shift, np.int32)


# --- entry point ------------------------------------------------------------------------

def run_kernel(op: str, attrs: Attrs, args: Sequence[np.ndarray | None]
               ) -> tuple[np.ndarray, ...]:
    """The outputs of ONNX op ``op`` with attributes ``attrs`` on ``args`` (None for an
    omitted optional input; trailing ones are dropped)."""
    fn = KERNELS.get(op)
    if fn is None:
        raise KernelError(f"no kernel for op {op!r}")
    args = list(args)
    while args and args[-1] is None:
        args.pop()
    return fn(attrs, *args)


__all__ = ["KERNELS", "Kernel", "Attrs", "KernelError", "run_kernel", "conv",
           "pool_output_size"]
