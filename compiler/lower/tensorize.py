"""Pass ``tensorize``: GEMM tiles -> GEMM instructions over micro-op kernels.

Each :class:`~compiler.ir.GemmTile` is cut into boxes (:func:`compiler.schedule.loops.gemm_pieces`:
the whole tile, or an ``overwrite`` first reduction point and the rest), each box's loop dims
are folded into an instruction's two affine loops and a micro-op kernel
(:func:`compiler.schedule.loops.plan_loops`, which also decides legality), and here the plans
are expanded into instructions with absolute SRAM indices.  Kernels are deduplicated, so
identical tiles share one kernel.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from functools import lru_cache

from compiler.ir import Access, Dim, GemmTile, Instr, Program
from compiler.schedule.loops import LoopPlan, coefs, gemm_pieces, sequence
from vta_hw import isa

_WHAT = ("dst", "src", "wgt")


@dataclass(frozen=True)
class LoopInsn:
    """One GEMM/ALU instruction of a plan: its kernel (absolute indices) and affine loops;
    ``key`` is the kernel's content as (dst, src, wgt) triples (:class:`KernelTable`)."""

    uops: tuple[isa.Uop, ...]
    loops: dict
    key: tuple[tuple[int, int, int], ...] = ()


# One micro-op object per (dst, src, wgt) value: a model compiles millions of micro-ops
# with few distinct values, and building frozen dataclasses was a visible share of it.
_UOPS: dict[tuple[int, int, int], isa.Uop] = {}
_UOPS_LIMIT = 1 << 17


def make_uops(triples: list[tuple[int, int, int]]) -> tuple[isa.Uop, ...]:
    """The micro-ops of ``(dst, src, wgt)`` triples (shared objects for equal values)."""
    out = []
    get = _UOPS.get
    for t in triples:
        u = get(t)
        if u is None:
            if len(_UOPS) >= _UOPS_LIMIT:
                _UOPS.clear()
            u = _UOPS[t] = isa.Uop(*t)
        out.append(u)
    return tuple(out)


def kernel_key(triples: list[tuple[int, int, int]]) -> tuple[tuple[int, int, int], ...]:
    """A kernel's content as a tuple of integer triples (hashed and compared in C)."""
    return tuple(triples)


@lru_cache(maxsize=4096)
def _pattern(dims: tuple[Dim, ...], order: tuple[int, ...]) -> tuple[tuple[int, int, int], ...]:
    """(dst, src, wgt) of each micro-op of a kernel enumerating ``order`` from index 0 (the
    same for every split point of a plan, and for many tiles of a schedule)."""
    return tuple(zip(*(sequence(dims, order, w).tolist() for w in range(3)), strict=True))


def expand_plan(dims: tuple[Dim, ...], plan: LoopPlan, base: tuple[int, int, int]
                ) -> list[LoopInsn]:
    """Kernels and loop fields of every instruction of ``plan``, indices offset by ``base``."""
    out = []
    split_ranges = [range(dims[i].extent) for i in plan.split]
    # the kernel of every split point is the same index pattern, offset: build it once
    pattern = _pattern(dims, plan.uops)
    loops: dict = {}
    for key, i in (("out", plan.out), ("in", plan.inner)):
        d = dims[i] if i is not None else Dim("_", 1)
        loops[f"iter_{key}"] = d.extent
        for w, name in enumerate(_WHAT):
            loops[f"{name}_factor_{key}"] = coefs(d)[w]
    for point in itertools.product(*split_ranges):
        b = list(base)
        for i, v in zip(plan.split, point, strict=True):
            for w in range(3):
                b[w] += v * coefs(dims[i])[w]
        b0, b1, b2 = b
        triples = [(d + b0, s + b1, g + b2) for d, s, g in pattern]
        out.append(LoopInsn(make_uops(triples), dict(loops), kernel_key(triples)))
    return out


def span(dims: tuple[Dim, ...], which: int, base: int) -> tuple[int, int]:
    """[lo, hi) of operand ``which`` over all iterations of ``dims`` (steps are >= 0)."""
    hi = base + sum((d.extent - 1) * coefs(d)[which] for d in dims) + 1
    return base, hi


class KernelTable:
    """Micro-op kernels of a program, deduplicated by content."""

    def __init__(self, kernels: tuple[tuple[isa.Uop, ...], ...]):
        self.kernels = list(kernels)
        self.index: dict[tuple[tuple[int, int, int], ...], int] = {}
        for i, k in enumerate(self.kernels):
            self.index[_key_of(k)] = i

    def add(self, uops: tuple[isa.Uop, ...],
            key: tuple[tuple[int, int, int], ...] | None = None) -> int:
        """The index of kernel ``uops`` (added when new); ``key``: its :func:`kernel_key`,
        when the caller has it."""
        key = key if key else _key_of(uops)
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.kernels)
            self.kernels.append(uops)
        return i

    def freeze(self) -> tuple[tuple[isa.Uop, ...], ...]:
        return tuple(self.kernels)


def _key_of(uops: tuple[isa.Uop, ...]) -> tuple[tuple[int, int, int], ...]:
    return kernel_key([(u.dst, u.src, u.wgt) for u in uops])


def lower_gemm(p: Program, n: GemmTile, table: KernelTable) -> list[Instr]:
    dims = n.dims
    base = (p.addr(n.acc), p.addr(n.inp), p.addr(n.wgt))
    reads = (Access("inp", *span(dims, 1, base[1])), Access("wgt", *span(dims, 2, base[2])))
    writes = (Access("acc", *span(dims, 0, base[0])),)
    out = []
    for piece in gemm_pieces(dims, p.cfg, n.fold, n.overwrite):
        at = tuple(b + o for b, o in zip(base, piece.offset, strict=True))
        for li in expand_plan(piece.dims, piece.plan, at):
            k = table.add(li.uops, li.key)
            insn = isa.Gemm(uop_bgn=0, uop_end=len(li.uops), overwrite=piece.overwrite,
                            **li.loops)
            out.append(Instr(insn, reads=reads, writes=writes, kernel=k, tag=n.tag))
    return out


def tensorize(p: Program) -> Program:
    """Replace every :class:`GemmTile` by GEMM instructions (see the module docstring)."""
    table = KernelTable(p.kernels)
    nodes = []
    for n in p.nodes:
        if isinstance(n, GemmTile):
            nodes.extend(lower_gemm(p, n, table))
        else:
            nodes.append(n)
    return replace(p, nodes=tuple(nodes), kernels=table.freeze(), stage="tensorize")


__all__ = ["expand_plan", "span", "KernelTable", "tensorize", "lower_gemm", "LoopInsn",
           "make_uops", "kernel_key"]
