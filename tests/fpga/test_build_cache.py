"""The cache of full builds (``vta_hw.fpga.build_cache``): what its key covers, a second
build of a key is a copy, concurrent builds of a key build once, and a killed or damaged
entry is never read.  The tools are replaced by a fake build (a few files and a report from
the real fit) so these run in a second; ``test_flow.py`` and notebook 04 make the real
build, and the second of them reads the first's entry."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from vta_hw.config import TINY
from vta_hw.files import atomic_dir
from vta_hw.fpga import build_cache, flow, synth_cache
from vta_hw.fpga import report as R
from vta_hw.fpga.flow import FlowError, FlowOptions, FlowResult, StageResult

OPTS = FlowOptions(dram_bytes=16384, progress=False)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A private cache directory and fixed tool versions (no tool is run)."""
    monkeypatch.setenv("VTA_CACHE_DIR", str(tmp_path / "cache"))
    versions = {"yosys": "Yosys 0.70 (test)", "nextpnr-ecp5": "nextpnr-0.11 (test)",
                "ecppack": "ecppack 1.4 (test)"}
    monkeypatch.setattr(synth_cache, "tool_version", versions.__getitem__)
    return tmp_path / "cache"


@pytest.fixture
def builds(tmp_path, monkeypatch) -> Path:
    """``run_flow`` replaced by a fake build that writes a bitstream, logs and a report
    (from the real fit) and records each run as a file in the returned directory (so runs
    in forked processes are counted too)."""
    runs = tmp_path / "runs"
    runs.mkdir()

    def fake_run_flow(cfg, out_dir, opts, *, through):
        assert through == "ecppack"
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (runs / f"{os.getpid()}-{time.monotonic_ns()}").touch()
        time.sleep(0.5)  # long enough for a concurrent build to find the lock taken
        b, dram, est = flow.fit(cfg, opts)
        (out / "vta_soc.bit").write_bytes(b"\xff\xff\xbd\xb3" + os.urandom(4096))
        (out / "vta_soc.json").write_text("{}")  # the netlist: not kept in the cache
        for log in ("yosys.log", "nextpnr.log", "ecppack.log"):
            (out / log).write_text(f"{log} of seed {opts.seeds[0]}\n")
        rep = flow._base_report(
            "bitstream", cfg, b, dram,
            {k: R.ResourceUse(est.used[k], est.capacity[k]) for k in est.used},
            (R.ClockTiming("clk", 70.0, cfg.target_clock_mhz),),
            {"yosys": 1.0, "nextpnr": 2.0, "ecppack": 0.5}, {"seed": opts.seeds[0]})
        (out / "report.json").write_text(rep.to_json())
        return FlowResult(rep, out, out / "vta_soc.bit", ())

    monkeypatch.setattr(flow, "run_flow", fake_run_flow)
    return runs


def _key(cfg=TINY, opts=OPTS) -> str:
    b, dram, _ = flow.fit(cfg, opts)
    return build_cache.key(cfg, flow._synth_options(b, dram, opts), flow._place_options(b, opts))


def test_the_key_covers_seed_clock_rtl_tools_and_options(cache, monkeypatch):
    k = _key()
    assert _key() == k and _key(TINY.replace(name="renamed")) == k  # the name is a label
    assert _key(opts=replace(OPTS, seeds=(2,))) != k
    assert _key(opts=replace(OPTS, seeds=(1, 2), jobs=2)) != _key(opts=replace(
        OPTS, seeds=(1, 2)))  # which seed of a sweep wins can depend on the parallel jobs
    assert _key(opts=replace(OPTS, jobs=4)) == k  # ... not with one seed
    assert _key(TINY.replace(target_clock_mhz=50)) != k
    assert _key(opts=replace(OPTS, timing_allow_fail=False)) != k
    assert _key(opts=replace(OPTS, dsp="lut")) != k
    assert _key(opts=replace(OPTS, dram_bytes=8192)) != k
    assert _key(opts=replace(OPTS, board="ulx3s-45f")) != k
    import vta_hw.verilog

    monkeypatch.setattr(vta_hw.verilog, "rtl_version", lambda: "an-edited-rtl")
    assert _key() != k
    monkeypatch.undo()
    monkeypatch.setenv("VTA_CACHE_DIR", str(cache))
    monkeypatch.setattr(synth_cache, "tool_version", lambda name: f"{name} 9.9 (newer)")
    assert _key() != k


