"""A compiled module's device-memory plan, as data the runtime follows and checks.

The accelerator's DRAM holds two kinds of bytes for a loaded module:

* *resident*: each program's image (instructions, weights, micro-op kernels, requantization
  tables; :attr:`MemoryPlan.resident_bytes`), written once at load;
* the *arena*: one buffer, shared by every program of the module, holding the activation
  tensors that live in device memory (the tensors the host copies in and out, and the
  intermediates passed between the ops of one chained program).  The compiler's planner
  (:mod:`compiler.memory_plan`) gives each one an offset so that tensors whose lifetimes
  overlap never share a byte, and tensors whose lifetimes do not may.

A lifetime is a closed interval of step indices ``[first, last]``: from the step that
writes the tensor (for a tensor the host copies in: the program's first step) to the last
step that reads it (for a tensor the host copies out: the program's last step).  Programs
run one after another and the executor copies a program's results out before the next
one runs, so the tensors of different programs never overlap in time.

:func:`check_plan` is what a module load runs on the stored plan: every slot lies inside
the arena and is aligned, no two slots live at the same time share a byte, and each slot
is where its program's bundle addresses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vta_hw.bundle import Bundle
from vta_hw.errors import VtaError


class MemoryPlanError(VtaError, ValueError):
    """A memory plan that places two live tensors on the same bytes, or disagrees with the
    programs it describes."""


@dataclass(frozen=True)
class ArenaSlot:
    """One activation tensor in the arena: the program whose bundle symbol it is, the
    module tensor it holds, its byte offset and size, and its lifetime in steps."""

    program: int
    symbol: str
    tensor: str
    offset: int
    nbytes: int
    first: int
    last: int

    def live_with(self, other: ArenaSlot) -> bool:
        return self.first <= other.last and other.first <= self.last

    def shares_bytes(self, other: ArenaSlot) -> bool:
        return (self.offset < other.offset + other.nbytes
                and other.offset < self.offset + self.nbytes)


@dataclass(frozen=True)
class MemoryPlan:
    """Where a module's bytes go in device memory (see the module docstring).

    arena_bytes: the planned arena (the peak of the live activation bytes, with
    alignment).  no_reuse_bytes: what the same slots need when no two share bytes (the
    sum of their aligned sizes).  resident_bytes: the programs' images, each aligned.
    align: the alignment of every slot's offset (the device's link alignment)."""

    align: int
    arena_bytes: int
    no_reuse_bytes: int
    resident_bytes: int
    program_bytes: tuple[int, ...]
    slots: tuple[ArenaSlot, ...]

    @property
    def total_bytes(self) -> int:
        """Device memory the loaded module occupies: programs plus the arena."""
        return self.resident_bytes + self.arena_bytes

    def summary(self) -> dict[str, int]:
        """The numbers a profile reports."""
        return {"resident_bytes": self.resident_bytes, "arena_bytes": self.arena_bytes,
                "arena_no_reuse_bytes": self.no_reuse_bytes,
                "device_bytes": self.total_bytes}

    def to_json(self) -> dict[str, Any]:
        return {"align": self.align, "arena_bytes": self.arena_bytes,
                "no_reuse_bytes": self.no_reuse_bytes, "resident_bytes": self.resident_bytes,
                "program_bytes": list(self.program_bytes),
                "slots": [[s.program, s.symbol, s.tensor, s.offset, s.nbytes, s.first, s.last]
                          for s in self.slots]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MemoryPlan:
        slots = tuple(ArenaSlot(int(p), str(sym), str(t), int(o), int(n), int(f), int(la))
                      for p, sym, t, o, n, f, la in d["slots"])
        return cls(int(d["align"]), int(d["arena_bytes"]), int(d["no_reuse_bytes"]),
                   int(d["resident_bytes"]), tuple(int(b) for b in d["program_bytes"]), slots)


def aligned(nbytes: int, align: int) -> int:
    return -(-nbytes // align) * align


def overlapping_live(slots: Sequence[ArenaSlot]) -> tuple[ArenaSlot, ArenaSlot] | None:
    """Two slots that are live at the same time and share bytes, or None (a sweep over
    the slots in order of their first step)."""
    order = sorted(slots, key=lambda s: (s.first, s.offset))
    live: list[ArenaSlot] = []
    for s in order:
        live = [a for a in live if a.last >= s.first]
        for a in live:
            if a.shares_bytes(s) and a.nbytes and s.nbytes:
                return a, s
        live.append(s)
    return None


def check_plan(plan: MemoryPlan, bundles: Sequence[Bundle]) -> None:
    """Raise MemoryPlanError unless ``plan`` is sound for the programs ``bundles``."""
    if plan.align <= 0 or plan.arena_bytes % plan.align:
        raise MemoryPlanError(f"arena of {plan.arena_bytes} bytes is not a multiple of the "
                              f"alignment {plan.align}")
    if len(plan.program_bytes) != len(bundles):
        raise MemoryPlanError(f"the plan sizes {len(plan.program_bytes)} programs, the module "
                              f"has {len(bundles)}")
    for k, (b, n) in enumerate(zip(bundles, plan.program_bytes, strict=True)):
        if n != aligned(len(b.dram), plan.align):
            raise MemoryPlanError(f"program {k}: the plan gives its image {n} bytes, it has "
                                  f"{len(b.dram)}")
        if b.arena_bytes > plan.arena_bytes:
            raise MemoryPlanError(f"program {k} addresses a {b.arena_bytes}-byte arena, the "
                                  f"plan has {plan.arena_bytes}")
    if plan.resident_bytes != sum(plan.program_bytes):
        raise MemoryPlanError("resident bytes are not the sum of the programs' images")
    for s in plan.slots:
        if s.offset < 0 or s.offset % plan.align or s.offset + s.nbytes > plan.arena_bytes:
            raise MemoryPlanError(f"tensor {s.tensor!r} at [{s.offset}, {s.offset + s.nbytes})"
                                  f" is unaligned or outside the {plan.arena_bytes}-byte arena")
        if s.first > s.last:
            raise MemoryPlanError(f"tensor {s.tensor!r}: lifetime [{s.first}, {s.last}] is "
                                  "empty")
        if not 0 <= s.program < len(bundles):
            raise MemoryPlanError(f"tensor {s.tensor!r}: no program {s.program}")
        b = bundles[s.program]
        r = b.symbols.get(s.symbol)
        if r is None or not b.in_arena(s.symbol) or r.addr - len(b.dram) != s.offset \
                or r.nbytes != s.nbytes:
            raise MemoryPlanError(f"tensor {s.tensor!r}: program {s.program} does not address "
                                  f"symbol {s.symbol!r} at arena offset {s.offset}")
    for k, b in enumerate(bundles):
        placed = {s.symbol for s in plan.slots if s.program == k}
        stray = sorted(n for n in b.symbols if b.in_arena(n) and n not in placed)
        if stray:
            raise MemoryPlanError(f"program {k}: arena symbol(s) {stray} are not in the plan")
    clash = overlapping_live(plan.slots)
    if clash:
        a, s = clash
        raise MemoryPlanError(f"tensors {a.tensor!r} (steps {a.first}..{a.last}) and "
                              f"{s.tensor!r} (steps {s.first}..{s.last}) are live at the same "
                              f"time and share arena bytes")


__all__ = ["ArenaSlot", "MemoryPlan", "MemoryPlanError", "aligned", "check_plan",
           "overlapping_live"]
