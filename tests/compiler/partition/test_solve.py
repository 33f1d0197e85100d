"""The solver is exact: on random small DAGs (random node costs, random transfer costs per
direction, incapable nodes, pins) its latency equals the brute-force minimum over every
assignment -- the minimum cut alone for the pairwise model, and with the accelerator's
programs (a tensor passed between two programs goes out to the host and back) by moves and
enumeration on top of it; targets and pins are respected; bad input gives a
PartitionError."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from compiler.partition.baselines import assignments, exhaustive
from compiler.partition.costs import CostNode
from compiler.partition.errors import PartitionError
from compiler.partition.solve import crossings, latency, max_flow, programs, solve

DEVS2 = ("vta", "cpu")
DEVS3 = ("vta", "cpu", "gpu")


def random_graph(rng: np.random.Generator, n: int, devices=DEVS2) -> tuple[CostNode, ...]:
    """A random DAG: node i reads 0-3 earlier nodes; each device missing with p=0.2 (never
    all); transfer seconds random per ordered device pair."""
    nodes = []
    for i in range(n):
        k = int(rng.integers(0, min(i, 3) + 1))
        inputs = tuple(f"n{j}" for j in rng.choice(i, size=k, replace=False)) if k else ()
        costs = {d: float(rng.uniform(0, 10)) for d in devices if rng.random() > 0.2}
        if not costs:
            costs = {devices[int(rng.integers(len(devices)))]: float(rng.uniform(0, 10))}
        transfer = {(a, b): float(rng.uniform(0, 6)) for a in devices for b in devices if a != b}
        nodes.append(CostNode(f"n{i}", costs, inputs, int(rng.integers(1, 10_000)), transfer))
    return tuple(nodes)


def brute_force(graph, targets, pins) -> float:
    """The least latency over every assignment of every node to an allowed device."""
    return exhaustive(graph, targets, pins).seconds


def feasible(graph, targets, pins) -> bool:
    return all(any(d in n.costs for d in ([pins[n.name]] if n.name in pins else targets))
               for n in graph)


def check_assignment(p, graph, targets, pins) -> None:
    for n in graph:
        d = p.assignment[n.name]
        assert d in targets and d in n.costs
        if n.name in pins:
            assert d == pins[n.name]
    assert p.seconds == pytest.approx(latency(graph, p.assignment), rel=1e-12)


def rename(graph, old: str, new: str) -> tuple[CostNode, ...]:
    """``graph`` with device ``old`` called ``new`` (in costs and transfers)."""
    def r(d):
        return new if d == old else d
    return tuple(replace(n, costs={r(d): c for d, c in n.costs.items()},
                         transfer={(r(a), r(b)): t for (a, b), t in n.transfer.items()})
                 for n in graph)


@pytest.mark.parametrize("seed", range(40))
def test_the_minimum_cut_alone_is_exact_for_the_pairwise_model(seed):
    """On a device that runs no chained programs (any name but vta) the executor's model is
    the pairwise one, and the minimum cut alone (no enumeration) is its optimum."""
    rng = np.random.default_rng(500 + seed)
    graph = rename(random_graph(rng, int(rng.integers(1, 11))), "vta", "npu")
    devs = ("npu", "cpu")
    p = solve(graph, devs, enumerate_limit=0)
    assert p.seconds == pytest.approx(brute_force(graph, devs, {}), rel=1e-9, abs=1e-12)
    assert p.seconds == latency(graph, p.assignment, by_program=False)


@pytest.mark.parametrize("seed", range(20))
def test_without_enumeration_the_solver_beats_the_pairwise_optimum(seed):
    """With accelerator programs the minimum cut's answer is refined on the executor's model:
    never worse than the pairwise optimum's assignment, and never better than the brute
    force over the executor's model."""
    rng = np.random.default_rng(700 + seed)
    graph = random_graph(rng, int(rng.integers(2, 11)))
    pairwise = min(assignments(graph, DEVS2), key=lambda a: latency(graph, a, by_program=False))
    p = solve(graph, DEVS2, enumerate_limit=0)
    assert p.seconds <= latency(graph, pairwise) + 1e-12
    assert p.seconds >= brute_force(graph, DEVS2, {}) - 1e-12


T1 = {("cpu", "vta"): 1.0, ("vta", "cpu"): 2.0}


