"""One call from an op DAG to a partition: price it (:mod:`~compiler.partition.costs`), then
solve it (:mod:`~compiler.partition.solve`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from compiler.partition.costs import (
    DEVICES,
    AcceleratorCost,
    CpuModel,
    OpNode,
    accelerator_cost,
    build_cost_graph,
)
from compiler.partition.errors import PartitionError
from compiler.partition.gpu_model import GpuSpec
from compiler.partition.solve import Partition, solve
from vta_hw.config import HwConfig


def partition(nodes: Sequence[OpNode], graph_inputs: Mapping[str, Sequence[int]],
              outputs: Sequence[str], cfg: HwConfig, *, targets: Sequence[str] = ("vta", "cpu"),
              pins: Mapping[str, str] | None = None, device: str = "sim",
              cpu: CpuModel | None = None,
              accelerator: Callable[[object, HwConfig], AcceleratorCost] = accelerator_cost,
              gpu: GpuSpec | None = None) -> Partition:
    """The least-latency assignment of ``nodes`` to ``targets`` for the accelerator ``cfg``
    reached through runtime device ``device`` (its link prices the transfers) and, with
    ``gpu``, that GPU (:mod:`~compiler.partition.gpu_model`)."""
    graph = build_cost_graph(nodes, graph_inputs, outputs, cfg, device, cpu, accelerator, gpu)
    return solve(graph, targets, pins)


def parse_targets(text: str) -> tuple[str, ...]:
    """``--targets vta,cpu[,gpu]`` -> ("vta", "cpu", ...); unknown or repeated names are an
    error naming them."""
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [t for t in names if t not in DEVICES]
    if not names or bad or len(set(names)) != len(names):
        raise PartitionError(f"--targets {text!r}: expected distinct names from {list(DEVICES)}"
                             + (f", got unknown {bad}" if bad else ""))
    return names


def parse_pins(items: Sequence[str]) -> dict[str, str]:
    """``--pin NODE=DEVICE`` (repeatable) -> {node: device}."""
    pins: dict[str, str] = {}
    for item in items:
        node, eq, dev = item.rpartition("=")
        if not eq or not node or dev not in DEVICES:
            raise PartitionError(f"--pin {item!r}: expected NODE=DEVICE with DEVICE one of "
                                 f"{list(DEVICES)}")
        if pins.get(node, dev) != dev:
            raise PartitionError(f"--pin: {node!r} pinned to both {pins[node]} and {dev}")
        pins[node] = dev
    return pins


__all__ = ["partition", "parse_targets", "parse_pins"]
