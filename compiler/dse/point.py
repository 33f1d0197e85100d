"""One point of a sweep: compile the model for its config, simulate it, estimate resources.

:func:`evaluate_point` is the job the autotuner's runners execute for a sweep (local
processes or a Dask cluster, with their time limits and crash isolation:
``compiler.autotune.measure``): ``runner.run(job, points)`` with ``measure=evaluate_point``
and ``result=PointResult``.  The model is imported and quantized once per worker process
(the quantization does not depend on the hardware), then every point lowers it for its
config (the heuristic schedules, or with ``tune_trials`` the best of a small tuning budget
per accelerator workload through :func:`compiler.autotune.tune`) and runs one inference on
the cycle-accurate simulator through the graph executor, timing only (the simulator computes
no data: cycles do not depend on it, and the inputs are random anyway).  Points of one
timing class (:func:`timing_key`: on a forced partition, configs that differ only in their
clock) are evaluated once by the sweep (:func:`compiler.dse.sweep.run_points`); within a
worker, the schedule search's lowering is shared between configs that differ only in
their DRAM model (:func:`compiler.pipeline.structure_config`).

latency_ms is the accelerator's cycles at the point's clock (deterministic); host steps
(the float boundaries) are measured wall time, reported apart in host_ms.  seconds and
cpu_seconds: the point's wall and CPU time in its worker (0 for a point that took the
cycles of another, ``shared_with``).  A config that cannot compile comes back with status
``error`` and the reason, its resource estimate kept.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from compiler.dse.space import Point


@dataclass(frozen=True)
class SweepJob:
    """What every point of a sweep shares (picklable, so a runner ships it to workers).

    model: the ONNX file (a path the workers can read).  calib: calibration data (.npz),
    None for random samples (cycles do not depend on the data) or a QDQ model's scales.
    targets: as ``vta compile --targets``.  device: the FPGA part the estimate checks
    (``vta_hw.fpga.resources.DEVICES``).  tune_trials: 0 for the heuristic schedules, else
    the measurement budget per accelerator workload.  tuning_dir: where tuning logs go
    (one per point)."""

    model: str
    calib: str | None = None
    input_shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    targets: tuple[str, ...] = ("vta",)
    device: str = "LFE5U-85F"
    tune_trials: int = 0
    tuning_dir: str | None = None
    seed: int = 0


@dataclass(frozen=True)
class LayerUse:
    """One accelerator layer of a point's run: cycles, MACs and GEMM utilization."""

    name: str
    op: str
    cycles: int
    macs: int
    utilization: float


@dataclass(frozen=True)
class PointResult:
    """A point's outcome.  status: ``ok``, ``error`` (does not compile or run: ``error``
    says why), ``invalid`` (the config rejects the combination) or ``timeout``.  resources:
    ``ResourceEstimate.to_dict()`` less its memory list (None if the config is invalid);
    fits: whether the estimate fits the device (``over`` names the resources that do not)."""

    point: Point
    status: str
    error: str = ""
    cycles: int | None = None
    latency_ms: float | None = None
    host_ms: float | None = None
    macs_on_accelerator: int | None = None
    utilization: float | None = None
    layers: tuple[LayerUse, ...] = ()
    resources: dict[str, Any] | None = None
    fits: bool | None = None
    over: tuple[str, ...] = ()
    tuned: int = 0
    seconds: float = 0.0
    shared_with: str = ""
    cpu_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def failed(cls, point: Point, status: str, error: str, seconds: float = 0.0
               ) -> PointResult:
        """A point the runner could not finish (crash, time limit): ``measure_safely``."""
        return cls(point, status, error, seconds=seconds)


def timing_key(job: SweepJob, cfg) -> str:
    """What a point's module and cycles depend on, as a config hash: points with the same
    key compile to the same programs and run the same cycles, so a sweep evaluates one of
    them and gives the others its cycles (:func:`shared_result`).

    With the accelerator the only target (``targets == ("vta",)``) every opset op is on it
    whatever the costs, and nothing but the partitioner's costs reads the clock (the
    programs, their schedules and the simulator count cycles), so the key is the config
    less its name and ``target_clock_mhz``.  With the CPU among the targets the
    partitioner weighs the accelerator's seconds against the CPU's, so the clock can move
    ops: the key is the whole config."""
    if tuple(job.targets) != ("vta",):
        return cfg.config_hash()
    return cfg.replace(name="timing", target_clock_mhz=100.0).config_hash()


def shared_result(r: PointResult, point: Point, device: str) -> PointResult:
    """``r``, the result of a point with the same :func:`timing_key` as ``point``, as
    ``point``'s: the same status, cycles, layers and utilization (and host time, measured
    once), the latency at ``point``'s clock, ``point``'s own resource estimate, and
    ``shared_with`` naming the point that was compiled and simulated."""
    cfg = point.cfg
    resources, fits, over = estimate(cfg, device)
    latency = None if r.cycles is None else r.cycles / (cfg.target_clock_mhz * 1e3)
    source = r.point.cfg.name if r.point.cfg is not None else r.point.name
    error = r.error.replace(repr(source), repr(cfg.name))  # messages name the config
    return dataclasses.replace(r, point=point, error=error, latency_ms=latency,
                               resources=resources, fits=fits, over=over, seconds=0.0,
                               cpu_seconds=0.0, shared_with=r.point.name)


def estimate(cfg, device: str) -> tuple[dict[str, Any], bool, tuple[str, ...]]:
    """The resource estimate of ``cfg`` on ``device``: (its dict, fits, over)."""
    from vta_hw.fpga.resources import estimate_resources

    est = estimate_resources(cfg, device)
    d = est.to_dict()
    d.pop("memories", None)
    return d, est.fits, tuple(est.over)


