"""The cost model: the CPU model is cached per host (how well it predicts measured kernel
times is a benchmark, ``benchmarks/cost_model.py``: timing belongs there, not in tests
on a shared machine); the accelerator cost is the compiler's estimate at the
configured clock and its refusals are "not capable"; transfers follow the link table; and
the whole model ranks the obvious cases right."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from compiler.partition import costs
from compiler.partition.api import partition
from compiler.partition.costs import (
    LINKS,
    OpNode,
    accelerator_cost,
    build_cost_graph,
    cpu_model,
    link_for,
    tensor_bytes,
)
from compiler.partition.errors import PartitionError
from compiler.partition.solve import explain
from opset import AluStep, Conv2d, Dense, Elementwise, Epilogue, Pool2d, Requant
from vta_hw.config import DEFAULT

EP = Epilogue(requant=Requant(1, 8))
# This host's llvmlite kernels (2 x86 cores, int8 dot-product instructions) run a 3x3 conv
# faster than the default accelerator at 100 MHz (docs/graph.md, "Partitioning").  The
# accelerator is meant to sit next to a small embedded host; the ranking tests model one
# as this host's calibrated kernels 50 times slower (CpuModel.scaled).
EMBEDDED = 50.0


@pytest.fixture(scope="module")
def host():
    return cpu_model()  # measured once per host, then read from the VTA cache


def test_calibration_is_cached_per_host(tmp_path, monkeypatch):
    calls = []
    fake = costs.CpuModel(costs.host_key(), {k: (1e-5, 1e9) for k in costs.CPU_KINDS},
                          {k: ((1.0, 2e-5), (1e6, 1e-3)) for k in costs.CPU_KINDS})
    monkeypatch.setattr(costs, "calibrate_cpu", lambda: calls.append(1) or fake)
    first = cpu_model(tmp_path)
    files = list((tmp_path / "partition").glob("cpu-*.json"))
    assert [f.name for f in files] == [
        f"cpu-v{costs.CALIBRATION_VERSION}-{costs.host_key()}-{costs.kernels_version()}.json"]
    assert json.loads(files[0].read_text())["host"] == costs.host_key()
    assert cpu_model(tmp_path) == first == fake and len(calls) == 1  # read, not measured
    files[0].write_text("{not json")  # a corrupt cache is measured again, not trusted
    assert cpu_model(tmp_path) == fake and len(calls) == 2
    assert cpu_model(tmp_path, recalibrate=True) == fake and len(calls) == 3


def test_a_kernel_change_measures_again(tmp_path, monkeypatch):
    """The calibration times the CPU kernels: new kernels (another version of their
    sources) must not be priced with the old ones' times."""
    fake = costs.CpuModel(costs.host_key(), {k: (1e-5, 1e9) for k in costs.CPU_KINDS},
                          {k: ((1.0, 2e-5), (1e6, 1e-3)) for k in costs.CPU_KINDS})
    calls = []
    monkeypatch.setattr(costs, "calibrate_cpu", lambda: calls.append(1) or fake)
    cpu_model(tmp_path)
    cpu_model(tmp_path)
    assert len(calls) == 1
    monkeypatch.setattr(costs, "kernels_version", lambda: "an-edited-kernel")
    cpu_model(tmp_path)
    assert len(calls) == 2


def test_the_model_is_a_fitted_line_per_kind():
    m = costs.CpuModel("h", {"k": (1e-4, 1e3)}, {"k": ((10.0, 1.0), (20.0, 3.0))})
    assert m.seconds("k", 0.0) == 1e-4
    assert m.seconds("k", 2000.0) == pytest.approx(2.0001)
    assert m.scaled(2).seconds("k", 2000.0) == pytest.approx(4.0002)
    with pytest.raises(PartitionError, match="no kind 'conv'"):
        m.seconds("conv", 1.0)


