"""The quantized graph: opset ops (int8, fused epilogues) and float islands, and its exact
integer evaluation.

A :class:`QNode` is one of five kinds, which a partitioner reads to know where it can run:

- ``accel``: an :mod:`opset` operator (Conv2d, DepthwiseConv2d, Dense, Pool2d,
  GlobalAvgPool, Elementwise) on int8 values; it runs on the accelerator or on any device
  that implements the opset, with the same bits everywhere;
- ``host``: data movement of int8 values on the host (Reshape, Transpose, Identity, Concat,
  and the channel Split of a grouped convolution: exact, the scale kept);
- ``float``: a float graph node the opset cannot express (Softmax, Reshape, Concat, ...):
  runs on the host CPU in float;
- ``quantize`` / ``dequantize``: the boundaries between the two, ``q = sat8(rint(x / s) +
  z)`` and ``x = (q - z) * s`` (ONNX QuantizeLinear/DequantizeLinear, int8 zero point
  ``z``: 0 for symmetric activations, e.g. -128 for a ReLU output of a QDQ model).

:func:`evaluate_quantized` is the numpy integer reference of the whole quantized graph: the
accelerator's output for each ``accel`` node must equal it bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from compiler.graph.errors import ShapeError
from compiler.graph.ir import Graph, Node
from compiler.graph.reference import evaluate_node
from opset import reference as opref

KINDS = ("accel", "host", "float", "quantize", "dequantize")


@dataclass(frozen=True)
class QNode:
    """One step of a :class:`QuantizedGraph`.

    inputs: value names read (for ``accel``, in the order of ``roles``, the op's activation
    operands such as ``x``, ``a``, ``b``, ``residual``, and operands computed at run time:
    an activation-activation matmul's ``w``, and its ``multiplier``/``shift`` rows when its
    scales are per run); consts: the op's constant operands by role (``w``, ``bias``,
    ``multiplier``, ``shift``); shape: the output's logical shape
    (the float model's); scale, zero_point: the int8 encoding of the output (``accel``,
    ``quantize``) or of the input (``dequantize``), ``real = scale * (q - zero_point)``;
    fused: the float nodes this one stands for.
    """

    name: str
    kind: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    op: object | None = None
    roles: tuple[str, ...] = ()
    consts: Mapping[str, np.ndarray] = field(default_factory=dict)
    node: Node | None = None
    shape: tuple[int, ...] = ()
    scale: float | None = None
    fused: tuple[str, ...] = ()
    zero_point: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"QNode kind must be one of {KINDS}, got {self.kind!r}")
        if not -128 <= self.zero_point <= 127:
            raise ValueError(f"QNode {self.name!r}: zero point {self.zero_point} is not an "
                             f"int8")
        frozen = {}
        for role, array in self.consts.items():
            a = np.array(array, copy=True)
            a.setflags(write=False)
            frozen[role] = a
        object.__setattr__(self, "consts", MappingProxyType(frozen))

    @property
    def output(self) -> str:
        return self.outputs[0]

    def describe(self) -> str:
        zp = f" z={self.zero_point}" if self.zero_point else ""
        what = {"accel": lambda: type(self.op).__name__,
                "float": lambda: f"float {self.node.op}",
                "host": lambda: f"int8 {self.node.op}",
                "quantize": lambda: f"quantize s={self.scale:.4g}{zp}",
                "dequantize": lambda: f"dequantize s={self.scale:.4g}{zp}"}[self.kind]()
        out_zp = zp if self.kind in ("accel", "host") else ""  # the output's zero point
        return (f"{', '.join(self.outputs)} = {what}({', '.join(self.inputs)})  "
                f"# {self.name} [{self.kind}]{out_zp}")


@dataclass(frozen=True, eq=False)
class QuantizedGraph:
    """The model after quantization and fusion, in topological order.

    inputs/outputs: the float model's (float in, float out); values: node outputs named
    after the float value they approximate (int8 versions of float graph values keep the
    name when an ``accel`` node defines them, a ``quantize`` node's is ``name:q``, a
    ``dequantize`` node's ``name:f``); scales: int8 value -> its scale; constants: the float
    graph's constants (the float islands read them); source: value of this graph -> the
    float graph value it approximates (the SQNR report compares them); zero_points: int8
    value -> its zero point where not 0 (asymmetric activations).
    """

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    nodes: tuple[QNode, ...]
    scales: Mapping[str, float]
    constants: Mapping[str, np.ndarray]
    source: Mapping[str, str]
    float_graph: Graph
    zero_points: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zero_points", MappingProxyType(
            {k: int(v) for k, v in self.zero_points.items() if v}))
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "scales", MappingProxyType(dict(self.scales)))
        object.__setattr__(self, "constants", MappingProxyType(dict(self.constants)))
        object.__setattr__(self, "source", MappingProxyType(dict(self.source)))

    def zero_point(self, value: str) -> int:
        return self.zero_points.get(value, 0)

    def count(self, kind: str) -> int:
        return sum(1 for n in self.nodes if n.kind == kind)

    def format(self) -> str:
        return "\n".join(n.describe() for n in self.nodes) + "\n"


def run_qnode(node: QNode, env: Mapping[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """The outputs of one quantized-graph node given the values it reads."""
    if node.kind == "quantize":
        x = np.asarray(env[node.inputs[0]], np.float32)
        return (opref.quantize_linear(x, np.float32(node.scale), np.int8(node.zero_point)),)
    if node.kind == "dequantize":
        return (opref.dequantize_linear(env[node.inputs[0]], np.float32(node.scale),
                                        np.int8(node.zero_point)),)
    if node.kind in ("float", "host"):
        return evaluate_node(node.node, [env[n] if n else None for n in node.node.inputs])
    arrays = dict(node.consts)
    for role, name in zip(node.roles, node.inputs, strict=True):
        arrays[role] = accel_operand(node, role, env[name])
    return (opref.run(node.op, arrays).reshape(node.shape),)


def accel_operand(node: QNode, role: str, value: np.ndarray) -> np.ndarray:
    """A run-time operand in the logical shape and dtype the op's ``role`` operand
    declares (a Dense input stays 2-D, an Elementwise operand of rank < 4 is viewed as
    ``(N, C, 1, 1)``; int8 activations, int32 requantization rows computed per run)."""
    spec = next(s for s in node.op.inputs() if s.name == role)
    return np.asarray(value).astype(spec.dtype, copy=False).reshape(spec.shape)


def evaluate_quantized(qgraph: QuantizedGraph, inputs: Mapping[str, np.ndarray], *,
                       keep: bool = False) -> dict[str, np.ndarray]:
    """Run the quantized graph: opset reference for ``accel`` nodes (exact int32
    arithmetic), the float reference for the islands, explicit quantize/dequantize between.
    Returns the float outputs by the model's output names (every value when ``keep``)."""
    env: dict[str, np.ndarray] = dict(qgraph.constants)
    for name in qgraph.inputs:
        if name not in inputs:
            raise ShapeError(f"quantized graph {qgraph.name!r}: no array for input {name!r}")
        want = qgraph.float_graph.types[name].shape
        x = np.asarray(inputs[name])
        if x.shape != want:
            raise ShapeError(f"input {name!r} has shape {list(x.shape)}, the graph expects "
                             f"{list(want)}")
        env[name] = x.astype(np.float32)
    for node in qgraph.nodes:
        for name, value in zip(node.outputs, run_qnode(node, env), strict=False):
            if name:
                env[name] = value
    if keep:
        return env
    return {qgraph.source[o]: env[o] for o in qgraph.outputs}


__all__ = ["QNode", "QuantizedGraph", "evaluate_quantized", "run_qnode", "accel_operand",
           "KINDS"]
