"""Host steps of a compiled module that are not opset operators: the float boundaries.

A quantized model takes float inputs and returns float outputs; its int8 core is opset
operators.  The two boundary conversions run on the host in numpy, exactly as the
quantized graph's reference computes them (ONNX QuantizeLinear / DequantizeLinear with zero
point 0: ``q = sat8(rint(x / s))`` in float32, ``x = q * s``), so a module's outputs equal
``evaluate_quantized`` bit for bit.  They are data, like the opset ops: serialized in the
manifest as ``{"kind": "host.quantize" | "host.dequantize", "name", "shape", "scale"}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from opset.base import TensorSpec
from opset.reference import dequantize_linear, quantize_linear

HOST_KINDS = ("quantize", "dequantize")
PREFIX = "host."


class HostOpError(ValueError):
    """A host op description that cannot be built (wrong kind, shape or scale)."""


@dataclass(frozen=True)
class HostOp:
    """``quantize`` (float32 -> int8) or ``dequantize`` (int8 -> float32) of one tensor of
    ``shape`` with ``scale`` (zero point 0).  Operand ``x``, output ``y``."""

    kind: str
    name: str
    shape: tuple[int, ...]
    scale: float

    def __post_init__(self) -> None:
        if self.kind not in HOST_KINDS:
            raise HostOpError(f"host op kind must be one of {HOST_KINDS}, got {self.kind!r}")
        shape = tuple(int(d) for d in self.shape)
        if not shape or any(d < 1 for d in shape):
            raise HostOpError(f"host op {self.name!r}: bad shape {self.shape}")
        object.__setattr__(self, "shape", shape)
        scale = float(self.scale)
        if not np.isfinite(scale) or scale <= 0:
            raise HostOpError(f"host op {self.name!r}: scale must be positive, got {scale}")
        object.__setattr__(self, "scale", scale)

    @property
    def macs(self) -> int:
        return 0

    def _dtypes(self) -> tuple[str, str]:
        return ("float32", "int8") if self.kind == "quantize" else ("int8", "float32")

    def inputs(self) -> tuple[TensorSpec, ...]:
        return (TensorSpec("x", self.shape, self._dtypes()[0]),)

    def output(self) -> TensorSpec:
        return TensorSpec("y", self.shape, self._dtypes()[1])

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x).reshape(self.shape)
        s = np.float32(self.scale)
        if self.kind == "quantize":
            return quantize_linear(x.astype(np.float32), s, np.int8(0))
        return dequantize_linear(x.astype(np.int8), s, np.int8(0))


def is_host_json(d: Any) -> bool:
    return isinstance(d, dict) and str(d.get("kind", "")).startswith(PREFIX)


def host_op_to_json(op: HostOp) -> dict[str, Any]:
    return {"kind": PREFIX + op.kind, "name": op.name, "shape": list(op.shape),
            "scale": op.scale}


def host_op_from_json(d: dict[str, Any]) -> HostOp:
    try:
        return HostOp(str(d["kind"])[len(PREFIX):], str(d["name"]),
                      tuple(d["shape"]), float(d["scale"]))
    except (KeyError, TypeError) as e:
        raise HostOpError(f"host op description {d!r}: {e}") from e


__all__ = ["HostOp", "HostOpError", "HOST_KINDS", "is_host_json", "host_op_to_json",
           "host_op_from_json"]
