"""One call from an op DAG to a partition: price it (:mod:`~compiler.partition.costs`), then
solve it (:mod:`~compiler.partition.solve`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from compiler.partition.costs import (
    AcceleratorCost,
    CpuModel,
    OpNode,
    accelerator_cost,
    build_cost_graph,
)
from compiler.partition.solve import Partition, solve
from vta_hw.config import HwConfig


def partition(nodes: Sequence[OpNode], graph_inputs: Mapping[str, Sequence[int]],
              outputs: Sequence[str], cfg: HwConfig, *, targets: Sequence[str] = ("vta", "cpu"),
              pins: Mapping[str, str] | None = None, device: str = "sim",
              cpu: CpuModel | None = None,
              accelerator: Callable[[object, HwConfig], AcceleratorCost] = accelerator_cost,
              ) -> Partition:
    """The least-latency assignment of ``nodes`` to ``targets`` for the accelerator ``cfg``
    reached through runtime device ``device`` (its link prices the transfers)."""
    graph = build_cost_graph(nodes, graph_inputs, outputs, cfg, device, cpu, accelerator)
    return solve(graph, targets, pins)


__all__ = ["partition"]
