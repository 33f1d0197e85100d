"""What the cost-based partition is measured against: every legal assignment (for graphs
small enough to enumerate) and ONNX-Runtime-style greedy claiming.

* :func:`assignments` / :func:`exhaustive`: every assignment of every node to an allowed
  device (among ``targets``, capable, the pinned one), and the one of least
  :func:`~compiler.partition.solve.latency`.  ``len(targets) ** nodes`` of them, so for
  small graphs only (``limit``); the two-device solver must equal it exactly on its own
  cost model, and the cost-model benchmark measures each of them end to end.
* :func:`greedy_claim`: the execution-provider rule of onnxruntime -- the providers are
  asked in priority order and the first that can run a node takes it, whatever it costs
  and whatever copies follow.  With ``targets=("vta", "cpu")`` every op the accelerator can
  compile goes there (all-accelerator, except that refused ops fall back to the CPU).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence

from compiler.partition.costs import CostNode
from compiler.partition.errors import PartitionError
from compiler.partition.solve import Partition, allowed_costs, latency


def assignments(graph: Sequence[CostNode], targets: Sequence[str] = ("vta", "cpu"),
                pins: Mapping[str, str] | None = None, *, limit: int = 1 << 16
                ) -> Iterator[dict[str, str]]:
    """Every legal assignment of ``graph`` (node name -> device), in a fixed order (the
    product of each node's allowed devices in ``targets`` order).  More than ``limit`` of
    them is a PartitionError naming the count."""
    graph = tuple(graph)
    allowed = allowed_costs(graph, targets, pins or {})
    choices = [[d for d in targets if d in allowed[n.name]] for n in graph]
    count = math.prod(len(c) for c in choices)
    if count > limit:
        raise PartitionError(f"{count} assignments of {len(graph)} nodes over "
                             f"{list(targets)}: more than the limit {limit} to enumerate")
    names = [n.name for n in graph]
    for combo in itertools.product(*choices):
        yield dict(zip(names, combo, strict=True))


def exhaustive(graph: Sequence[CostNode], targets: Sequence[str] = ("vta", "cpu"),
               pins: Mapping[str, str] | None = None, *, limit: int = 1 << 16) -> Partition:
    """The assignment of least modelled latency by trying every one (ties: the first)."""
    graph = tuple(graph)
    pins = dict(pins or {})
    best, best_s = None, math.inf
    for a in assignments(graph, targets, pins, limit=limit):
        s = latency(graph, a)
        if s < best_s:
            best, best_s = a, s
    assert best is not None  # allowed_costs refused an infeasible graph
    return Partition(graph, best, tuple(targets), pins, best_s)


def greedy_claim(graph: Sequence[CostNode], targets: Sequence[str] = ("vta", "cpu"),
                 pins: Mapping[str, str] | None = None) -> Partition:
    """Each node on the first device of ``targets`` that can run it (its pin if pinned),
    ignoring costs and copies: onnxruntime's execution-provider claiming."""
    graph = tuple(graph)
    pins = dict(pins or {})
    allowed = allowed_costs(graph, targets, pins)
    assign = {n.name: next(d for d in targets if d in allowed[n.name]) for n in graph}
    return Partition(graph, assign, tuple(targets), pins, latency(graph, assign))


__all__ = ["assignments", "exhaustive", "greedy_claim"]
