"""Tile geometry of a GEMM schedule: the output tiles in execution order, their reduction
steps, the buffer slot each operand takes, and each step's loop dims.

A schedule's tiles are what every consumer of a schedule reads: the legality check counts
their micro-op kernels, the feature extractor their DMA transfers, and the ``tiling`` pass
turns them into tile-level IR.  Which slot a tile uses is decided here (``virtual_threads``
slots per buffer in rotation); a load whose data is already in a slot is skipped, which
hoists the weights out of the spatial loops for ``order="co_outer"`` or the input out of the
channel loop for ``spatial_outer`` (unless ``hoist_weights``/``hoist_input`` say not to).

Layouts inside a slot are dense boxes: inputs ``[ci][row][col]``, weights
``[co][ci][kh][kw]``, accumulators ``[co][oh][ow]`` -- so a GEMM tile is the contraction
over the dims ``co, ci, kh, kw, oh, ow`` with affine index steps (:func:`gemm_dims`) that
:func:`compiler.schedule.loops.plan_loops` folds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from compiler.ir import Dim
from compiler.schedule.space import GemmGeom, GemmSchedule


class SlotRotation:
    """Which slot of a buffer holds which data: hits reuse a slot, misses take the next.

    With ``reuse=False`` every request is a miss (the load is not hoisted)."""

    def __init__(self, n: int, reuse: bool = True):
        self.keys: list[object] = [None] * n
        self.next = 0
        self.reuse = reuse

    def get(self, key: object) -> tuple[int, bool]:
        """(slot, must_load)."""
        if self.reuse and key in self.keys:
            return self.keys.index(key), False
        s = self.next
        self.keys[s] = key
        self.next = (s + 1) % len(self.keys)
        return s, True


@dataclass(frozen=True)
class RedStep:
    """One reduction step of an output tile: input-channel blocks and kernel rows."""

    ci0: int
    ci: int
    kh0: int
    kh: int
    rows: int
    cols: int
    ystep: int  # input rows between consecutive slot rows (> 1: strided rows skipped)
    y_in: int  # input box origin (may lie in the padding)
    x_in: int
    src_off: int  # where the first needed input element lies in the slot
    inp_slot: int
    inp_load: bool
    wgt_slot: int
    wgt_load: bool
    part: tuple[int, int] = (0, 0)  # (first, count) of the step's ci blocks; count 0: all

    @property
    def p0(self) -> int:
        return self.part[0]

    @property
    def n_ci(self) -> int:
        """Input-channel blocks this step loads and contracts (a part of a split step)."""
        return self.part[1] or self.ci


RAMP_PARTS = 4  # the first tile's reduction is split so the GEMM core starts early


@dataclass(frozen=True)
class OutTile:
    index: int
    nb: int
    co0: int
    co: int
    y0: int
    h: int
    x0: int
    w: int
    acc_slot: int
    steps: tuple[RedStep, ...]


def gemm_tiles(g: GemmGeom, s: GemmSchedule) -> list[OutTile]:
    """The output tiles of a GEMM operator in execution order, with their slots."""
    vt = s.virtual_threads
    co_t, th, tw = min(s.tile_co, g.cob), min(s.tile_h, g.ho), min(s.tile_w, g.wo)
    kh_t = min(s.tile_kh or g.kh, g.kh)
    ci_t = min(s.tile_ci, g.cib)
    cos, ys, xs = range(0, g.cob, co_t), range(0, g.ho, th), range(0, g.wo, tw)
    if s.order == "co_outer":
        outer = [(nb, c, y, x) for nb in range(g.nb) for c in cos for y in ys for x in xs]
    else:
        outer = [(nb, c, y, x) for nb in range(g.nb) for y in ys for x in xs for c in cos]
    inp, wgt = SlotRotation(vt, s.hoist_input), SlotRotation(vt, s.hoist_weights)
    tiles = []
    for t, (nb, co0, y0, x0) in enumerate(outer):
        cot, tht, twt = min(co_t, g.cob - co0), min(th, g.ho - y0), min(tw, g.wo - x0)
        if g.depthwise:
            cis = [(co0 * g.red, cot * g.red)]
        else:
            cis = [(c, min(ci_t, g.cib - c)) for c in range(0, g.cib, ci_t)]
        steps = []
        for ci0, cit in cis:
            for kh0 in range(0, g.kh, kh_t):
                kht = min(kh_t, g.kh - kh0)
                rows, yoff, ystep = g.input_rows(tht, kht)
                cols, xoff = g.input_cols(twt)
                yi, xi = y0 * g.sh - g.ph + kh0 - yoff, x0 * g.sw - g.pw - xoff
                i, li = inp.get(("x", nb, ci0, cit, yi, rows, ystep, xi, cols))
                wkey = ("w", co0, cot, kh0, kht) if g.depthwise else ("w", co0, cot, ci0, cit,
                                                                     kh0, kht)
                j, lj = wgt.get(wkey)
                steps.append(RedStep(ci0, cit, kh0, kht, rows, cols, ystep, yi, xi,
                                     yoff * cols + xoff, i, li, j, lj))
        if s.ramp and t == 0 and not g.depthwise and steps[0].ci > 1:
            # Ramp-up: nothing overlaps the first tile's loads, so split its first step
            # along the input channels; the first GEMM waits only for the first part.
            first = steps[0]
            steps[0:1] = [replace(first, part=cut) for cut in cuts(first.ci, RAMP_PARTS)]
        tiles.append(OutTile(t, nb, co0, cot, y0, tht, x0, twt, t % vt, tuple(steps)))
    return tiles


def cuts(n: int, parts: int) -> list[tuple[int, int]]:
    """``n`` split into at most ``parts`` (start, size) ranges."""
    parts = max(1, min(parts, n))
    bounds = [n * i // parts for i in range(parts + 1)]
    return [(a, b - a) for a, b in zip(bounds, bounds[1:], strict=False)]


def gemm_dims(g: GemmGeom, t: OutTile, st: RedStep) -> tuple[Dim, ...]:
    """Loop dims of one reduction step of an output tile (see the module docstring)."""
    pix = t.h * t.w
    rc = st.rows * st.cols
    if g.depthwise:
        gr = g.red
        return (Dim("co", t.co, dst=pix, src=gr * rc, wgt=gr * st.kh * g.kw),
                Dim("ci", gr, src=rc, wgt=st.kh * g.kw, reduce=True),
                Dim("kh", st.kh, src=st.cols, wgt=g.kw, reduce=True),
                Dim("kw", g.kw, src=1, wgt=1, reduce=True),
                Dim("oh", t.h, dst=t.w, src=g.sh // st.ystep * st.cols),
                Dim("ow", t.w, dst=1, src=g.sw))
    return (Dim("co", t.co, dst=pix, wgt=st.ci * st.kh * g.kw),
            Dim("ci", st.n_ci, src=rc, wgt=st.kh * g.kw, reduce=True),
            Dim("kh", st.kh, src=st.cols, wgt=g.kw, reduce=True),
            Dim("kw", g.kw, src=1, wgt=1, reduce=True),
            Dim("oh", t.h, dst=t.w, src=g.sh // st.ystep * st.cols),
            Dim("ow", t.w, dst=1, src=g.sw))


def dims_key(t: OutTile, st: RedStep) -> tuple[int, ...]:
    """What :func:`gemm_dims` reads of a tile and step (equal keys, equal dims): a cheap
    key for counting a schedule's distinct kernels without building their dims."""
    return (t.co, t.h, t.w, st.ci, st.n_ci, st.kh, st.rows, st.cols, st.ystep)


def overwrites(ep, step: int) -> bool:
    """Whether reduction step ``step`` of a tile overwrites its accumulators: the first one
    when no bias initialises them (a GEMM ``overwrite`` instead of a reset pass)."""
    return step == 0 and not ep.bias


__all__ = ["SlotRotation", "RedStep", "OutTile", "RAMP_PARTS", "gemm_tiles", "cuts",
           "gemm_dims", "dims_key", "overwrites"]
