"""The one requantization (:mod:`opset.requant`) as kernel-IR expressions on int32 values.

int32 arithmetic in the IR wraps exactly as the accelerator's ALU does, so the sequence is
written step for step.  ``rshr(x, s)`` is computed as ``(x >> s) + ((x >> (s - 1)) & 1)``:
the same value as the ALU's ``(x + 2**(s-1)) >> s`` with no intermediate that can overflow.
Used by the fused epilogue of the quantized conv2d kernel and by the standalone requantize
kernel (:mod:`.quantized`).
"""

from __future__ import annotations

from opset import Epilogue
from opset.requant import INT8_MAX, INT8_MIN

from .. import dtypes as dt
from ..kernel_ir import Cast, Const, Expr, Select, binary, maximum, minimum

I32 = dt.i32


def i32c(v: int, lanes: int = 1) -> Const:
    """An int32 constant (splatted over ``lanes``)."""
    return Const(int(v), I32, lanes)


def rshr(x: Expr, s: Expr | int) -> Expr:
    """The ALU's rounding right shift on int32: ``floor((x + 2**(s-1)) / 2**s)``, ``s = 0``
    gives ``x``.  ``s`` a Python int (per tensor) or an int32 expression (per channel)."""
    n = x.lanes
    if isinstance(s, int):
        if s == 0:
            return x
        return binary("shr", x, i32c(s, n)) + binary("and", binary("shr", x, i32c(s - 1, n)),
                                                     i32c(1, n))
    below = maximum(s - i32c(1, n), i32c(0, n))
    shifted = binary("shr", x, s) + binary("and", binary("shr", x, below), i32c(1, n))
    return Select(binary("gt", s, i32c(0, n)), shifted, x)


def clamp8(x: Expr) -> Expr:
    """Clamp to the int8 range, still int32 (saturation without the narrowing)."""
    return minimum(maximum(x, i32c(INT8_MIN, x.lanes)), i32c(INT8_MAX, x.lanes))


def sat8(x: Expr) -> Expr:
    """int32 -> int8 saturation (the accelerator's out path)."""
    return Cast(clamp8(x), dt.i8)


def requant_expr(x: Expr, ep: Epilogue, mult: Expr | None = None,
                 shift: Expr | None = None) -> Expr:
    """The requantization steps of ``ep`` (pre-shift, multiplier, shift) on int32 ``x``."""
    rq = ep.requant
    if rq is None:
        return x
    x = rshr(x, rq.pre_shift)
    if rq.per_channel:
        return rshr(x * mult, shift)
    if rq.multiplier != 1:
        x = x * i32c(rq.multiplier, x.lanes)
    return rshr(x, rq.shift)


def tail_expr(x: Expr, ep: Epilogue, residual: Expr | None = None) -> Expr:
    """The steps after requantization (residual, offset, ReLU, clip) on int32 ``x``,
    unsaturated."""
    n = x.lanes
    if ep.residual:
        x = x + Cast(residual, I32)
    if ep.offset:
        x = x + i32c(ep.offset, n)
    if ep.relu:
        x = maximum(x, i32c(0, n))
    if ep.clip is not None:
        x = minimum(maximum(x, i32c(ep.clip[0], n)), i32c(ep.clip[1], n))
    return x


def epilogue_expr(x: Expr, ep: Epilogue, bias: Expr | None = None, mult: Expr | None = None,
                  shift: Expr | None = None, residual: Expr | None = None) -> Expr:
    """:class:`opset.Epilogue` on one int32 accumulator ``x`` -> int8 (wrapping int32)."""
    if ep.bias:
        x = x + bias
    return sat8(tail_expr(requant_expr(x, ep, mult, shift), ep, residual))


__all__ = ["I32", "i32c", "rshr", "clamp8", "sat8", "requant_expr", "tail_expr",
           "epilogue_expr"]