@lru_cache(maxsize=2)
def _quantized(model: str, calib: str | None,
               input_shapes: tuple[tuple[str, tuple[int, ...]], ...], seed: int):
    """The model imported and quantized (``compile_model`` up to the lowering; random
    calibration samples for a float model without ``calib``), once per worker process
    and model: it does not depend on the hardware."""
    from compiler.graph.pipeline import compile_model

    return compile_model(model, calib=calib, input_shapes=dict(input_shapes) or None,
                         uncalibrated="random", seed=seed).graph


def _schedules(job: SweepJob, qgraph, cfg, point: Point):
    """The schedule provider of a point: None (the heuristic) or, with ``tune_trials``,
    a log tuned now (``tune`` in this process; resumes from the point's log) and the
    number of workloads tuned."""
    if job.tune_trials <= 0:
        return None, 0
    from compiler.autotune import tasks
    from compiler.autotune.log import TuningLog, log_provider
    from compiler.autotune.measure import InlineRunner
    from compiler.autotune.tuner import tune

    folder = Path(job.tuning_dir or ".")
    folder.mkdir(parents=True, exist_ok=True)
    log = TuningLog(folder / f"{cfg.config_hash()}.jsonl")
    found = tasks.extract_workloads(qgraph, cfg, targets=job.targets)
    runner = InlineRunner()  # this process is already one of the sweep's workers
    for t in found:
        tune(t.workload, job.tune_trials, runner=runner, log=log, seed=job.seed)
    return (log_provider(log) if found else None), len(found)


def _inputs(module, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for n in module.inputs:
        t = module.tensors[n]
        out[n] = (rng.standard_normal(t.shape).astype(np.float32) if "float" in t.dtype
                  else rng.integers(-128, 128, t.shape).astype(t.dtype))
    return out


def simulate(module, seed: int = 0, *, timing_only: bool = True) -> dict[str, Any]:
    """One inference of ``module`` on the simulator device: the executor's profile.
    ``timing_only`` (default): the simulator computes no data (``SimDevice``), which a
    sweep never reads; the cycles, per layer and in total, are those of the full run."""
    from runtime.devices import open_device
    from runtime.executor import Executor

    ex = Executor(module, open_device("sim", module.config, timing_only=timing_only))
    try:
        return ex.run(_inputs(module, seed)).profile
    finally:
        ex.close()


def layer_use(profile: dict[str, Any], macs_per_cycle: int) -> tuple[LayerUse, ...]:
    """The profile's accelerator layers per sample with their GEMM utilization."""
    samples = profile["totals"]["samples"]
    out = []
    for e in profile["layers"]:
        if "cycles" not in e:
            continue
        cycles, macs = e["cycles"] // samples, e["macs"] // samples
        out.append(LayerUse(e["name"], e["op"], cycles, macs,
                            macs / (cycles * macs_per_cycle) if cycles else 0.0))
    return tuple(out)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a point's compile and simulation, and
    restore it after.

    A point allocates millions of small objects that live until it ends (every
    operator's instructions, their accesses, the schedule search's candidates), so the
    collector's generational passes keep re-scanning them: 25-35% of a ResNet-18 point's
    CPU time, finding nothing to free.  Reference counting frees them without it (the
    worker's peak RSS is the same: 825 MB either way on a 1x8x8 point); what cycles a
    point leaves are collected when the collector resumes."""
    if not gc.isenabled():  # the caller manages the collector
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def evaluate_point(job: SweepJob, point: Point) -> PointResult:
    """Compile, simulate and estimate one point (module docstring).  Raises only for
    bugs (the runner records those as ``error``); a config that does not compile is a
    result.  The cyclic garbage collector is paused meanwhile
    (:func:`_cyclic_gc_paused`)."""
    with _cyclic_gc_paused():
        return _evaluate_point(job, point)


def _evaluate_point(job: SweepJob, point: Point) -> PointResult:
    from compiler.errors import CompilerError
    from compiler.graph.pipeline import compile_model
    from vta_hw.errors import VtaError

    t0, c0 = time.perf_counter(), time.process_time()
    if point.cfg is None:
        return PointResult(point, "invalid", point.reason)
    cfg = point.cfg
    resources, fits, over = estimate(cfg, job.device)
    base = dict(resources=resources, fits=fits, over=over)
    try:
        qgraph = _quantized(job.model, job.calib, job.input_shapes, job.seed)
        provider, tuned = _schedules(job, qgraph, cfg, point)
        module = compile_model(qgraph, cfg, targets=job.targets, device="sim",
                               schedules=provider).lowered.module
        if not module.programs:
            raise CompilerError(f"no op of the model runs on the accelerator with targets "
                                f"{','.join(job.targets)}")
        profile = simulate(module, job.seed)
    except (VtaError, ValueError, ArithmeticError, MemoryError) as e:
        return PointResult(point, "error", f"{type(e).__name__}: {e}",
                           seconds=time.perf_counter() - t0,
                           cpu_seconds=time.process_time() - c0, **base)
    totals = profile["totals"]
    cycles = int(totals["accelerator_cycles"])
    layers = layer_use(profile, cfg.macs_per_cycle)
    macs = int(totals["macs_on_accelerator"])
    util = macs / (cycles * cfg.macs_per_cycle) if cycles else 0.0
    return PointResult(point, "ok", "", cycles, cycles / (cfg.target_clock_mhz * 1e3),
                       totals["host_seconds"] * 1e3 / totals["samples"], macs, util, layers,
                       tuned=tuned, seconds=time.perf_counter() - t0,
                       cpu_seconds=time.process_time() - c0, **base)


__all__ = ["SweepJob", "PointResult", "LayerUse", "evaluate_point", "estimate", "simulate",
           "layer_use", "timing_key", "shared_result"]
