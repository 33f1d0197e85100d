"""explain() golden text for a small fixed DAG with fixed costs: every op's device, its cost
on each capable device, the reason (cheaper / pinned / only capable device / avoided a
transfer) and the runner-up device with its margin; every boundary's bytes, split into the
link copy and the layout transform.  The numbers are consistent: a runner-up's margin is
the latency of the graph with the op moved minus the partition's, its op part the
difference of the cost table entries."""

from dataclasses import replace

import pytest

from compiler.partition.costs import CostNode
from compiler.partition.solve import crossings, explain, latency, runner_up, solve


def tr(s: float) -> dict:
    return {("cpu", "vta"): s, ("vta", "cpu"): s}


def lay(s: float) -> dict:
    """The layout-transform part of ``tr(s)``: packing dearer than unpacking."""
    return {("cpu", "vta"): 0.4 * s, ("vta", "cpu"): 0.2 * s}


def node(name, costs, inputs, nbytes, s, **kw) -> CostNode:
    return CostNode(name, costs, inputs, nbytes, tr(s), layout=lay(s), **kw)


GRAPH = (
    node("image", {"cpu": 0.0}, (), 3072, 2e-4, kind="input"),
    node("conv1", {"vta": 1e-3, "cpu": 8e-3}, ("image",), 16384, 5e-4, cycles=100000),
    node("softmax", {"cpu": 5e-5}, ("conv1",), 16384, 5e-4,
         incapable={"vta": "a float op (no opset description)"}),
    node("add", {"vta": 2e-5, "cpu": 6e-5}, ("softmax",), 16384, 5e-4, cycles=2000),
    node("gap", {"vta": 1e-4, "cpu": 2e-4}, ("add",), 1024, 3e-4, cycles=10000),
    node("conv2", {"vta": 1e-3, "cpu": 8e-3}, ("add",), 16384, 5e-4, cycles=100000),
    CostNode("output:conv2", {"cpu": 0.0}, ("conv2",), kind="output"),
    CostNode("output:gap", {"cpu": 0.0}, ("gap",), kind="output"),
)

GOLDEN = """\
partition over vta, cpu: estimated latency 4.010 ms
ops:
  conv1            -> vta  cpu=8.000 ms, vta=1.000 ms [100000 cycles]; cheaper (1.000 ms vs cpu 8.000 ms); runner-up cpu: +6.300 ms (+157.1% of the graph); op +7.000 ms, copies -700.0 us
  softmax          -> cpu  cpu=50.0 us; only capable device (vta: a float op (no opset description)); runner-up: none
  add              -> cpu  cpu=60.0 us, vta=20.0 us [2000 cycles]; avoided a transfer of 32768 bytes (on vta it would cost 20.0 us but the graph 960.0 us more); runner-up vta: +960.0 us (+23.9% of the graph); op -40.0 us, copies +1.000 ms
  gap              -> cpu  cpu=200.0 us, vta=100.0 us [10000 cycles]; pinned; runner-up vta: +200.0 us (+5.0% of the graph); op -100.0 us, copies +300.0 us
  conv2            -> vta  cpu=8.000 ms, vta=1.000 ms [100000 cycles]; cheaper (1.000 ms vs cpu 8.000 ms); runner-up cpu: +6.000 ms (+149.6% of the graph); op +7.000 ms, copies -1.000 ms
chained accelerator programs: [conv1], [conv2]
boundaries: 4
  image            cpu -> vta: 3072 bytes, 200.0 us (link 120.0 us + pack 80.0 us)
  conv1            vta -> cpu: 16384 bytes, 500.0 us (link 400.0 us + unpack 100.0 us)
  add              cpu -> vta: 16384 bytes, 500.0 us (link 300.0 us + pack 200.0 us)
  conv2            vta -> cpu: 16384 bytes, 500.0 us (link 400.0 us + unpack 100.0 us)"""  # noqa: E501


def test_explain_golden():
    assert explain(solve(GRAPH, pins={"gap": "cpu"})) == GOLDEN


def test_explain_without_pins_keeps_the_pooling_on_the_cpu_for_its_transfer():
    text = explain(solve(GRAPH))
    assert ("gap              -> cpu  cpu=200.0 us, vta=100.0 us [10000 cycles]; avoided a "
            "transfer of 1024 bytes") in text


def test_pinning_to_the_accelerator_adds_a_boundary():
    text = explain(solve(GRAPH, pins={"gap": "vta"}))
    assert ("gap              -> vta  cpu=200.0 us, vta=100.0 us [10000 cycles]; pinned; "
            "runner-up cpu: +800.0 us") in text
    assert "boundaries: 5" in text
    assert "chained accelerator programs: [conv1], [add gap conv2]" in text
    assert "  gap              vta -> cpu: 1024 bytes, 300.0 us (link 240.0 us + unpack 60.0 us)" \
        in text
    # with gap on vta, add follows it (it is cheaper there) and softmax's output, not add's,
    # crosses: once
    assert "add              -> vta  cpu=60.0 us, vta=20.0 us [2000 cycles]; cheaper" in text
    assert text.count("  softmax          cpu -> vta: 16384 bytes") == 1


@pytest.mark.parametrize("pins", [{}, {"gap": "cpu"}, {"gap": "vta"}, {"add": "vta"}])
def test_runner_up_margins_are_the_latency_of_the_move(pins):
    """Each op's runner-up margin is the latency with only that op moved minus the
    partition's; its op part is the difference of the two cost table entries, the rest
    the copies (the sum of the boundary seconds before and after)."""
    p = solve(GRAPH, pins=pins)
    nodes = {n.name: n for n in GRAPH}
    for name in ("conv1", "add", "gap", "conv2"):
        dev, margin, op = runner_up(p, name)
        here = p.assignment[name]
        alt = {**p.assignment, name: dev}
        assert dev != here and margin == pytest.approx(latency(GRAPH, alt) - p.seconds)
        assert op == pytest.approx(nodes[name].costs[dev] - nodes[name].costs[here])
        copies = sum(c[4] for c in crossings(GRAPH, alt)) - sum(c[4] for c in p.boundaries)
        assert margin - op == pytest.approx(copies)
        if name not in pins:  # the solver's choice: the runner-up is never better
            assert margin >= 0
    assert runner_up(p, "softmax") is None


def test_without_copies_the_margin_is_the_cost_difference():
    free = tuple(replace(n, transfer=tr(0.0), layout={}) for n in GRAPH)
    p = solve(free)
    assert set(p.assignment[n] for n in ("conv1", "add", "gap", "conv2")) == {"vta"}
    text = explain(p)
    assert ("gap              -> vta  cpu=200.0 us, vta=100.0 us [10000 cycles]; cheaper "
            "(100.0 us vs cpu 200.0 us); runner-up cpu: +100.0 us (+4.6% of the graph); op "
            "+100.0 us, copies +0.0 us") in text
    costs = {n.name: n.costs for n in free}
    for name in ("conv1", "add", "gap", "conv2"):
        _, margin, op = runner_up(p, name)
        assert margin == pytest.approx(op) and op == costs[name]["cpu"] - costs[name]["vta"]
