"""The schedule space: how an operator is tiled, ordered and buffered (not what it computes).

:class:`GemmSchedule` (conv2d, depthwise conv2d, dense) and :class:`AluSchedule`
(element-wise, pooling) are frozen values; the autotuner enumerates them, the legality
check (``legality.py``) rejects the ones that break a hardware limit before any code is
generated, and ``heuristic.py`` picks a good default.  :class:`GemmGeom` is the blocked
geometry of a GEMM operator (channel blocks, output size) that tiling, legality and the
heuristic share.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from compiler.errors import ScheduleError, UnsupportedError
from opset import Conv2d, Dense, DepthwiseConv2d
from vta_hw import isa, timing
from vta_hw.config import HwConfig

ORDERS = ("co_outer", "spatial_outer")


@dataclass(frozen=True)
class GemmSchedule:
    """Tiling of a GEMM operator.

    tile_co: output-channel blocks per tile.  tile_ci: input-channel blocks per reduction
    step (ignored by depthwise, whose reduction is its bo/bi diagonal blocks).  tile_h,
    tile_w: output rows and columns per tile.  tile_kh: kernel rows per reduction step
    (0 = all).  virtual_threads: how many copies of every buffer slot rotate, so loads of
    the next tiles and the store of the previous one overlap the current GEMMs (1 = no
    latency hiding).  order: ``co_outer`` (for each output-channel chunk, sweep the image:
    weights stay loaded) or ``spatial_outer`` (for each image tile, sweep the channel
    chunks: the input stays loaded).  hoist_weights, hoist_input: keep a loaded weight
    (input) tile in its slot and skip reloading it while the loops do not change it --
    hoisting the load out of every loop whose index it does not depend on; False reloads
    it for every tile.  loop_fold: force the two dims folded into the GEMM's affine loops
    (``"co,ci"``), None = the fold with fewest micro-ops.  ramp: split the first tile's
    first reduction step into parts along the input channels, so the GEMM core starts after
    the first part's loads instead of the whole tile's (nothing else overlaps them).
    """

    tile_co: int
    tile_ci: int
    tile_h: int
    tile_w: int
    tile_kh: int = 0
    virtual_threads: int = 2
    order: str = "co_outer"
    loop_fold: str | None = None
    hoist_weights: bool = True
    hoist_input: bool = True
    ramp: bool = False

    def replace(self, **changes) -> GemmSchedule:
        return replace(self, **changes)


@dataclass(frozen=True)
class AluSchedule:
    """Tiling of an ALU operator: channel blocks, output rows, output columns (0 = all)
    per tile, and virtual threads (buffer slots in rotation)."""

    tile_c: int
    tile_h: int
    tile_w: int = 0
    virtual_threads: int = 2

    def replace(self, **changes) -> AluSchedule:
        return replace(self, **changes)


Schedule = GemmSchedule | AluSchedule


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class GemmGeom:
    """Blocked geometry of a conv2d / depthwise / dense operator on one config.

    nb: batch blocks.  cib: input-channel blocks of the input tensor.  cob: output-channel
    blocks.  red: input blocks each output block reduces over (cib for conv; bo/bi for
    depthwise).  h, w: input size; ho, wo: output size (dense: 1 x ceil(rows / batch)).
    """

    nb: int
    cib: int
    cob: int
    red: int
    h: int
    w: int
    ho: int
    wo: int
    kh: int
    kw: int
    sh: int
    sw: int
    ph: int
    pw: int
    depthwise: bool
    pad_value: int
    halo: tuple[int, int] = (0, 0)

    def input_rows(self, th: int, kh: int) -> tuple[int, int, int]:
        """(rows in a slot, offset of the first needed row, row step) for ``th`` output
        rows and ``kh`` kernel rows: every ``sh``-th row when one kernel row is used and
        the stride skips rows; the whole stored height when the tile spans it (channel
        blocks are then contiguous in DRAM); else the rows the taps read."""
        if kh == 1 and self.sh > 1:
            return th, 0, self.sh
        if th >= self.ho and kh >= self.kh and self.halo[0] >= self.ph:
            return self.h + 2 * self.halo[0], self.halo[0] - self.ph, 1
        return (th - 1) * self.sh + kh, 0, 1

    def input_cols(self, tw: int) -> tuple[int, int]:
        """(columns in a slot, offset of the first needed column) for ``tw`` output columns:
        whole stored rows when the tile spans them (so rows are contiguous)."""
        if tw >= self.wo and self.halo[1] >= self.pw:
            return self.w + 2 * self.halo[1], self.halo[1] - self.pw
        return (tw - 1) * self.sw + self.kw, 0


def gemm_geometry(op, cfg: HwConfig, options=None) -> GemmGeom:
    """Blocked geometry of ``op`` with the input layout ``options`` (a LayoutOptions:
    stored halo, default the op's padding; im2col, which makes a conv a 1x1 one)."""
    b, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
    halo = getattr(options, "input_halo", None)
    if isinstance(op, (Conv2d, DepthwiseConv2d)):
        halo = tuple(halo) if halo is not None else tuple(op.pad)
    if options is not None and options.use_im2col(op, bi):
        cib = _ceil(op.c * op.kh * op.kw, bi)
        return GemmGeom(_ceil(op.n, b), cib, _ceil(op.o, bo), cib, op.ho, op.wo, op.ho, op.wo,
                        1, 1, 1, 1, 0, 0, False, 0)
    if isinstance(op, Conv2d):
        cib = _ceil(op.c, bi)
        return GemmGeom(_ceil(op.n, b), cib, _ceil(op.o, bo), cib, op.h, op.w, op.ho, op.wo,
                        op.kh, op.kw, op.stride[0], op.stride[1], op.pad[0], op.pad[1], False,
                        op.pad_value, halo)
    if isinstance(op, DepthwiseConv2d):
        if bo % bi:
            raise UnsupportedError(f"depthwise conv2d needs block_out ({bo}) to be a multiple "
                                   f"of block_in ({bi}) on config {cfg.name!r}")
        g = bo // bi
        cob = _ceil(op.c, bo)
        return GemmGeom(_ceil(op.n, b), cob * g, cob, g, op.h, op.w, op.ho, op.wo, op.kh,
                        op.kw, op.stride[0], op.stride[1], op.pad[0], op.pad[1], True,
                        op.pad_value, halo)
    if isinstance(op, Dense):
        cols = _ceil(op.n, b)
        cib = _ceil(op.i, bi)
        return GemmGeom(1, cib, _ceil(op.o, bo), cib, 1, cols, 1, cols, 1, 1, 1, 1, 0, 0,
                        False, 0)
    raise ScheduleError(f"{type(op).__name__} is not a GEMM operator")


@dataclass(frozen=True)
class GemmFootprint:
    """SRAM elements one buffer slot of each kind needs for full-size tiles."""

    co: int
    ci: int
    kh: int
    rows: int
    cols: int
    inp: int
    wgt: int
    acc: int
    res: int
    consts: int


def gemm_footprint(g: GemmGeom, s: GemmSchedule, residual: bool, const_rows: int
                   ) -> GemmFootprint:
    co = min(s.tile_co, g.cob)
    ci = co * g.red if g.depthwise else min(s.tile_ci, g.cib)
    kh = min(s.tile_kh or g.kh, g.kh)
    th, tw = min(s.tile_h, g.ho), min(s.tile_w, g.wo)
    rows, cols = g.input_rows(th, kh)[0], g.input_cols(tw)[0]
    red = g.red if g.depthwise else ci
    acc = co * th * tw
    return GemmFootprint(co, ci, kh, rows, cols, ci * rows * cols, co * red * kh * g.kw, acc,
                         acc if residual else 0, const_rows * g.cob)


__all__ = ["GemmSchedule", "AluSchedule", "Schedule", "GemmGeom", "gemm_geometry",
           "GemmFootprint", "gemm_footprint", "ORDERS"]


def alu_blocks(op, cfg: HwConfig) -> tuple[int, int, int, int]:
    """(batch blocks, channel blocks, output rows, output cols) of an ALU operator."""
    from opset import Elementwise, GlobalAvgPool, Pool2d

    b, bo = cfg.batch, cfg.block_out
    if isinstance(op, Elementwise):
        n, c, h, w = op.shape
        return _ceil(n, b), _ceil(c, bo), h, w
    if isinstance(op, Pool2d):
        return _ceil(op.n, b), _ceil(op.c, bo), op.ho, op.wo
    if isinstance(op, GlobalAvgPool):
        return _ceil(op.n, b), _ceil(op.c, bo), op.h, op.w
    raise ScheduleError(f"{type(op).__name__} is not an ALU operator")


def alu_footprint(op, s: AluSchedule, cfg: HwConfig) -> dict[str, int]:
    """acc elements of one slot of each region an ALU operator's tile uses (first listed
    region is the one stored, so it must lie below out_buff_depth)."""
    from opset import Elementwise, GlobalAvgPool, Pool2d

    _, cb, h, w = alu_blocks(op, cfg)
    ct, th = min(s.tile_c, cb), min(s.tile_h, h)
    if isinstance(op, GlobalAvgPool):
        return {"part": timing.hazard_window(cfg, isa.Alu()) * ct, "in": ct * th * w}
    tw = min(s.tile_w or w, w)
    if isinstance(op, Elementwise):
        out = {"a": ct * th * tw}
        if op.binary:
            out["b"] = ct * th * tw
        return out
    assert isinstance(op, Pool2d)
    rows, cols = (th - 1) * op.stride[0] + op.kh, (tw - 1) * op.stride[1] + op.kw
    return {"out": ct * th * tw, "in": ct * rows * cols}


__all__ += ["alu_blocks", "alu_footprint"]
