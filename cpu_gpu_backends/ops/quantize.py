"""quantize and dequantize (the float path's boundaries), as fused element-wise kernels.

Semantics (:mod:`opset.reference` spells the same formulas):
* quantize (ONNX QuantizeLinear): ``y = clip(round_half_even(x / scale) + zp, -128, 127)``.
* dequantize (ONNX DequantizeLinear): ``y = (x - zp) * scale`` in fp32.

Requantization (int32 -> int8) has one definition, the hardware's (:mod:`opset.requant`);
its CPU kernel is :func:`.quantized.requantize_plan`.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import dtypes as dt
from ..kernel_ir import Cast, Expr, Unary, binary
from .common import shape_of
from .elementwise import clip, elementwise_plan
from .plan import OpPlan


def param_shape(op: str, shape: tuple[int, ...], axis: int | None) -> tuple[int, ...]:
    """Shape of a per-tensor (``axis=None``) or per-axis parameter broadcast against x."""
    if axis is None:
        return (1,)
    if not -len(shape) <= axis < len(shape):
        raise ValueError(f"{op}: axis {axis} out of range for a rank-{len(shape)} input")
    axis %= len(shape)
    return tuple(shape[d] if d == axis else 1 for d in range(len(shape)))


def quantize_plan(shape: Sequence[int], axis: int | None = None) -> OpPlan:
    """Inputs: x f32, scale f32, zero_point i8 (per tensor, or per channel along axis)."""
    s = shape_of("quantize", "shape", shape)
    ps = param_shape("quantize", s, axis)

    def fn(x: Expr, scale: Expr, zp: Expr) -> Expr:
        q = Unary("roundeven", binary("div", x, scale)) + Cast(zp, dt.f32)
        return Cast(clip(q, -128.0, 127.0), dt.i8)

    return elementwise_plan(fn, [s, ps, ps], ["f32", "f32", "i8"], "quantize")


def dequantize_plan(shape: Sequence[int], axis: int | None = None,
                    dtype: str = "i8") -> OpPlan:
    """Inputs: x (i8, or i32 for accumulators), scale f32, zero_point (same dtype as x)."""
    s = shape_of("dequantize", "shape", shape)
    ps = param_shape("dequantize", s, axis)
    if dtype not in ("i8", "i32"):
        raise TypeError(f"dequantize: dtype must be i8 or i32, got {dtype!r}")

    def fn(x: Expr, scale: Expr, zp: Expr) -> Expr:
        wide = Cast(x, dt.i32) - Cast(zp, dt.i32)
        return Cast(wide, dt.f32) * scale

    return elementwise_plan(fn, [s, ps, ps], [dtype, "f32", dtype], "dequantize")
