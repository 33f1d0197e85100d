"""The tuning log: one JSON object per measurement, appended as results arrive.

A line is a :class:`TuningRecord`: the workload key (``Workload.key``: the operator
without its name and epilogue immediates, plus the config hash), the workload itself (so
a log can be re-tuned or studied without the model), the schedule, cycles, status, error,
seconds and a timestamp.  Each record is written with one ``write`` and flushed, so an
interrupted run loses at most the line being written and resumes from the rest: a torn
last line is skipped with a warning (and cut off before the next append); a malformed
line anywhere else is an error naming the file and line.

:func:`log_provider` turns a log into the schedule provider ``compile_op`` takes: the
best record of the op's workload, or None (the heuristic) for a workload never tuned.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from compiler.api import ScheduleProvider
from compiler.autotune.measure import STATUSES, MeasureResult
from compiler.autotune.workload import Workload, schedule_from_json, schedule_to_json
from compiler.errors import CompilerError, ScheduleError
from compiler.layout import LayoutOptions
from compiler.schedule.space import Schedule
from vta_hw.config import HwConfig


class TuningLogError(CompilerError, ValueError):
    """A tuning log that cannot be read: names the file, the line and what is wrong."""


class TornLineWarning(UserWarning):
    """The last line of a tuning log is incomplete (a run was interrupted mid-write)."""


@dataclass(frozen=True)
class TuningRecord:
    """One line of a tuning log.  workload: ``Workload.to_json()``; schedule: the
    schedule measured; cycles: None unless status is ``ok``; timestamp: Unix seconds."""

    key: str
    workload: dict[str, Any]
    schedule: Schedule
    cycles: int | None
    status: str
    error: str
    seconds: float
    timestamp: float

    @classmethod
    def of(cls, workload: Workload, result: MeasureResult,
           timestamp: float | None = None) -> TuningRecord:
        return cls(workload.key, workload.to_json(), result.schedule, result.cycles,
                   result.status, result.error, float(result.seconds),
                   time.time() if timestamp is None else float(timestamp))

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def result(self) -> MeasureResult:
        return MeasureResult(self.schedule, self.cycles, self.status, self.error,
                             self.seconds)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "workload": self.workload,
                "schedule": schedule_to_json(self.schedule), "cycles": self.cycles,
                "status": self.status, "error": self.error, "seconds": self.seconds,
                "timestamp": self.timestamp}

    @classmethod
    def from_json(cls, d: Any) -> TuningRecord:
        """The record :meth:`to_json` wrote; raises ValueError saying which field is bad."""
        if not isinstance(d, dict):
            raise ValueError(f"expected a JSON object, got {type(d).__name__}")
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in d]
        if missing:
            raise ValueError(f"missing field(s) {missing}")
        if not isinstance(d["key"], str) or not d["key"]:
            raise ValueError(f"key {d['key']!r} is not a workload key")
        if not isinstance(d["workload"], dict):
            raise ValueError("workload is not a JSON object")
        if d["status"] not in STATUSES:
            raise ValueError(f"status {d['status']!r} is not one of {list(STATUSES)}")
        cycles = d["cycles"]
        if d["status"] == "ok" and (not isinstance(cycles, int) or isinstance(cycles, bool)
                                    or cycles < 0):
            raise ValueError(f"an ok record needs whole cycles >= 0, got {cycles!r}")
        try:
            schedule = schedule_from_json(d["schedule"])
        except (ScheduleError, TypeError) as e:
            raise ValueError(f"schedule: {e}") from None
        try:
            seconds, stamp = float(d["seconds"]), float(d["timestamp"])
        except (TypeError, ValueError):
            raise ValueError("seconds and timestamp must be numbers") from None
        return cls(d["key"], d["workload"], schedule, cycles if d["status"] == "ok" else None,
                   d["status"], str(d["error"]), seconds, stamp)


class TuningLog:
    """A JSON-lines tuning log at ``path`` (created by the first :meth:`append`)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"TuningLog({str(self.path)!r})"

    def append(self, workload: Workload, result: MeasureResult) -> TuningRecord:
        """Append one measurement and flush it to the file."""
        rec = TuningRecord.of(workload, result)
        line = json.dumps(rec.to_json(), sort_keys=True) + "\n"
        self._repair_tail()
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
        return rec

    def _repair_tail(self) -> None:
        """A file not ending in a newline ends in a torn record: cut it off (with a
        warning) so the next record starts on its own line; a complete last record
        written without its newline just gets one."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size == 0:
            return
        with open(self.path, "rb+") as f:
            f.seek(max(0, size - 65536))
            tail = f.read()
            if tail.endswith(b"\n"):
                return
            cut = tail.rfind(b"\n")
            last = tail[cut + 1:]
            try:
                TuningRecord.from_json(json.loads(last))
            except ValueError:
                warnings.warn(f"{self.path}: dropping a torn last line ({len(last)} bytes, an "
                              "interrupted write) before appending", TornLineWarning,
                              stacklevel=3)
                f.truncate(size - len(last))
                return
            f.seek(0, os.SEEK_END)
            f.write(b"\n")

    def records(self, key: str | None = None) -> list[TuningRecord]:
        """Every record (of workload ``key`` if given), in the order written."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as e:
            raise TuningLogError(f"tuning log {self.path}: cannot read it ({e})") from None
        lines = text.split("\n")
        torn = not text.endswith("\n")
        out = []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rec = TuningRecord.from_json(json.loads(line))
            except ValueError as e:
                if torn and n == len(lines):
                    warnings.warn(f"{self.path}:{n}: ignoring a torn last line (an "
                                  "interrupted write)", TornLineWarning, stacklevel=2)
                    continue
                raise TuningLogError(f"tuning log {self.path}, line {n}: not a tuning "
                                     f"record ({e})") from None
            if key is None or rec.key == key:
                out.append(rec)
        return out

    def measured(self, key: str) -> dict[Schedule, MeasureResult]:
        """What is known of each schedule of workload ``key``: its best ok measurement,
        else its last failure (a tuner resuming skips them all)."""
        out: dict[Schedule, MeasureResult] = {}
        for rec in self.records(key):
            have = out.get(rec.schedule)
            if (have is None or (rec.ok and (not have.ok or rec.cycles < have.cycles))
                    or not (rec.ok or have.ok)):
                out[rec.schedule] = rec.result()
        return out

    def best(self, key: str) -> TuningRecord | None:
        """The ok record of workload ``key`` with the fewest cycles (the first of equals)."""
        return _best(self.records(key)).get(key)

    def best_per_key(self) -> dict[str, TuningRecord]:
        """The best ok record of every workload in the log."""
        return _best(self.records())


