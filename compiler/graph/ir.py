"""The graph IR: a small immutable DAG of canonical ops over typed tensor values.

Why its own IR (not ONNX protobufs): every pass after the frontend sees ONE op set with
explicit attributes (no opset differences, no attribute-vs-input variants), values in SSA
form, constants as read-only numpy arrays, and a type for every value.  Passes are pure
functions ``Graph -> Graph``; :func:`verify` runs between them and :func:`format_graph`
prints a graph deterministically, readable as a test golden.

- :class:`TensorType`: shape (ints), dtype (numpy name), optional quantization params and
  layout (filled by later passes).
- :class:`Node`: ``name``, ``op`` (a canonical op, see ``compiler.graph.ops``), input and
  output value names, attributes as a sorted tuple of ``(key, value)`` pairs.
- :class:`Graph`: inputs and outputs (value names), nodes in topological order, constants
  (value name -> read-only array) and types (value name -> TensorType).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np

from compiler.graph.errors import GraphVerifyError

AttrValue = Any  # int, float, str, None, or tuples of those


def _freeze_attr(value: Any) -> AttrValue:
    """Attribute values become hashable: lists -> tuples, numpy scalars -> Python scalars."""
    if isinstance(value, np.ndarray):
        return tuple(_freeze_attr(v) for v in value.tolist())
    if isinstance(value, (list, tuple)):
        return tuple(_freeze_attr(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    raise TypeError(f"attribute value {value!r} is not an int, float, str, None or a tuple")


@dataclass(frozen=True)
class QuantParams:
    """Affine quantization of a tensor: ``real = scale * (q - zero_point)`` along ``axis``."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int | None = None  # None: per tensor

    def __str__(self) -> str:
        ax = "" if self.axis is None else f",axis={self.axis}"
        more = "..." if len(self.scale) > 4 else ""
        s = ",".join(f"{v:g}" for v in self.scale[:4]) + more
        z = ",".join(str(v) for v in self.zero_point[:4]) + more
        return f"q(s={s},z={z}{ax})"


@dataclass(frozen=True)
class TensorType:
    """The static type of a value: shape, element type and (later) quantization and layout."""

    shape: tuple[int, ...]
    dtype: str = "float32"
    quant: QuantParams | None = None
    layout: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        object.__setattr__(self, "dtype", np.dtype(self.dtype).name)

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __str__(self) -> str:
        text = f"{self.dtype}[{'x'.join(str(d) for d in self.shape)}]"
        if self.quant is not None:
            text += f" {self.quant}"
        if self.layout is not None:
            text += f" @{self.layout}"
        return text


