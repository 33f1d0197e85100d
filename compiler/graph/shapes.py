"""Shape and dtype rules of the canonical ops: ``infer_node(node, input types) -> output types``.

Our own rules (not ``onnx.shape_inference``): the canonical ops have explicit attributes, so
each rule is a few lines.  The frontend calls :func:`infer_node` while it imports (it needs
shapes to resolve ``Shape``, ``auto_pad`` and old-opset ``Softmax``); the ``infer_shapes``
pass calls it over a whole graph.  A rule raises :class:`ShapeError` naming the node when
its inputs are inconsistent.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from compiler.graph.errors import ShapeError
from compiler.graph.ir import Node, TensorType
from opset.onnx_kernels import pool_output_size

Rule = Callable[[Node, list[TensorType | None]], list[TensorType]]
RULES: dict[str, Rule] = {}


def _rule(*names: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for name in names:
            RULES[name] = fn
        return fn
    return register


def _fail(node: Node, msg: str) -> ShapeError:
    return ShapeError(f"node {node.name!r} ({node.op}): {msg}")


def _broadcast(node: Node, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise _fail(node, f"shapes {[list(s) for s in shapes]} do not broadcast") from None


UNARY = ("Relu", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Exp", "Sqrt",
         "Neg", "Abs", "Reciprocal", "Erf", "Gelu", "Identity", "Floor", "Ceil", "Clip",
         "Softmax", "LRN", "BatchNormalization", "LayerNormalization")


@_rule(*UNARY)
def _same(node, ts):
    return [TensorType(ts[0].shape, ts[0].dtype)]


@_rule("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min")
def _binary(node, ts):
    return [TensorType(_broadcast(node, ts[0].shape, ts[1].shape), ts[0].dtype)]


@_rule("Equal", "Less", "Greater")
def _compare(node, ts):
    return [TensorType(_broadcast(node, ts[0].shape, ts[1].shape), "bool")]


@_rule("Where")
def _where(node, ts):
    return [TensorType(_broadcast(node, ts[0].shape, ts[1].shape, ts[2].shape), ts[1].dtype)]


@_rule("Cast")
def _cast(node, ts):
    return [TensorType(ts[0].shape, node.attr("to"))]


@_rule("Reshape")
def _reshape(node, ts):
    shape = node.attr("shape")
    if int(np.prod(shape, dtype=np.int64)) != ts[0].size or any(d < 0 for d in shape):
        raise _fail(node, f"cannot reshape {list(ts[0].shape)} to {list(shape)}")
    return [TensorType(shape, ts[0].dtype)]


@_rule("Expand")
def _expand(node, ts):
    shape = node.attr("shape")
    if _broadcast(node, ts[0].shape, shape) != tuple(shape):
        raise _fail(node, f"{list(ts[0].shape)} does not broadcast to {list(shape)}")
    return [TensorType(shape, ts[0].dtype)]


@_rule("Transpose")
def _transpose(node, ts):
    perm = node.attr("perm")
    if sorted(perm) != list(range(ts[0].rank)):
        raise _fail(node, f"perm {list(perm)} is not a permutation of rank {ts[0].rank}")
    return [TensorType(tuple(ts[0].shape[p] for p in perm), ts[0].dtype)]


@_rule("Concat")
def _concat(node, ts):
    axis = node.attr("axis")
    first = ts[0].shape
    for t in ts[1:]:
        if t.rank != len(first) or any(
                a != b for i, (a, b) in enumerate(zip(first, t.shape, strict=True)) if i != axis):
            raise _fail(node, f"inputs {[list(t.shape) for t in ts]} differ off axis {axis}")
    shape = list(first)
    shape[axis] = sum(t.shape[axis] for t in ts)
    return [TensorType(shape, ts[0].dtype)]


@_rule("Split")
def _split(node, ts):
    axis, split = node.attr("axis"), node.attr("split")
    if sum(split) != ts[0].shape[axis]:
        raise _fail(node, f"split {list(split)} does not add up to dim {ts[0].shape[axis]}")
    out = []
    for s in split:
        shape = list(ts[0].shape)
        shape[axis] = s
        out.append(TensorType(shape, ts[0].dtype))
    return out


@_rule("Slice")
def _slice(node, ts):
    shape = list(ts[0].shape)
    for start, end, axis, step in zip(node.attr("starts"), node.attr("ends"),
                                      node.attr("axes"), node.attr("steps"), strict=True):
        # canonical bounds come from slice.indices(): end == -1 only for a negative step
        shape[axis] = len(range(start, end, step))
    return [TensorType(shape, ts[0].dtype)]


@_rule("Gather")
def _gather(node, ts):
    axis = node.attr("axis")
    s = ts[0].shape
    return [TensorType(s[:axis] + ts[1].shape + s[axis + 1:], ts[0].dtype)]


@_rule("Pad")
def _pad(node, ts):
    pads = node.attr("pads")
    r = ts[0].rank
    return [TensorType([d + pads[i] + pads[i + r] for i, d in enumerate(ts[0].shape)],
                       ts[0].dtype)]


@_rule("Resize")
def _resize(node, ts):
    return [TensorType(node.attr("size"), ts[0].dtype)]


def _conv_out(node, x: TensorType, kernel: tuple[int, ...]) -> list[int]:
    strides, pads, dil = node.attr("strides"), node.attr("pads"), node.attr("dilations")
    nd = len(kernel)
    out = []
    for i in range(nd):
        span = (kernel[i] - 1) * dil[i] + 1
        o = (x.shape[2 + i] + pads[i] + pads[i + nd] - span) // strides[i] + 1
        if o <= 0:
            raise _fail(node, f"spatial dim {i} of input {list(x.shape)} is smaller than the "
                        f"kernel {list(kernel)} with pads {list(pads)}")
        out.append(o)
    return out


@_rule("Conv", "ConvInteger", "QLinearConv")
def _conv(node, ts):
    x, w = (ts[0], ts[3]) if node.op == "QLinearConv" else (ts[0], ts[1])
    group = node.attr("group")
    if x.rank != w.rank or x.shape[1] != w.shape[1] * group or w.shape[0] % group:
        raise _fail(node, f"input {list(x.shape)} and weight {list(w.shape)} do not match "
                    f"with group={group}")
    dtype = x.dtype if node.op == "Conv" else "int32" if node.op == "ConvInteger" \
        else ts[7].dtype
    return [TensorType([x.shape[0], w.shape[0]] + _conv_out(node, x, w.shape[2:]), dtype)]


@_rule("ConvTranspose")
def _conv_transpose(node, ts):
    x, w = ts[0], ts[1]
    strides, pads, dil = node.attr("strides"), node.attr("pads"), node.attr("dilations")
    out_pad, group = node.attr("output_padding"), node.attr("group")
    nd = x.rank - 2
    if x.shape[1] != w.shape[0]:
        raise _fail(node, f"input {list(x.shape)} and weight {list(w.shape)} do not match")
    spatial = [strides[i] * (x.shape[2 + i] - 1) + out_pad[i] + (w.shape[2 + i] - 1) * dil[i]
               + 1 - pads[i] - pads[i + nd] for i in range(nd)]
    return [TensorType([x.shape[0], w.shape[1] * group] + spatial, x.dtype)]


@_rule("Gemm")
def _gemm(node, ts):
    a, b = ts[0].shape, ts[1].shape
    m, k = (a[1], a[0]) if node.attr("trans_a") else a
    k2, n = (b[1], b[0]) if node.attr("trans_b") else b
    if k != k2:
        raise _fail(node, f"inner dims differ: A {list(a)} B {list(b)}")
    if ts[2:] and ts[2] is not None:
        _broadcast(node, ts[2].shape, (m, n))
    return [TensorType((m, n), ts[0].dtype)]


def _matmul_shape(node, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    a1, b1 = len(a) == 1, len(b) == 1
    a2 = (1,) + a if a1 else a
    b2 = b + (1,) if b1 else b
    if a2[-1] != b2[-2]:
        raise _fail(node, f"inner dims differ: {list(a)} @ {list(b)}")
    batch = _broadcast(node, a2[:-2], b2[:-2])
    out = batch + (a2[-2], b2[-1])
    if a1:
        out = out[:-2] + out[-1:]
    if b1:
        out = out[:-1]
    return out


@_rule("MatMul", "MatMulInteger", "QLinearMatMul")
def _matmul(node, ts):
    a, b = (ts[0], ts[3]) if node.op == "QLinearMatMul" else (ts[0], ts[1])
    dtype = a.dtype if node.op == "MatMul" else "int32" if node.op == "MatMulInteger" \
        else ts[7].dtype
    return [TensorType(_matmul_shape(node, a.shape, b.shape), dtype)]


@_rule("MaxPool", "AveragePool")
def _pool(node, ts):
    x = ts[0]
    kernel, strides, pads = node.attr("kernel_shape"), node.attr("strides"), node.attr("pads")
    dil = node.attr("dilations", (1,) * len(kernel))
    nd = len(kernel)
    spatial = [pool_output_size(x.shape[2 + i], kernel[i], strides[i], pads[i], pads[i + nd],
                                dil[i], node.attr("ceil_mode", 0)) for i in range(nd)]
    if any(o <= 0 for o in spatial):
        raise _fail(node, f"input {list(x.shape)} is smaller than the window {list(kernel)}")
    return [TensorType(list(x.shape[:2]) + spatial, x.dtype)]


@_rule("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(node, ts):
    return [TensorType(ts[0].shape[:2] + (1,) * (ts[0].rank - 2), ts[0].dtype)]


@_rule("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd")
def _reduce(node, ts):
    axes, keep = node.attr("axes"), node.attr("keepdims")
    shape = [1 if i in axes else d for i, d in enumerate(ts[0].shape)
             if keep or i not in axes]
    return [TensorType(shape, ts[0].dtype)]


@_rule("QuantizeLinear")
def _quantize(node, ts):
    return [TensorType(ts[0].shape, node.attr("dtype"))]


@_rule("DequantizeLinear")
def _dequantize(node, ts):
    return [TensorType(ts[0].shape, ts[1].dtype)]


@_rule("AbsMaxScale")
def _abs_max_scale(node, ts):
    return [TensorType((1,), "float32")]


@_rule("RequantTable")
def _requant_table(node, ts):
    return [TensorType((int(node.attr("channels")),), "int32")] * 2


def infer_node(node: Node, inputs: list[TensorType | None]) -> list[TensorType]:
    """Output types of ``node`` from its input types (None for omitted optional inputs)."""
    rule = RULES.get(node.op)
    if rule is None:
        raise ShapeError(f"node {node.name!r}: no shape rule for op {node.op!r}")
    try:
        return rule(node, inputs)
    except (IndexError, TypeError, AttributeError) as exc:
        raise _fail(node, f"inputs {[str(t) for t in inputs]} do not fit the op "
                    f"({exc})") from None


__all__ = ["RULES", "infer_node"]
