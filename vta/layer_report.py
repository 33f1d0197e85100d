"""A compiled model's run, layer by layer: the executor's profile joined with the programs.

The executor's profile (:mod:`runtime.executor`) gives each op its device, MACs and cycles
(accelerator) or seconds (host), summed over the samples.  This adds what a reader of the
profile asks next, per sample: how much DRAM traffic each accelerator op's instructions
move (from the program's instructions and their owners, ``Program.insn_steps``), its GEMM
utilization, and the simulator figures the plots take (:mod:`vta_sim.plots`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from runtime.module import Module
from vta_sim.engine import dram_traffic
from vta_sim.plots import RooflinePoint
from vta_sim.stats import SimStats


@dataclass(frozen=True)
class LayerRow:
    """One executed op, per sample.  cycles / dram_bytes / utilization: accelerator ops
    only (None on the host); seconds: host ops only (measured, None on the accelerator)."""

    name: str
    op: str
    device: str
    macs: int
    cycles: int | None
    seconds: float | None
    dram_bytes: int | None
    utilization: float | None


def program_dram_bytes(module: Module) -> dict[str, int]:
    """DRAM bytes the LOADs and STOREs of each accelerator op move in one launch, by op
    name (instruction fetch not included)."""
    out: dict[str, int] = {}
    for p in module.programs:
        if not p.insn_steps:
            continue
        for insn, owner in zip(p.bundle.instructions(), p.insn_steps, strict=True):
            moved = dram_traffic(module.config, insn)
            if moved is not None:
                name = module.steps[owner].name
                out[name] = out.get(name, 0) + moved[1]
    return out


def layer_rows(module: Module, profile: dict[str, Any]) -> list[LayerRow]:
    """The profile's layers per sample, with DRAM bytes and utilization where they apply."""
    samples = profile["totals"]["samples"]
    per_cycle = module.config.macs_per_cycle
    dram = program_dram_bytes(module)
    rows = []
    for e in profile["layers"]:
        macs = e["macs"] // samples
        if "cycles" in e:
            cycles = e["cycles"] // samples
            util = macs / (cycles * per_cycle) if cycles else 0.0
            rows.append(LayerRow(e["name"], e["op"], e["device"], macs, cycles, None,
                                 dram.get(e["name"]), util))
        else:
            rows.append(LayerRow(e["name"], e["op"], e["device"], macs, None,
                                 e.get("seconds", 0.0) / samples, None, None))
    return rows


def roofline_points(rows: list[LayerRow], stats: SimStats) -> list[RooflinePoint]:
    """The accelerator ops that compute (MACs > 0) as roofline points: ``stats`` (the
    program's run) with the op's cycles, its useful MACs and its DRAM bytes."""
    return [RooflinePoint(r.name, replace(stats, cycles=r.cycles, macs=r.macs,
                                          bytes={"dram": r.dram_bytes or 0}))
            for r in rows if r.cycles is not None and r.macs > 0]


__all__ = ["LayerRow", "layer_rows", "program_dram_bytes", "roofline_points"]