def test_a_tensor_passed_between_two_programs_goes_out_and_back():
    """a (vta) feeds h (host only) and b (vta); h runs between them, so a and b are two
    programs: a's output is unpacked for h and packed again into b's program."""
    g = (CostNode("x", {"cpu": 0.0}, (), 10, T1, kind="input"),
         CostNode("a", {"vta": 1.0, "cpu": 50.0}, ("x",), 20, T1),
         CostNode("h", {"cpu": 1.0}, ("a",), 30, T1),
         CostNode("b", {"vta": 1.0, "cpu": 50.0}, ("a", "h"), 40, T1),
         CostNode("out", {"cpu": 0.0}, ("b",), kind="output"))
    on = {"x": "cpu", "a": "vta", "h": "cpu", "b": "vta", "out": "cpu"}
    assert programs(g, on) == {"a": 0, "b": 1}
    assert crossings(g, on) == [("x", "cpu", "vta", 10, 1.0), ("a", "vta", "cpu", 20, 2.0),
                                ("a", "cpu", "vta", 20, 1.0), ("h", "cpu", "vta", 30, 1.0),
                                ("b", "vta", "cpu", 40, 2.0)]
    assert latency(g, on) == 3.0 + 7.0
    assert latency(g, on, by_program=False) == 3.0 + 6.0  # a -> b counted as on-device
    assert solve(g).seconds == 10.0


def test_a_host_tensor_read_by_two_programs_is_packed_twice():
    g = (CostNode("x", {"cpu": 0.0}, (), 10, T1, kind="input"),
         CostNode("a", {"vta": 1.0, "cpu": 50.0}, ("x",), 20, T1),
         CostNode("h", {"cpu": 1.0}, ("a",), 30, T1),
         CostNode("b", {"vta": 1.0, "cpu": 50.0}, ("x", "h"), 40, T1))
    on = {"x": "cpu", "a": "vta", "h": "cpu", "b": "vta"}
    assert [c for c in crossings(g, on) if c[0] == "x"] == [("x", "cpu", "vta", 10, 1.0)] * 2
    assert [c for c in crossings(g, on, by_program=False) if c[0] == "x"] == [
        ("x", "cpu", "vta", 10, 1.0)]