def test_a_second_build_of_a_key_is_a_copy_of_the_first(cache, builds, tmp_path):
    first = flow.bitstream(TINY, tmp_path / "a", OPTS)
    assert len(list(builds.iterdir())) == 1 and "cache" not in first.report.details
    second = flow.bitstream(TINY.replace(name="again"), tmp_path / "b", OPTS)
    assert len(list(builds.iterdir())) == 1  # no second build
    assert second.report.details["cache"] == {"hit": True,
                                              "entry": str(build_cache.entry(_key()))}
    assert second.bitstream.read_bytes() == first.bitstream.read_bytes()
    assert second.report.config_name == "again"
    assert second.report.stage_seconds == first.report.stage_seconds  # the build's own
    saved = json.loads((tmp_path / "b" / "report.json").read_text())
    assert saved["details"]["cache"]["hit"] and saved["fmax_mhz"] == 70.0
    for log in ("yosys.log", "nextpnr.log", "ecppack.log"):
        assert (tmp_path / "b" / log).read_text() == (tmp_path / "a" / log).read_text()
    assert not (tmp_path / "b" / "vta_soc.json").exists()  # intermediates are not kept
    # another seed is another build; --no-cache always builds
    flow.bitstream(TINY, tmp_path / "c", replace(OPTS, seeds=(2,)))
    flow.bitstream(TINY, tmp_path / "d", OPTS, cache=False)
    assert len(list(builds.iterdir())) == 3


def test_vta_hw_bitstream_says_it_read_the_cache(cache, builds, tmp_path, capsys):
    from vta.cli import main

    argv = ["hw", "bitstream", "--preset", "tiny", "--dram-kib", "16", "--no-progress"]
    assert main([*argv, "-o", str(tmp_path / "a")]) == 0
    assert "cached:" not in capsys.readouterr().out
    assert main([*argv, "-o", str(tmp_path / "b")]) == 0
    assert "cached: the tools were not run" in capsys.readouterr().out
    assert main([*argv, "-o", str(tmp_path / "c"), "--no-cache"]) == 0
    assert "cached:" not in capsys.readouterr().out
    assert len(list(builds.iterdir())) == 2


def _build_in_child(out: str) -> None:
    res = flow.bitstream(TINY, out, OPTS)
    Path(out, "hit").write_text(str(bool(res.report.details.get("cache"))))


def test_two_processes_building_one_key_build_it_once(cache, builds, tmp_path):
    ctx = multiprocessing.get_context("fork")  # the children keep the fake build
    procs = [ctx.Process(target=_build_in_child, args=(str(tmp_path / f"out{i}"),))
             for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(list(builds.iterdir())) == 1
    hits = sorted((tmp_path / f"out{i}" / "hit").read_text() for i in range(2))
    assert hits == ["False", "True"]
    assert (tmp_path / "out0" / "vta_soc.bit").read_bytes() == \
        (tmp_path / "out1" / "vta_soc.bit").read_bytes()


def _killed_while_storing(entry: str) -> None:
    with atomic_dir(entry) as tmp:
        (tmp / "vta_soc.bit").write_bytes(b"half a bitstr")
        os._exit(1)  # killed: no cleanup runs


def test_a_killed_or_damaged_entry_is_never_read(cache, builds, tmp_path):
    k = _key()
    p = multiprocessing.get_context("fork").Process(target=_killed_while_storing,
                                                     args=(str(build_cache.entry(k)),))
    p.start()
    p.join(60)
    assert p.exitcode == 1 and build_cache.load(k) is None
    assert any(d.name.startswith(f".{k}.") for d in cache.joinpath("bitstream").iterdir())
    flow.bitstream(TINY, tmp_path / "a", OPTS)  # a miss: builds and stores the entry
    assert len(list(builds.iterdir())) == 1 and build_cache.load(k) is not None
    bit = build_cache.entry(k) / "vta_soc.bit"
    good = bit.read_bytes()
    for damage in (good[:100], good[:-1] + bytes([good[-1] ^ 1])):  # truncated, a bit flipped
        bit.write_bytes(damage)
        assert build_cache.load(k) is None
    res = flow.bitstream(TINY, tmp_path / "b", OPTS)  # rebuilt, the entry replaced
    assert len(list(builds.iterdir())) == 2 and "cache" not in res.report.details
    assert build_cache.load(k) is not None
    (build_cache.entry(k) / "manifest.json").unlink()
    assert build_cache.load(k) is None


def test_a_failed_build_stores_nothing_and_releases_the_lock(cache, tmp_path, monkeypatch):
    def failing(cfg, out_dir, opts, *, through):
        raise FlowError("nextpnr", "placement failed")

    monkeypatch.setattr(flow, "run_flow", failing)
    for _ in range(2):  # the second call is not blocked by the first's lock
        with pytest.raises(FlowError, match="placement failed"):
            flow.bitstream(TINY, tmp_path / "a", OPTS)
    assert build_cache.load(_key()) is None
    assert not build_cache.entry(_key()).exists()


def test_stage_results_of_a_hit(cache, builds, tmp_path):
    flow.bitstream(TINY, tmp_path / "a", OPTS)
    res = flow.bitstream(TINY, tmp_path / "b", OPTS)
    assert res.stages == (StageResult("cache", 0.0, None),) and res.out_dir == tmp_path / "b"
