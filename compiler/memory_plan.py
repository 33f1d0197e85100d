"""DRAM memory planning: activation tensors share an arena when their lifetimes do not overlap.

Without a plan every activation tensor of every program owns its bytes for the whole life
of the loaded module, so device memory grows with the depth of the model.  Here the
activation tensors of the whole module (:class:`Live`: a size and a lifetime in steps,
see :mod:`runtime.memory`) get offsets in one arena, by *greedy by size with best fit*
(the offset assignment TFLite's arena planner uses): tensors are placed largest first;
each goes into the smallest gap, between the tensors already placed whose lifetimes
overlap its own, that holds it (aligned), or above them all.  The arena is then the
highest end of any tensor; tensors of different programs never overlap in time, so the
arena is at most the largest program's own need, and usually far below the sum of all
tensors (``no_reuse_bytes``).

:func:`capacity_error` is the compile-time check that the whole module (programs resident
plus the arena) fits the configured DRAM (``HwConfig.dram_bytes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from compiler.errors import CompilerError
from runtime.module import ArenaSlot, MemoryPlan, aligned  # the module format's plan
from vta_hw.bundle import Bundle
from vta_hw.config import HwConfig


class DramCapacityError(CompilerError, ValueError):
    """The compiled module does not fit the configured DRAM (the message has the sizes)."""


@dataclass(frozen=True)
class Live:
    """An activation tensor to place: program, bundle symbol, module tensor, size and
    lifetime ``[first, last]`` in step indices (inclusive)."""

    program: int
    symbol: str
    tensor: str
    nbytes: int
    first: int
    last: int


def assign_offsets(tensors: Sequence[Live], align: int) -> list[int]:
    """Offsets (multiples of ``align``) such that no two tensors live at the same time
    share a byte: greedy by size, best fit (see the module docstring)."""
    order = sorted(range(len(tensors)),
                   key=lambda i: (-tensors[i].nbytes, tensors[i].first, i))
    offsets: list[int] = [0] * len(tensors)
    placed: list[int] = []
    for i in order:
        t = tensors[i]
        busy = sorted((offsets[j], offsets[j] + tensors[j].nbytes) for j in placed
                      if tensors[j].first <= t.last and t.first <= tensors[j].last
                      and tensors[j].nbytes)
        best, best_gap, top = None, None, 0
        for lo, hi in busy:
            start = aligned(top, align)
            gap = lo - start
            if gap >= t.nbytes and (best_gap is None or gap < best_gap):
                best, best_gap = start, gap
            top = max(top, hi)
        offsets[i] = best if best is not None else aligned(top, align)
        placed.append(i)
    return offsets


def plan_arena(tensors: Sequence[Live], align: int) -> tuple[list[ArenaSlot], int, int]:
    """The slots, the arena size (peak, aligned) and the no-reuse sum of ``tensors``."""
    offsets = assign_offsets(tensors, align)
    slots = [ArenaSlot(t.program, t.symbol, t.tensor, o, t.nbytes, t.first, t.last)
             for t, o in zip(tensors, offsets, strict=True)]
    peak = aligned(max((s.offset + s.nbytes for s in slots), default=0), align)
    return slots, peak, sum(aligned(t.nbytes, align) for t in tensors)


def memory_plan(slots: Sequence[ArenaSlot], arena_bytes: int, no_reuse_bytes: int,
                bundles: Sequence[Bundle], align: int) -> MemoryPlan:
    """The module's plan once its programs are built (their images are resident)."""
    sizes = tuple(aligned(len(b.dram), align) for b in bundles)
    return MemoryPlan(align, arena_bytes, no_reuse_bytes, sum(sizes), sizes, tuple(slots))


def capacity_error(plan: MemoryPlan, cfg: HwConfig, program_names: Sequence[str]
                   ) -> DramCapacityError | None:
    """The error for a module that does not fit ``cfg``'s DRAM (None when it fits): the
    sizes needed and available and the biggest contributors."""
    if plan.total_bytes <= cfg.dram_bytes:
        return None
    parts = [(n, f"program {k} ({name})") for k, (n, name)
             in enumerate(zip(plan.program_bytes, program_names, strict=True))]
    parts.append((plan.arena_bytes, f"activation arena (no reuse: {plan.no_reuse_bytes})"))
    top = sorted(parts, key=lambda p: -p[0])[:3]
    return DramCapacityError(
        f"the model needs {plan.total_bytes} bytes of accelerator DRAM ({plan.resident_bytes} "
        f"resident programs and weights + {plan.arena_bytes} activation arena), config "
        f"{cfg.name!r} has {cfg.dram_bytes} (log_dram_bytes={cfg.log_dram_bytes}); biggest: "
        + ", ".join(f"{what} {n}" for n, what in top))


__all__ = ["Live", "DramCapacityError", "assign_offsets", "plan_arena", "memory_plan",
           "capacity_error"]
