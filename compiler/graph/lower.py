"""Lowering: a quantized graph and a device assignment -> a compiled module (``.vtam``).

The quantized graph (:mod:`compiler.graph.quantize`) is float in, float out around an int8
core.  Each node becomes one module step:

* ``accel`` nodes: their opset op, with the node's constants (weights, bias, requantization
  tables) as module constants named ``<node>.<role>``, on the accelerator or the CPU as the
  partition says (the same bits on both);
* ``quantize`` / ``dequantize`` nodes: host boundary steps (:class:`runtime.host_ops.HostOp`,
  with the value's scale and zero point) on the CPU; a dequantized graph output keeps the
  model's output name;
* ``host`` nodes that only reshape an int8 value (Reshape, Flatten, Identity, Squeeze,
  Unsqueeze) and float Identity nodes (a QDQ export renaming its output) are aliases: the
  consumer reads the producer's tensor, whose element count is the same (the executor
  views it in the shape the operand declares);
* ``host`` Transpose and Concat of int8 values: host steps moving the int8 data (exact);
* float islands (``float``: Softmax, LayerNorm, Sigmoid, ...) have no runtime path yet and
  are refused with one error naming every such node.

Where each op runs comes from :func:`compiler.partition.partition` over the op DAG.  The
boundaries (quantize, dequantize) are host-only nodes with a small CPU cost, so they are
always on the CPU, whatever ``targets`` says; ``targets`` restricts the opset ops.  The
CPU cost model is the one calibrated on *this* host (see docs/graph.md): against a
workstation CPU a 100 MHz accelerator loses, so the default partition keeps convolutions on
the CPU; ``targets=("vta",)`` puts every op on the accelerator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from compiler.graph.errors import GraphError
from compiler.graph.quantize import QuantizedGraph
from compiler.module_builder import Node, Quant, build_module, chain_options
from compiler.partition import AcceleratorCost, accelerator_cost, partition
from compiler.partition.modules import assign, op_nodes
from compiler.partition.solve import Partition
from runtime.module import HostOp, Module
from vta_hw.config import HwConfig

ALIAS_OPS = ("Reshape", "Flatten", "Identity", "Squeeze", "Unsqueeze")
MOVE_OPS = ("Transpose", "Concat")  # int8 moves run as host steps
# a host boundary's CPU cost for the partitioner: per-call overhead plus a memory pass
_BOUNDARY_SECONDS = 5e-6
_BOUNDARY_BYTES_PER_SECOND = 1e9


class LowerError(GraphError):
    """A quantized graph the module format cannot express yet."""


@dataclass(frozen=True)
class Lowered:
    """The module, the module nodes it was built from (devices set) and the partition."""

    module: Module
    nodes: tuple[Node, ...]
    partition: Partition


def module_nodes(qgraph: QuantizedGraph) -> tuple[list[Node], dict[str, np.ndarray],
                                                  list[str], dict[str, Quant]]:
    """(nodes with device "cpu", constants, output tensors, quantization) of ``qgraph``."""
    def is_alias(n) -> bool:
        return (n.kind == "host" and n.node.op in ALIAS_OPS) or (
            n.kind == "float" and n.node is not None and n.node.op == "Identity")

    unsupported = [n for n in qgraph.nodes if not is_alias(n) and (n.kind == "float" or (
        n.kind == "host" and (n.node is None or n.node.op not in MOVE_OPS)))]
    if unsupported:
        names = ", ".join(f"{n.name} ({'float ' if n.kind == 'float' else 'int8 '}"
                          f"{n.node.op if n.node is not None else '?'})" for n in unsupported)
        raise LowerError(f"model {qgraph.name!r}: {len(unsupported)} node(s) need the CPU float "
                         f"path, which is not built yet: {names}")
    types = qgraph.float_graph.types
    alias: dict[str, str] = {}
    for n in qgraph.nodes:
        if is_alias(n):
            alias[n.output] = alias.get(n.inputs[0], n.inputs[0])
    # a graph output names the tensor it is an alias of (a float Identity before an output)
    out_name = {alias.get(o, o): qgraph.source[o] for o in qgraph.outputs}
    taken = set(out_name.values())

    def tensor(v: str) -> str:
        """The module tensor of value ``v``: outputs keep the model's names, so an int8
        value of the same name becomes ``<name>:q``."""
        v = alias.get(v, v)
        if v in out_name:
            return out_name[v]
        return f"{v}:q" if v in taken else v

    nodes: list[Node] = []
    constants: dict[str, np.ndarray] = {}
    quant: dict[str, Quant] = {}
    float_nodes = {fn.name: fn for fn in qgraph.float_graph.nodes}
    for n in qgraph.nodes:
        if is_alias(n):
            continue
        if n.kind == "host":  # Transpose, Concat of int8 values: shapes from the float node
            fn = float_nodes[n.node.name]
            in_shapes = tuple(tuple(types[v].shape) for v in fn.inputs)
            shape = tuple(types[fn.outputs[0]].shape)
            if n.node.op == "Transpose":
                op = HostOp("transpose", n.name, shape, in_shapes, perm=n.node.attr("perm"))
                wiring = {"x": tensor(n.inputs[0])}
            else:
                axis = int(n.node.attr("axis")) % len(shape)
                op = HostOp("concat", n.name, shape, in_shapes, axis=axis)
                wiring = {f"x{i}": tensor(v) for i, v in enumerate(n.inputs)}
            nodes.append(Node(op, "cpu", wiring, tensor(n.output), n.name))
        elif n.kind in ("quantize", "dequantize"):
            src = n.inputs[0] if n.kind == "quantize" else qgraph.source.get(n.output, "")
            shape = tuple(types[src].shape) if src in types else tuple(n.shape)
            op = HostOp(n.kind, n.name, shape, scale=float(n.scale), zero_point=n.zero_point)
            nodes.append(Node(op, "cpu", {"x": tensor(n.inputs[0])}, tensor(n.output), n.name))
        else:
            wiring = {role: tensor(v) for role, v in zip(n.roles, n.inputs, strict=True)}
            for role, arr in n.consts.items():
                constants[f"{n.name}.{role}"] = np.asarray(arr)
                wiring[role] = f"{n.name}.{role}"
            nodes.append(Node(n.op, "cpu", wiring, tensor(n.output), n.name))
        int8 = n.output if n.kind != "dequantize" else n.inputs[0]
        if int8 in qgraph.scales:
            quant[tensor(int8)] = Quant(float(qgraph.scales[int8]), qgraph.zero_point(int8))
    return nodes, constants, [tensor(o) for o in qgraph.outputs], quant


def _host_step(op: object) -> tuple[tuple[int, ...], float] | None:
    """The partitioner's view of a host step: its shape and a small CPU-only cost."""
    if not isinstance(op, HostOp):
        return None
    nbytes = int(np.prod(op.shape)) * 5
    return op.shape, _BOUNDARY_SECONDS + nbytes / _BOUNDARY_BYTES_PER_SECOND


