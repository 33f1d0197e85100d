"""The bitstream flow: a real tiny bitstream (a minute or two; the small instance of the flow
that runs in CI), tool failures and timeouts."""

from __future__ import annotations

import argparse
import json
import sys

import pytest

from vta_hw.config import TINY
from vta_hw.fpga.flow import FlowError, _nextpnr_reason, _Progress, run_tool, tool
from vta_hw.fpga.report import parse_yosys_stat, resources_from_yosys
from vta_hw.fpga.resources import DEVICES, FitError, estimate_resources


def _hw_parser() -> argparse.ArgumentParser:
    from vta.commands.hw import register_flow

    p = argparse.ArgumentParser(prog="vta hw")
    register_flow(p.add_subparsers(dest="hw_command"))
    return p


def test_tiny_bitstream_via_the_cli(tmp_path, monkeypatch, capsys, run_cache_dir):
    """``vta hw bitstream --preset tiny``: .bit + report.json, numbers from the tools.

    The build is cached in this test run's cache, which notebook 04 (the same build) also
    uses: whichever runs second reads the entry."""
    monkeypatch.setenv("VTA_CACHE_DIR", str(run_cache_dir))
    out = tmp_path / "tiny"
    args = _hw_parser().parse_args(["bitstream", "--preset", "tiny", "--board", "ulx3s-85f",
                                    "--dram-kib", "16", "-o", str(out), "--no-progress"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    bit = out / "vta_soc.bit"
    data = bit.read_bytes()
    assert len(data) > 100_000 and b"\xff\xff\xbd\xb3" in data[:4096]  # ECP5 preamble
    rep = json.loads((out / "report.json").read_text())
    for key in ("lut4", "ff", "dp16kd", "mult18"):
        assert rep[key]["used"] > 0 and rep[key]["available"] > rep[key]["used"]
    assert rep["dp16kd"]["available"] == 208 and rep["mult18"]["available"] == 156
    assert rep["config_hash"] == TINY.config_hash() and rep["kind"] == "bitstream"
    assert isinstance(rep["timing_met"], bool) and rep["fmax_mhz"] > 10
    assert set(rep["stage_seconds"]) == {"fit", "elaborate", "yosys", "nextpnr", "ecppack"}
    # the log-parsed numbers agree with nextpnr's own machine-readable report
    own = json.loads((out / "nextpnr_report.json").read_text())
    for key, cell in (("lut4", "TRELLIS_COMB"), ("ff", "TRELLIS_FF"), ("dp16kd", "DP16KD"),
                      ("mult18", "MULT18X18D")):
        assert rep[key] == {"used": own["utilization"][cell]["used"],
                            "available": own["utilization"][cell]["available"]}
    (clock, fmax), = own["fmax"].items()
    assert rep["fmax_mhz"] == pytest.approx(fmax["achieved"], abs=0.01)
    assert rep["timing_met"] == (fmax["achieved"] >= fmax["constraint"])
    # the early estimate was right about block RAM and DSPs
    est = json.loads((out / "estimate.json").read_text())["used"]
    assert est["dp16kd"] == rep["dp16kd"]["used"] and est["mult18"] == rep["mult18"]["used"]
    assert "bitstream:" in printed and "openFPGALoader" in printed
    for log in ("yosys.log", "nextpnr.log", "ecppack.log"):
        assert (out / log).stat().st_size > 0
    # what `vta hw synth` would report from the same Yosys run is close to the real thing
    synth = resources_from_yosys(parse_yosys_stat((out / "yosys.log").read_text()),
                                 DEVICES["LFE5U-85F"])
    assert synth["dp16kd"].used == rep["dp16kd"]["used"]
    assert synth["mult18"].used == rep["mult18"]["used"]
    assert synth["ff"].used == pytest.approx(rep["ff"]["used"], rel=0.1)
    assert synth["lut4"].used == pytest.approx(rep["lut4"]["used"], rel=0.15)
    # and the fast estimate (issue 23) is close to that Yosys run, a DRAM size the
    # calibration table does not hold
    fast = estimate_resources(TINY, "LFE5U-85F", dram_bytes=16384)
    assert fast.used["dp16kd"] == synth["dp16kd"].used
    assert fast.used["mult18"] == synth["mult18"].used
    assert fast.used["lut4"] == pytest.approx(synth["lut4"].used, rel=0.1)
    assert fast.used["ff"] == pytest.approx(synth["ff"].used, rel=0.1)
    # built again: read from the cache, the same bytes, and said so
    again = tmp_path / "again"
    args = _hw_parser().parse_args(["bitstream", "--preset", "tiny", "--board", "ulx3s-85f",
                                    "--dram-kib", "16", "-o", str(again), "--no-progress"])
    assert args.func(args) == 0
    assert "cached: the tools were not run" in capsys.readouterr().out
    assert (again / "vta_soc.bit").read_bytes() == data
    assert json.loads((again / "report.json").read_text())["details"]["cache"]["hit"]


def test_synth_cli_reports_yosys_cells(tmp_path, monkeypatch, capsys):
    """``vta hw synth``'s plumbing, with Yosys replaced by its captured output."""
    from tests.fpga.test_report import YOSYS_LOG
    from vta_hw.fpga import flow

    def fake_yosys(stage, cmd, cwd, log, timeout, progress, **kw):
        assert stage == "yosys" and (cwd / "synth.ys").exists() and "-l" in cmd
        log.write_text(YOSYS_LOG)
        return 12.5

    monkeypatch.setattr(flow, "run_tool", fake_yosys)
    monkeypatch.setenv("VTA_CACHE_DIR", str(tmp_path / "cache"))  # never the user's cache
    args = _hw_parser().parse_args(["synth", "--preset", "tiny", "-o", str(tmp_path / "out"),
                                    "--no-progress", "--no-cache"])
    assert args.func(args) == 0
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    assert rep["kind"] == "synth" and rep["fmax_mhz"] is None and rep["timing_met"] is None
    assert rep["lut4"] == {"used": 8035 + 2 * 1078 + 4 * 87, "available": 83640}
    assert rep["dp16kd"]["used"] == 108 and rep["stage_seconds"]["yosys"] == 12.5
    assert "Yosys estimate" in capsys.readouterr().out


def test_a_config_that_cannot_fit_fails_before_any_tool(tmp_path):
    args = _hw_parser().parse_args(["bitstream", "--preset", "default", "-o", str(tmp_path),
                                    "--no-progress"])
    with pytest.raises(FitError, match="DP16KD block RAM: needs"):
        args.func(args)
    assert not (tmp_path / "yosys.log").exists()


@pytest.mark.parametrize("action", ["synth", "bitstream"])
def test_a_refused_config_leaves_no_output_directory(tmp_path, monkeypatch, capsys, action):
    """``vta hw synth --preset default -o X`` is refused by the fit check: no empty ``X/``."""
    from vta.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["hw", action, "--preset", "default", "-o", "X/build", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "DP16KD" in err
    assert list(tmp_path.iterdir()) == []


def test_nextpnr_failure_is_reported_with_its_reason(tmp_path):
    (tmp_path / "bad.json").write_text('{"creator": "x", "modules": {}}')
    log = tmp_path / "nextpnr.log"
    cmd = tool("nextpnr-ecp5") + ["--25k", "--json", "bad.json", "--log", log.name, "--quiet"]
    with pytest.raises(FlowError, match="nextpnr failed: .*top module") as e:
        run_tool("nextpnr", cmd, tmp_path, log, 300, _Progress([], False),
                 reason=_nextpnr_reason)
    assert e.value.stage == "nextpnr" and e.value.log == log


def test_a_tool_that_hangs_is_killed_at_its_timeout(tmp_path):
    log = tmp_path / "x.log"
    with pytest.raises(FlowError, match="timed out after 1 s"):
        run_tool("yosys", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path,
                 log, 1, _Progress([], False))


def test_timing_failure_reason_names_the_clock():
    log = "Warning: Max frequency for clock '$glbnet$pll.clk': 38.67 MHz (FAIL at 100.00 MHz)\n"
    assert "pll.clk 38.67 MHz < 100.00 MHz" in _nextpnr_reason(log)


def test_progress_phases_from_tool_logs():
    from vta_hw.fpga.flow import _phase_of

    assert _phase_of("2.46.16. Executing AIGMAP pass (map logic to AIG).") == \
        "AIGMAP pass (map logic to AIG)"
    assert _phase_of("Info:     673000 |   168981     498227 |  310   650 |     35093|"
                     "       1.78    1221.68|") == "routing: 35,093 arcs left (iteration 673,000)"
    assert _phase_of("Info: HeAP Placer Time: 292.93s") is None
