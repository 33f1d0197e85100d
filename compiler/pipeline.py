"""The operator pipeline: one readable tuple of named passes, run with verification.

Data flows through these passes in order (one module each under ``compiler/lower/``)::

    layout        blocked DRAM layouts of the operands (channel padding, halos)
    tiling        loop nest -> tiles in buffer slots (virtual threads), hoisted loads
    tensorize     GEMM tiles -> GEMM instructions over folded micro-op kernels
    alu_epilogue  init / epilogue / ALU tiles -> ALU instructions
    dma           tile loads/stores -> LOAD/STORE (padding, merged rows); micro-op load
    interleave    order the stream so load, compute and store overlap (latency hiding)
    tokens        dependency flags (+ NOPs, FINISH), checked balanced and deadlock-free
    emit          micro-op kernels placed; final ISA instructions, checked race-free

``run_pipeline`` verifies the IR after every pass (``compiler.ir.verify`` plus the
pass-specific checks below) and can dump it: pass ``dump=<dir>`` or set the environment
variable ``VTA_DUMP_IR=<dir>`` to get ``NN_<pass>.txt`` files.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from compiler.ir import Program, format_program, verify
from compiler.layout import LayoutOptions
from compiler.lower.alu_epilogue import lower_alu_epilogue
from compiler.lower.dma import insert_dma
from compiler.lower.emit import emit
from compiler.lower.interleave import check_order, instructions, interleave, list_cycles
from compiler.lower.layout import choose_layouts
from compiler.lower.races import check_program_races
from compiler.lower.tensorize import tensorize
from compiler.lower.tiling import tile
from compiler.lower.tokens import check_tokens, insert_tokens, latest_dependencies
from vta_hw.config import HwConfig
from vta_hw.errors import VtaError

Pass = Callable[[Program], Program]

PASSES: tuple[tuple[str, Pass], ...] = (
    ("layout", choose_layouts),
    ("tiling", tile),
    ("tensorize", tensorize),
    ("alu_epilogue", lower_alu_epilogue),
    ("dma", insert_dma),
    ("interleave", interleave),
    ("tokens", insert_tokens),
    ("emit", emit),
)

CHECKS: dict[str, Callable[[Program], object]] = {
    "interleave": check_order,
    "tokens": lambda p: check_tokens([n.insn for n in p.instrs()], p.cfg),
    "emit": check_program_races,
}


def run_pipeline(op, cfg: HwConfig, schedule, options: LayoutOptions | None = None, *,
                 passes: tuple[tuple[str, Pass], ...] = PASSES,
                 dump: str | Path | None = None, checked: bool = True) -> Program:
    """Run ``passes`` on ``op``; verify after each; optionally dump the IR after each.

    ``checked=False`` skips the verification and the checkers: for the schedule search,
    which only reads the estimate of candidates it then compiles (checked) once."""
    target = dump if dump is not None else os.environ.get("VTA_DUMP_IR")
    out = Path(target) if target else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    p = Program(cfg=cfg, op=op, schedule=schedule, options=options or LayoutOptions())
    for k, (name, fn) in enumerate(passes):
        p = fn(p)
        if checked:
            verify(p, name)
            if name in CHECKS:
                CHECKS[name](p)
        if out is not None:
            (out / f"{k:02d}_{name}.txt").write_text(format_program(p))
    return p


__all__ = ["PASSES", "CHECKS", "run_pipeline", "estimate_cycles", "structure_config"]


def estimate_cycles(op, schedule, cfg: HwConfig, options: LayoutOptions | None = None) -> int:
    """Cycles of ``schedule`` as the ``interleave`` pass's list schedule has them (fetch left
    out: ``lower.interleave.list_cycles``): lowers the operator up to that pass, whose list
    schedule follows ``vta_hw.timing`` (within ~0.1% of the simulator on the ResNet-18
    layers; the program's fetch-aware ``estimated_cycles`` is what the partitioner prices).
    The default heuristic refines its ranking with it (``compiler.schedule.heuristic``,
    which cannot import the lowering).  Deterministic, so
    kept: the search asks for the winner's estimate again when it tries the ramped
    variant."""
    try:
        return _estimate_cached(op, schedule, cfg, options)
    except TypeError:  # unhashable attributes: estimate afresh
        return _estimate(op, schedule, cfg, options)


@functools.lru_cache(maxsize=4096)
def _estimate_cached(op, schedule, cfg: HwConfig, options: LayoutOptions | None) -> int:
    return _estimate(op, schedule, cfg, options)


# HwConfig fields no pass before ``interleave`` reads: only ``vta_hw.timing`` (the list
# schedule, the simulator) reads the DRAM model, and no pass the name or the clock.
_TIMING_FIELDS = {"name": "structure", "target_clock_mhz": 100.0, "dram_latency": 1,
                  "log_dram_bytes_per_cycle": 0}


def structure_config(cfg: HwConfig) -> HwConfig:
    """``cfg`` with the fields the passes before ``interleave`` never read set to fixed
    values: configs that differ only in those (DRAM latency and bus width, clock, name)
    lower a schedule to the same instructions and dependencies, so a design-space sweep's
    points share them and only re-time them (:func:`estimate_cycles`)."""
    return cfg.replace(**_TIMING_FIELDS)


def _structure(op, schedule, cfg: HwConfig, options: LayoutOptions | None):
    """The program before ``interleave``, its instructions in order and their latest
    dependencies: what the list schedule times."""
    names = [n for n, _ in PASSES]
    p = run_pipeline(op, cfg, schedule, options, passes=PASSES[:names.index("interleave")],
                     checked=False)
    instrs = instructions(p)
    return p, instrs, latest_dependencies(instrs)


@functools.lru_cache(maxsize=256)
def _structure_cached(op, schedule, cfg: HwConfig, options: LayoutOptions | None):
    return _structure(op, schedule, cfg, options)


def _estimate(op, schedule, cfg: HwConfig, options: LayoutOptions | None) -> int:
    try:
        p, instrs, deps = _structure_cached(op, schedule, structure_config(cfg), options)
    except (VtaError, TypeError):  # refused (again on cfg, so the error names it); unhashable
        p, instrs, deps = _structure(op, schedule, cfg, options)
    return list_cycles(replace(p, cfg=cfg), instrs, deps)
