"""Host steps of a compiled module that are not opset operators: the float boundaries and
any ONNX op the host runs (float islands, int8 data moves, whole float models).

A quantized model takes float inputs and returns float outputs; its int8 core is opset
operators.  The boundary conversions (:class:`HostOp`) run on the host in numpy, exactly as
the quantized graph's reference computes them (ONNX QuantizeLinear / DequantizeLinear with
an int8 zero point ``z``: ``q = sat8(rint(x / s) + z)`` in float32, ``x = (q - z) * s``), so
a module's outputs equal ``evaluate_quantized`` bit for bit.

Everything else the host runs is one generic step, :class:`OnnxHostOp`: an ONNX op type, its
canonical attributes (JSON values), its operands' shapes and dtypes and its output's, run
with the very kernel the compiler's float reference uses (:mod:`opset.onnx_kernels`), so a
float island (Softmax, LayerNorm, LRN, ...) or an int8 move (Transpose, Concat, Split,
Slice of int8 data) gives the reference's bits.  A node with several outputs (Split) is one
step per output, each with its ``output_index``: every module step writes one tensor, and
the extra evaluations are data moves only.

Both are data, like the opset ops, serialized in the manifest as ``{"kind":
"host.quantize" | "host.dequantize", "name", "shape", "in_shapes", "scale", "zero_point"}`` and
``{"kind": "host.onnx", "name", "op_type", "attrs", "in_shapes", "in_dtypes", "shape",
"dtype", "output_index"}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from opset.base import TensorSpec
from opset.onnx_kernels import KERNELS, pool_output_size, run_kernel
from opset.reference import dequantize_linear, quantize_linear

HOST_KINDS = ("quantize", "dequantize", "onnx")
PREFIX = "host."
# dtypes a host step's operands and outputs may have
HOST_DTYPES = ("float32", "float64", "int8", "uint8", "int32", "int64", "bool")
# ops whose operand/output shapes are checked by formula (a dry run would cost a whole
# convolution); every other op is checked by running its kernel once on zeros
_MAC_OPS = ("Conv", "Gemm", "MatMul")


class HostOpError(ValueError):
    """A host op description that cannot be built (wrong kind, shape or parameter)."""


def _shape(s: Any, what: str, *, scalar: bool = False) -> tuple[int, ...]:
    shape = tuple(int(d) for d in s)
    if (not shape and not scalar) or any(d < 1 for d in shape):
        raise HostOpError(f"{what}: bad shape {list(s)}")
    return shape


@dataclass(frozen=True)
class HostOp:
    """One host boundary step producing a tensor of ``shape``: ``quantize`` (float32 ->
    int8) or ``dequantize`` (int8 -> float32) with ``scale`` and ``zero_point`` (int8);
    operand ``x``.

    An input whose tensor has the same element count in another shape (a reshape folded
    away by the lowering) is viewed in its ``in_shapes`` entry."""

    kind: str
    name: str
    shape: tuple[int, ...]
    in_shapes: tuple[tuple[int, ...], ...] = ()
    scale: float | None = None
    zero_point: int = 0

    def __post_init__(self) -> None:
        what = f"host op {self.name!r}"
        if self.kind not in ("quantize", "dequantize"):
            raise HostOpError(f"{what}: kind must be one of {HOST_KINDS}, got {self.kind!r}")
        shape = _shape(self.shape, what)
        ins = tuple(_shape(s, what) for s in self.in_shapes) or (shape,)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "in_shapes", ins)
        scale = float(self.scale) if self.scale is not None else float("nan")
        if not np.isfinite(scale) or scale <= 0:
            raise HostOpError(f"{what}: scale must be positive, got {self.scale}")
        object.__setattr__(self, "scale", scale)
        if not isinstance(self.zero_point, int | np.integer) or \
                not -128 <= self.zero_point <= 127:
            raise HostOpError(f"{what}: zero point must be an int8, got {self.zero_point!r}")
        object.__setattr__(self, "zero_point", int(self.zero_point))
        if ins != (shape,):
            raise HostOpError(f"{what}: {self.kind} keeps the shape {list(shape)}")

    @property
    def macs(self) -> int:
        return 0

    def _dtypes(self) -> tuple[str, str]:
        return {"quantize": ("float32", "int8"), "dequantize": ("int8", "float32")}[self.kind]

    def inputs(self) -> tuple[TensorSpec, ...]:
        return (TensorSpec("x", self.in_shapes[0], self._dtypes()[0]),)

    def output(self) -> TensorSpec:
        return TensorSpec("y", self.shape, self._dtypes()[1])

    def run(self, *xs: np.ndarray) -> np.ndarray:
        """The output from the inputs in operand order."""
        if len(xs) != len(self.in_shapes):
            raise HostOpError(f"host op {self.name!r}: {len(xs)} input(s), expected "
                              f"{len(self.in_shapes)}")
        x = np.asarray(xs[0]).astype(self._dtypes()[0], copy=False).reshape(self.in_shapes[0])
        if self.kind == "quantize":
            return quantize_linear(x, np.float32(self.scale), np.int8(self.zero_point))
        return dequantize_linear(x, np.float32(self.scale), np.int8(self.zero_point))


def _freeze(v: Any, what: str) -> Any:
    """A JSON attribute value made hashable (lists -> tuples); anything else is refused."""
    if isinstance(v, list | tuple):
        return tuple(_freeze(x, what) for x in v)
    if isinstance(v, bool | int | str) or v is None:
        return v
    if isinstance(v, float):
        return v
    raise HostOpError(f"{what}: attribute value {v!r} is not a JSON number, string, null or "
                      "list")


@dataclass(frozen=True)
class OnnxHostOp:
    """An ONNX op (``op_type``, canonical ``attrs``) run on the host by its
    :mod:`opset.onnx_kernels` kernel: operands ``x0``, ``x1``, ... of ``in_shapes`` and
    ``in_dtypes`` (constants such as a LayerNorm scale are module constants wired to their
    operand), output number ``output_index`` of the op, of ``shape`` and ``dtype``.

    The description is checked when built (and so when a module is loaded): a known op
    type, JSON attributes, positive shapes, known dtypes, and an output of the declared
    shape and dtype (by formula for convolutions and matrix products, otherwise by running
    the kernel once on zeros)."""

    name: str
    op_type: str
    attrs: Mapping[str, Any]
    in_shapes: tuple[tuple[int, ...], ...]
    in_dtypes: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: str
    output_index: int = 0

    def __post_init__(self) -> None:
        what = f"host op {self.name!r} ({self.op_type})"
        if self.op_type not in KERNELS:
            raise HostOpError(f"host op {self.name!r}: no host kernel for ONNX op "
                              f"{self.op_type!r}")
        if not isinstance(self.attrs, Mapping):
            raise HostOpError(f"{what}: attrs must be a mapping, got {self.attrs!r}")
        attrs = tuple(sorted((str(k), _freeze(v, what)) for k, v in self.attrs.items()))
        object.__setattr__(self, "attrs", _Attrs(attrs))
        ins = tuple(_shape(s, what, scalar=True) for s in self.in_shapes)
        dts = tuple(str(d) for d in self.in_dtypes)
        if not ins or len(ins) != len(dts):
            raise HostOpError(f"{what}: {len(ins)} operand shape(s) and {len(dts)} dtype(s); "
                              "expected one of each per operand (at least one)")
        bad = [d for d in (*dts, str(self.dtype)) if d not in HOST_DTYPES]
        if bad:
            raise HostOpError(f"{what}: dtype(s) {bad} not among {HOST_DTYPES}")
        object.__setattr__(self, "in_shapes", ins)
        object.__setattr__(self, "in_dtypes", dts)
        object.__setattr__(self, "shape", _shape(self.shape, what, scalar=True))
        object.__setattr__(self, "dtype", str(self.dtype))
        if not isinstance(self.output_index, int) or self.output_index < 0:
            raise HostOpError(f"{what}: output_index must be a whole number >= 0, got "
                              f"{self.output_index!r}")
        self._check_output(what)

    @property
    def kind(self) -> str:
        """The ONNX op type (what a profile entry names)."""
        return self.op_type

    def _check_output(self, what: str) -> None:
        if self.op_type in _MAC_OPS and all(len(s) >= 2 for s in self.in_shapes[:2]):
            got, dtype = _mac_output_shape(self.op_type, self.attrs, self.in_shapes), \
                self.in_dtypes[0]
        else:
            zeros = [np.zeros(s, d) for s, d in zip(self.in_shapes, self.in_dtypes,
                                                     strict=True)]
            with np.errstate(all="ignore"):  # zeros may divide by zero: only shapes count
                y = self._outputs(zeros, what)
            got, dtype = tuple(y.shape), str(y.dtype)
        if got != self.shape or dtype != self.dtype:
            raise HostOpError(f"{what}: on {self._signature()} it gives "
                              f"{dtype}{list(got)}, the step declares "
                              f"{self.dtype}{list(self.shape)}")

    def _signature(self) -> str:
        return ", ".join(f"{d}{list(s)}" for s, d in zip(self.in_shapes, self.in_dtypes,
                                                          strict=True))

    def _outputs(self, arrays: list[np.ndarray], what: str) -> np.ndarray:
        try:
            outs = run_kernel(self.op_type, self.attrs, arrays)
        except (ValueError, TypeError, IndexError, KeyError, AttributeError,
                ZeroDivisionError) as e:
            raise HostOpError(f"{what}: its kernel fails on {self._signature()} with "
                              f"attributes {json.dumps(dict(self.attrs))}: "
                              f"{type(e).__name__}: {e}") from None
        if self.output_index >= len(outs):
            raise HostOpError(f"{what}: output {self.output_index} asked, the op has "
                              f"{len(outs)}")
        return np.asarray(outs[self.output_index])

    @property
    def macs(self) -> int:
        """Multiply-accumulates of convolutions and matrix products (0 for the rest)."""
        if self.op_type in ("Conv", "ConvTranspose") and len(self.in_shapes) >= 2:
            x, w = self.in_shapes[0], self.in_shapes[1]
            per = math.prod(w[1:])
            return (math.prod(self.shape) if self.op_type == "Conv" else math.prod(x)) * per
        if self.op_type in ("Gemm", "MatMul") and len(self.in_shapes) >= 2:
            a = self.in_shapes[0]
            k = a[0] if self.op_type == "Gemm" and self.attrs.get("trans_a") else a[-1]
            return math.prod(self.shape) * k
        return 0

    def inputs(self) -> tuple[TensorSpec, ...]:
        return tuple(TensorSpec(f"x{i}", s, d) for i, (s, d) in
                     enumerate(zip(self.in_shapes, self.in_dtypes, strict=True)))

    def output(self) -> TensorSpec:
        return TensorSpec("y", self.shape, self.dtype)

    def run(self, *xs: np.ndarray) -> np.ndarray:
        """The output from the inputs in operand order (each viewed in its declared shape:
        a reshape folded away by the lowering keeps the element count)."""
        if len(xs) != len(self.in_shapes):
            raise HostOpError(f"host op {self.name!r}: {len(xs)} input(s), expected "
                              f"{len(self.in_shapes)}")
        arrs = [np.asarray(x).astype(d, copy=False).reshape(s)
                for x, s, d in zip(xs, self.in_shapes, self.in_dtypes, strict=True)]
        return self._outputs(arrs, f"host op {self.name!r} ({self.op_type})")


class _Attrs(Mapping[str, Any]):
    """Frozen, hashable attributes (sorted items)."""

    def __init__(self, items: tuple[tuple[str, Any], ...]) -> None:
        self._items = items
        self._d = dict(items)

    def __getitem__(self, k: str) -> Any:
        return self._d[k]

    def __iter__(self):
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self) == dict(other)

    def __repr__(self) -> str:
        return repr(self._d)


def _mac_output_shape(op: str, attrs: Mapping[str, Any],
                      ins: tuple[tuple[int, ...], ...]) -> tuple[int, ...]:
    """The output shape of a Conv, Gemm or MatMul from its operand shapes (HostOpError
    when they do not fit together)."""
    a, b = ins[0], ins[1]
    what = f"{op} of {[list(s) for s in ins]} with {dict(attrs)}"
    try:
        if op == "Conv":
            nd = len(a) - 2
            group = int(attrs.get("group", 1))
            strides, pads = attrs["strides"], attrs["pads"]
            dil = attrs.get("dilations", (1,) * nd)
            ok = (len(b) == len(a) and b[1] * group == a[1] and b[0] % group == 0
                  and len(strides) == nd and len(pads) == 2 * nd
                  and all(len(s) == 1 and s[0] == b[0] for s in ins[2:]))
            sp = tuple(pool_output_size(a[2 + i], b[2 + i], strides[i], pads[i], pads[i + nd],
                                        dil[i], 0) for i in range(nd))
            if not ok or any(d < 1 for d in sp):
                raise HostOpError(f"bad {what}")
            return (a[0], b[0], *sp)
        if op == "Gemm":
            m, k = (a[1], a[0]) if attrs.get("trans_a") else a
            k2, n = (b[1], b[0]) if attrs.get("trans_b") else b
            if len(a) != 2 or len(b) != 2 or k != k2:
                raise HostOpError(f"bad {what}")
            return (m, n)
        if a[-1] != b[-2]:
            raise HostOpError(f"bad {what}")
        return (*np.broadcast_shapes(a[:-2], b[:-2]), a[-2], b[-1])
    except (KeyError, TypeError, ValueError, IndexError) as e:
        if isinstance(e, HostOpError):
            raise
        raise HostOpError(f"bad {what}: {type(e).__name__}: {e}") from None


def is_host_op(op: Any) -> bool:
    """Whether a step's op runs on the host in numpy (a boundary or an ONNX host op)."""
    return isinstance(op, HostOp | OnnxHostOp)


