"""The baselines the cost-based partition is measured against: enumeration of every legal
assignment (the min-cut solver equals its best on its own cost model, checked in
test_solve.py) and onnxruntime-style greedy claiming (first capable device in ``targets``
order), which ignores costs and copies."""

from __future__ import annotations

import math

import numpy as np
import pytest

from compiler.partition.baselines import assignments, exhaustive, greedy_claim
from compiler.partition.costs import CostNode
from compiler.partition.errors import PartitionError
from compiler.partition.solve import latency, solve
from tests.compiler.partition.test_solve import DEVS2, random_graph

T = {("vta", "cpu"): 1.0, ("cpu", "vta"): 1.0}


def chain() -> tuple[CostNode, ...]:
    """x -> a -> b -> c -> out: b is cheaper on the accelerator alone, but a copy each way
    costs more than it saves; c only the CPU can run."""
    return (CostNode("x", {"cpu": 0.0}, (), 10, T, kind="input"),
            CostNode("a", {"vta": 5.0, "cpu": 1.0}, ("x",), 10, T),
            CostNode("b", {"vta": 0.5, "cpu": 1.5}, ("a",), 10, T),
            CostNode("c", {"cpu": 1.0}, ("b",), 10, T, incapable={"vta": "refused"}),
            CostNode("out", {"cpu": 0.0}, ("c",), kind="output"))


def test_assignments_enumerates_every_legal_one_exactly_once():
    got = list(assignments(chain(), DEVS2))
    assert len(got) == 4  # a and b free, the rest forced to the cpu
    assert len({tuple(sorted(a.items())) for a in got}) == 4
    assert all(a["c"] == a["x"] == a["out"] == "cpu" for a in got)
    pinned = list(assignments(chain(), DEVS2, {"a": "vta"}))
    assert len(pinned) == 2 and all(a["a"] == "vta" for a in pinned)


def test_assignments_refuses_too_many():
    with pytest.raises(PartitionError, match="more than the limit 2"):
        list(assignments(chain(), DEVS2, limit=2))


def test_greedy_claims_first_capable_device_and_pays_for_it():
    g = chain()
    greedy = greedy_claim(g, DEVS2)
    assert greedy.assignment == {"x": "cpu", "a": "vta", "b": "vta", "c": "cpu", "out": "cpu"}
    assert greedy.seconds == pytest.approx(1.0 + 5.0 + 0.5 + 1.0 + 1.0)
    assert greedy_claim(g, ("cpu", "vta")).assignment["b"] == "cpu"
    best = solve(g, DEVS2)
    assert best.assignment["b"] == "cpu"  # the copies cost more than b saves
    assert best.seconds == pytest.approx(3.5)
    assert best.seconds < greedy.seconds
    assert exhaustive(g, DEVS2).seconds == pytest.approx(best.seconds)


@pytest.mark.parametrize("seed", range(20))
def test_exhaustive_is_the_least_of_every_assignment(seed):
    rng = np.random.default_rng(100 + seed)
    g = random_graph(rng, int(rng.integers(2, 9)))
    every = [latency(g, a) for a in assignments(g, DEVS2)]
    best = exhaustive(g, DEVS2)
    assert best.seconds == min(every) < math.inf
    assert greedy_claim(g, DEVS2).seconds >= best.seconds


def test_on_a_small_cnn_cost_based_beats_greedy_and_all_accelerator():
    """small_cnn on ``default`` against a fixed CPU model (20 us per kernel plus 2 G work
    units per second; 5 us per boundary tensor packed or unpacked, per program launch and
    per host step; deterministic, unlike this host's calibration): the 3->8 channel
    stem conv fills 3 of 16 input lanes, so the CPU runs it faster, while everything after
    it is cheaper on the accelerator.  The partition is mixed and its modelled latency
    beats greedy claiming (which here is all-accelerator) and equals brute force.  The
    measured comparison is benchmarks/cost_model.py's."""
    from compiler.frontend import import_onnx
    from compiler.graph.lower import lower
    from compiler.graph.pipeline import run_quantization
    from compiler.graph.quantize import samples_from_arrays
    from compiler.partition.costs import CPU_KINDS, CpuModel
    from tests.compiler.graph.lower_models import calib, small_cnn
    from vta_hw.config import DEFAULT

    g = import_onnx(small_cnn())
    q = run_quantization(g, samples_from_arrays(g, calib()))
    fits = {k: (20e-6, 2e9) for k in CPU_KINDS}
    fits |= {k: (5e-6, 2e9) for k in ("pack", "unpack", "host")} | {"program": (5e-6, 1e18)}
    p = lower(q, DEFAULT, targets=DEVS2, cpu=CpuModel("fixed", fits)).partition
    ops = [n.name for n in p.graph if n.kind == "op" and "vta" in n.costs]
    on_vta = {n for n in ops if p.assignment[n] == "vta"}
    assert on_vta and on_vta != set(ops)  # mixed
    assert p.assignment["conv1"] == "cpu" and p.assignment["conv3"] == "vta"
    greedy = greedy_claim(p.graph, DEVS2)
    all_vta = latency(p.graph, {**p.assignment, **dict.fromkeys(ops, "vta")})
    assert greedy.seconds == pytest.approx(all_vta)
    assert p.seconds < greedy.seconds
    assert p.seconds == pytest.approx(exhaustive(p.graph, DEVS2).seconds, rel=1e-12)
