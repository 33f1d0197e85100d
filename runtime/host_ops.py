"""Host steps of a compiled module that are not opset operators: the float boundaries and
int8 data moves.

A quantized model takes float inputs and returns float outputs; its int8 core is opset
operators.  The boundary conversions run on the host in numpy, exactly as the quantized
graph's reference computes them (ONNX QuantizeLinear / DequantizeLinear with an int8 zero
point ``z``: ``q = sat8(rint(x / s) + z)`` in float32, ``x = (q - z) * s``), so a module's
outputs equal ``evaluate_quantized`` bit for bit.  ``transpose`` and ``concat`` move int8
data (the scale kept, exact).  They are data, like the opset ops: serialized in the manifest
as ``{"kind": "host.<kind>", "name", "shape", "in_shapes", "scale", "zero_point", "perm",
"axis"}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from opset.base import TensorSpec
from opset.reference import dequantize_linear, quantize_linear

HOST_KINDS = ("quantize", "dequantize", "transpose", "concat")
PREFIX = "host."


class HostOpError(ValueError):
    """A host op description that cannot be built (wrong kind, shape or parameter)."""


def _shape(s: Any, what: str) -> tuple[int, ...]:
    shape = tuple(int(d) for d in s)
    if not shape or any(d < 1 for d in shape):
        raise HostOpError(f"{what}: bad shape {list(s)}")
    return shape


@dataclass(frozen=True)
class HostOp:
    """One host step producing a tensor of ``shape`` from inputs of ``in_shapes``:

    * ``quantize`` (float32 -> int8) / ``dequantize`` (int8 -> float32) with ``scale`` and
      ``zero_point`` (int8); operand ``x``;
    * ``transpose`` of an int8 tensor by ``perm``; operand ``x``;
    * ``concat`` of int8 tensors along ``axis``; operands ``x0``, ``x1``, ...

    An input whose tensor has the same element count in another shape (a reshape folded
    away by the lowering) is viewed in its ``in_shapes`` entry."""

    kind: str
    name: str
    shape: tuple[int, ...]
    in_shapes: tuple[tuple[int, ...], ...] = ()
    scale: float | None = None
    perm: tuple[int, ...] = ()
    axis: int = 0
    zero_point: int = 0

    def __post_init__(self) -> None:
        what = f"host op {self.name!r}"
        if self.kind not in HOST_KINDS:
            raise HostOpError(f"{what}: kind must be one of {HOST_KINDS}, got {self.kind!r}")
        shape = _shape(self.shape, what)
        ins = tuple(_shape(s, what) for s in self.in_shapes) or (shape,)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "in_shapes", ins)
        object.__setattr__(self, "perm", tuple(int(p) for p in self.perm))
        object.__setattr__(self, "axis", int(self.axis))
        if self.kind in ("quantize", "dequantize"):
            scale = float(self.scale) if self.scale is not None else float("nan")
            if not np.isfinite(scale) or scale <= 0:
                raise HostOpError(f"{what}: scale must be positive, got {self.scale}")
            object.__setattr__(self, "scale", scale)
            if not isinstance(self.zero_point, int | np.integer) or \
                    not -128 <= self.zero_point <= 127:
                raise HostOpError(f"{what}: zero point must be an int8, got "
                                  f"{self.zero_point!r}")
            object.__setattr__(self, "zero_point", int(self.zero_point))
            if ins != (shape,):
                raise HostOpError(f"{what}: {self.kind} keeps the shape {list(shape)}")
        elif self.kind == "transpose":
            if len(ins) != 1 or sorted(self.perm) != list(range(len(ins[0]))) or \
                    tuple(ins[0][p] for p in self.perm) != shape:
                raise HostOpError(f"{what}: perm {list(self.perm)} does not take "
                                  f"{[list(s) for s in ins]} to {list(shape)}")
        else:
            rank = len(shape)
            ok = (len(ins) >= 1 and 0 <= self.axis < rank and all(len(s) == rank for s in ins)
                  and all(s[:self.axis] + s[self.axis + 1:] == shape[:self.axis]
                          + shape[self.axis + 1:] for s in ins)
                  and sum(s[self.axis] for s in ins) == shape[self.axis])
            if not ok:
                raise HostOpError(f"{what}: concat of {[list(s) for s in ins]} on axis "
                                  f"{self.axis} is not {list(shape)}")

    @property
    def macs(self) -> int:
        return 0

    def _dtypes(self) -> tuple[str, str]:
        return {"quantize": ("float32", "int8"),
                "dequantize": ("int8", "float32")}.get(self.kind, ("int8", "int8"))

    def inputs(self) -> tuple[TensorSpec, ...]:
        dt = self._dtypes()[0]
        if self.kind == "concat":
            return tuple(TensorSpec(f"x{i}", s, dt) for i, s in enumerate(self.in_shapes))
        return (TensorSpec("x", self.in_shapes[0], dt),)

    def output(self) -> TensorSpec:
        return TensorSpec("y", self.shape, self._dtypes()[1])

    def run(self, *xs: np.ndarray) -> np.ndarray:
        """The output from the inputs in operand order."""
        if len(xs) != len(self.in_shapes):
            raise HostOpError(f"host op {self.name!r}: {len(xs)} input(s), expected "
                              f"{len(self.in_shapes)}")
        want = self._dtypes()[0]
        arrs = [np.asarray(x).astype(want, copy=False).reshape(s)
                for x, s in zip(xs, self.in_shapes, strict=True)]
        if self.kind == "quantize":
            return quantize_linear(arrs[0], np.float32(self.scale), np.int8(self.zero_point))
        if self.kind == "dequantize":
            return dequantize_linear(arrs[0], np.float32(self.scale),
                                     np.int8(self.zero_point))
        if self.kind == "transpose":
            return np.ascontiguousarray(arrs[0].transpose(self.perm))
        return np.concatenate(arrs, axis=self.axis)


def is_host_json(d: Any) -> bool:
    return isinstance(d, dict) and str(d.get("kind", "")).startswith(PREFIX)


def host_op_to_json(op: HostOp) -> dict[str, Any]:
    return {"kind": PREFIX + op.kind, "name": op.name, "shape": list(op.shape),
            "in_shapes": [list(s) for s in op.in_shapes], "scale": op.scale,
            "zero_point": op.zero_point, "perm": list(op.perm), "axis": op.axis}


def host_op_from_json(d: dict[str, Any]) -> HostOp:
    try:
        return HostOp(str(d["kind"])[len(PREFIX):], str(d["name"]), tuple(d["shape"]),
                      tuple(tuple(s) for s in d["in_shapes"]), d.get("scale"),
                      tuple(d.get("perm", ())), int(d.get("axis", 0)),
                      d.get("zero_point", 0))
    except (KeyError, TypeError) as e:
        raise HostOpError(f"host op description {d!r}: {e}") from e


__all__ = ["HostOp", "HostOpError", "HOST_KINDS", "is_host_json", "host_op_to_json",
           "host_op_from_json"]