def test_fit_cost_is_relative_least_squares_with_an_intercept():
    # exact samples of 80 us + work / 2e9: recovered whatever their spread
    pts = [(w, 80e-6 + w / 2e9) for w in (1e3, 1e5, 1e7, 1e8)]
    overhead, slope = costs.fit_cost(pts)
    assert overhead == pytest.approx(80e-6) and slope == pytest.approx(1 / 2e9)
    assert costs.fit_line(pts) == pytest.approx((80e-6, 2e9))
    # relative error: one sample 10x off at 100 us moves the fit no more than one at 100 ms
    noisy = [(1e3, 1e-3)] + pts[1:]
    o, s = costs.fit_cost(noisy)
    assert s == pytest.approx(1 / 2e9, rel=0.5)
    # a negative term (time falling with work) is dropped, not kept: the rest is refitted
    falling = [(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)]
    assert costs.fit_cost(falling)[1] == 0.0 and costs.fit_cost(falling)[0] > 0
    with pytest.raises(PartitionError, match="no samples"):
        costs.fit_cost([])


def test_the_transfer_is_the_link_copy_plus_the_layout_transform():
    m = cpu_model()
    g = build_cost_graph([], {"x": (1, 16, 8, 8)}, [], DEFAULT, "sim", m)
    link = LINKS["sim"].seconds(1024)
    assert g[0].transfer[("cpu", "vta")] == pytest.approx(link + m.pack_seconds(1024, 1024))
    assert g[0].transfer[("vta", "cpu")] == pytest.approx(link + m.unpack_seconds(1024, 1024))
    assert g[0].layout == {("cpu", "vta"): m.pack_seconds(1024, 1024),
                           ("vta", "cpu"): m.unpack_seconds(1024, 1024)}


def test_accelerator_cost_is_the_compiler_estimate_at_the_clock():
    from compiler.api import compile_op

    op = Conv2d(1, 32, 14, 14, 32, 3, 3, pad=1, epilogue=EP, name="c")
    cycles = compile_op(op, DEFAULT).estimated_cycles
    acc = accelerator_cost(op, DEFAULT)
    assert acc.cycles == cycles > 0
    assert acc.seconds == pytest.approx(cycles / 100e6)
    slow = dataclasses.replace(DEFAULT, target_clock_mhz=50.0)
    assert accelerator_cost(op, slow).seconds == pytest.approx(2 * acc.seconds)


@pytest.mark.parametrize("op", [
    Dense(1, 8, 10, epilogue=Epilogue(bias=True, requant=Requant(1, 0, 1, per_channel=True)),
          name="fc"),
    Conv2d(1, 8, 8, 8, 8, 3, 3, pad=1, epilogue=EP, name="conv")])
def test_the_estimate_includes_instruction_fetch(op):
    """On a config with slow DRAM (400 cycles of latency, 1 byte per cycle) a short program
    spends most of its time having its instructions fetched: the estimate the partitioner
    prices (interleave's, fetch included) is the simulator's cycles to 0.1%, where the list
    schedule without fetch (``list_cycles``, what ranks schedules) is far below."""
    from compiler.api import compile_op
    from compiler.partition.calibrate import random_inputs
    from vta.api import run_compiled

    starved = dataclasses.replace(DEFAULT, name="starved", log_dram_bytes_per_cycle=0,
                                  dram_latency=400)
    c = compile_op(op, starved)
    inputs = dict(zip([s.name for s in op.inputs()], random_inputs(op, np.random.default_rng(0)),
                      strict=True))
    sim = run_compiled(c, inputs, "sim").cycles
    assert c.estimated_cycles == pytest.approx(sim, rel=1e-3)
    assert accelerator_cost(op, starved).cycles == c.estimated_cycles
    assert c.program.get_meta("list_cycles") < 0.9 * sim


