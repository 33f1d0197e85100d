"""Lowering: a quantized (or float) graph and a device assignment -> a compiled module
(``.vtam``).

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
* every other ``host`` node (int8 Transpose, Concat, Split, Slice ...) and every float
  island (``float``: Softmax, LayerNorm, Sigmoid, LRN, a grouped convolution ...): generic
  host steps (:class:`runtime.host_ops.OnnxHostOp`) running the same kernel as the
  reference (:mod:`opset.onnx_kernels`), one step per output of a multi-output node; the
  constants they read (a LayerNorm's scale) are module constants under their graph name.

:func:`lower_float` lowers a float graph (no quantization) the same way: every node a
generic host step, for ``--targets cpu`` without calibration data.

Where each op runs comes from :func:`compiler.partition.partition` over the op DAG.  Host
steps are host-only nodes with a CPU cost (a memory pass plus their MACs at a numpy rate),
so they are on the CPU whatever ``targets`` says -- except those the GPU has a kernel for
(float convolutions, matrix products, pooling, element-wise ops, Softmax:
``runtime.gpu_steps``) when ``gpu`` (a :class:`~compiler.partition.gpu_model.GpuSpec`) is
given and the GPU is a target; ``targets`` restricts the opset ops.  The CPU cost model
is the one calibrated on *this* host (see docs/graph.md): against a workstation CPU a
100 MHz accelerator loses, so the default partition keeps convolutions on the CPU;
``targets=("vta",)`` puts every op on the accelerator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from compiler.api import ScheduleProvider
from compiler.graph.errors import GraphError
from compiler.graph.ir import Graph, TensorType, constant_type
from compiler.graph.ir import Node as IrNode
from compiler.graph.quantize import QuantizedGraph
from compiler.graph.shapes import infer_node
from compiler.module_builder import Node, Quant, build_module, chain_options
from compiler.partition import AcceleratorCost, CpuModel, accelerator_cost, cpu_model, partition
from compiler.partition.gpu_model import GPUS, GpuSpec, gpu_cost
from compiler.partition.modules import assign, op_nodes
from compiler.partition.solve import Partition
from opset.onnx_kernels import KERNELS
from runtime.module import HostOp, HostOpError, Module, OnnxHostOp, is_host_op
from vta_hw.config import HwConfig

ALIAS_OPS = ("Reshape", "Flatten", "Identity", "Squeeze", "Unsqueeze")
# a host step's MACs (a float convolution's) at a numpy/BLAS rate, beside its memory pass
_HOST_MACS_PER_SECOND = 2e10


class LowerError(GraphError):
    """A quantized graph the module format cannot express yet."""


@dataclass(frozen=True)
class Lowered:
    """The module, the module nodes it was built from (devices set) and the partition."""

    module: Module
    nodes: tuple[Node, ...]
    partition: Partition


def onnx_steps(node: IrNode, types: Mapping[str, TensorType],
               keep: Callable[[str], bool] = lambda v: True) -> list[tuple[OnnxHostOp, str]]:
    """The generic host steps of ``node``, one per output that ``keep`` wants (Split has
    several): ``(op, output value)``; operand and output shapes and dtypes from ``types``.
    Operand ``x<i>`` is the node's i-th given input (omitted optional inputs may only
    trail)."""
    operands = [v for v in node.inputs if v]
    if any(not v for v in node.inputs[:len(operands)]):
        raise LowerError(f"node {node.name!r} ({node.op}): an omitted optional input before a "
                         "given one cannot be a host step")
    in_shapes = tuple(types[v].shape for v in operands)
    in_dtypes = tuple(types[v].dtype for v in operands)
    out = []
    for i, v in enumerate(node.outputs):
        if not v or not keep(v):
            continue
        name = node.name if len(node.outputs) == 1 else f"{node.name}#{i}"
        try:
            op = OnnxHostOp(name, node.op, node.attr_dict, in_shapes, in_dtypes,
                            types[v].shape, types[v].dtype, i)
        except HostOpError as e:
            raise LowerError(f"node {node.name!r}: {e}") from None
        out.append((op, v))
    return out


def _value_types(qgraph: QuantizedGraph) -> dict[str, TensorType]:
    """The type of every value of ``qgraph``: float inputs, constants, int8 outputs of
    opset ops and boundaries, and shape inference through host and float nodes (whose
    nodes, such as a grouped convolution's channel Split, need not exist in the float
    graph)."""
    types = {v: qgraph.float_graph.types[v] for v in qgraph.inputs}
    types.update({k: constant_type(np.asarray(c)) for k, c in qgraph.constants.items()})
    for n in qgraph.nodes:
        if n.kind in ("host", "float") and n.node is not None and not (
                n.kind == "host" and n.node.op in ALIAS_OPS):
            try:
                outs = infer_node(n.node, [types[v] if v else None for v in n.node.inputs])
            except GraphError as e:
                raise LowerError(f"node {n.name!r}: {e}") from None
            types.update(zip(n.node.outputs, outs, strict=False))
        else:
            dtype = "float32" if n.kind == "dequantize" else "int8"
            if n.kind == "float":  # a float Identity (an alias)
                dtype = types[n.inputs[0]].dtype
            types[n.output] = TensorType(n.shape, dtype)
    return types


def module_nodes(qgraph: QuantizedGraph) -> tuple[list[Node], dict[str, np.ndarray],
                                                  list[str], dict[str, Quant]]:
    """(nodes with device "cpu", constants, output tensors, quantization) of ``qgraph``."""
    def is_alias(n) -> bool:
        return (n.kind == "host" and n.node.op in ALIAS_OPS) or (
            n.kind == "float" and n.node is not None and n.node.op == "Identity")

    unknown = [n for n in qgraph.nodes if n.kind in ("host", "float") and (
        n.node is None or n.node.op not in KERNELS)]
    if unknown:
        names = ", ".join(f"{n.name} ({n.node.op if n.node is not None else '?'})"
                          for n in unknown)
        raise LowerError(f"model {qgraph.name!r}: {len(unknown)} node(s) have no host kernel: "
                         f"{names}")
    types = qgraph.float_graph.types
    vtypes = _value_types(qgraph)
    alias: dict[str, str] = {}
    for n in qgraph.nodes:
        if is_alias(n):
            alias[n.output] = alias.get(n.inputs[0], n.inputs[0])
    # a graph output names the tensor it is an alias of (a float Identity before an output)
    out_name = {alias.get(o, o): qgraph.source[o] for o in qgraph.outputs}
    taken = set(out_name.values())

    def tensor(v: str) -> str:
        """The module tensor of value ``v``: outputs keep the model's names, so an int8
        value of the same name becomes ``<name>:q``; constants keep their graph name."""
        if v in qgraph.constants:
            return v
        v = alias.get(v, v)
        if v in out_name:
            return out_name[v]
        return f"{v}:q" if v in taken else v

    read = {v for n in qgraph.nodes for v in n.inputs} | set(qgraph.outputs)
    nodes: list[Node] = []
    constants: dict[str, np.ndarray] = {}
    quant: dict[str, Quant] = {}
    for n in qgraph.nodes:
        if is_alias(n):
            continue
        if n.kind in ("host", "float"):
            operands = [v for v in n.node.inputs if v]
            wiring = {f"x{i}": tensor(v) for i, v in enumerate(operands)}
            constants.update({v: np.asarray(qgraph.constants[v]) for v in operands
                              if v in qgraph.constants})
            for op, v in onnx_steps(n.node, vtypes, keep=read.__contains__):
                nodes.append(Node(op, "cpu", dict(wiring), tensor(v), op.name))
                if v in qgraph.scales:
                    quant[tensor(v)] = Quant(float(qgraph.scales[v]))
            continue
        if n.kind in ("quantize", "dequantize"):
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


def float_module_nodes(graph: Graph) -> tuple[list[Node], dict[str, np.ndarray], list[str]]:
    """(nodes with device "cpu", constants, outputs) of a float graph (after the float
    passes): every node one generic host step, float constants in float32 as
    :func:`~compiler.graph.reference.evaluate` computes."""
    read = {v for fn in graph.nodes for v in fn.inputs} | set(graph.outputs)
    constants = {k: (c.astype(np.float32) if c.dtype.kind == "f" else np.asarray(c))
                 for k, c in graph.constants.items() if k in read}
    types = {**graph.types, **{k: constant_type(c) for k, c in constants.items()}}
    nodes: list[Node] = []
    for fn in graph.nodes:
        wiring = {f"x{i}": v for i, v in enumerate(v for v in fn.inputs if v)}
        for op, v in onnx_steps(fn, types, keep=read.__contains__):
            nodes.append(Node(op, "cpu", dict(wiring), v, op.name))
    return nodes, constants, list(graph.outputs)


def _host_pricer(cpu: CpuModel) -> Callable[[object], tuple[tuple[int, ...], float] | None]:
    """The partitioner's view of a host step: its shape and a CPU-only cost, the CPU
    model's ``host`` kind (what the executor paid for quantize and dequantize steps, per
    byte read and written: float32 in and int8 out, 5 bytes an element) plus its MACs at a
    numpy/BLAS rate.  The same for every assignment, so it moves no op; it makes the
    estimated latency, and the profile's estimate of each step, what the executor pays."""
    def price(op: object) -> tuple[tuple[int, ...], float] | None:
        if not is_host_op(op):
            return None
        nbytes = int(np.prod(op.shape)) * 5
        shape = op.shape if 1 <= len(op.shape) <= 4 else (  # the cost model takes rank 1-4
            (1,) if not op.shape else (*op.shape[:3], int(np.prod(op.shape[3:]))))
        return shape, cpu.seconds("host", nbytes) + op.macs / _HOST_MACS_PER_SECOND
    return price


