"""The tuning log: JSON lines appended per record, read back exactly, resumable after a
torn last line (warned and cut off), a malformed line elsewhere named by file and line;
the best record per workload; the schedule provider compile_op takes, which falls back to
the heuristic (with a warning) for a schedule the op cannot use."""

from __future__ import annotations

import json
import warnings

import pytest

from compiler import Conv2d, Dense, Epilogue, Requant, compile_op, default_schedule
from compiler.api import ScheduleFallbackWarning
from compiler.autotune.log import (
    TornLineWarning,
    TuningLog,
    TuningLogError,
    TuningRecord,
    log_provider,
)
from compiler.autotune.measure import MeasureResult
from compiler.autotune.workload import Workload
from compiler.layout import LayoutOptions
from compiler.schedule.space import AluSchedule
from vta_hw.config import DEFAULT, TINY

EP = Epilogue(requant=Requant(shift=8), relu=True)
CONV = Conv2d(1, 16, 8, 8, 16, 3, 3, (1, 1), (1, 1), EP, name="conv")
WL = Workload.of(CONV, TINY)
DEFAULT_S = default_schedule(WL.op, TINY, WL.options)


def _legal_others(n: int):
    return [s for s in WL.space.neighbours(DEFAULT_S) if WL.space.is_legal(s)][:n]


def _fill(log: TuningLog) -> list:
    a, b = _legal_others(2)
    rs = [MeasureResult(DEFAULT_S, 900, seconds=0.1), MeasureResult(a, 800, seconds=0.2),
          MeasureResult(b, None, "error", "ScheduleError: too big", 0.01),
          MeasureResult(a, 850, seconds=0.2)]
    for r in rs:
        log.append(WL, r)
    return rs


def test_round_trip_best_and_measured(tmp_path):
    log = TuningLog(tmp_path / "t.jsonl")
    assert log.records() == [] and log.best(WL.key) is None
    rs = _fill(log)
    lines = (tmp_path / "t.jsonl").read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(x)["key"] == WL.key for x in lines)
    d = json.loads(lines[0])
    assert set(d) == {"key", "workload", "schedule", "cycles", "status", "error", "seconds",
                      "timestamp"}
    assert Workload.from_json(d["workload"]).key == WL.key
    recs = log.records(WL.key)
    assert [r.result() for r in recs] == rs
    assert log.records("conv2d-nope@x") == []
    assert log.best(WL.key).schedule == rs[1].schedule and log.best(WL.key).cycles == 800
    m = log.measured(WL.key)
    assert m[rs[1].schedule].cycles == 800  # the better of two measurements
    assert m[rs[2].schedule].status == "error"
    assert len(m) == 3


def test_torn_last_line_is_skipped_then_cut_off(tmp_path):
    path = tmp_path / "t.jsonl"
    log = TuningLog(path)
    rs = _fill(log)
    whole = path.read_text()
    path.write_text(whole + whole.splitlines()[0][:37])  # interrupted mid-write
    with pytest.warns(TornLineWarning, match=r"t\.jsonl:5: ignoring a torn last line"):
        assert [r.result() for r in log.records()] == rs
    with pytest.warns(TornLineWarning, match="dropping a torn last line"):
        log.append(WL, rs[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [r.result() for r in log.records()] == [*rs, rs[0]]
    # a complete record written without its newline is kept
    path.write_text(path.read_text().rstrip("\n"))
    log.append(WL, rs[1])
    assert len(log.records()) == 6


@pytest.mark.parametrize("bad, why", [
    ("{not json", "not a tuning record"),
    ('{"key": "k"}', "missing field"),
    ("[1, 2]", "expected a JSON object"),
])
def test_malformed_line_names_file_and_line(tmp_path, bad, why):
    path = tmp_path / "t.jsonl"
    log = TuningLog(path)
    _fill(log)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], bad, *lines[1:]]) + "\n")
    with pytest.raises(TuningLogError, match=rf"t\.jsonl, line 2: not a tuning record.*{why}"
                       if why != "not a tuning record" else r"t\.jsonl, line 2"):
        log.records()


def test_bad_field_values_are_named(tmp_path):
    rec = TuningRecord.of(WL, MeasureResult(DEFAULT_S, 900)).to_json()
    for field, value, why in [("status", "great", "status 'great'"),
                              ("cycles", -1, "whole cycles"),
                              ("schedule", {"type": "gemm", "tile_q": 1}, "unknown field")]:
        (tmp_path / "t.jsonl").write_text(json.dumps({**rec, field: value}) + "\n")
        with pytest.raises(TuningLogError, match=why):
            TuningLog(tmp_path / "t.jsonl").records()


def test_provider_serves_the_best_record_to_compile_op(tmp_path):
    log = TuningLog(tmp_path / "t.jsonl")
    (other,) = _legal_others(1)
    log.append(WL, MeasureResult(DEFAULT_S, 900))
    log.append(WL, MeasureResult(other, 800))
    provider = log_provider(tmp_path / "t.jsonl")
    # the same layer under another name, with options in another form: the same workload
    renamed = Conv2d(1, 16, 8, 8, 16, 3, 3, (1, 1), (1, 1), EP, name="layer7")
    c = compile_op(renamed, TINY, options=LayoutOptions(input_halo=(1, 1)),
                   schedules=provider)
    assert c.schedule == other
    assert compile_op(renamed, TINY).schedule == DEFAULT_S  # no provider: the heuristic
    # another config, another op: not in the log, the heuristic
    assert compile_op(CONV, DEFAULT, schedules=provider).schedule == default_schedule(
        CONV, DEFAULT)
    fc = Dense(1, 16, 16, EP, name="fc")
    assert compile_op(fc, TINY, schedules=provider).schedule == default_schedule(fc, TINY)
    # an explicit schedule wins over the provider
    assert compile_op(CONV, TINY, DEFAULT_S, schedules=provider).schedule == DEFAULT_S


def test_illegal_provided_schedule_falls_back_with_a_warning():
    too_big = DEFAULT_S.replace(tile_co=64, tile_h=8, tile_w=8, virtual_threads=8)
    for bad in (too_big, AluSchedule(1, 1)):
        with pytest.warns(ScheduleFallbackWarning, match="conv: the provided schedule"):
            c = compile_op(CONV, TINY, schedules=lambda op, cfg, opts, s=bad: s)
        assert c.schedule == DEFAULT_S


def test_provider_needs_an_existing_readable_log(tmp_path):
    with pytest.raises(TuningLogError, match="no such file"):
        log_provider(tmp_path / "missing.jsonl")
    (tmp_path / "bad.jsonl").write_text("oops\n{}\n")
    with pytest.raises(TuningLogError, match=r"bad\.jsonl, line 1"):
        log_provider(tmp_path / "bad.jsonl")