def test_an_op_the_compiler_refuses_is_not_capable():
    small = dataclasses.replace(DEFAULT, name="small_bufs", log_inp_buff_depth=5,
                                log_wgt_buff_depth=5, log_acc_buff_depth=5,
                                log_out_buff_depth=5)
    op = Pool2d(1, 16, 64, 64, "max", 15, 15, 1, 0, name="p15")
    acc = accelerator_cost(op, small)
    assert acc.cycles is None and "ScheduleError" in acc.reason and "acc_buff_depth" in acc.reason
    g = build_cost_graph([OpNode("p15", op, ("x",))], {"x": (1, 16, 64, 64)}, ["p15"], small,
                         cpu=cpu_model().scaled(EMBEDDED))
    p = partition([OpNode("p15", op, ("x",))], {"x": (1, 16, 64, 64)}, ["p15"], small,
                  cpu=cpu_model().scaled(EMBEDDED))
    assert g[1].costs.keys() == {"cpu"} and p.assignment["p15"] == "cpu"
    assert "only capable device (vta: ScheduleError" in explain(p)
    with pytest.raises(PartitionError, match=r"p15 \(pinned to vta; vta: ScheduleError"):
        partition([OpNode("p15", op, ("x",))], {"x": (1, 16, 64, 64)}, ["p15"], small,
                  pins={"p15": "vta"}, cpu=cpu_model())


def test_transfers_are_blocked_bytes_over_the_link():
    assert tensor_bytes((1, 3, 224, 224), DEFAULT) == (16 * 224 * 224, 3 * 224 * 224)
    assert tensor_bytes((4, 1000), DEFAULT) == (4 * 1008, 4000)
    assert LINKS["fpga"].bytes_per_s == 100_000  # 1 Mbaud, 10 bits per byte
    assert link_for("fpga:/dev/ttyUSB0") == LINKS["fpga"]
    with pytest.raises(PartitionError, match="unknown accelerator device 'gpu0'"):
        link_for("gpu0")
    m = cpu_model()
    g = build_cost_graph([], {"x": (1, 16, 8, 8)}, [], DEFAULT, "fpga", m)
    assert g[0].transfer[("cpu", "vta")] == pytest.approx(
        2e-3 + 1024 / 100_000 + m.pack_seconds(1024, 1024))


def conv_graph(cfg, cpu, device="sim"):
    op = Conv2d(1, 64, 56, 56, 64, 3, 3, pad=1, epilogue=EP, name="conv")
    return partition([OpNode("conv", op, ("x",))], {"x": (1, 64, 56, 56)}, ["conv"], cfg,
                     cpu=cpu, device=device)


def test_a_big_conv_goes_to_the_accelerator_on_default():
    p = conv_graph(DEFAULT, cpu_model().scaled(EMBEDDED))
    assert p.assignment["conv"] == "vta"
    assert "conv             -> vta" in explain(p) and "cheaper" in explain(p)


def test_over_the_uart_the_same_conv_stays_on_the_host():
    # 200 KB each way at 100 KB/s: four seconds of copying outweigh any speed-up
    p = conv_graph(DEFAULT, cpu_model().scaled(EMBEDDED), device="fpga")
    assert p.assignment["conv"] == "cpu"
    assert "avoided a transfer of" in explain(p)


def test_a_tiny_elementwise_op_between_cpu_ops_stays_on_the_cpu():
    add = Elementwise((1, 16, 8, 8), (AluStep("add", 3),), name="add")
    nodes = [OpNode("pre", None, ("x",), (1, 16, 8, 8), cpu_seconds=1e-4),
             OpNode("add", add, ("pre",)),
             OpNode("post", None, ("add",), (1, 16, 8, 8), cpu_seconds=1e-4)]
    # a fixed model (every kind 20 us + 2 G work units/s): an add of 21.5 us on the CPU;
    # each copy is 10.9 us of link plus 21 us of packing or unpacking
    cpu = costs.CpuModel("fixed", {k: (20e-6, 2e9) for k in costs.CPU_KINDS})
    g = {n.name: n for n in build_cost_graph(nodes, {"x": (1, 16, 8, 8)}, ["post"], DEFAULT,
                                               cpu=cpu)}
    assert g["add"].costs["vta"] < g["add"].costs["cpu"]  # cheaper alone on the accelerator
    p = partition(nodes, {"x": (1, 16, 8, 8)}, ["post"], DEFAULT, cpu=cpu)
    assert p.assignment["add"] == "cpu" and not p.boundaries
    assert "add              -> cpu" in explain(p) and "avoided a transfer of 2048" in explain(p)


