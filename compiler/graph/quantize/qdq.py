"""QDQ models: take the scales a QuantizeLinear/DequantizeLinear model carries.

``onnxruntime.quantization.quantize_static`` writes a float graph with
``QuantizeLinear -> DequantizeLinear`` pairs on activations and int8 weights (int32 biases)
behind a DequantizeLinear.  :func:`strip_qdq` turns it back into the float graph plus what
the pairs say: each activation's scale (the pair's input value) and each weight's int8
values and scales, so :func:`~compiler.graph.quantize.fuse.quantize_graph` uses the model's
own quantization instead of calibrating.  Activations must be symmetric int8 (zero point 0;
``quantize_static(..., activation_type=QuantType.QInt8,
extra_options={"ActivationSymmetric": True})``), the one activation encoding the
accelerator's fused epilogue supports; other zero points are refused with the value named.
"""

from __future__ import annotations

import numpy as np

from compiler.graph.ir import Graph, Node, constant_type
from compiler.graph.passes import eliminate_dead, infer_shapes
from compiler.graph.quantize.fuse import QuantizeError, WeightQuant
from compiler.graph.reference import evaluate_node


def has_qdq(graph: Graph) -> bool:
    return any(n.op in ("QuantizeLinear", "DequantizeLinear") for n in graph.nodes)


def _zero_point(graph: Graph, node: Node) -> np.ndarray:
    z = node.inputs[2] if len(node.inputs) > 2 else ""
    return np.zeros(1, np.int64) if not z else np.asarray(graph.constants[z], np.int64)


def strip_qdq(graph: Graph) -> tuple[Graph, dict[str, float], dict[str, WeightQuant]]:
    """(float graph without Q/DQ, activation value -> scale, weight constant -> int8)."""
    consts = dict(graph.constants)
    types = dict(graph.types)
    rename: dict[str, str] = {}
    act: dict[str, float] = {}
    weights: dict[str, WeightQuant] = {}
    producers = graph.producers()
    nodes: list[Node] = []
    for node in graph.nodes:
        ins = tuple(rename.get(i, i) for i in node.inputs)
        if node.op == "DequantizeLinear" and ins[0] in consts:
            args = [consts[i] if i else None for i in ins]
            (value,) = evaluate_node(node.with_attrs(), args)
            out = node.outputs[0]
            consts[out] = value.astype(np.float32)
            types[out] = constant_type(consts[out])
            if consts[ins[0]].dtype == np.int8:
                if np.any(_zero_point(graph, node)):
                    raise QuantizeError(f"weight {ins[0]!r}: only symmetric (zero point 0) "
                                        f"int8 weights are supported")
                weights[out] = WeightQuant(np.asarray(consts[ins[0]]),
                                           np.asarray(consts[ins[1]], np.float64),
                                           node.attr("axis"))
            continue
        if node.op == "DequantizeLinear":
            q = producers.get(node.inputs[0])
            if q is None or q.op != "QuantizeLinear":
                raise QuantizeError(f"node {node.name!r}: DequantizeLinear of "
                                    f"{node.inputs[0]!r}, which no QuantizeLinear defines")
            rename[node.outputs[0]] = rename.get(q.inputs[0], q.inputs[0])
            continue
        if node.op == "QuantizeLinear":
            x = ins[0]
            if np.any(_zero_point(graph, node)) or np.dtype(node.attr("dtype")) != np.int8:
                raise QuantizeError(
                    f"activation {x!r}: QDQ zero point must be 0 and type int8 (quantize "
                    f"with activation_type=QInt8 and ActivationSymmetric=True)")
            scale = np.asarray(consts[ins[1]], np.float64).reshape(-1)
            if scale.size != 1:
                raise QuantizeError(f"activation {x!r}: per-channel activation scales are "
                                    f"not supported (one scale per tensor)")
            if x in act and act[x] != float(scale[0]):
                raise QuantizeError(f"activation {x!r} has two different QDQ scales")
            act[x] = float(scale[0])
            continue
        nodes.append(Node(node.name, node.op, ins, node.outputs, node.attrs))
    outputs = []
    for o in graph.outputs:
        src = rename.get(o, o)
        if src != o:  # a graph output defined by a DequantizeLinear: keep its name
            nodes.append(Node(f"{o}_identity", "Identity", (src,), (o,)))
        outputs.append(o)
    g = graph.with_(nodes=tuple(nodes), constants=consts, types=types,
                    outputs=tuple(outputs))
    g = eliminate_dead(infer_shapes(g))
    return g, act, {k: v for k, v in weights.items() if k in g.constants}


__all__ = ["strip_qdq", "has_qdq"]
