"""Pass ``tensorize``: GEMM tiles -> GEMM instructions over micro-op kernels.

A tile is a contraction over named loop dims (``co, ci, kh, kw, oh, ow`` for a convolution),
each with an index step for the accumulator (dst), input (src) and weight operand.  The
hardware runs ``iter_out x iter_in x kernel`` iterations per instruction, where the two outer
loops are affine (the ISA's factor fields) and the kernel is an explicit list of micro-ops.
:func:`plan_loops` folds two dims into the affine loops and enumerates the rest as micro-ops
(reduction dims outside, output pixels innermost), choosing the fold with the fewest
micro-ops that

* fits the loop-extent and factor fields of ``isa.formats(cfg)``, and
* respects the accumulator read-after-write window: no two iterations closer than
  ``gemm_pipeline_depth`` (``alu_pipeline_depth`` for ALU) touch the same accumulator
  (for ALU tensor ops, nor read one an earlier iteration writes), checked on the exact
  index sequence.

When a tile has too few distinct accumulators for any single-instruction fold (a dense
layer with one output block, say), the reduction dims are unrolled into one instruction
each.  Kernels are deduplicated, so identical tiles share one kernel.

A tile marked ``overwrite`` (its accumulators were not initialised) starts with a GEMM
``overwrite`` instruction over its first reduction point -- every reduction dim at 0, so each
accumulator is written exactly once -- followed by the rest of the reduction box as disjoint
boxes (:func:`gemm_pieces`).  That costs one or a few more instructions per tile instead of
a reset pass over the accumulators on the compute module.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from compiler.errors import ScheduleError
from compiler.ir import Access, Dim, GemmTile, Instr, Program
from vta_hw import isa, timing
from vta_hw.config import HwConfig

_WHAT = ("dst", "src", "wgt")


@dataclass(frozen=True)
class LoopPlan:
    """How a tile's dims map onto instructions.

    out, inner: indices of the dims folded into the affine loops (None: extent 1).
    uops: dims enumerated in the micro-op kernel, outermost first.
    split: dims unrolled into separate instructions (each with its own kernel).
    """

    out: int | None
    inner: int | None
    uops: tuple[int, ...]
    split: tuple[int, ...] = ()

    def n_uops(self, dims: tuple[Dim, ...]) -> int:
        return int(np.prod([dims[i].extent for i in self.uops], dtype=np.int64))

    def n_instrs(self, dims: tuple[Dim, ...]) -> int:
        return int(np.prod([dims[i].extent for i in self.split], dtype=np.int64))

    def total_uops(self, dims: tuple[Dim, ...]) -> int:
        return self.n_uops(dims) * self.n_instrs(dims)


@dataclass(frozen=True)
class _Limits:
    iters: int
    factor: tuple[int, int, int]  # dst, src, wgt factor field maxima


def _limits(cfg: HwConfig, gemm: bool) -> _Limits:
    fmt = isa.formats(cfg)[isa.Opcode.GEMM if gemm else isa.Opcode.ALU]
    wgt = fmt.field("wgt_factor_out").max if gemm else 0
    return _Limits(fmt.field("iter_out").max,
                   (fmt.field("dst_factor_out").max, fmt.field("src_factor_out").max, wgt))


def _coefs(d: Dim) -> tuple[int, int, int]:
    return (d.dst, d.src, d.wgt)


def _sequence(dims: tuple[Dim, ...], order: tuple[int, ...], which: int) -> np.ndarray:
    """Index sequence of operand ``which`` over ``order`` (outermost first), one instruction."""
    n = len(order)
    seq = np.zeros((1,) * n, np.int64)
    for axis, i in enumerate(order):
        shape = [1] * n
        shape[axis] = dims[i].extent
        seq = seq + (np.arange(dims[i].extent, dtype=np.int64) * _coefs(dims[i])[which]
                     ).reshape(shape)
    return seq.reshape(-1)


def hazard_free(dims: tuple[Dim, ...], order: tuple[int, ...], window: int,
                check_src: bool, src_offset: int = 0) -> bool:
    """True if no iteration reads an accumulator an iteration less than ``window`` earlier
    writes (dst, and for ALU tensor ops src shifted by ``src_offset``)."""
    if not order:
        return True
    dst = _sequence(dims, order, 0)
    src = _sequence(dims, order, 1) + src_offset if check_src else None
    for k in range(1, min(window, dst.size)):
        if np.any(dst[k:] == dst[:-k]):
            return False
        if src is not None and np.any(src[k:] == dst[:-k]):
            return False
    return True


def _fits(d: Dim, lim: _Limits) -> bool:
    return d.extent <= lim.iters and all(c <= m for c, m in zip(_coefs(d), lim.factor,
                                                                strict=True))


def _uop_order(dims: tuple[Dim, ...], rest: list[int]) -> tuple[int, ...]:
    red = [i for i in rest if dims[i].reduce]
    par = [i for i in rest if not dims[i].reduce]
    return tuple(red + par)


@lru_cache(maxsize=4096)
def plan_loops(dims: tuple[Dim, ...], cfg: HwConfig, gemm: bool, check_src: bool = False,
               src_offset: int = 0, fold: str | None = None) -> LoopPlan:
    """The fold of ``dims`` with the fewest micro-ops that is legal (module docstring).

    ``fold = "a,b"`` forces dims named a and b into the outer and inner affine loops and
    raises :class:`ScheduleError` if that breaks a limit.  ``src_offset`` is the distance
    between the src and dst regions of an ALU tensor op (for the dst == src hazard rule).
    """
    window = timing.hazard_window(cfg, isa.Gemm() if gemm else isa.Alu())
    lim = _limits(cfg, gemm)
    live = [i for i, d in enumerate(dims) if d.extent > 1]
    names = {d.name: i for i, d in enumerate(dims)}

    def order_of(p: LoopPlan) -> tuple[int, ...]:
        return tuple(i for i in (p.out, p.inner) if i is not None) + p.uops

    def legal(p: LoopPlan) -> bool:
        if not (check_src and p.split):
            return hazard_free(dims, order_of(p), window, check_src, src_offset)
        # each unrolled instruction shifts src and dst by its own offsets
        for point in itertools.product(*(range(dims[i].extent) for i in p.split)):
            delta = sum(v * (dims[i].src - dims[i].dst) for i, v in zip(p.split, point,
                                                                         strict=True))
            if not hazard_free(dims, order_of(p), window, True, src_offset + delta):
                return False
        return True

    if fold is not None:
        parts = [s.strip() for s in fold.split(",")]
        if len(parts) != 2 or any(s not in names for s in parts) or parts[0] == parts[1]:
            raise ScheduleError(f"loop_fold={fold!r} must name two different loop dims of "
                                f"{[d.name for d in dims]}")
        a, b = names[parts[0]], names[parts[1]]
        for i in (a, b):
            if not _fits(dims[i], lim):
                raise ScheduleError(
                    f"loop_fold={fold!r}: dim {dims[i].name} (extent {dims[i].extent}, "
                    f"factors {_coefs(dims[i])}) does not fit the loop fields (extent <= "
                    f"{lim.iters}, factors <= {lim.factor})")
        p = LoopPlan(a, b, _uop_order(dims, [i for i in range(len(dims)) if i not in (a, b)]))
        if not legal(p):
            raise ScheduleError(
                f"loop_fold={fold!r} breaks the accumulator read-after-write window: two "
                f"iterations fewer than {window} apart (gemm/alu_pipeline_depth) would touch "
                f"the same accumulator; the kernel's {p.n_uops(dims)} micro-ops cover too few "
                f"distinct outputs")
        return p

    cands: list[LoopPlan] = []
    fit = [i for i in live if _fits(dims[i], lim)]
    for a, b in itertools.permutations(fit, 2):
        cands.append(LoopPlan(a, b, _uop_order(dims, [i for i in range(len(dims))
                                                    if i not in (a, b)])))
    for b in fit:
        cands.append(LoopPlan(None, b, _uop_order(dims, [i for i in range(len(dims))
                                                       if i != b])))
    cands.append(LoopPlan(None, None, _uop_order(dims, list(range(len(dims))))))
    cands.sort(key=lambda p: p.n_uops(dims))
    for p in cands:
        if legal(p):
            return p
    # Too few distinct accumulators: one instruction per reduction point.
    red = tuple(i for i in live if dims[i].reduce)
    par = [i for i in range(len(dims)) if i not in red]
    pfit = [i for i in par if i in fit]
    best = None
    for a, b in list(itertools.permutations(pfit, 2)) + [(None, b) for b in pfit] + [(None, None)]:
        p = LoopPlan(a, b, tuple(i for i in par if i not in (a, b)), red)
        if legal(p) and (best is None or p.n_uops(dims) < best.n_uops(dims)):
            best = p
    if best is None:  # pragma: no cover - parallel dims have distinct accumulators
        raise ScheduleError(f"no loop fold of {dims} respects the hazard window {window}")
    return best


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
    return tuple(zip(*(_sequence(dims, order, w).tolist() for w in range(3)), strict=True))


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
            loops[f"{name}_factor_{key}"] = _coefs(d)[w]
    for point in itertools.product(*split_ranges):
        b = list(base)
        for i, v in zip(plan.split, point, strict=True):
            for w in range(3):
                b[w] += v * _coefs(dims[i])[w]
        b0, b1, b2 = b
        triples = [(d + b0, s + b1, g + b2) for d, s, g in pattern]
        out.append(LoopInsn(make_uops(triples), dict(loops), kernel_key(triples)))
    return out


def span(dims: tuple[Dim, ...], which: int, base: int) -> tuple[int, int]:
    """[lo, hi) of operand ``which`` over all iterations of ``dims`` (steps are >= 0)."""
    hi = base + sum((d.extent - 1) * _coefs(d)[which] for d in dims) + 1
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


@dataclass(frozen=True)
class GemmPiece:
    """A box of a GEMM tile's iteration space lowered on its own: its dims, the index
    offset of its first iteration (dst, src, wgt), whether it overwrites, and its plan."""

    dims: tuple[Dim, ...]
    offset: tuple[int, int, int]
    overwrite: bool
    plan: LoopPlan


def gemm_pieces(dims: tuple[Dim, ...], cfg: HwConfig, fold: str | None,
                overwrite: bool) -> list[GemmPiece]:
    """The instructions' boxes of a GEMM tile: the whole tile, or for ``overwrite`` its first
    reduction point then, for each reduction dim r in order, the box with the earlier
    reduction dims at 0 and r from 1 (disjoint, covering the rest of the reduction)."""
    if not overwrite:
        return [GemmPiece(dims, (0, 0, 0), False, plan_loops(dims, cfg, True, fold=fold))]
    red = [i for i, d in enumerate(dims) if d.reduce and d.extent > 1]
    boxes = [(tuple(replace(d, extent=1) if i in red else d for i, d in enumerate(dims)),
              (0, 0, 0), True)]
    for j, r in enumerate(red):
        box = [replace(d, extent=1) if i in red[:j] else d for i, d in enumerate(dims)]
        box[r] = replace(dims[r], extent=dims[r].extent - 1)
        boxes.append((tuple(box), _coefs(dims[r]), False))
    out = []
    for box, off, ow in boxes:
        try:  # a forced fold may not suit every box (a dim of extent 1, too few outputs)
            plan = plan_loops(box, cfg, True, fold=fold)
        except ScheduleError:
            plan = plan_loops(box, cfg, True)
        out.append(GemmPiece(box, off, ow, plan))
    return out


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


__all__ = ["LoopPlan", "GemmPiece", "gemm_pieces", "plan_loops", "hazard_free", "expand_plan",
           "span", "KernelTable", "tensorize", "lower_gemm", "LoopInsn", "make_uops",
           "kernel_key"]