def test_a_bandwidth_starved_config_moves_a_layer_to_the_cpu():
    """A host whose CPU time for a 4 MB dense layer lies between the accelerator's time on
    ``default`` (8 DRAM bytes per cycle) and on a starved config (1 byte per cycle): the
    layer runs on the accelerator on the first and moves to the CPU on the second."""
    dense = Dense(1, 2048, 512, epilogue=EP, name="fc")
    nodes = [OpNode("fc", dense, ("x",))]
    starved = dataclasses.replace(DEFAULT, name="starved", log_dram_bytes_per_cycle=0)
    memo = {cfg.name: accelerator_cost(dense, cfg) for cfg in (DEFAULT, starved)}
    fast, slow = memo["default"].seconds, memo["starved"].seconds
    assert slow > 4 * fast  # the weights stream at an eighth of the rate
    here = cpu_model()
    # only the dense kernels' times: the layout transforms keep this host's
    cpu = here.scaled((fast * slow) ** 0.5 / here.op_seconds(dense), kinds=("dense",))
    for cfg, where in ((DEFAULT, "vta"), (starved, "cpu")):
        p = partition(nodes, {"x": (1, 2048)}, ["fc"], cfg, cpu=cpu,
                      accelerator=lambda op, c: memo[c.name])
        assert p.assignment["fc"] == where, explain(p)


def test_float_nodes_need_a_cpu_cost_and_a_shape():
    with pytest.raises(PartitionError, match="'f': a float node needs cpu_seconds"):
        build_cost_graph([OpNode("f", None, (), (1, 4))], {}, [], DEFAULT, cpu=cpu_model())
    with pytest.raises(PartitionError, match="'f': a float node needs its output shape"):
        build_cost_graph([OpNode("f", None, (), None, 1e-3)], {}, [], DEFAULT, cpu=cpu_model())


def test_cpu_features_follow_the_kernels_the_cpu_runs():
    wide = Conv2d(1, 32, 28, 28, 32, 3, 3, pad=1, epilogue=EP, name="wide")
    narrow = Conv2d(1, 32, 14, 14, 64, 1, 1, epilogue=EP, name="narrow")
    assert costs.cpu_features(wide) == ("conv2d", wide.macs, 32 * 32 * 9)
    assert costs.cpu_features(narrow) == ("conv2d_narrow", narrow.macs, 64 * 32)
    assert costs.cpu_features(Dense(4, 256, 128, epilogue=EP)) == ("dense", 4 * 256 * 128,
                                                                   256 * 128)
    kind, work, wb = costs.cpu_features(Elementwise((1, 8, 4, 4), (AluStep("add"),)))
    assert (kind, work, wb) == ("elementwise", 3 * 128, 0.0)


def test_the_weight_factor_is_fitted_and_separates_same_mac_ops():
    # seconds = 1 + macs + 50 * weight bytes exactly: the fit recovers 50
    pts = [(m, w, 1 + m + 50 * w) for m, w in ((10, 1), (20, 5), (40, 2), (80, 9))]
    assert costs.fit_weight_factor(pts) == pytest.approx(50)
    assert costs.fit_weight_factor(pts[:2]) == 0.0  # too few samples to separate them
    assert costs.fit_weight_factor([(m, m, t) for m, _, t in pts]) == 0.0  # collinear
    m = costs.CpuModel("h", {"dense": (0.0, 1.0)}, {"dense": ((0.0, 0.0), (1e9, 1e9))},
                       {"dense": 10.0})
    few_rows = Dense(1, 512, 256, epilogue=EP)
    many_rows = Dense(4, 256, 128, epilogue=EP)  # same MACs, a quarter of the weights
    assert m.op_seconds(few_rows) == pytest.approx(131072 + 10 * 131072)
    assert m.op_seconds(many_rows) == pytest.approx(131072 + 10 * 32768)
    full = costs.CpuModel("h", {k: (0.0, 1.0) for k in costs.CPU_KINDS}, m.samples,
                          m.weight_factor)
    assert costs.CpuModel.from_json(json.loads(json.dumps(full.to_json()))) == full
