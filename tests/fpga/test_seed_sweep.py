"""nextpnr seed sweeps (``place_and_route``) against a scripted stand-in for nextpnr.

The stand-in takes nextpnr's arguments, sleeps, writes the files nextpnr writes and a
post-route ``Max frequency`` line whose value the test chose per seed, and exits as nextpnr
does (1 when timing fails without ``--timing-allow-fail``, 1 with an ``ERROR:`` line for a
seed told to fail).  A real sweep runs in the bitstream test only through its single-seed
path; these check the choice, the early stop, parallel runs, failures and the CLI parsing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import pytest

from vta_hw.fpga import flow
from vta_hw.fpga.boards import board
from vta_hw.fpga.cli import parse_seeds, seed_sweep_lines
from vta_hw.fpga.flow import FlowError, FlowOptions, _Progress, check_seeds, place_and_route

FAKE = r'''
import json, sys, time
a = sys.argv[1:]
arg = lambda k: a[a.index(k) + 1]
seed = int(arg("--seed"))
plan = json.load(open("plan.json"))[str(seed)]
open("started-%d" % seed, "w").close()
time.sleep(plan.get("sleep", 0.2))
log = open(arg("--log"), "w")
log.write("Info: Program started\n")
if plan.get("error"):
    log.write("ERROR: Unable to place cell 'x' for seed %d\n" % seed)
    sys.exit(1)
if plan.get("no_fmax"):  # an unconstrained clock: nextpnr reports no Fmax
    log.close()
    open(arg("--textcfg"), "w").write("config of seed %d\n" % seed)
    sys.exit(0)
f, target = plan["fmax"], 60.0
ok = f >= target
log.write("%s: Max frequency for clock '$glbnet$pll.clk': %.2f MHz (%s at %.2f MHz)\n"
          % ("Info" if ok else "Warning", f, "PASS" if ok else "FAIL", target))
log.close()
open(arg("--textcfg"), "w").write("config of seed %d\n" % seed)
json.dump({"fmax": {"pll.clk": {"achieved": f, "constraint": target}}},
          open(arg("--report"), "w"))
sys.exit(0 if ok or "--timing-allow-fail" in a else 1)
'''


@pytest.fixture
def fake_nextpnr(tmp_path, monkeypatch):
    script = tmp_path / "fake_nextpnr.py"
    script.write_text(FAKE)
    real = flow.tool
    monkeypatch.setattr(flow, "tool", lambda name: [sys.executable, str(script)]
                        if name == "nextpnr-ecp5" else real(name))

    def sweep(plan: dict[int, dict], seeds, jobs=1, allow_fail=True):
        out = tmp_path / "build"
        out.mkdir(exist_ok=True)
        (out / "plan.json").write_text(json.dumps({str(k): v for k, v in plan.items()}))
        opts = FlowOptions(seeds=tuple(seeds), jobs=jobs, timing_allow_fail=allow_fail,
                           progress=False)
        secs, runs = place_and_route(out, board("ulx3s-85f").device, opts,
                                     _Progress([], False))
        return out, secs, runs

    return sweep


def test_a_single_seed_writes_the_top_level_files(fake_nextpnr):
    out, _, runs = fake_nextpnr({1: {"fmax": 55.0}}, [1])
    (r,) = runs
    assert r.seed == 1 and r.kept and not r.met and r.clocks[0].fmax_mhz == 55.0
    assert (out / "vta_soc.config").read_text() == "config of seed 1\n"
    assert not (out / "seed-1").exists()


def test_without_a_seed_that_meets_timing_the_fastest_is_kept(fake_nextpnr):
    out, _, runs = fake_nextpnr({1: {"fmax": 52.0}, 2: {"fmax": 57.5}, 3: {"fmax": 49.0}},
                                [1, 2, 3])
    assert [r.seed for r in runs] == [1, 2, 3]
    assert [r.kept for r in runs] == [False, True, False]
    # the kept run's files are the ones the flow continues with (ecppack, the report)
    assert (out / "vta_soc.config").read_text() == "config of seed 2\n"
    assert "57.50 MHz" in (out / "nextpnr.log").read_text()
    assert json.loads((out / "nextpnr_report.json").read_text())["fmax"]["pll.clk"][
        "achieved"] == 57.5
    for s in (1, 2, 3):
        assert (out / f"seed-{s}" / "nextpnr.log").exists()


def test_the_sweep_stops_at_the_first_seed_that_meets_timing(fake_nextpnr):
    out, _, runs = fake_nextpnr({1: {"fmax": 50.0}, 2: {"fmax": 61.0}, 3: {"fmax": 90.0}},
                                [1, 2, 3])
    assert [(r.seed, r.kept) for r in runs] == [(1, False), (2, True)]
    assert not (out / "started-3").exists()  # never run: seed 2 was good enough
    assert (out / "vta_soc.config").read_text() == "config of seed 2\n"


def test_parallel_seeds_run_side_by_side_and_a_winner_stops_the_rest(fake_nextpnr):
    plan = {1: {"fmax": 70.0, "sleep": 0.2}, 2: {"fmax": 40.0, "sleep": 30},
            3: {"fmax": 80.0, "sleep": 0.2}}
    t0 = time.perf_counter()
    out, _, runs = fake_nextpnr(plan, [1, 2, 3], jobs=2)
    assert time.perf_counter() - t0 < 20  # seed 2 was killed, not waited for
    by_seed = {r.seed: r for r in runs}
    assert by_seed[1].kept and by_seed[1].met
    assert by_seed[2].stopped and not by_seed[2].clocks
    assert 3 not in by_seed  # not started once seed 1 met timing
    lines = seed_sweep_lines({"seed_sweep": [r.to_dict() for r in runs]})
    assert "seed   1: Fmax 70.00 MHz, timing met" in lines and "<- kept" in lines
    assert "seed   2: stopped (another seed met timing)" in lines


def test_a_failing_seed_does_not_end_the_sweep(fake_nextpnr):
    out, _, runs = fake_nextpnr({1: {"error": True}, 2: {"fmax": 45.0}}, [1, 2])
    assert runs[0].error and "Unable to place cell" in runs[0].error and not runs[0].kept
    assert runs[1].kept
    lines = seed_sweep_lines({"seed_sweep": [r.to_dict() for r in runs]})
    assert "seed   1: failed: Unable to place cell" in lines


def test_every_seed_failing_reports_each_reason(fake_nextpnr):
    with pytest.raises(FlowError, match=r"every seed failed:\nseed 1: .*seed 1.*\nseed 2: "):
        fake_nextpnr({1: {"error": True}, 2: {"error": True}}, [1, 2])


def test_a_run_without_an_fmax_line_is_an_error_not_a_crash(fake_nextpnr):
    with pytest.raises(FlowError, match="no 'Max frequency' line"):
        fake_nextpnr({1: {"no_fmax": True}}, [1])
    _, _, runs = fake_nextpnr({1: {"no_fmax": True}, 2: {"fmax": 45.0}}, [1, 2])
    assert "no 'Max frequency' line" in runs[0].error and runs[1].kept
    with pytest.raises(FlowError, match=r"every seed failed:\nseed 1: no 'Max frequency'"):
        fake_nextpnr({1: {"no_fmax": True}, 2: {"no_fmax": True}}, [1, 2])


def test_with_timing_required_a_seed_that_misses_it_counts_as_failed(fake_nextpnr):
    out, _, runs = fake_nextpnr({1: {"fmax": 50.0}, 2: {"fmax": 65.0}}, [1, 2],
                                allow_fail=False)
    assert runs[0].error and "50.00 MHz < 60.00 MHz" in runs[0].error
    assert runs[1].kept and runs[1].met
    with pytest.raises(FlowError, match="timing"):
        fake_nextpnr({1: {"fmax": 50.0}}, [1], allow_fail=False)


def test_seed_arguments_are_checked():
    assert parse_seeds("3") == (3,)
    assert parse_seeds("1-3,7") == (1, 2, 3, 7)
    for bad in ("", "x", "3-1", "1,1", "-2", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_seeds(bad)
    for seeds, jobs, what in (((), 1, "no nextpnr seed"), ((1, 1), 1, "repeat"),
                              ((-1,), 1, "non-negative"), ((1,), 0, "jobs")):
        with pytest.raises(FlowError, match=what):
            check_seeds(seeds, jobs)
