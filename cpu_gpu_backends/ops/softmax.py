"""Softmax over the last axis (f32): max-subtracted for stability, exp inlined."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .. import dtypes as dt
from ..kernel_ir import (
    Assign,
    Const,
    Decl,
    Kernel,
    Let,
    Load,
    Loop,
    Param,
    Store,
    Unary,
    Var,
    binary,
    maximum,
)
from .common import shape_of, tag
from .plan import BufferSpec, OpPlan, Step


def softmax_plan(shape: Sequence[int]) -> OpPlan:
    """``y = exp(x - max(x)) / sum(exp(x - max(x)))`` along the last axis, per row."""
    s = shape_of("softmax", "shape", shape)
    length = s[-1]
    rows = math.prod(s[:-1])
    r = Var("r")
    base = Var("base")
    x = lambda i: Load("x", base + i, dt.f32)  # noqa: E731
    f = dt.f32
    body = (
        Let("base", r * length),
        Decl("m", Const(f.min(), f)),
        Loop("i", length, (Assign("m", maximum(Var("m", f), x(Var("i")))),)),
        Decl("s", Const(0.0, f)),
        Loop("i", length, (Let("e", Unary("exp", x(Var("i")) - Var("m", f))),
                           Store("y", base + Var("i"), Var("e", f)),
                           Assign("s", Var("s", f) + Var("e", f)))),
        Let("inv", binary("div", Const(1.0, f), Var("s", f))),
        Loop("i", length, (Store("y", base + Var("i"),
                                 Load("y", base + Var("i"), f) * Var("inv", f)),)),
    )
    name = f"softmax_{tag(s)}"
    k = Kernel(name, (Param("x", f), Param("y", f)), (Loop("r", rows, body, "parallel"),))
    bufs = (BufferSpec("x", f, s, "input"), BufferSpec("y", f, s, "output"))
    return OpPlan(name, (k,), bufs, (Step(name, ("x", "y")),), {"out_shape": s})
