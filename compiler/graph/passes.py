"""The float graph passes: pure functions ``Graph -> Graph``, in pipeline order.

- :func:`infer_shapes`: a type for every value, from the input types, the constants and the
  op rules of ``compiler.graph.shapes`` (our own, not ``onnx.shape_inference``).
- :func:`fold_constants`: a node whose inputs are all constants becomes constants, computed
  by the reference evaluator (so folding is exactly what evaluation would have done).
- :func:`remove_identities`: ``Identity`` nodes (and with them inference ``Dropout``) go;
  their readers read the source value.
- :func:`fold_batch_norm`: an inference BatchNormalization after a Conv or Gemm whose only
  reader it is folds into that op's weights and bias; any other BatchNormalization becomes
  one ``Mul`` by a per-channel scale and one ``Add`` of a per-channel shift.
- :func:`eliminate_dead`: nodes and constants that no output depends on go.

Each pass returns a new graph (the input is immutable) and leaves types valid, so
``verify`` holds after every one of them.
"""

from __future__ import annotations

import numpy as np

from compiler.graph.errors import ShapeError
from compiler.graph.ir import Graph, Node, TensorType, constant_type, unique_name
from compiler.graph.reference import evaluate_node
from compiler.graph.shapes import infer_node


def infer_shapes(graph: Graph) -> Graph:
    """Recompute every value's type from the graph inputs' types and the constants."""
    types: dict[str, TensorType] = {}
    for name in graph.inputs:
        if name not in graph.types:
            raise ShapeError(f"graph input {name!r} has no type: give its shape")
        types[name] = graph.types[name]
    for name, value in graph.constants.items():
        old = graph.types.get(name)
        types[name] = constant_type(value) if old is None else \
            TensorType(value.shape, value.dtype.name, old.quant, old.layout)
    for node in graph.nodes:
        outs = infer_node(node, [types[i] if i else None for i in node.inputs])
        for name, t in zip(node.outputs, outs, strict=False):
            if name:
                old = graph.types.get(name)
                types[name] = t if old is None else TensorType(t.shape, t.dtype, old.quant,
                                                               old.layout)
    return graph.with_(types=types)


# never folded: a QDQ model's (De)QuantizeLinear on constant weights carries the scales and
# zero points the quantization pass must keep ("QDQ models use their own scales")
UNFOLDED_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})


def fold_constants(graph: Graph) -> Graph:
    """Replace each node whose inputs are all constants by the constants it computes
    (except :data:`UNFOLDED_OPS`)."""
    consts = dict(graph.constants)
    types = dict(graph.types)
    nodes = []
    for node in graph.nodes:
        present = [i for i in node.inputs if i]
        if present and all(i in consts for i in present) and node.op not in UNFOLDED_OPS:
            values = evaluate_node(node, [consts[i] if i else None for i in node.inputs])
            for name, value in zip(node.outputs, values, strict=False):
                if name:
                    consts[name] = value
                    types[name] = constant_type(value)
        else:
            nodes.append(node)
    if len(nodes) == len(graph.nodes):
        return graph
    return graph.with_(nodes=tuple(nodes), constants=consts, types=types)


def _rename_inputs(nodes: list[Node], renames: dict[str, str]) -> list[Node]:
    def resolve(name: str) -> str:
        while name in renames:
            name = renames[name]
        return name
    return [Node(n.name, n.op, tuple(resolve(i) if i else i for i in n.inputs), n.outputs,
                 n.attrs) if any(i in renames for i in n.inputs) else n for n in nodes]


def remove_identities(graph: Graph) -> Graph:
    """Drop ``Identity`` nodes; their readers read the source.  An Identity that defines a
    graph output stays (the output name is part of the model's interface)."""
    renames: dict[str, str] = {}
    kept = []
    outputs = set(graph.outputs)
    for node in graph.nodes:
        if node.op == "Identity" and node.outputs[0] not in outputs:
            renames[node.outputs[0]] = node.inputs[0]
        else:
            kept.append(node)
    if not renames:
        return graph
    types = {k: v for k, v in graph.types.items() if k not in renames}
    return graph.with_(nodes=tuple(_rename_inputs(kept, renames)), types=types)


def eliminate_dead(graph: Graph) -> Graph:
    """Keep only the nodes and constants the graph outputs depend on."""
    live = set(graph.outputs)
    kept = []
    for node in reversed(graph.nodes):
        if any(o in live for o in node.outputs if o):
            kept.append(node)
            live.update(i for i in node.inputs if i)
    kept.reverse()
    consts = {k: v for k, v in graph.constants.items() if k in live}
    defined = set(graph.inputs) | set(consts) | {o for n in kept for o in n.outputs if o}
    types = {k: v for k, v in graph.types.items() if k in defined}
    if len(kept) == len(graph.nodes) and len(consts) == len(graph.constants):
        return graph
    return graph.with_(nodes=tuple(kept), constants=consts, types=types)


