"""explain() golden text for a small fixed DAG with fixed costs: every op's device, its cost
on each capable device and the reason (cheaper / pinned / only capable device / avoided a
transfer), and every boundary's bytes."""

from compiler.partition.costs import CostNode
from compiler.partition.solve import explain, solve


def tr(s: float) -> dict:
    return {("cpu", "vta"): s, ("vta", "cpu"): s}


GRAPH = (
    CostNode("image", {"cpu": 0.0}, (), 3072, tr(2e-4), kind="input"),
    CostNode("conv1", {"vta": 1e-3, "cpu": 8e-3}, ("image",), 16384, tr(5e-4), cycles=100000),
    CostNode("softmax", {"cpu": 5e-5}, ("conv1",), 16384, tr(5e-4),
             incapable={"vta": "a float op (no opset description)"}),
    CostNode("add", {"vta": 2e-5, "cpu": 6e-5}, ("softmax",), 16384, tr(5e-4), cycles=2000),
    CostNode("gap", {"vta": 1e-4, "cpu": 2e-4}, ("add",), 1024, tr(3e-4), cycles=10000),
    CostNode("conv2", {"vta": 1e-3, "cpu": 8e-3}, ("add",), 16384, tr(5e-4), cycles=100000),
    CostNode("output:conv2", {"cpu": 0.0}, ("conv2",), kind="output"),
    CostNode("output:gap", {"cpu": 0.0}, ("gap",), kind="output"),
)

GOLDEN = """\
partition over vta, cpu: estimated latency 4.010 ms
ops:
  conv1            -> vta  cpu=8.000 ms, vta=1.000 ms [100000 cycles]; cheaper (1.000 ms vs cpu 8.000 ms)
  softmax          -> cpu  cpu=50.0 us; only capable device (vta: a float op (no opset description))
  add              -> cpu  cpu=60.0 us, vta=20.0 us [2000 cycles]; avoided a transfer of 16384 bytes (on vta it would cost 20.0 us but the graph 460.0 us more)
  gap              -> cpu  cpu=200.0 us, vta=100.0 us [10000 cycles]; pinned
  conv2            -> vta  cpu=8.000 ms, vta=1.000 ms [100000 cycles]; cheaper (1.000 ms vs cpu 8.000 ms)
chained accelerator programs: [conv1], [conv2]
boundaries: 4
  image            cpu -> vta: 3072 bytes, 200.0 us
  conv1            vta -> cpu: 16384 bytes, 500.0 us
  add              cpu -> vta: 16384 bytes, 500.0 us
  conv2            vta -> cpu: 16384 bytes, 500.0 us"""  # noqa: E501


def test_explain_golden():
    assert explain(solve(GRAPH, pins={"gap": "cpu"})) == GOLDEN


def test_explain_without_pins_keeps_the_pooling_on_the_cpu_for_its_transfer():
    text = explain(solve(GRAPH))
    assert ("gap              -> cpu  cpu=200.0 us, vta=100.0 us [10000 cycles]; avoided a "
            "transfer of 1024 bytes") in text


def test_pinning_to_the_accelerator_adds_a_boundary():
    text = explain(solve(GRAPH, pins={"gap": "vta"}))
    assert "gap              -> vta  cpu=200.0 us, vta=100.0 us [10000 cycles]; pinned" in text
    assert "boundaries: 5" in text
    assert "chained accelerator programs: [conv1], [add gap conv2]" in text
    assert "  gap              vta -> cpu: 1024 bytes, 300.0 us" in text
    # with gap on vta, add follows it (it is cheaper there) and softmax's output, not add's,
    # crosses: once
    assert "add              -> vta  cpu=60.0 us, vta=20.0 us [2000 cycles]; cheaper" in text
    assert text.count("  softmax          cpu -> vta: 16384 bytes") == 1