@pytest.mark.parametrize("seed", range(60))
def test_two_device_solver_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    graph = random_graph(rng, int(rng.integers(1, 13)))
    pins = {n.name: DEVS2[int(rng.integers(2))] for n in graph if rng.random() < 0.15}
    if not feasible(graph, DEVS2, pins):
        with pytest.raises(PartitionError, match="no allowed device can run"):
            solve(graph, DEVS2, pins)
        return
    p = solve(graph, DEVS2, pins)
    check_assignment(p, graph, DEVS2, pins)
    assert p.seconds == pytest.approx(brute_force(graph, DEVS2, pins), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_three_devices_swap_moves_are_feasible_and_beat_every_two_device_optimum(seed):
    """alpha-beta swaps give a local optimum: never worse than the exact optimum restricted
    to any two of the devices (each is reachable by one swap move from it), and within
    the brute-force minimum's reach on these small graphs most of the time."""
    rng = np.random.default_rng(1000 + seed)
    graph = random_graph(rng, int(rng.integers(2, 9)), DEVS3)
    p = solve(graph, DEVS3)
    check_assignment(p, graph, DEVS3, {})
    best = brute_force(graph, DEVS3, {})
    assert p.seconds >= best - 1e-9
    assert p.seconds <= 1.5 * best + 1e-9


def test_three_devices_reach_the_optimum_on_most_graphs():
    hits = 0
    for seed in range(30):
        rng = np.random.default_rng(2000 + seed)
        graph = random_graph(rng, int(rng.integers(2, 8)), DEVS3)
        hits += solve(graph, DEVS3).seconds <= brute_force(graph, DEVS3, {}) + 1e-9
    assert hits >= 24


def test_a_tensor_read_by_several_consumers_crosses_once():
    tr = {("cpu", "vta"): 5.0, ("vta", "cpu"): 5.0}
    g = (CostNode("x", {"cpu": 0.0}, (), 100, tr),
         CostNode("a", {"vta": 1.0, "cpu": 4.0}, ("x",), 10, tr),
         CostNode("b", {"vta": 1.0, "cpu": 4.0}, ("x",), 10, tr),
         CostNode("y", {"cpu": 0.0}, ("a", "b")))
    # per edge it would be 2 copies in (10) + 2 out (10) + 2 = 22 > 8 on the CPU; once per
    # tensor it is 5 + 2 + 10 (a and b are separate tensors) = 17 > 8: still CPU
    p = solve(g)
    assert p.assignment == {"x": "cpu", "a": "cpu", "b": "cpu", "y": "cpu"}
    assert latency(g, {"x": "cpu", "a": "vta", "b": "vta", "y": "cpu"}) == 17.0
    assert crossings(g, {"x": "cpu", "a": "vta", "b": "vta", "y": "cpu"})[0] == (
        "x", "cpu", "vta", 100, 5.0)


def test_targets_limit_the_devices_and_pins_force_one_op():
    tr = {("cpu", "vta"): 0.1, ("vta", "cpu"): 0.1}
    g = (CostNode("a", {"vta": 1.0, "cpu": 9.0}, (), 1, tr),
         CostNode("b", {"vta": 1.0, "cpu": 9.0}, ("a",), 1, tr),
         CostNode("c", {"vta": 1.0, "cpu": 9.0}, ("b",), 1, tr))
    assert set(solve(g).assignment.values()) == {"vta"}
    assert set(solve(g, ("cpu",)).assignment.values()) == {"cpu"}
    p = solve(g, pins={"b": "cpu"})
    assert p.assignment == {"a": "vta", "b": "cpu", "c": "vta"}
    assert p.seconds == pytest.approx(1 + 9 + 1 + 0.2)


def test_max_flow_on_a_textbook_graph():
    # CLRS figure 26.1: max flow 23
    e = [(0, 1, 16), (0, 2, 13), (1, 3, 12), (2, 1, 4), (3, 2, 9), (2, 4, 14), (4, 3, 7),
         (3, 5, 20), (4, 5, 4)]
    flow, side = max_flow(6, e, 0, 5)
    assert flow == 23
    assert sum(c for u, v, c in e if u in side and v not in side) == 23


@pytest.mark.parametrize("kwargs,msg", [
    (dict(pins={"zz": "cpu"}), "no node named 'zz'"),
    (dict(pins={"a": "gpu"}), "not among the targets"),
    (dict(pins={"a": "vta"}), r"a \(pinned to vta; vta: cannot"),
    (dict(targets=("vta",)), r"1 node\(s\) no allowed device can run: a"),
    (dict(targets=("cpu", "cpu")), "distinct"),
])
def test_bad_input_names_what_is_wrong(kwargs, msg):
    g = (CostNode("a", {"cpu": 1.0}, (), incapable={"vta": "cannot"}),
         CostNode("b", {"cpu": 1.0, "vta": 1.0}, ("a",)))
    with pytest.raises(PartitionError, match=msg):
        solve(g, **kwargs)


def test_dangling_input_and_cycle_are_errors():
    with pytest.raises(PartitionError, match="unknown tensors"):
        solve((CostNode("a", {"cpu": 1.0}, ("q",)),))
    with pytest.raises(PartitionError, match="cycle"):
        solve((CostNode("a", {"cpu": 1.0}, ("b",)), CostNode("b", {"cpu": 1.0}, ("a",))))


def test_a_thousand_node_graph_solves_quickly_and_beats_each_node_alone():
    import time

    graph = random_graph(np.random.default_rng(7), 1000)
    t = time.perf_counter()
    p = solve(graph)
    assert time.perf_counter() - t < 5.0
    alone = {n.name: min(n.costs, key=n.costs.get) for n in graph}
    assert p.seconds <= latency(graph, alone)
    assert p.seconds <= latency(graph, {n.name: "cpu" if "cpu" in n.costs else "vta"
                                        for n in graph})


def test_a_gpu_target_without_gpu_costs_is_never_chosen():
    rng = np.random.default_rng(5)
    graph = random_graph(rng, 10)
    assert solve(graph, DEVS3).seconds == pytest.approx(solve(graph, DEVS2).seconds)
    assert "gpu" not in solve(graph, DEVS3).assignment.values()
    with pytest.raises(PartitionError, match=r"pinned to gpu; gpu: not capable"):
        solve(graph, DEVS3, pins={"n0": "gpu"})


def test_cli_style_targets_and_pins_parse_or_name_the_mistake():
    from compiler.partition.api import parse_pins, parse_targets

    assert parse_targets("vta,cpu") == ("vta", "cpu")
    assert parse_targets(" cpu ") == ("cpu",)
    assert parse_pins(["conv1=cpu", "a=b=vta"]) == {"conv1": "cpu", "a=b": "vta"}
    for bad in ("vta,tpu", "", "cpu,cpu"):
        with pytest.raises(PartitionError, match="--targets"):
            parse_targets(bad)
    for bad in (["conv1"], ["=cpu"], ["conv1=tpu"], ["x=cpu", "x=vta"]):
        with pytest.raises(PartitionError, match="--pin"):
            parse_pins(bad)