def _bn_scale_shift(graph: Graph, bn: Node) -> tuple[np.ndarray, np.ndarray] | None:
    """(scale, shift) with ``bn(x) = x * scale + shift`` per channel (float64), or None
    when a parameter is not constant."""
    params = [graph.constants.get(i) for i in bn.inputs[1:5]]
    if any(p is None for p in params):
        return None
    gamma, beta, mean, var = (p.astype(np.float64) for p in params)
    scale = gamma / np.sqrt(var + bn.attr("epsilon"))
    return scale, beta - mean * scale


def fold_batch_norm(graph: Graph) -> Graph:
    """Fold inference BatchNormalization into the preceding Conv/Gemm, else scale + shift."""
    consumers = graph.consumers()
    producers = graph.producers()
    outputs = set(graph.outputs)
    consts = dict(graph.constants)
    types = dict(graph.types)
    taken_values = set(graph.types) | set(consts) | set(graph.inputs) | \
        {o for n in graph.nodes for o in n.outputs}
    taken_nodes = {n.name for n in graph.nodes}
    replaced: dict[str, Node | None] = {}  # node name -> replacement (None: drop)
    extra: dict[str, list[Node]] = {}  # BN name -> nodes that replace it

    def new_const(base: str, value: np.ndarray, dtype: str) -> str:
        name = unique_name(base, taken_values)
        taken_values.add(name)
        consts[name] = value.astype(dtype)
        types[name] = constant_type(consts[name])
        return name

    for bn in graph.nodes:
        if bn.op != "BatchNormalization":
            continue
        ss = _bn_scale_shift(graph, bn)
        if ss is None:
            continue
        scale, shift = ss
        x = bn.inputs[0]
        dtype = graph.type_of(x).dtype
        prod = producers.get(x)
        single = prod is not None and len(consumers.get(x, [])) == 1 and x not in outputs \
            and prod.name not in replaced
        if single and prod.op == "Conv" and prod.inputs[1] in consts and \
                (len(prod.inputs) < 3 or not prod.inputs[2] or prod.inputs[2] in consts):
            w = consts[prod.inputs[1]].astype(np.float64)
            b = consts[prod.inputs[2]].astype(np.float64) \
                if len(prod.inputs) > 2 and prod.inputs[2] else np.zeros(w.shape[0])
            w2 = new_const(f"{prod.inputs[1]}_bn", w * scale.reshape((-1,) + (1,) *
                                                                     (w.ndim - 1)), dtype)
            b2 = new_const(f"{prod.name}_bias_bn", b * scale + shift, dtype)
            replaced[prod.name] = Node(prod.name, "Conv", (prod.inputs[0], w2, b2),
                                       bn.outputs[:1], prod.attrs)
            replaced[bn.name] = None
            continue
        if single and prod.op == "Gemm" and prod.inputs[1] in consts and \
                graph.type_of(x).rank == 2 and \
                (len(prod.inputs) < 3 or not prod.inputs[2] or prod.inputs[2] in consts):
            w = consts[prod.inputs[1]].astype(np.float64)
            w = w * (scale[:, None] if prod.attr("trans_b") else scale[None, :])
            c = consts[prod.inputs[2]].astype(np.float64) * prod.attr("beta") \
                if len(prod.inputs) > 2 and prod.inputs[2] else np.zeros(1)
            c2 = np.broadcast_to(c, np.broadcast_shapes(c.shape, scale.shape)) * scale + shift
            w2 = new_const(f"{prod.inputs[1]}_bn", w, dtype)
            b2 = new_const(f"{prod.name}_bias_bn", c2, dtype)
            replaced[prod.name] = Node(prod.name, "Gemm", (prod.inputs[0], w2, b2),
                                       bn.outputs[:1], {**prod.attr_dict, "beta": 1.0})
            replaced[bn.name] = None
            continue
        rank = graph.type_of(x).rank
        shape = (-1,) + (1,) * (rank - 2)
        s = new_const(f"{bn.name}_scale", scale.reshape(shape), dtype)
        t = new_const(f"{bn.name}_shift", shift.reshape(shape), dtype)
        mid = unique_name(f"{bn.outputs[0]}_scaled", taken_values)
        taken_values.add(mid)
        mul = Node(unique_name(f"{bn.name}/Mul", taken_nodes), "Mul", (x, s), (mid,))
        taken_nodes.add(mul.name)
        add = Node(unique_name(f"{bn.name}/Add", taken_nodes), "Add", (mid, t), bn.outputs[:1])
        taken_nodes.add(add.name)
        types[mid] = graph.type_of(x)
        extra[bn.name] = [mul, add]
    if not replaced and not extra:
        return graph
    nodes: list[Node] = []
    for node in graph.nodes:
        if node.name in extra:
            nodes += extra[node.name]
        elif node.name in replaced:
            if replaced[node.name] is not None:
                nodes.append(replaced[node.name])
        else:
            nodes.append(node)
    out = graph.with_(nodes=tuple(nodes), constants=consts, types=types)
    return eliminate_dead(out)


__all__ = ["UNFOLDED_OPS", "infer_shapes", "fold_constants", "remove_identities", "fold_batch_norm",
           "eliminate_dead"]
