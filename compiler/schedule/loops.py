"""Loop folding: how a tile's loop dims map onto one GEMM/ALU instruction's loops.

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
each.  A tile marked ``overwrite`` (its accumulators were not initialised) starts with a
GEMM ``overwrite`` instruction over its first reduction point, followed by the rest of the
reduction box as disjoint boxes (:func:`gemm_pieces`).

This is part of the schedule (``GemmSchedule.loop_fold`` forces a fold), and both the
legality check (micro-op counts) and the ``tensorize`` pass (which expands the plans into
instructions) read it, so it lives here, below the lowering passes.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from compiler.errors import ScheduleError
from compiler.ir import Dim
from vta_hw import isa, timing
from vta_hw.config import HwConfig


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
        return math.prod(dims[i].extent for i in self.uops)

    def n_instrs(self, dims: tuple[Dim, ...]) -> int:
        return math.prod(dims[i].extent for i in self.split)

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


def coefs(d: Dim) -> tuple[int, int, int]:
    return (d.dst, d.src, d.wgt)


def sequence(dims: tuple[Dim, ...], order: tuple[int, ...], which: int) -> np.ndarray:
    """Index sequence of operand ``which`` over ``order`` (outermost first), one instruction."""
    n = len(order)
    seq = np.zeros((1,) * n, np.int64)
    for axis, i in enumerate(order):
        shape = [1] * n
        shape[axis] = dims[i].extent
        seq = seq + (np.arange(dims[i].extent, dtype=np.int64) * coefs(dims[i])[which]
                     ).reshape(shape)
    return seq.reshape(-1)


def hazard_free(dims: tuple[Dim, ...], order: tuple[int, ...], window: int,
                check_src: bool, src_offset: int = 0) -> bool:
    """True if no iteration reads an accumulator an iteration less than ``window`` earlier
    writes (dst, and for ALU tensor ops src shifted by ``src_offset``)."""
    if not order:
        return True
    dst = sequence(dims, order, 0)
    src = sequence(dims, order, 1) + src_offset if check_src else None
    for k in range(1, min(window, dst.size)):
        if np.any(dst[k:] == dst[:-k]):
            return False
        if src is not None and np.any(src[k:] == dst[:-k]):
            return False
    return True


def _fits(d: Dim, lim: _Limits) -> bool:
    return d.extent <= lim.iters and all(c <= m for c, m in zip(coefs(d), lim.factor,
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
                    f"factors {coefs(dims[i])}) does not fit the loop fields (extent <= "
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
class GemmPiece:
    """A box of a GEMM tile's iteration space lowered on its own: its dims, the index
    offset of its first iteration (dst, src, wgt), whether it overwrites, and its plan."""

    dims: tuple[Dim, ...]
    offset: tuple[int, int, int]
    overwrite: bool
    plan: LoopPlan


@lru_cache(maxsize=8192)
def gemm_pieces(dims: tuple[Dim, ...], cfg: HwConfig, fold: str | None,
                overwrite: bool) -> tuple[GemmPiece, ...]:
    """The instructions' boxes of a GEMM tile: the whole tile, or for ``overwrite`` its first
    reduction point then, for each reduction dim r in order, the box with the earlier
    reduction dims at 0 and r from 1 (disjoint, covering the rest of the reduction).
    Kept: every tile of a schedule, and every schedule of a search, asks again."""
    if not overwrite:
        return (GemmPiece(dims, (0, 0, 0), False, plan_loops(dims, cfg, True, fold=fold)),)
    red = [i for i, d in enumerate(dims) if d.reduce and d.extent > 1]
    boxes = [(tuple(replace(d, extent=1) if i in red else d for i, d in enumerate(dims)),
              (0, 0, 0), True)]
    for j, r in enumerate(red):
        box = [replace(d, extent=1) if i in red[:j] else d for i, d in enumerate(dims)]
        box[r] = replace(dims[r], extent=dims[r].extent - 1)
        boxes.append((tuple(box), coefs(dims[r]), False))
    out = []
    for box, off, ow in boxes:
        try:  # a forced fold may not suit every box (a dim of extent 1, too few outputs)
            plan = plan_loops(box, cfg, True, fold=fold)
        except ScheduleError:
            plan = plan_loops(box, cfg, True)
        out.append(GemmPiece(box, off, ow, plan))
    return tuple(out)



__all__ = ["LoopPlan", "GemmPiece", "gemm_pieces", "plan_loops", "hazard_free", "coefs",
           "sequence"]
