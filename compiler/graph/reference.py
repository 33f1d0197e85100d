"""The numpy float reference of the graph IR: the oracle for the frontend and the passes.

What each canonical op computes is :mod:`opset.onnx_kernels` (one vectorized kernel per ONNX
op type, shared with the runtime's host steps); this module walks a graph over them.
:func:`evaluate` runs a whole graph in float32 or float64; :func:`evaluate_node` is what
constant folding calls.  Tests compare this module against onnxruntime, and every later
pass (quantization, lowering) against this module.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from compiler.graph.errors import GraphError, ShapeError
from compiler.graph.ir import Graph, Node
from opset.onnx_kernels import KERNELS, run_kernel


def evaluate_node(node: Node, args: list[np.ndarray | None]) -> tuple[np.ndarray, ...]:
    """The outputs of one node for its input arrays (None for an omitted optional input)."""
    if node.op not in KERNELS:
        raise GraphError(f"node {node.name!r}: the reference has no evaluator for op "
                         f"{node.op!r}")
    return run_kernel(node.op, node.attr_dict, args)


def evaluate(graph: Graph, inputs: Mapping[str, np.ndarray], *, dtype: str = "float32",
             keep: bool = False) -> dict[str, np.ndarray]:
    """Run the graph on ``inputs`` (name -> array); float inputs and constants are cast to
    ``dtype``.  Returns the graph outputs, or every value when ``keep`` is true."""
    ftype = np.dtype(dtype)
    env: dict[str, np.ndarray] = {}
    for name in graph.inputs:
        if name not in inputs:
            raise ShapeError(f"graph {graph.name!r}: no array for input {name!r}")
        x = np.asarray(inputs[name])
        want = graph.types.get(name)
        if want is not None and tuple(x.shape) != want.shape:
            raise ShapeError(f"input {name!r} has shape {list(x.shape)}, the graph expects "
                             f"{list(want.shape)}")
        env[name] = x.astype(ftype) if x.dtype.kind == "f" else x
    for name, value in graph.constants.items():
        env[name] = value.astype(ftype) if value.dtype.kind == "f" else value
    uses = {} if keep else _last_uses(graph)
    for i, node in enumerate(graph.nodes):
        outs = evaluate_node(node, [env[n] if n else None for n in node.inputs])
        for name, value in zip(node.outputs, outs, strict=False):
            if name:
                env[name] = value
        for name in uses.get(i, ()):
            env.pop(name, None)
    return env if keep else {name: env[name] for name in graph.outputs}


def _last_uses(graph: Graph) -> dict[int, list[str]]:
    """node index -> values whose last reader it is (freed after it: bounded memory)."""
    last: dict[str, int] = {}
    for i, node in enumerate(graph.nodes):
        for name in node.inputs:
            if name:
                last[name] = i
    keep = set(graph.outputs)
    out: dict[int, list[str]] = {}
    for name, i in last.items():
        if name not in keep:
            out.setdefault(i, []).append(name)
    return out


__all__ = ["evaluate", "evaluate_node"]
