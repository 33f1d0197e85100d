"""A small Python graph builder: models written in Python straight into the graph IR.

Why: tests and users want a ResNet-shaped block without going through ONNX; the builder gives
the same canonical ops with explicit attributes, typed as each node is added (so a shape
mistake fails at the line that makes it, naming the node).

    b = GraphBuilder("block")
    x = b.input("x", (1, 16, 8, 8))
    y = b.relu(b.conv2d(x, w, bias, padding=1))
    b.output(b.add(y, x))
    graph = b.build()
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from compiler.graph.ir import Graph, Node, TensorType, constant_type, unique_name, verify
from compiler.graph.shapes import infer_node


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


class GraphBuilder:
    """Accumulates nodes (one builder per graph being written); :meth:`build` returns the
    immutable, verified :class:`Graph`."""

    def __init__(self, name: str = "graph"):
        self.name = name
        self._inputs: list[str] = []
        self._outputs: list[str] = []
        self._nodes: list[Node] = []
        self._consts: dict[str, np.ndarray] = {}
        self._types: dict[str, TensorType] = {}
        self._node_names: set[str] = set()

    # values
    def input(self, name: str, shape: Sequence[int], dtype: str = "float32") -> str:
        name = self._fresh(name)
        self._inputs.append(name)
        self._types[name] = TensorType(tuple(shape), dtype)
        return name

    def constant(self, name: str, value: Any) -> str:
        array = np.asarray(value)
        name = self._fresh(name)
        self._consts[name] = array
        self._types[name] = constant_type(array)
        return name

    def output(self, *names: str) -> None:
        self._outputs.extend(names)

    def type(self, name: str) -> TensorType:
        return self._types[name]

    def _fresh(self, base: str) -> str:
        return unique_name(base, set(self._types))

    def _value(self, v: str | np.ndarray | float, base: str) -> str:
        if isinstance(v, str):
            return v
        return self.constant(base, np.asarray(v, np.float32))

    # nodes
    def node(self, op: str, inputs: Sequence[str], *, n_outputs: int = 1,
             name: str | None = None, **attrs: Any) -> str | tuple[str, ...]:
        """Add one canonical node; returns its output name (a tuple for several)."""
        node_name = unique_name(name or op.lower(), self._node_names)
        outs = tuple(self._fresh(f"{node_name}_out{i}" if n_outputs > 1 else node_name)
                     for i in range(n_outputs))
        node = Node(node_name, op, tuple(inputs), outs, attrs)
        types = infer_node(node, [self._types[i] if i else None for i in inputs])
        self._node_names.add(node_name)
        self._nodes.append(node)
        for o, t in zip(outs, types, strict=True):
            self._types[o] = t
        return outs[0] if n_outputs == 1 else outs

    def conv2d(self, x: str, w: str | np.ndarray, b: str | np.ndarray | None = None, *,
               stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
               dilation: int | Sequence[int] = 1, groups: int = 1,
               name: str | None = None) -> str:
        """2-D convolution; ``padding`` an int, (h, w) or (top, left, bottom, right)."""
        pads = tuple(padding) if not isinstance(padding, int) and len(padding) == 4 \
            else _pair(padding) * 2
        inputs = [self._value(w, "w")] + ([] if b is None else [self._value(b, "b")])
        return self.node("Conv", [x, *inputs], name=name, strides=_pair(stride), pads=pads,
                         dilations=_pair(dilation), group=groups)

    def dense(self, x: str, w: str | np.ndarray, b: str | np.ndarray | None = None, *,
              name: str | None = None) -> str:
        """``x @ w.T + b`` with ``w`` of shape (out, in) (Gemm, trans_b=1)."""
        inputs = [x, self._value(w, "w")] + ([] if b is None else [self._value(b, "b")])
        return self.node("Gemm", inputs, name=name, alpha=1.0, beta=1.0, trans_a=0,
                         trans_b=1)

    def batch_norm(self, x: str, gamma, beta, mean, var, *, epsilon: float = 1e-5,
                   name: str | None = None) -> str:
        params = [self._value(v, n) for v, n in
                  ((gamma, "gamma"), (beta, "beta"), (mean, "mean"), (var, "var"))]
        return self.node("BatchNormalization", [x, *params], name=name, epsilon=epsilon)

    def relu(self, x: str, *, name: str | None = None) -> str:
        return self.node("Relu", [x], name=name)

    def clip(self, x: str, lo: float | None, hi: float | None, *,
             name: str | None = None) -> str:
        return self.node("Clip", [x], name=name, min=lo, max=hi)

    def add(self, a: str, b: str | np.ndarray, *, name: str | None = None) -> str:
        return self.node("Add", [a, self._value(b, "k")], name=name)

    def mul(self, a: str, b: str | np.ndarray, *, name: str | None = None) -> str:
        return self.node("Mul", [a, self._value(b, "k")], name=name)

    def max_pool(self, x: str, kernel: int | Sequence[int], stride: int | Sequence[int] = 1,
                 padding: int | Sequence[int] = 0, *, ceil_mode: bool = False,
                 name: str | None = None) -> str:
        return self.node("MaxPool", [x], name=name, kernel_shape=_pair(kernel),
                         strides=_pair(stride), pads=_pair(padding) * 2, dilations=(1, 1),
                         ceil_mode=int(ceil_mode))

    def avg_pool(self, x: str, kernel: int | Sequence[int], stride: int | Sequence[int] = 1,
                 padding: int | Sequence[int] = 0, *, count_include_pad: bool = False,
                 name: str | None = None) -> str:
        return self.node("AveragePool", [x], name=name, kernel_shape=_pair(kernel),
                         strides=_pair(stride), pads=_pair(padding) * 2, dilations=(1, 1),
                         ceil_mode=0, count_include_pad=int(count_include_pad))

    def global_avg_pool(self, x: str, *, name: str | None = None) -> str:
        return self.node("GlobalAveragePool", [x], name=name)

    def flatten(self, x: str, *, name: str | None = None) -> str:
        shape = self._types[x].shape
        return self.node("Reshape", [x], name=name or "flatten",
                         shape=(shape[0], int(np.prod(shape[1:], dtype=np.int64))))

    def reshape(self, x: str, shape: Sequence[int], *, name: str | None = None) -> str:
        return self.node("Reshape", [x], name=name, shape=tuple(shape))

    def concat(self, xs: Sequence[str], axis: int = 1, *, name: str | None = None) -> str:
        return self.node("Concat", list(xs), name=name, axis=axis % self._types[xs[0]].rank)

    def softmax(self, x: str, axis: int = -1, *, name: str | None = None) -> str:
        return self.node("Softmax", [x], name=name, axis=axis % self._types[x].rank)

    def build(self) -> Graph:
        """The verified, immutable graph."""
        graph = Graph(self.name, tuple(self._inputs), tuple(self._outputs),
                      tuple(self._nodes), self._consts, self._types)
        return verify(graph, where="the builder")


__all__ = ["GraphBuilder"]
