"""``vta dse`` on a small CNN: 8 valid points, one invalid and one that does not fit; the
tables, the fronts, the plots, the estimate, the cache (a rerun computes nothing) and
Yosys on the ``tiny`` point (``vta hw synth``'s cache: minutes the first time)."""

from __future__ import annotations

import csv
import json

import onnx
import pytest

from compiler.dse.pareto import front
from compiler.dse.space import SpaceError, parse_space
from tests.compiler.dse.small_cnn import small_cnn
from vta.cli import main
from vta_hw.config import TINY
from vta_hw.fpga.resources import estimate_resources

SPACE = {"base": "tiny",
         "axes": {"gemm": ["1x4x4", "1x8x8"], "log_inp_buff_depth": [7, 8],
                  "target_clock_mhz": [60, 80]},
         "points": [{"gemm": "1x16x16", "log_out_buff_depth": 9},  # invalid: out > acc
                    {"gemm": "1x16x16", "log_wgt_buff_depth": 10, "log_acc_buff_depth": 11,
                     "log_out_buff_depth": 11, "log_inp_buff_depth": 11,
                     "log_uop_buff_depth": 13}]}  # VTA's default buffers: 224 DP16KD > 208


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    d = tmp_path_factory.mktemp("dse")
    onnx.save(small_cnn(), d / "cnn.onnx")
    (d / "space.json").write_text(json.dumps(SPACE))
    argv = ["dse", str(d / "cnn.onnx"), "--space", str(d / "space.json"), "-o",
            str(d / "out"), "--workers", "1"]
    return d, argv


