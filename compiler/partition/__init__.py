"""Partitioning a graph between the accelerator and the host by cost (docs/graph.md,
"Partitioning"): :mod:`~compiler.partition.costs` prices every op on every capable device
and every boundary transfer; :mod:`~compiler.partition.solve` finds the assignment with the
least end-to-end latency (an exact s-t minimum cut for two devices) and explains it;
:mod:`~compiler.partition.gpu_model` prices a GPU described by a GpuSpec;
:mod:`~compiler.partition.baselines` gives what it is measured against (every assignment,
greedy claiming)."""

from compiler.partition.api import parse_pins, parse_targets, partition
from compiler.partition.baselines import exhaustive, greedy_claim
from compiler.partition.costs import (
    LINKS,
    AcceleratorCost,
    CostNode,
    CpuModel,
    LinkProfile,
    OpNode,
    accelerator_cost,
    build_cost_graph,
    cpu_model,
    tensor_bytes,
)
from compiler.partition.errors import PartitionError
from compiler.partition.gpu_model import GPUS, GpuCost, GpuSpec, gpu_cost, gpu_spec
from compiler.partition.solve import Partition, explain, latency, solve

__all__ = ["LINKS", "AcceleratorCost", "CostNode", "CpuModel", "LinkProfile", "OpNode",
           "accelerator_cost", "build_cost_graph", "cpu_model", "tensor_bytes",
           "PartitionError", "Partition", "partition", "parse_targets", "parse_pins", "explain",
           "latency", "solve", "exhaustive", "greedy_claim", "GPUS", "GpuCost", "GpuSpec",
           "gpu_cost", "gpu_spec"]