def _priced_as_built(nodes: Sequence[Node], schedules: ScheduleProvider | None = None
                     ) -> Callable[[object, HwConfig], AcceleratorCost]:
    """The partitioner's accelerator pricing, compiling each op with the layout options the
    module builder gives it on the accelerator (:func:`chain_options`: it reads a tensor
    another opset op writes, so in a chain; no im2col): the estimate is that of the program
    that runs, and the builder finds it compiled (``compile_op`` keeps its results) instead
    of searching a schedule again for other options; with the builder's ``schedules``."""
    produced = {n.output for n in nodes if not is_host_op(n.op)}
    options = {id(n.op): chain_options(any(t in produced for t in n.inputs.values()))
               for n in nodes if not is_host_op(n.op)}

    def price(op: object, cfg: HwConfig) -> AcceleratorCost:
        return accelerator_cost(op, cfg, options.get(id(op)), schedules)
    return price


def lower(qgraph: QuantizedGraph, cfg: HwConfig, *, targets: Sequence[str] = ("vta", "cpu"),
          pins: Mapping[str, str] | None = None, device: str = "sim",
          schedules: ScheduleProvider | None = None, **partition_kw: object) -> Lowered:
    """Partition ``qgraph`` over ``targets`` (the host steps always on the CPU) and build
    its module for ``cfg``.  ``device``: the runtime device whose link prices transfers.
    ``schedules``: where the accelerator ops' schedules come from, for the partitioner's
    price and the module alike (``compile_op``'s provider: a tuning log's best,
    :func:`compiler.autotune.log.log_provider`; None: the heuristic)."""
    nodes, constants, outputs, quant = module_nodes(qgraph)
    return _partition_and_build(nodes, constants, outputs, quant, qgraph.name, cfg,
                                targets, pins, device, partition_kw, schedules)


