"""The schedule space of one operator on one config, as a value a search can index.

:func:`candidates` returns a :class:`ScheduleSpace`: a box of named axes (the choices of
every schedule field) whose points are schedules.  The box is never materialised: a point
is an integer index (mixed radix over the axes, the first axis slowest), so a tuner can
draw, mutate and index points of spaces of millions cheaply; :attr:`ScheduleSpace.size`
is the number of points, iteration yields the legal ones lazily in index order.

GEMM operators (conv2d, depthwise conv2d, dense; :class:`GemmSchedule`):

    tile_co, tile_ci, tile_h, tile_w   one tile size per tile count along the axis
                                       (``balanced``: ceil(n / k) for k = 1..n), the
                                       smallest size giving that count, so equal-ish tiles
    tile_kh                            kernel rows per reduction step, 0 = all (balanced)
    virtual_threads                    1 .. MAX_VIRTUAL_THREADS
    order                              ``co_outer``, ``spatial_outer``
    loop_fold                          None (the fewest micro-ops) or a forced pair of dims
    hoist_weights, hoist_input         keep loaded tiles, or reload them
    ramp                               split the first tile's first reduction step

ALU operators (element-wise, pooling, global average pooling; :class:`AluSchedule`):
``tile_c``, ``tile_h``, ``tile_w`` (0 = the whole row, then the balanced sizes below it)
and ``virtual_threads``.

A point is *legal* when :func:`~compiler.schedule.legality.check_schedule` accepts it; a
point whose program another point already gives (``ramp`` with one input-channel block or a
depthwise op, the second loop order where the loops do not nest, :func:`same_program`) is
not a member.  Legality is decided without generating code: the SRAM capacity of every
tile combination is computed at once with numpy (:meth:`ScheduleSpace.fits`), the rest
(micro-op buffer, loop fields) by the legality check on the points that fit.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from compiler.errors import ScheduleError
from compiler.layout import LayoutOptions
from compiler.schedule.legality import check_schedule
from compiler.schedule.space import (
    ORDERS,
    AluSchedule,
    GemmGeom,
    GemmSchedule,
    Schedule,
    alu_blocks,
    gemm_geometry,
)
from opset import Conv2d, Dense, DepthwiseConv2d, Elementwise, GlobalAvgPool, Pool2d
from vta_hw.config import HwConfig

MAX_VIRTUAL_THREADS = 4
FOLD_DIMS = ("co", "ci", "kh", "kw", "oh", "ow")
# None: the automatic fold; else every ordered pair of loop dims (outer, inner)
FOLDS: tuple[str | None, ...] = (None,) + tuple(f"{a},{b}" for a, b in
                                                itertools.permutations(FOLD_DIMS, 2))
GEMM_OPS = (Conv2d, DepthwiseConv2d, Dense)
ALU_OPS = (Elementwise, Pool2d, GlobalAvgPool)


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def balanced(n: int, limit: int | None = None) -> list[int]:
    """Tile sizes that split ``n`` into equal-ish parts: ceil(n / k) for k = 1..n, largest
    first (one size per tile count)."""
    out = sorted({_ceil(n, k) for k in range(1, n + 1)}, reverse=True)
    return [v for v in out if limit is None or v <= limit]


def same_program(g: GemmGeom, s: GemmSchedule) -> GemmSchedule:
    """The representative of the schedules that lower to ``s``'s program: the loop order
    only permutes the output tiles when both the output-channel loop and the spatial loops
    have more than one tile (``schedule.tiles.gemm_tiles``), so otherwise ``s`` with the
    first order."""
    n_co = _ceil(g.cob, min(s.tile_co, g.cob))
    n_sp = _ceil(g.ho, min(s.tile_h, g.ho)) * _ceil(g.wo, min(s.tile_w, g.wo))
    return s.replace(order=ORDERS[0]) if min(n_co, n_sp) == 1 else s


@dataclass(frozen=True)
class Axis:
    """One schedule field and the values the space gives it."""

    name: str
    values: tuple

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True, eq=False)
class ScheduleSpace:
    """Every schedule of ``op`` on ``cfg`` (module docstring).

    axes: the schedule fields in index order (first slowest).  kind: the schedule class
    whose constructor takes the axes' values as keywords.  geom: the blocked geometry
    (GEMM operators; None for ALU operators)."""

    op: object
    cfg: HwConfig
    options: LayoutOptions
    kind: type
    axes: tuple[Axis, ...]
    geom: GemmGeom | None = None
    _strides: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        strides, step = [], 1
        for a in reversed(self.axes):
            strides.append(step)
            step *= len(a)
        object.__setattr__(self, "_strides", tuple(reversed(strides)))

    # ------------------------------------------------------------------ indexing
    @property
    def size(self) -> int:
        """Points in the box (members or not, legal or not)."""
        return math.prod(len(a) for a in self.axes)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)

    def restrict(self, **values) -> ScheduleSpace:
        """The sub-space whose axes named in ``values`` take only the given values (each a
        tuple of the axis's own values, in its order): a search or an exhaustive sweep
        over part of a space too big to enumerate, e.g. ``restrict(loop_fold=(None,))``."""
        axes = []
        for a in self.axes:
            if a.name not in values:
                axes.append(a)
                continue
            keep = tuple(values.pop(a.name))
            bad = [v for v in keep if v not in a.values]
            if bad or not keep:
                raise ValueError(f"{a.name}: {bad or 'no values'} not among the space's "
                                 f"{a.values}")
            axes.append(Axis(a.name, tuple(v for v in a.values if v in keep)))
        if values:
            raise ValueError(f"{sorted(values)}: no such axis (axes: {self.names})")
        return ScheduleSpace(self.op, self.cfg, self.options, self.kind, tuple(axes), self.geom)

    def describe(self) -> str:
        """One line for logs and reports: the op, the size and each axis's choice count."""
        axes = " x ".join(f"{a.name} {len(a)}" for a in self.axes)
        return f"{self.op.name} on {self.cfg.name}: {self.size:,} points ({axes})"

    def choices(self) -> dict[str, tuple]:
        """Axis name -> the values it takes."""
        return {a.name: a.values for a in self.axes}

    def coords(self, index: int) -> tuple[int, ...]:
        """Per-axis value indices of point ``index``."""
        if not 0 <= index < self.size:
            raise IndexError(f"point {index} is outside the space of {self.size} points")
        return tuple((index // st) % len(a) for a, st in zip(self.axes, self._strides,
                                                              strict=True))

    def index_of(self, coords: tuple[int, ...]) -> int:
        return sum(c * st for c, st in zip(coords, self._strides, strict=True))

    def from_coords(self, coords: tuple[int, ...]) -> Schedule:
        return self.kind(**{a.name: a.values[c] for a, c in zip(self.axes, coords,
                                                                 strict=True)})

    def __getitem__(self, index: int) -> Schedule:
        """The schedule at point ``index`` (whether or not it is legal)."""
        return self.from_coords(self.coords(index))

    def index(self, s: Schedule) -> int:
        """The point of schedule ``s``; ValueError when a field takes a value the space
        does not give it (``s`` is not a point of the box)."""
        if not isinstance(s, self.kind):
            raise ValueError(f"{self.op.name}'s space holds {self.kind.__name__}s, not "
                             f"{type(s).__name__}")
        coords = []
        for a in self.axes:
            v = getattr(s, a.name)
            if v not in a.values:
                raise ValueError(f"{a.name}={v!r} is not a choice of {self.op.name}'s space "
                                 f"{a.values}")
            coords.append(a.values.index(v))
        return self.index_of(tuple(coords))

    # ------------------------------------------------------------------ membership
    def is_member(self, s: Schedule) -> bool:
        """Whether ``s`` is a point of the box and the representative of its program."""
        try:
            self.index(s)
        except ValueError:
            return False
        return self._representative(s)

    def _representative(self, s: Schedule) -> bool:
        """Whether no point before ``s`` gives its program (a point of the box assumed)."""
        g = self.geom
        if g is None:
            return True
        if s.ramp and (g.depthwise or min(s.tile_ci, g.cib) < 2):
            return False
        return same_program(g, s) == s

    def violation(self, s: Schedule) -> str | None:
        """Why ``s`` is not a legal member of the space (None: it is)."""
        if not self.is_member(s):
            return f"{s} is not a member of {self.op.name}'s schedule space"
        try:
            check_schedule(self.op, s, self.cfg, self.options)
        except ScheduleError as e:
            return str(e)
        return None

    def is_legal(self, s: Schedule) -> bool:
        return self.violation(s) is None

    # ------------------------------------------------------------------ capacity
    @cached_property
    def fits(self) -> np.ndarray:
        """Boolean array over the tile axes (all axes before ``order``, or all axes of an
        ALU space): whether the tiles fit the SRAM buffers -- the necessary condition of
        legality that does not depend on the remaining axes, computed at once."""
        if self.geom is None:
            return self._alu_fits()
        return _gemm_fits(self.op, self.cfg, self.geom, self.choices())

    def _alu_fits(self) -> np.ndarray:
        shape = tuple(len(a) for a in self.axes)
        out = np.zeros(shape, dtype=bool)
        for coords in itertools.product(*(range(n) for n in shape)):
            try:
                check_schedule(self.op, self.from_coords(coords), self.cfg, self.options)
            except ScheduleError:
                continue
            out[coords] = True
        return out

    # ------------------------------------------------------------------ enumeration
    def __iter__(self) -> Iterator[Schedule]:
        """The legal members, lazily, in index order."""
        for _, s in self.enumerate():
            yield s

    def enumerate(self) -> Iterator[tuple[int, Schedule]]:
        """(index, schedule) of every legal member, lazily, in index order."""
        tile_dims = self.fits.ndim
        inner = [range(len(a)) for a in self.axes[tile_dims:]]
        for head in zip(*np.nonzero(self.fits), strict=True):
            head = tuple(int(c) for c in head)
            for tail in itertools.product(*inner):
                coords = head + tail
                s = self.from_coords(coords)
                if not self._representative(s):
                    continue
                if self.geom is None:  # fits already ran the whole check
                    yield self.index_of(coords), s
                    continue
                try:
                    check_schedule(self.op, s, self.cfg, self.options)
                except ScheduleError:
                    continue
                yield self.index_of(coords), s

    def count(self) -> int:
        """Legal members (enumerates them: see :meth:`estimate_count` for big spaces)."""
        return sum(1 for _ in self.enumerate())

    def sample(self, rng: np.random.Generator, n: int, max_draws: int | None = None
               ) -> list[Schedule]:
        """Up to ``n`` distinct legal members drawn uniformly (rejection sampling over the
        points whose tiles fit; at most ``max_draws`` draws, default 50 per wanted)."""
        heads = np.argwhere(self.fits)
        if not len(heads):
            return []
        tail_axes = self.axes[self.fits.ndim:]
        out: dict[Schedule, None] = {}
        for _ in range(max_draws if max_draws is not None else 50 * n):
            if len(out) >= n:
                break
            head = tuple(int(c) for c in heads[rng.integers(len(heads))])
            tail = tuple(int(rng.integers(len(a))) for a in tail_axes)
            s = self.from_coords(head + tail)
            if s not in out and self.is_legal(s):
                out[s] = None
        return list(out)

    def estimate_count(self, rng: np.random.Generator, draws: int = 2000) -> float:
        """Estimated number of legal members: the points whose tiles fit times the legal
        fraction of ``draws`` uniform draws among them."""
        heads = np.argwhere(self.fits)
        if not len(heads):
            return 0.0
        tail_axes = self.axes[self.fits.ndim:]
        n_tail = math.prod(len(a) for a in tail_axes)
        hits = 0
        for _ in range(draws):
            head = tuple(int(c) for c in heads[rng.integers(len(heads))])
            tail = tuple(int(rng.integers(len(a))) for a in tail_axes)
            hits += self.is_legal(self.from_coords(head + tail))
        return len(heads) * n_tail * hits / draws

    def neighbours(self, s: Schedule) -> list[Schedule]:
        """Legal members that differ from ``s`` in one axis by one step (the moves of a
        local search)."""
        coords = list(self.coords(self.index(s)))
        out = []
        for k, a in enumerate(self.axes):
            for d in (-1, 1):
                c = coords[k] + d
                if 0 <= c < len(a):
                    t = self.from_coords(tuple(coords[:k] + [c] + coords[k + 1:]))
                    if self.is_legal(t):
                        out.append(t)
        return out


def _gemm_fits(op, cfg: HwConfig, g: GemmGeom, ch: dict[str, tuple]) -> np.ndarray:
    """Capacity of every (tile_co, tile_ci, tile_kh, tile_h, tile_w, virtual_threads)
    combination: the footprints of ``space.gemm_footprint`` as broadcast arrays."""
    ep = op.epilogue
    co = np.minimum(np.array(ch["tile_co"]), g.cob)[:, None, None, None, None, None]
    if g.depthwise:
        ci = co * g.red
    else:
        ci = np.minimum(np.array(ch["tile_ci"]), g.cib)[None, :, None, None, None, None]
    kh_vals = [min(k or g.kh, g.kh) for k in ch["tile_kh"]]
    th_vals = [min(t, g.ho) for t in ch["tile_h"]]
    tw_vals = [min(t, g.wo) for t in ch["tile_w"]]
    kh = np.array(kh_vals)[None, None, :, None, None, None]
    rows = np.array([[g.input_rows(t, k)[0] for t in th_vals] for k in kh_vals]
                    )[None, None, :, :, None, None]
    cols = np.array([g.input_cols(t)[0] for t in tw_vals])[None, None, None, None, :, None]
    th = np.array(th_vals)[None, None, None, :, None, None]
    tw = np.array(tw_vals)[None, None, None, None, :, None]
    vt = np.array(ch["virtual_threads"])[None, None, None, None, None, :]
    red = g.red if g.depthwise else ci
    inp = ci * rows * cols
    wgt = co * red * kh * g.kw
    acc = co * th * tw
    res = acc if ep.residual else 0
    consts = len(ep.const_rows()) * g.cob
    ok = ((vt * inp <= cfg.inp_buff_depth) & (vt * wgt <= cfg.wgt_buff_depth)
          & (vt * acc <= cfg.out_buff_depth) & (vt * (acc + res) + consts <= cfg.acc_buff_depth))
    shape = tuple(len(ch[k]) for k in ("tile_co", "tile_ci", "tile_kh", "tile_h", "tile_w",
                                       "virtual_threads"))
    return np.broadcast_to(ok, shape).copy()


def gemm_axes(g: GemmGeom) -> tuple[Axis, ...]:
    kh = balanced(g.kh)
    return (Axis("tile_co", tuple(balanced(g.cob))),
            Axis("tile_ci", (g.red,) if g.depthwise else tuple(balanced(g.cib))),
            Axis("tile_kh", tuple(0 if k == g.kh else k for k in kh)),
            Axis("tile_h", tuple(balanced(g.ho))),
            Axis("tile_w", tuple(balanced(g.wo))),
            Axis("virtual_threads", tuple(range(1, MAX_VIRTUAL_THREADS + 1))),
            Axis("order", ORDERS),
            Axis("loop_fold", FOLDS),
            Axis("hoist_weights", (True, False)),
            Axis("hoist_input", (True, False)),
            Axis("ramp", (False, True)))


def alu_axes(op, cfg: HwConfig) -> tuple[Axis, ...]:
    _, cb, h, w = alu_blocks(op, cfg)
    widths = (0,) if isinstance(op, GlobalAvgPool) else (0,) + tuple(balanced(w)[1:])
    return (Axis("tile_c", tuple(balanced(cb))), Axis("tile_w", widths),
            Axis("tile_h", tuple(balanced(h))),
            Axis("virtual_threads", tuple(range(1, MAX_VIRTUAL_THREADS + 1))))


def candidates(op, cfg: HwConfig, options: LayoutOptions | None = None) -> ScheduleSpace:
    """The schedule space of ``op`` on ``cfg`` with input layout ``options`` (module
    docstring); :class:`ScheduleError` for an operator with no schedule space."""
    options = options or LayoutOptions()
    if isinstance(op, GEMM_OPS):
        g = gemm_geometry(op, cfg, options)
        return ScheduleSpace(op, cfg, options, GemmSchedule, gemm_axes(g), g)
    if isinstance(op, ALU_OPS):
        return ScheduleSpace(op, cfg, options, AluSchedule, alu_axes(op, cfg))
    raise ScheduleError(f"no schedule space for {type(op).__name__}")


__all__ = ["ScheduleSpace", "Axis", "candidates", "balanced", "same_program", "FOLDS",
           "MAX_VIRTUAL_THREADS", "gemm_axes", "alu_axes"]