@dataclass(frozen=True)
class Node:
    """One op application: ``outputs = op(inputs; attrs)``.  An empty input name is an
    omitted optional input (ONNX's convention)."""

    name: str
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: tuple[tuple[str, AttrValue], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        items = self.attrs.items() if isinstance(self.attrs, Mapping) else self.attrs
        object.__setattr__(self, "attrs",
                           tuple(sorted((str(k), _freeze_attr(v)) for k, v in items)))

    def attr(self, key: str, default: AttrValue = None) -> AttrValue:
        for k, v in self.attrs:
            if k == key:
                return v
        return default

    @property
    def attr_dict(self) -> dict[str, AttrValue]:
        return dict(self.attrs)

    def with_attrs(self, **changes: AttrValue) -> Node:
        return replace(self, attrs={**self.attr_dict, **changes})


def _frozen_array(array: np.ndarray) -> np.ndarray:
    out = np.array(array, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Graph:
    """A whole model: a DAG of :class:`Node` in topological order over named values.

    ``constants`` and ``types`` are read-only mappings (copied on construction); constant
    arrays are read-only too, so a pass can share them between graphs safely.  Graphs compare
    by identity (comparing arrays elementwise is the tests' job: ``format_graph`` and
    ``evaluate``).
    """

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    nodes: tuple[Node, ...]
    constants: Mapping[str, np.ndarray] = field(default_factory=dict)
    types: Mapping[str, TensorType] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "nodes", tuple(self.nodes))
        consts = {k: (v if isinstance(v, np.ndarray) and not v.flags.writeable
                      else _frozen_array(np.asarray(v)))
                  for k, v in self.constants.items()}
        object.__setattr__(self, "constants", MappingProxyType(consts))
        object.__setattr__(self, "types", MappingProxyType(dict(self.types)))

    def with_(self, **changes: Any) -> Graph:
        """A copy with some fields replaced (the way passes build their result)."""
        return replace(self, **changes)

    def producers(self) -> dict[str, Node]:
        """value name -> the node that defines it."""
        return {out: node for node in self.nodes for out in node.outputs if out}

    def consumers(self) -> dict[str, list[Node]]:
        """value name -> the nodes that read it (in graph order)."""
        uses: dict[str, list[Node]] = {}
        for node in self.nodes:
            for name in node.inputs:
                if name:
                    uses.setdefault(name, []).append(node)
        return uses

    def type_of(self, value: str) -> TensorType:
        try:
            return self.types[value]
        except KeyError:
            raise GraphVerifyError(f"value {value!r} has no type (run infer_shapes)") from None


def constant_type(array: np.ndarray) -> TensorType:
    return TensorType(array.shape, array.dtype.name)


def verify(graph: Graph, *, require_types: bool = True, where: str = "") -> Graph:
    """Check the IR invariants and return the graph unchanged.

    SSA (every value defined once: by an input, a constant or one node output), nodes in
    topological order (every input defined before use), unique node names, outputs defined,
    constants matching their types, and (``require_types``) a type for every value.
    """
    ctx = f" after {where}" if where else ""

    def fail(msg: str) -> None:
        raise GraphVerifyError(f"graph {graph.name!r}{ctx}: {msg}")

    defined: set[str] = set()
    for name in graph.inputs:
        if name in defined:
            fail(f"input {name!r} listed twice")
        if name in graph.constants:
            fail(f"{name!r} is both an input and a constant")
        defined.add(name)
    for name, array in graph.constants.items():
        if name in defined:
            fail(f"value {name!r} defined twice")
        defined.add(name)
        if array.flags.writeable:
            fail(f"constant {name!r} is writeable")
    node_names: set[str] = set()
    for node in graph.nodes:
        if not node.name or node.name in node_names:
            fail(f"node name {node.name!r} is empty or not unique")
        node_names.add(node.name)
        for name in node.inputs:
            if name and name not in defined:
                fail(f"node {node.name!r} ({node.op}) reads {name!r} before it is defined")
        if not any(node.outputs):
            fail(f"node {node.name!r} ({node.op}) has no output")
        for name in node.outputs:
            if not name:
                continue
            if name in defined:
                fail(f"value {name!r} defined twice (node {node.name!r}): not SSA")
            defined.add(name)
    for name in graph.outputs:
        if name not in defined:
            fail(f"output {name!r} is never defined")
    if require_types:
        for name in sorted(defined):
            if name not in graph.types:
                fail(f"value {name!r} has no type")
    for name, array in graph.constants.items():
        t = graph.types.get(name)
        if t is not None and (t.shape != array.shape or t.dtype != array.dtype.name):
            fail(f"constant {name!r} is {array.dtype.name}{list(array.shape)} but typed {t}")
    return graph


def _format_attr(value: AttrValue) -> str:
    if isinstance(value, float):
        return repr(value) if np.isfinite(value) else str(value)
    if isinstance(value, tuple):
        return "(" + ",".join(_format_attr(v) for v in value) + ")"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def format_graph(graph: Graph, *, constant_values: bool = False) -> str:
    """The graph as deterministic text: inputs, constants (type, and values when small and
    asked for), one line per node with its attributes and output types, outputs."""

    def typed(name: str) -> str:
        t = graph.types.get(name)
        return f"%{name}: {t}" if t is not None else f"%{name}"

    lines = [f"graph {graph.name}("]
    lines += [f"  {typed(n)}," for n in graph.inputs]
    lines.append(") {")
    for name in sorted(graph.constants):
        array = graph.constants[name]
        text = f"  const {typed(name)}" if name in graph.types else \
            f"  const %{name}: {array.dtype.name}[{'x'.join(map(str, array.shape))}]"
        if constant_values and array.size <= 8:
            text += " = " + np.array2string(array.reshape(-1), separator=",")
        lines.append(text)
    for node in graph.nodes:
        outs = ", ".join(typed(o) if o else "_" for o in node.outputs)
        args = ", ".join(f"%{i}" if i else "_" for i in node.inputs)
        attrs = ", ".join(f"{k}={_format_attr(v)}" for k, v in node.attrs)
        lines.append(f"  {outs} = {node.op}({args}){' {' + attrs + '}' if attrs else ''}"
                     f"  # {node.name}")
    lines.append("  return " + ", ".join(f"%{o}" for o in graph.outputs))
    lines.append("}")
    return "\n".join(lines) + "\n"


def unique_name(base: str, taken: Iterable[str] | set[str]) -> str:
    """``base`` if free, else ``base_1``, ``base_2``, ...: fresh names for new values/nodes."""
    taken = taken if isinstance(taken, set) else set(taken)
    if base not in taken:
        return base
    i = 1
    while f"{base}_{i}" in taken:
        i += 1
    return f"{base}_{i}"


__all__ = ["QuantParams", "TensorType", "Node", "Graph", "verify", "format_graph",
           "constant_type", "unique_name"]
