import json

import numpy as np

from tests.programs.corpus import CORPUS
from vta_hw.config import TINY
from vta_sim import simulate
from vta_sim.plots import RooflinePoint, roofline, timeline
from vta_sim.trace import trace_events


def test_vta_sim_writes_stats_trace_and_timeline(tmp_path, capsys):
    from vta.cli import main

    b = CORPUS["matmul_vt2"](TINY)
    path = b.save(tmp_path / "m.vtab")
    args = ["sim", str(path), "--stats", str(tmp_path / "s.json"), "--trace",
            str(tmp_path / "t.json"), "--timeline", str(tmp_path / "t.png"), "--roofline",
            str(tmp_path / "r.png"), "--dram-out",
            str(tmp_path / "d.bin")]
    assert main(args) == 0
    out = capsys.readouterr().out
    cycles = simulate(b).cycles
    assert out.splitlines()[0] == f"cycles: {cycles}"
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["cycles"] == cycles
    assert set(stats["modules"]) == {"fetch", "load", "compute", "store"}
    for m in stats["modules"].values():
        assert m["busy"] + m["stalled"] + m["idle"] >= cycles or m["name"] == "fetch"
    assert 0 < stats["utilization"] <= 1
    trace = json.loads((tmp_path / "t.json").read_text())
    assert any(e.get("name") == "GEMM" for e in trace["traceEvents"])
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "d.bin").read_bytes() == simulate(b).dram


def test_stats_account_for_every_cycle():
    r = simulate(CORPUS["matmul_vt2"](TINY))
    for name in ("load", "compute", "store"):
        m = r.stats.modules[name]
        assert m.busy + m.stalled + m.idle == r.cycles, name
        assert m.dram_latency + m.transfer + m.pad + m.compute + 2 * m.instructions == m.busy
    assert r.stats.macs == 4 * TINY.batch * 4 * TINY.block_out * 4 * TINY.block_in


def test_trace_has_one_slice_per_instruction():
    b = CORPUS["token_stall"](TINY)
    r = simulate(b)
    ev = trace_events(r)
    slices = [e for e in ev if e["ph"] == "X" and e.get("cat") != "stall" and e["name"] != "fetch"]
    assert len(slices) == b.insn_count
    assert any(e.get("cat") == "stall" and "load->compute" in e["name"] for e in ev)


def test_plots(tmp_path):
    r = simulate(CORPUS["matmul_vt1"](TINY))
    assert timeline(r, tmp_path / "a.png").stat().st_size > 1000
    p = roofline([RooflinePoint("mm", r.stats)], TINY, tmp_path / "r.png")
    assert p.stat().st_size > 1000


def test_workload_results_equal_numpy():
    from vta_hw.config import DEFAULT, WIDE
    from vta_sim.workloads import blocked_conv2d, blocked_matmul

    for cfg in (TINY, WIDE, DEFAULT):
        for w in (blocked_matmul(cfg, 3 * cfg.batch, 5 * cfg.block_out, 3 * cfg.block_in),
                  blocked_conv2d(cfg, 9, 11, 2 * cfg.block_in, 3 * cfg.block_out, stride=2),
                  blocked_conv2d(cfg, 6, 8, cfg.block_in, cfg.block_out, kernel=1, pad=0)):
            r = simulate(w.bundle)
            got = np.frombuffer(r.read(w.bundle, w.output), np.int8).reshape(w.expected.shape)
            np.testing.assert_array_equal(got, w.expected)
            assert r.stats.macs == w.macs
