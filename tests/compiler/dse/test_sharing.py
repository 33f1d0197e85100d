"""The sweep's reuse: one compile and simulation per timing class (configs that differ
only in their clock, on a forced partition), and a timing-only simulation; both must give
exactly what evaluating every point on its own with the full simulation gives."""

from __future__ import annotations

import dataclasses

import onnx
import pytest

from compiler.autotune.measure import InlineRunner
from compiler.dse.point import (
    PointResult,
    SweepJob,
    _quantized,
    evaluate_point,
    simulate,
    timing_key,
)
from compiler.dse.space import parse_space
from compiler.dse.sweep import PointCache, run_points
from compiler.graph.pipeline import compile_model
from tests.compiler.dse.small_cnn import small_cnn
from vta_hw.config import TINY

SPACE = {"base": "tiny", "axes": {"dram_latency": [4, 24], "target_clock_mhz": [60, 80]},
         "points": [{"target_clock_mhz": 50, "log_dram_bytes_per_cycle": 3}]}
# what a point's result holds besides its measured wall times (host_ms, seconds)
EXACT = ("status", "error", "cycles", "latency_ms", "macs_on_accelerator", "utilization",
         "layers", "resources", "fits", "over", "tuned")


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    d = tmp_path_factory.mktemp("share")
    onnx.save(small_cnn(), d / "cnn.onnx")
    return SweepJob(str(d / "cnn.onnx"))


class CountingRunner(InlineRunner):
    """evaluate_point in this process, counting the points it is asked to compute."""

    def __init__(self) -> None:
        super().__init__(evaluate_point, result=PointResult)
        self.asked: list[str] = []

    def run(self, job, points):
        self.asked += [p.name for p in points]
        return super().run(job, points)


def test_timing_key_leaves_out_only_the_clock_on_a_forced_partition(job):
    slow, fast = TINY.replace(name="a"), TINY.replace(name="b", target_clock_mhz=80.0)
    assert timing_key(job, slow) == timing_key(job, fast)
    for field, value in (("dram_latency", 24), ("log_dram_bytes_per_cycle", 3),
                         ("log_wgt_buff_depth", 7), ("gemm_pipeline_depth", 6),
                         ("log_block_out", 3)):
        assert timing_key(job, slow) != timing_key(job, slow.replace(**{field: value})), field
    # the CPU among the targets: the clock moves ops, so it is part of the key
    hetero = dataclasses.replace(job, targets=("vta", "cpu"))
    assert timing_key(hetero, slow) != timing_key(hetero, fast)


def test_shared_results_equal_each_point_evaluated_alone(job, tmp_path):
    points = parse_space(SPACE)
    runner = CountingRunner()
    shared = run_points(job, points, runner, PointCache(tmp_path / "points", "f"), batch=2)
    # two timing classes of two clocks each, plus one on its own: three computed
    assert runner.asked == ["p000", "p002", "p004"]
    alone = [evaluate_point(job, p) for p in points]  # the path without any reuse
    for s, a in zip(shared, alone, strict=True):
        assert s.point == a.point and a.ok
        assert {k: getattr(s, k) for k in EXACT} == {k: getattr(a, k) for k in EXACT}, s.point
    by = {r.point.name: r for r in shared}
    assert by["p001"].shared_with == "p000" and by["p003"].shared_with == "p002"
    assert by["p000"].shared_with == "" and by["p004"].shared_with == ""
    # equal timing: equal cycles at other latencies; a cycle-relevant field: other cycles
    assert by["p001"].cycles == by["p000"].cycles
    assert by["p001"].latency_ms == pytest.approx(by["p000"].latency_ms * 60 / 80)
    assert by["p002"].cycles != by["p000"].cycles  # DRAM latency 24 vs 4
    assert by["p004"].cycles != by["p000"].cycles  # a wider DRAM bus


def test_a_cached_class_computes_nothing_for_its_new_clock(job, tmp_path):
    cache = PointCache(tmp_path / "points", "f")
    first = parse_space({"base": "tiny", "points": [{"target_clock_mhz": 60}]})
    run_points(job, first, CountingRunner(), cache)
    runner = CountingRunner()
    both = parse_space({"base": "tiny", "points": [{"target_clock_mhz": 60},
                                                    {"target_clock_mhz": 90}]})
    got = run_points(job, both, runner, cache)
    assert runner.asked == [] and got[1].cycles == got[0].cycles
    assert got[1].shared_with == "p000"


def test_timing_only_simulation_has_the_full_simulations_cycles(job):
    qgraph = _quantized(job.model, None, (), 0)
    module = compile_model(qgraph, TINY, targets=("vta",)).lowered.module
    full, timing = simulate(module, timing_only=False), simulate(module, timing_only=True)
    assert timing["totals"]["accelerator_cycles"] == full["totals"]["accelerator_cycles"] > 0
    cycles = [[(e["name"], e.get("cycles")) for e in p["layers"]] for p in (full, timing)]
    assert cycles[0] == cycles[1]


@pytest.mark.parametrize("gemm", ["1x4x4", "1x4x8"])
def test_a_points_cycles_are_those_of_the_full_compile_and_data_simulation(job, gemm):
    """evaluate_point (the sweep's path: the collector paused, chains split from the
    planned layouts, the timing-only simulator) against ``compile_model`` and the
    simulator computing data, on the same config.  On 1x4x8 the second conv reads the
    first one's output blocked by 8 channels but needs it by 4: the run splits at each op."""
    (point,) = parse_space({"base": "tiny", "points": [{"gemm": gemm}]})
    got = evaluate_point(job, point)
    module = compile_model(_quantized(job.model, None, (), 0), point.cfg,
                           targets=("vta",)).lowered.module
    full = simulate(module, timing_only=False)
    assert got.ok and got.cycles == full["totals"]["accelerator_cycles"] > 0
    assert [(u.name, u.cycles) for u in got.layers] == \
        [(e["name"], e["cycles"]) for e in full["layers"] if "cycles" in e]
    chained = [len(p.steps) for p in module.programs]
    assert chained == ([4] if gemm == "1x4x4" else [1, 1, 1, 1])
