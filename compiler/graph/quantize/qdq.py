"""QDQ models: take the scales a QuantizeLinear/DequantizeLinear model carries.

``onnxruntime.quantization.quantize_static`` writes a float graph with
``QuantizeLinear -> DequantizeLinear`` pairs on activations and int8 weights (int32 biases)
behind a DequantizeLinear.  :func:`strip_qdq` turns it back into the float graph plus what
the pairs say: each activation's scale and zero point (the pair's input value) and each
weight's int8 values and scales, so :func:`~compiler.graph.quantize.fuse.quantize_graph`
uses the model's own quantization instead of calibrating.

Activations may be asymmetric, as ``quantize_static``'s defaults make them: int8 with any
zero point, or uint8 (``activation_type=QUInt8``), which is int8 with the zero point moved
by -128 (``sat_u8(v + z) - 128 == sat_i8(v + z - 128)``: the same bits with the sign bit
flipped, exactly).  The quantizer removes a ReLU before an activation whose zero point is
the type's minimum (the saturation clamps at real 0 instead): :func:`strip_qdq` puts the
ReLU back (``Q(x) == Q(relu(x))`` for such a zero point, so this is exact), so the float
graph is the model's again and fusion cannot skip the clamp by fusing past that value.
Weights must be symmetric int8 (zero point 0; ``WeightSymmetric``, the default for int8).
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


def _int8_zero_point(graph: Graph, node: Node, x: str) -> int:
    """The activation zero point of a QuantizeLinear in the int8 encoding (uint8: -128)."""
    dtype = np.dtype(node.attr("dtype"))
    if dtype not in (np.int8, np.uint8):
        raise QuantizeError(f"activation {x!r}: QDQ type {dtype.name} is not supported "
                            f"(int8 or uint8 activations)")
    z = _zero_point(graph, node).reshape(-1)
    if z.size != 1:
        raise QuantizeError(f"activation {x!r}: per-channel activation zero points are not "
                            f"supported (one per tensor)")
    return int(z[0]) - (128 if dtype == np.uint8 else 0)


def strip_qdq(graph: Graph) -> tuple[Graph, dict[str, float], dict[str, int],
                                     dict[str, WeightQuant]]:
    """(float graph without Q/DQ, activation value -> scale, activation value -> int8 zero
    point, weight constant -> int8)."""
    consts = dict(graph.constants)
    types = dict(graph.types)
    rename: dict[str, str] = {}
    act: dict[str, float] = {}
    zeros: dict[str, int] = {}
    weights: dict[str, WeightQuant] = {}
    taken = set(types) | {n.name for n in graph.nodes}
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
            rename[node.outputs[0]] = rename[node.inputs[0]]  # the float value q stands for
            continue
        if node.op == "QuantizeLinear":
            x = ins[0]
            z = _int8_zero_point(graph, node, x)
            scale = np.asarray(consts[ins[1]], np.float64).reshape(-1)
            if scale.size != 1:
                raise QuantizeError(f"activation {x!r}: per-channel activation scales are "
                                    f"not supported (one scale per tensor)")
            src = producers.get(node.inputs[0])
            if z == -128 and src is not None and src.op != "Relu":
                # x keeps the encoding too: its int8 version is already the ReLU's
                act.setdefault(x, float(scale[0]))
                zeros.setdefault(x, z)
                x = _relu_back(nodes, types, taken, x, node)
            if x in act and (act[x], zeros[x]) != (float(scale[0]), z):
                raise QuantizeError(f"activation {x!r} has two different QDQ encodings")
            act[x], zeros[x] = float(scale[0]), z
            rename[node.outputs[0]] = x
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
    return g, act, zeros, {k: v for k, v in weights.items() if k in g.constants}


def _relu_back(nodes: list[Node], types: dict, taken: set[str], x: str, q: Node) -> str:
    """Append ``Relu(x)`` (the activation the quantizer folded into this QuantizeLinear's
    saturation); the pair stands for its output, which is returned."""
    out, i = f"{x}_relu", 1
    while out in taken:
        out, i = f"{x}_relu_{i}", i + 1
    taken.update((out, f"{q.name}_relu"))
    nodes.append(Node(f"{q.name}_relu", "Relu", (x,), (out,)))
    types[out] = types[x]
    return out


__all__ = ["strip_qdq", "has_qdq"]