def lower_float(graph: Graph, cfg: HwConfig, *, targets: Sequence[str] = ("cpu",),
                pins: Mapping[str, str] | None = None, device: str = "sim",
                **partition_kw: object) -> Lowered:
    """The float module of ``graph`` (after the float passes): every node a float host step
    on the CPU, outputs as :func:`~compiler.graph.reference.evaluate` computes them in
    float32.  ``targets`` must include the CPU (the only device that runs float ops)."""
    if "cpu" not in targets:
        raise LowerError(f"model {graph.name!r}: a float module runs on the cpu only, but "
                         f"--targets is {','.join(targets)}; add cpu or give --calib to "
                         "quantize it for the accelerator")
    nodes, constants, outputs = float_module_nodes(graph)
    return _partition_and_build(nodes, constants, outputs, {}, graph.name, cfg, targets,
                                pins, device, partition_kw)


def _check_gpu(targets: Sequence[str], pins: Mapping[str, str], gpu: GpuSpec | None) -> None:
    """The GPU is priced from a GpuSpec (there is none to calibrate on this host): listing
    it among the targets, or pinning an op to it, without one is one clear error instead of
    a target that can never be chosen."""
    gpu_pins = sorted(n for n, d in pins.items() if d == "gpu")
    if gpu is None and (gpu_pins or "gpu" in targets):
        what = f"--pin {gpu_pins[0]}=gpu" if gpu_pins else f"--targets {','.join(targets)}"
        raise LowerError(f"{what}: the partitioner prices the GPU from a GPU description; "
                         f"give --gpu-spec NAME (one of {sorted(GPUS)})")


