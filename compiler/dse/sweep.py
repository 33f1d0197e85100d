"""A sweep: every point through a runner, cached by config hash, then tables and plots.

The output directory is also the cache: each finished point is written to
``points/<config hash>.json`` (atomically: a temporary file renamed into place) together
with the job's fingerprint (the model's and calibration data's bytes and the options), so
a rerun of the same sweep reads them back and computes nothing, and an interrupted sweep
resumes.  Points cut off by the runner (its time limit, a crashed worker) are not cached:
the next run tries them again.  Points run in batches of the runner's width, so the
cache and the progress callback advance as they finish.

Outputs (all written atomically): ``dse.csv`` and ``dse.json`` (one row per point, with the
reason for every point that did not compile or does not fit) and ``pareto.json`` (the front
of latency against each resource); ``vta dse`` draws the plots from :func:`plot_data` (plots
live above the compiler).  With ``synth`` the Pareto points are synthesized with Yosys
(``vta hw synth``, cached by config hash) and the table gains the measured counts beside the
estimate.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from compiler.dse.pareto import RESOURCES, chosen, fronts
from compiler.dse.point import LayerUse, PointResult, SweepJob, shared_result, timing_key
from compiler.dse.space import Point
from vta_hw.config import HwConfig
from vta_hw.files import write_atomic

CACHE_FORMAT = 1


def fingerprint(job: SweepJob) -> str:
    """What a cached point's result depends on besides its config: the model's and the
    calibration data's bytes and the job's options (not where its tuning logs go)."""
    h = hashlib.sha256()
    for p in (job.model, job.calib):
        h.update(Path(p).read_bytes() if p is not None else b"-")
    opts = dataclasses.asdict(job)
    for k in ("model", "calib", "tuning_dir"):
        opts.pop(k)
    h.update(json.dumps(opts, sort_keys=True, default=list).encode())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------- (de)serialize
def point_dict(p: Point) -> dict[str, Any]:
    return {"name": p.name, "values": dict(p.values), "reason": p.reason,
            "config": None if p.cfg is None else p.cfg.primaries(),
            "config_hash": None if p.cfg is None else p.cfg.config_hash()}


def result_dict(r: PointResult) -> dict[str, Any]:
    d = {f.name: getattr(r, f.name) for f in dataclasses.fields(r) if f.name != "point"}
    d["layers"] = [dataclasses.asdict(x) for x in r.layers]
    d["over"] = list(r.over)
    return {"point": point_dict(r.point), **d}


def result_from_dict(d: dict[str, Any], point: Point) -> PointResult:
    """A cached result, attached to ``point`` (this run's name for the same config)."""
    kw = {k: v for k, v in d.items() if k != "point"}
    kw["layers"] = tuple(LayerUse(**x) for x in kw.get("layers", ()))
    kw["over"] = tuple(kw.get("over", ()))
    return PointResult(point, **kw)


class PointCache:
    """``DIR/points/<key>.json``: finished points of a job (module docstring)."""

    def __init__(self, folder: Path, job_fingerprint: str) -> None:
        self.folder = folder
        self.job = job_fingerprint

    def path(self, p: Point) -> Path:
        return self.folder / f"{p.key}.json"

    def load(self, p: Point) -> PointResult | None:
        try:
            d = json.loads(self.path(p).read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if d.get("format") != CACHE_FORMAT or d.get("job") != self.job:
            return None
        try:
            return result_from_dict(d["result"], p)
        except (KeyError, TypeError):
            return None

    @staticmethod
    def keeps(r: PointResult) -> bool:
        """Whether :meth:`store` keeps ``r``: not a point cut off or crashed (tried again
        next run)."""
        return not (r.status == "timeout" or (r.status == "error" and r.resources is None))

    def store(self, r: PointResult) -> None:
        if not self.keeps(r):
            return
        write_atomic(self.path(r.point), json.dumps(
            {"format": CACHE_FORMAT, "job": self.job, "result": result_dict(r)}, indent=1))


def run_points(job: SweepJob, points: Sequence[Point], runner, cache: PointCache, *,
               batch: int = 1, on_result: Callable[[PointResult, bool], None] | None = None
               ) -> list[PointResult]:
    """Every point's result, in order: from the cache, else through ``runner`` (whose
    ``measure`` is ``evaluate_point``) in batches of ``batch``.  on_result(result, cached)
    is called as each arrives.

    Points with the same :func:`~compiler.dse.point.timing_key` (on a forced partition,
    configs that differ only in their clock) compile to the same programs and cycles:
    the first of each such class runs, the others get its result at their own clock and
    resource estimate (:func:`~compiler.dse.point.shared_result`), as does a point whose
    class has a result in the cache."""
    results: dict[int, PointResult] = {}
    todo = []
    done: dict[str, PointResult] = {}  # timing key -> a finished result of the class

    def key(p: Point) -> str:
        return p.key if p.cfg is None else timing_key(job, p.cfg)

    def finish(i: int, r: PointResult, cached: bool, store: bool = True) -> None:
        if not cached and store:
            cache.store(r)
        results[i] = r
        if on_result is not None:
            on_result(r, cached)

    for i, p in enumerate(points):
        hit = cache.load(p)
        if hit is not None:
            done.setdefault(key(p), hit)
            finish(i, hit, True)
        else:
            todo.append(i)
    classes: dict[str, list[int]] = {}
    for i in todo:
        classes.setdefault(key(points[i]), []).append(i)
    for k, members in list(classes.items()):
        if k in done and done[k].ok:  # the class ran before: derive, compute nothing
            for i in members:
                finish(i, shared_result(done[k], points[i], job.device), False)
            del classes[k]
    firsts = [members[0] for members in classes.values()]
    for s in range(0, len(firsts), max(1, batch)):
        idx = firsts[s:s + max(1, batch)]
        for i, r in zip(idx, runner.run(job, [points[i] for i in idx]), strict=True):
            finish(i, r, False)
            for j in classes[key(points[i])][1:]:  # a retried point's class retries too
                finish(j, shared_result(r, points[j], job.device), False, cache.keeps(r))
    return [results[i] for i in range(len(points))]


# ---------------------------------------------------------------------------- tables
def reason(r: PointResult) -> str:
    """Why a point is not a design choice ('' if it is one)."""
    if not r.ok:
        return r.error
    if r.fits is False:
        return "does not fit: " + ", ".join(
            f"{k} {r.resources[k]['used']} > {r.resources[k]['available']}" for k in r.over)
    return ""


def _gemm(cfg: HwConfig) -> str:
    return f"{cfg.batch}x{cfg.block_in}x{cfg.block_out}"


COLUMNS = ("name", "config_hash", "status", "fits", "latency_ms", "cycles", "utilization",
           "host_ms", "clock_mhz", "gemm", *RESOURCES, *(f"{r}_util" for r in RESOURCES),
           "pareto", *(f"yosys_{r}" for r in RESOURCES), "tuned_workloads", "seconds",
           "shared_with", "reason", "values")


def rows(results: Sequence[PointResult], front: dict[str, list[str]],
         synth: dict[str, dict[str, int]] | None = None) -> list[dict[str, Any]]:
    """One flat row per point (the CSV's columns)."""
    out = []
    for r in results:
        cfg = r.point.cfg
        res = r.resources or {}
        y = (synth or {}).get(r.point.name, {})
        out.append({
            "name": r.point.name, "config_hash": cfg.config_hash() if cfg else "",
            "status": r.status, "fits": "" if r.fits is None else int(r.fits),
            "latency_ms": "" if r.latency_ms is None else round(r.latency_ms, 6),
            "cycles": r.cycles if r.cycles is not None else "",
            "utilization": "" if r.utilization is None else round(r.utilization, 4),
            "host_ms": "" if r.host_ms is None else round(r.host_ms, 3),
            "clock_mhz": cfg.target_clock_mhz if cfg else "", "gemm": _gemm(cfg) if cfg else "",
            **{k: res[k]["used"] if k in res else "" for k in RESOURCES},
            **{f"{k}_util": res[k]["utilization"] if k in res else "" for k in RESOURCES},
            "pareto": ";".join(k for k in RESOURCES if r.point.name in front.get(k, ())),
            **{f"yosys_{k}": y.get(k, "") for k in RESOURCES},
            "tuned_workloads": r.tuned, "seconds": round(r.seconds, 2),
            "shared_with": r.shared_with, "reason": reason(r),
            "values": json.dumps(dict(r.point.values), separators=(",", ":")),
        })
    return out


def csv_text(table: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    w.writeheader()
    w.writerows(table)
    return buf.getvalue()


# ---------------------------------------------------------------------------- synthesis
def synth_points(results: Sequence[PointResult], names: set[str], board: str,
                 work: Path, on_point: Callable[[str], None] | None = None
                 ) -> dict[str, dict[str, int]]:
    """Yosys counts (``vta hw synth``, cached by config hash) of the named points."""
    from vta_hw.fpga.flow import FlowOptions, synth

    out = {}
    for r in results:
        if r.point.name not in names or r.point.cfg is None:
            continue
        if on_point is not None:
            on_point(r.point.name)
        cfg = r.point.cfg
        res = synth(cfg, work / cfg.config_hash(), FlowOptions(board=board, progress=False))
        out[r.point.name] = {k: res.report.resources[k].used for k in RESOURCES}
    return out


# ---------------------------------------------------------------------------- outputs
@dataclasses.dataclass(frozen=True)
class SweepOutputs:
    """What :func:`write_outputs` wrote and decided."""

    table: list[dict[str, Any]]
    fronts: dict[str, list[str]]
    chosen: PointResult | None
    files: tuple[Path, ...]


def write_outputs(results: Sequence[PointResult], out: Path, *, device: str,
                  synth: dict[str, dict[str, int]] | None = None) -> SweepOutputs:
    """The tables and the fronts of ``results`` in ``out`` (module docstring; the plots
    are drawn from :func:`plot_data` by the caller, above the compiler)."""
    front = fronts(results)
    best = chosen(results)
    table = rows(results, front, synth)
    full = [dict(result_dict(r), reason=reason(r),
                 yosys=(synth or {}).get(r.point.name)) for r in results]
    files = [out / "dse.csv", out / "dse.json", out / "pareto.json"]
    write_atomic(files[0], csv_text(table))
    write_atomic(files[1], json.dumps({"device": device, "points": full}, indent=1,
                                      default=list))
    write_atomic(files[2], json.dumps({
        "device": device, "fronts": front,
        "points": sorted({n for names in front.values() for n in names}),
        "chosen": None if best is None else best.point.name}, indent=1))
    return SweepOutputs(table, front, best, tuple(files))


def plot_data(results: Sequence[PointResult]):
    """What the Pareto scatter takes: ``(name, latency_ms, {resource: used}, fits)`` of
    every point that ran, and each resource's capacity."""
    scatter = [(r.point.name, r.latency_ms, {k: r.resources[k]["used"] for k in RESOURCES},
                bool(r.fits)) for r in results if r.ok]
    return scatter, {k: results_capacity(results, k) for k in RESOURCES}


def results_capacity(results: Sequence[PointResult], resource: str) -> int | None:
    for r in results:
        if r.resources is not None:
            return r.resources[resource]["available"]
    return None


__all__ = ["PointCache", "run_points", "write_outputs", "synth_points", "fingerprint",
           "rows", "csv_text", "reason", "SweepOutputs", "COLUMNS", "plot_data"]