def test_sweep_tables_fronts_plots_and_cache(sweep, capsys):
    d, argv = sweep
    assert main(argv) == 0
    text = capsys.readouterr().out
    out = d / "out"
    assert "points: 10 computed, 0 from the cache" in text
    rows = list(csv.DictReader((out / "dse.csv").open()))
    assert len(rows) == 10
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) >= 8
    bad = {r["name"]: r for r in rows if r["reason"]}
    assert "out buffer (512) cannot be deeper" in bad["p008"]["reason"]
    assert bad["p008"]["status"] == "invalid"
    assert bad["p009"]["fits"] == "0" and "dp16kd 224 > 208" in bad["p009"]["reason"]
    # the table holds the fast estimate of each point's config, and the simulated latency
    # is its cycles at its own clock
    points = json.loads((out / "dse.json").read_text())["points"]
    for p in points:
        if p["status"] != "ok":
            continue
        cfg = TINY.replace(**{k: v for k, v in p["point"]["config"].items() if k != "name"})
        est = estimate_resources(cfg, "LFE5U-85F")
        assert {k: p["resources"][k]["used"] for k in est.used} == est.used
        assert p["fits"] == est.fits
        assert p["latency_ms"] == pytest.approx(p["cycles"] / (cfg.target_clock_mhz * 1e3))
        assert p["layers"] and all(0 < x["utilization"] <= 1 for x in p["layers"])
    # a faster clock only divides the latency: same cycles at 60 and 80 MHz
    by = {r["name"]: r for r in rows}
    assert by["p000"]["cycles"] == by["p001"]["cycles"]
    assert float(by["p001"]["latency_ms"]) < float(by["p000"]["latency_ms"])
    # the fronts: non-dominated among the points that fit, the chosen one on every front
    par = json.loads((out / "pareto.json").read_text())
    fit = [r for r in ok if r["fits"] == "1"]
    for res, names in par["fronts"].items():
        assert names == front([(r["name"], float(r["latency_ms"]), float(r[res]))
                               for r in fit])
        assert par["chosen"] in names and "p009" not in names
    fastest = min(float(r["latency_ms"]) for r in fit)
    assert float(by[par["chosen"]]["latency_ms"]) == fastest
    for png in ("pareto.png", "layers.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a rerun computes nothing and writes the same table
    before = (out / "dse.csv").read_text()
    assert main(argv) == 0
    assert "points: 0 computed, 10 from the cache" in capsys.readouterr().out
    assert (out / "dse.csv").read_text().replace("\r", "") == before


def test_yosys_on_the_tiny_point(sweep, tmp_path):
    """--synth-front's step on the ``tiny`` point: Yosys agrees with the estimate (exact
    block RAM and DSPs, LUT4 and FF within 10%) and the table gains the counts."""
    from compiler.dse.point import PointResult, estimate
    from compiler.dse.space import Point
    from compiler.dse.sweep import rows, synth_points

    res, fits, over = estimate(TINY, "LFE5U-85F")
    r = PointResult(Point("tiny", (), TINY), "ok", resources=res, fits=fits, over=over,
                    latency_ms=1.0, cycles=1)
    got = synth_points([r], {"tiny"}, "ulx3s-85f", tmp_path)["tiny"]
    assert got["dp16kd"] == res["dp16kd"]["used"] and got["mult18"] == res["mult18"]["used"]
    for k in ("lut4", "ff"):
        assert abs(res[k]["used"] - got[k]) <= 0.10 * got[k], (k, res[k]["used"], got[k])
    row = rows([r], {}, {"tiny": got})[0]
    assert row["yosys_lut4"] == got["lut4"]


def test_front_is_the_non_dominated_set():
    pts = [("a", 1.0, 10), ("b", 2.0, 5), ("c", 2.0, 12), ("d", 3.0, 5), ("e", 4.0, 1)]
    assert front(pts) == ["a", "b", "e"]


@pytest.mark.parametrize("space, fragment", [
    ([], "JSON object"),
    ({"axes": {}}, "no points"),
    ({"base": "nope", "points": [{}]}, "base: unknown preset 'nope'"),
    ({"axes": {"log_block": [1]}}, "axes.log_block[0]: unknown key 'log_block'"),
    ({"axes": {"gemm": ["1x3x4"]}}, "axes.gemm[0]: 3 is not a power of two"),
    ({"axes": {"dram_latency": []}}, "axes.dram_latency: expected a non-empty list"),
    ({"points": [{"target_clock_mhz": "fast"}]}, "points[0].target_clock_mhz: 'fast' is not"),
    ({"axis": {}}, "unknown top-level key(s) ['axis']"),
])
def test_space_errors_name_the_key(space, fragment):
    with pytest.raises(SpaceError) as e:
        parse_space(space)
    assert fragment in str(e.value)


def test_cli_error_is_one_line(tmp_path, capsys):
    onnx.save(small_cnn(), tmp_path / "cnn.onnx")
    (tmp_path / "s.json").write_text(json.dumps({"axes": {"gemm": ["16"]}}))
    rc = main(["dse", str(tmp_path / "cnn.onnx"), "--space", str(tmp_path / "s.json"), "-o",
               str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and len(err) == 1 and err[0].startswith("error:") and "axes.gemm[0]" in err[0]
    assert not (tmp_path / "o").exists()


def test_tune_trials_tune_each_workload_and_never_lose(tmp_path, capsys):
    onnx.save(small_cnn(), tmp_path / "cnn.onnx")
    (tmp_path / "s.json").write_text(json.dumps({"base": "tiny",
                                                 "points": [{"gemm": "1x8x8"}]}))
    rows = {}
    for trials in (0, 2):
        out = tmp_path / f"o{trials}"
        assert main(["dse", str(tmp_path / "cnn.onnx"), "--space", str(tmp_path / "s.json"),
                     "-o", str(out), "--workers", "0", "--tune-trials", str(trials)]) == 0
        rows[trials] = next(csv.DictReader((out / "dse.csv").open()))
    capsys.readouterr()
    assert rows[0]["tuned_workloads"] == "0" and int(rows[2]["tuned_workloads"]) >= 2
    assert int(rows[2]["cycles"]) <= int(rows[0]["cycles"])
    assert list((tmp_path / "o2" / "tuning").glob("*.jsonl"))


def test_points_run_on_the_tuners_runner_with_crash_isolation_and_time_limits():
    """The sweep's job through ``LocalRunner``: a point that kills its worker and one past
    the time limit come back as PointResults saying so; the others run."""
    import functools

    from compiler.autotune.measure import make_runner
    from compiler.dse.point import PointResult
    from compiler.dse.space import Point
    from tests.compiler.autotune._hooks import point_job

    pts = [Point(n, (), TINY) for n in ("a", "boom", "b", "slow")]
    job = functools.partial(point_job, crash=("boom",), hang=("slow",))
    with make_runner(2, timeout=10.0, measure=job, result=PointResult) as runner:
        got = runner.run(None, pts)
    assert [r.point.name for r in got] == ["a", "boom", "b", "slow"]
    assert all(isinstance(r, PointResult) for r in got)
    assert [r.status for r in got] == ["ok", "error", "ok", "timeout"]
    assert "worker process died" in got[1].error and "cut off" in got[3].error