def is_host_json(d: Any) -> bool:
    return isinstance(d, dict) and str(d.get("kind", "")).startswith(PREFIX)


def host_op_to_json(op: HostOp | OnnxHostOp) -> dict[str, Any]:
    if isinstance(op, OnnxHostOp):
        return {"kind": PREFIX + "onnx", "name": op.name, "op_type": op.op_type,
                "attrs": dict(op.attrs), "in_shapes": [list(s) for s in op.in_shapes],
                "in_dtypes": list(op.in_dtypes), "shape": list(op.shape), "dtype": op.dtype,
                "output_index": op.output_index}
    return {"kind": PREFIX + op.kind, "name": op.name, "shape": list(op.shape),
            "in_shapes": [list(s) for s in op.in_shapes], "scale": op.scale,
            "zero_point": op.zero_point}


def host_op_from_json(d: dict[str, Any]) -> HostOp | OnnxHostOp:
    try:
        kind = str(d["kind"])[len(PREFIX):]
        if kind == "onnx":
            return OnnxHostOp(str(d["name"]), str(d["op_type"]), d["attrs"],
                              tuple(tuple(s) for s in d["in_shapes"]),
                              tuple(d["in_dtypes"]), tuple(d["shape"]), str(d["dtype"]),
                              d.get("output_index", 0))
        return HostOp(kind, str(d["name"]), tuple(d["shape"]),
                      tuple(tuple(s) for s in d["in_shapes"]), d.get("scale"),
                      d.get("zero_point", 0))
    except (KeyError, TypeError) as e:
        raise HostOpError(f"host op description {d!r}: {type(e).__name__} {e}") from e


__all__ = ["HostOp", "OnnxHostOp", "HostOpError", "HOST_KINDS", "HOST_DTYPES", "is_host_op",
           "is_host_json", "host_op_to_json", "host_op_from_json"]