def _partition_and_build(nodes: list[Node], constants: dict[str, np.ndarray],
                         outputs: list[str], quant: dict[str, Quant], name: str,
                         cfg: HwConfig, targets: Sequence[str],
                         pins: Mapping[str, str] | None, device: str,
                         partition_kw: Mapping[str, object],
                         schedules: ScheduleProvider | None = None) -> Lowered:
    gpu = partition_kw.get("gpu")
    if gpu is not None and not isinstance(gpu, GpuSpec):
        raise LowerError(f"gpu: expected a GpuSpec (compiler.partition.gpu_model.gpu_spec"
                         f"(NAME)), got {type(gpu).__name__}")
    cpu = partition_kw.get("cpu") or cpu_model()
    dag, graph_inputs, out_nodes = op_nodes(
        nodes, constants, outputs, _host_pricer(cpu),
        None if gpu is None else lambda op: gpu_cost(op, gpu).seconds)
    pins = dict(pins or {})
    known = {n.step_name for n in nodes}
    bad = sorted(set(pins) - known)
    if bad:
        raise LowerError(f"--pin: no op named {bad}; the ops are {sorted(known)}")
    wanted = tuple(targets)
    _check_gpu(wanted, pins, gpu)
    if "cpu" not in wanted:  # opset ops only on the targets; host steps stay on the host
        if len(wanted) == 1:
            for n in nodes:
                if not is_host_op(n.op):
                    pins.setdefault(n.step_name, wanted[0])
        else:
            dag = [replace(n, cpu_seconds=math.inf) if n.op is not None else n for n in dag]
        wanted = (*wanted, "cpu")
    partition_kw = {"accelerator": _priced_as_built(nodes, schedules), **partition_kw,
                    "cpu": cpu}
    p = partition(dag, graph_inputs, out_nodes, cfg, targets=wanted, pins=pins, device=device,
                  **partition_kw)
    placed = tuple(assign(nodes, p))
    meta = {"model": name, "targets": list(targets)}
    if gpu is not None:
        meta["gpu_spec"] = gpu.name
    module = build_module(placed, cfg, constants=constants, outputs=outputs, quant=quant,
                          meta={**meta, **estimates_meta(p)}, schedules=schedules)
    return Lowered(module, placed, p)


def estimates_meta(p: Partition) -> dict[str, object]:
    """What the partitioner estimated, for the module manifest (``meta``), so the run's
    profile can show each op's estimate beside its measurement: ``estimates`` (step name
    -> seconds on the device it was assigned) and ``estimated_latency_s`` (the whole
    graph, copies included)."""
    return {"estimates": {n.name: float(n.costs[p.assignment[n.name]]) for n in p.graph
                          if n.kind == "op"},
            "estimated_latency_s": float(p.seconds)}


__all__ = ["LowerError", "Lowered", "lower", "lower_float", "module_nodes",
           "float_module_nodes", "onnx_steps", "ALIAS_OPS"]