def _priced_as_built(nodes: Sequence[Node]) -> Callable[[object, HwConfig], AcceleratorCost]:
    """The partitioner's accelerator pricing, compiling each op with the layout options the
    module builder gives it on the accelerator (:func:`chain_options`: it reads a tensor
    another opset op writes, so in a chain; no im2col): the estimate is that of the program
    that runs, and the builder finds it compiled (``compile_op`` keeps its results) instead
    of searching a schedule again for other options."""
    produced = {n.output for n in nodes if not isinstance(n.op, HostOp)}
    options = {id(n.op): chain_options(any(t in produced for t in n.inputs.values()))
               for n in nodes if not isinstance(n.op, HostOp)}

    def price(op: object, cfg: HwConfig) -> AcceleratorCost:
        return accelerator_cost(op, cfg, options.get(id(op)))
    return price


def lower(qgraph: QuantizedGraph, cfg: HwConfig, *, targets: Sequence[str] = ("vta", "cpu"),
          pins: Mapping[str, str] | None = None, device: str = "sim",
          **partition_kw: object) -> Lowered:
    """Partition ``qgraph`` over ``targets`` (the boundaries always on the CPU) and build its
    module for ``cfg``.  ``device``: the runtime device whose link prices transfers."""
    nodes, constants, outputs, quant = module_nodes(qgraph)
    dag, graph_inputs, out_nodes = op_nodes(nodes, constants, outputs, _host_step)
    pins = dict(pins or {})
    known = {n.step_name for n in nodes}
    bad = sorted(set(pins) - known)
    if bad:
        raise LowerError(f"--pin: no op named {bad}; the ops are {sorted(known)}")
    wanted = tuple(targets)
    if "cpu" not in wanted:  # opset ops only on the accelerator; the boundaries stay on the host
        for n in nodes:
            if not isinstance(n.op, HostOp):
                pins.setdefault(n.step_name, "vta")
        wanted = (*wanted, "cpu")
    partition_kw.setdefault("accelerator", _priced_as_built(nodes))
    p = partition(dag, graph_inputs, out_nodes, cfg, targets=wanted, pins=pins, device=device,
                  **partition_kw)
    placed = tuple(assign(nodes, p))
    module = build_module(placed, cfg, constants=constants, outputs=outputs, quant=quant,
                          meta={"model": qgraph.name, "targets": list(targets)})
    return Lowered(module, placed, p)


__all__ = ["LowerError", "Lowered", "lower", "module_nodes", "ALIAS_OPS"]
