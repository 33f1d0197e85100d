"""The seam to the compiled module: partition a list of ``compiler.module_builder.Node``
(what ``build_module`` takes) and write the chosen devices back into it.

A module node names tensors; the partitioner's DAG names producers.  Model inputs (tensors
no node writes and no constant holds) become graph inputs on the host; constants (weights,
tables) are not priced as transfers: they are uploaded once and stay resident on the device
(docs/runtime.md), so per inference only activations cross.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from compiler.partition.costs import VTA, OpNode
from compiler.partition.errors import PartitionError
from compiler.partition.solve import Partition

# the partitioner's device names -> runtime.module.DEVICE_KINDS
MODULE_DEVICE = {VTA: "accelerator", "cpu": "cpu", "gpu": "gpu"}


def op_nodes(nodes: Sequence, constants: Mapping[str, object], outputs: Sequence[str],
             host_step: Callable[[object], tuple[tuple[int, ...], float] | None] | None = None,
             gpu_seconds: Callable[[object], float | None] | None = None
             ) -> tuple[list[OpNode], dict[str, tuple[int, ...]], list[str]]:
    """(op nodes, graph inputs with shapes, output node names) of module nodes in execution
    order; an op node is named by the module node's ``step_name``.  ``host_step(op)`` gives
    ``(output shape, cpu seconds)`` for a step that no device but the host knows as an op
    (no opset op), which becomes a float node; None for an opset op.  ``gpu_seconds(op)``
    prices such a float node on the GPU (None: the GPU cannot run it)."""
    producer: dict[str, str] = {}
    graph_inputs: dict[str, tuple[int, ...]] = {}
    out: list[OpNode] = []
    for n in nodes:
        specs = {s.name: s for s in n.op.inputs()}
        reads = []
        for operand, t in n.inputs.items():
            if t in constants:
                continue
            if t in producer:
                reads.append(producer[t])
            else:
                graph_inputs.setdefault(t, tuple(specs[operand].shape))
                reads.append(t)
        reads_t = tuple(dict.fromkeys(reads))
        host = host_step(n.op) if host_step is not None else None
        if host is not None:
            gpu = gpu_seconds(n.op) if gpu_seconds is not None else None
            size = np.dtype(n.op.output().dtype).itemsize
            out.append(OpNode(n.step_name, None, reads_t, host[0], host[1], gpu, size))
        else:
            out.append(OpNode(n.step_name, n.op, reads_t))
        producer[n.output] = n.step_name
    missing = [o for o in outputs if o not in producer]
    if missing:
        raise PartitionError(f"model outputs {missing} are not written by any node")
    return out, graph_inputs, [producer[o] for o in outputs]


def assign(nodes: Sequence, p: Partition) -> list:
    """``nodes`` with each ``device`` set from the partition (module device names)."""
    return [replace(n, device=MODULE_DEVICE[p.assignment[n.step_name]]) for n in nodes]


__all__ = ["MODULE_DEVICE", "op_nodes", "assign"]
