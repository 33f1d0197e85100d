"""Element-wise operators and fused element-wise chains, with numpy broadcasting.

A chain is written as a Python function over kernel-IR expressions, e.g.
``lambda x, b: relu(x + b)``; its inputs are bound to loads inside one loop nest, so a fused
chain is one kernel with no intermediate arrays.  Shapes are specialised at build time:
dimensions are collapsed where possible and the innermost loop is unit-stride (or a broadcast
scalar), which LLVM vectorizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .. import dtypes as dt
from ..dtypes import DType
from ..kernel_ir import (
    Binary,
    Cast,
    Const,
    Expr,
    IRError,
    Kernel,
    Let,
    Load,
    Loop,
    Param,
    Store,
    Unary,
    Var,
    binary,
    idx,
    maximum,
    minimum,
)
from .common import ceil_div, pick_dtype, shape_of, tag
from .plan import BufferSpec, OpPlan, Step

CHUNK = 4096  # elements per parallel task when the collapsed shape is one long row


# ----------------------------------------------------------------------------- building blocks
def _c(v: float | int, like: Expr) -> Const:
    return Const(float(v) if like.dtype.is_float else int(v), like.dtype, like.lanes)


def relu(x: Expr) -> Expr:
    return maximum(x, _c(0, x))


def clip(x: Expr, lo: float | int, hi: float | int) -> Expr:
    return minimum(maximum(x, _c(lo, x)), _c(hi, x))


def sigmoid(x: Expr) -> Expr:
    one = _c(1.0, x)
    return binary("div", one, one + Unary("exp", -x))


def exp(x: Expr) -> Expr:
    return Unary("exp", x)


def cast(x: Expr, ty: DType | str) -> Expr:
    return Cast(x, dt.dtype_of(ty))


def shift_right(x: Expr, s: Expr | int) -> Expr:
    """Arithmetic shift right (signed types)."""
    return binary("shr", x, s)


def shift_left(x: Expr, s: Expr | int) -> Expr:
    return binary("shl", x, s)


def round_even(x: Expr) -> Expr:
    return Unary("roundeven", x)


BINARY_OPS: dict[str, Callable[[Expr, Expr], Expr]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: binary("div", a, b),
    "max": maximum,
    "min": minimum,
    "shl": shift_left,
    "shr": shift_right,
}
UNARY_OPS: dict[str, Callable[[Expr], Expr]] = {
    "relu": relu,
    "neg": lambda a: -a,
    "abs": lambda a: Unary("abs", a),
    "exp": exp,
    "sigmoid": sigmoid,
    "sqrt": lambda a: Unary("sqrt", a),
    "round": round_even,
}


# ----------------------------------------------------------------------------- shapes
def broadcast_shape(op: str, shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError as exc:
        raise ValueError(f"{op}: input shapes {list(shapes)} do not broadcast: {exc}") from exc


def _strides(shape: tuple[int, ...], out: tuple[int, ...]) -> list[int]:
    """Element strides of ``shape`` broadcast to ``out`` (0 where broadcast)."""
    full = (1,) * (len(out) - len(shape)) + shape
    st, acc = [0] * len(out), 1
    for d in range(len(out) - 1, -1, -1):
        st[d] = 0 if full[d] == 1 else acc
        acc *= full[d]
    return st


def _collapse(out: tuple[int, ...], strides: list[list[int]]) -> tuple[list[int], list[list[int]]]:
    """Merge adjacent dims whose strides compose for every input (fewer, longer loops)."""
    if not out:
        return [1], [[0] for _ in strides]
    dims = [d for d in range(len(out)) if out[d] != 1] or [len(out) - 1]
    shp = [out[d] for d in dims]
    sts = [[s[d] for d in dims] for s in strides]
    i = len(shp) - 1
    while i > 0:
        if all(st[i - 1] == st[i] * shp[i] for st in sts):
            shp[i - 1] *= shp[i]
            for st in sts:
                st[i - 1] = st[i]
                del st[i]
            del shp[i]
        i -= 1
    return shp, sts


# ----------------------------------------------------------------------------- plan
def elementwise_plan(fn: Callable[..., Expr], shapes: Sequence[Sequence[int]],
                     dtypes: Sequence[str | DType], name: str = "ew",
                     chunk: int | None = None) -> OpPlan:
    """One kernel computing ``fn(*inputs)`` over the broadcast shape of ``shapes``.

    fn receives one scalar :class:`Var` per input (of that input's dtype) and returns the
    output expression; its dtype is the output dtype.  Scalar-valued inputs (e.g. a scale)
    are just inputs of shape ``(1,)``.  ``chunk``: elements per parallel task (default: a
    whole innermost row, a long single row split into :data:`CHUNK`-element tasks, what a
    thread pool of a few threads wants; a GPU wants 1, one thread per element).
    """
    op = f"elementwise[{name}]"
    if len(shapes) != len(dtypes) or not shapes:
        raise ValueError(f"{op}: need one dtype per input shape (got {len(shapes)} shapes, "
                         f"{len(dtypes)} dtypes)")
    shps = [shape_of(op, f"shapes[{i}]", s) for i, s in enumerate(shapes)]
    tys = [pick_dtype(op, f"dtypes[{i}]", d, tuple(dt.DTYPES)) for i, d in enumerate(dtypes)]
    out_shape = broadcast_shape(op, shps)
    args = [Var(f"in{i}", t) for i, t in enumerate(tys)]
    try:
        body_expr = fn(*args)
    except IRError as exc:
        raise ValueError(f"{op}: bad expression: {exc}") from exc
    if not isinstance(body_expr, Expr):
        raise TypeError(f"{op}: fn must return a kernel-IR expression, got "
                        f"{type(body_expr).__name__}")
    out_ty = body_expr.dtype
    shp, sts = _collapse(out_shape, [_strides(s, out_shape) for s in shps])
    inner = shp[-1]
    outer = shp[:-1]
    if chunk is not None:
        if chunk < 1:
            raise ValueError(f"{op}: chunk must be >= 1, got {chunk}")
        chunk = min(chunk, inner)
    else:
        chunk = inner
        if not outer and inner > CHUNK:  # one long row: split it so threads share the work
            chunk = CHUNK
    n_outer = math.prod(outer) * ceil_div(inner, chunk)
    q, j = Var("q"), Var("j")
    # decompose q into outer indices (static shapes: div/mod by constants)
    lets = []
    col0: Expr = (q % ceil_div(inner, chunk)) * chunk if chunk != inner else idx(0)
    rest: Expr = q // ceil_div(inner, chunk) if chunk != inner else q
    outer_idx: list[Expr] = []
    for d in range(len(outer) - 1, -1, -1):
        outer_idx.insert(0, rest % outer[d] if d else rest)
        rest = rest // outer[d]
    lets.append(Let("col0", col0))
    out_base: Expr = idx(0)
    stride = inner
    for d in range(len(outer) - 1, -1, -1):
        out_base = out_base + outer_idx[d] * stride
        stride *= outer[d]
    lets.append(Let("obase", out_base + Var("col0")))
    for i, st in enumerate(sts):
        base: Expr = idx(0)
        for d in range(len(outer)):
            if st[d]:
                base = base + outer_idx[d] * st[d]
        if st[-1]:
            base = base + Var("col0") * st[-1]
        lets.append(Let(f"base{i}", base))
    loads = [Let(f"in{i}", Load(f"x{i}", Var(f"base{i}") + (j * sts[i][-1] if sts[i][-1]
                                                            else idx(0)), tys[i]))
             for i in range(len(tys))]
    stop: Expr | int = chunk
    if chunk != inner and inner % chunk:
        stop = minimum(idx(chunk), binary("sub", idx(inner), Var("col0")))
    loop = Loop("j", stop, (*loads, Store("y", Var("obase") + j, body_expr)))
    parts: tuple = (tuple(shps), tuple(t.name for t in tys), repr(body_expr))
    kname = f"ew_{name}_{tag(*parts, chunk) if chunk != inner else tag(*parts)}"
    params = tuple(Param(f"x{i}", t) for i, t in enumerate(tys)) + (Param("y", out_ty),)
    k = Kernel(kname, params, (Loop("q", n_outer, (*lets, loop), "parallel"),))
    bufs = tuple(BufferSpec(f"x{i}", t, s, "input") for i, (t, s) in enumerate(zip(tys, shps,
                                                                                  strict=True)))
    bufs += (BufferSpec("y", out_ty, out_shape, "output"),)
    return OpPlan(kname, (k,), bufs, (Step(k.name, tuple(f"x{i}" for i in range(len(tys)))
                                           + ("y",)),), {"out_shape": out_shape})


def binary_plan(op: str, shape_a: Sequence[int], shape_b: Sequence[int],
                dtype: str = "f32") -> OpPlan:
    """``a <op> b`` with broadcasting; op in :data:`BINARY_OPS`."""
    if op not in BINARY_OPS:
        raise ValueError(f"elementwise: unknown binary op {op!r}; expected one of "
                         f"{sorted(BINARY_OPS)}")
    return elementwise_plan(BINARY_OPS[op], [shape_a, shape_b], [dtype, dtype], op)


def unary_plan(op: str, shape: Sequence[int], dtype: str = "f32") -> OpPlan:
    if op not in UNARY_OPS:
        raise ValueError(f"elementwise: unknown unary op {op!r}; expected one of "
                         f"{sorted(UNARY_OPS)}")
    return elementwise_plan(UNARY_OPS[op], [shape], [dtype], op)


def clip_plan(shape: Sequence[int], lo: float, hi: float, dtype: str = "f32") -> OpPlan:
    if lo > hi:
        raise ValueError(f"clip: lo={lo} must be <= hi={hi}")
    return elementwise_plan(lambda x: clip(x, lo, hi), [shape], [dtype], "clip")


__all__ = ["elementwise_plan", "binary_plan", "unary_plan", "clip_plan", "relu", "clip",
           "sigmoid", "exp", "cast", "shift_left", "shift_right", "round_even", "Binary"]