def _best(records: list[TuningRecord]) -> dict[str, TuningRecord]:
    best: dict[str, TuningRecord] = {}
    for rec in records:
        if rec.ok and (rec.key not in best or rec.cycles < best[rec.key].cycles):
            best[rec.key] = rec
    return best


def log_provider(log_or_path: TuningLog | str | os.PathLike) -> ScheduleProvider:
    """The schedule provider of a tuning log: for an op, the best record's schedule of its
    workload (``Workload.of(op, cfg, options).key``), None (the heuristic) when the log
    has none or the op has no schedule space.  The log is read once, here: a missing or
    malformed log is a :class:`TuningLogError` now, not in the middle of a compile."""
    log = log_or_path if isinstance(log_or_path, TuningLog) else TuningLog(log_or_path)
    if not log.path.is_file():
        raise TuningLogError(f"tuning log {log.path}: no such file")
    best = log.best_per_key()

    def provide(op: Any, cfg: HwConfig, options: LayoutOptions) -> Schedule | None:
        if not best:
            return None
        try:
            key = Workload.of(op, cfg, options).key
        except ScheduleError:
            return None
        rec = best.get(key)
        return None if rec is None else rec.schedule

    return provide


__all__ = ["ScheduleProvider", "TuningLog", "TuningLogError", "TuningRecord",
           "TornLineWarning", "log_provider"]
