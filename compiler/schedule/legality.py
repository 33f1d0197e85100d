"""Legality of a schedule, checked before any code is generated.

Every limit comes from the hardware contract (``HwConfig`` depths, ``isa.formats(cfg)``
field widths, the pipeline depths of the hazard window) and every violation raises
:class:`~compiler.errors.ScheduleError` naming the limit and the numbers that broke it:

* SRAM capacity: virtual_threads x slot size of the inp, wgt and acc buffers (plus
  residual and constant regions), and the stored accumulator tiles below
  ``out_buff_depth`` (the out buffer mirrors acc only there);
* the micro-op buffer: the distinct kernels the tiles need (computed with the same loop
  folding ``tensorize`` uses);
* DMA fields: padding a load must insert (when the padding is not stored as a halo) within
  the 4-bit pad fields, row strides within ``x_stride``;
* loop fields and the accumulator read-after-write window: a forced ``loop_fold`` must fit
  the loop-extent and factor fields and keep same-accumulator iterations at least
  ``gemm_pipeline_depth`` apart (the automatic fold always can).
"""

from __future__ import annotations

import functools

from compiler.errors import ScheduleError
from compiler.ir import Dim
from compiler.layout import LayoutOptions
from compiler.schedule.loops import gemm_pieces, plan_loops
from compiler.schedule.space import (
    ORDERS,
    AluSchedule,
    GemmGeom,
    GemmSchedule,
    alu_blocks,
    alu_footprint,
    gemm_footprint,
    gemm_geometry,
)
from compiler.schedule.tiles import dims_key, gemm_dims, gemm_tiles, overwrites
from opset import Conv2d, Dense, DepthwiseConv2d, Elementwise, GlobalAvgPool, Pool2d
from vta_hw import isa
from vta_hw.config import HwConfig


def _need(ok: bool, msg: str) -> None:
    if not ok:
        raise ScheduleError(msg)


def _positive(s, names: tuple[str, ...], allow_zero: tuple[str, ...] = ()) -> None:
    for k in names:
        v = getattr(s, k)
        lo = 0 if k in allow_zero else 1
        _need(isinstance(v, int) and not isinstance(v, bool) and v >= lo,
              f"schedule {k}={v!r} must be an integer >= {lo}")


def _pad_field(cfg: HwConfig) -> int:
    return isa.formats(cfg)[isa.Opcode.LOAD].field("y_pad_0").max


def _stride_field(cfg: HwConfig) -> int:
    return isa.formats(cfg)[isa.Opcode.LOAD].field("x_stride").max


def _check_pads(op, cfg: HwConfig, options: LayoutOptions) -> None:
    halo = options.input_halo if options.input_halo is not None else op.pad
    lim = _pad_field(cfg)
    for axis, p, h in (("height", op.pad[0], halo[0]), ("width", op.pad[1], halo[1])):
        _need(p - h <= lim, f"DMA padding: the input loads must insert {p - h} pad "
                            f"{'rows' if axis == 'height' else 'columns'} ({axis} padding {p} - "
                            f"stored halo {h}) > the {lim}-element pad field; store the "
                            f"padding as a halo (LayoutOptions.input_halo)")


def gemm_uops(op, s: GemmSchedule, cfg: HwConfig, options: LayoutOptions | None = None
              ) -> int:
    """Micro-ops the tiles of ``s`` need (GEMM kernels exactly, ALU kernels counted)."""
    g = gemm_geometry(op, cfg, options or LayoutOptions())
    ep = op.epilogue
    boxes, alu_slots = _kernel_boxes(g, s.replace(loop_fold=None), overwrites(ep, 0),
                                     bool(ep.const_rows()))
    total = 0
    for (dims, overwrite), n in boxes:
        uops = _box_uops(dims, cfg, s.loop_fold, overwrite)
        if isinstance(uops, str):
            raise ScheduleError(uops)
        total += n * uops
    n_tensor = (1 if ep.bias else 0) + (2 if ep.per_channel else 0)
    return total + alu_slots * n_tensor + s.virtual_threads * (2 if ep.residual else 1)


@functools.lru_cache(maxsize=8192)
def _box_uops(dims: tuple[Dim, ...], cfg: HwConfig, fold: str | None, overwrite: bool
              ) -> int | str:
    """Micro-ops of one GEMM kernel's boxes, or why ``fold`` cannot lower it (kept, errors
    too: a search asks for the same few kernels under every fold many times)."""
    try:
        return sum(pc.plan.total_uops(pc.dims) for pc in gemm_pieces(dims, cfg, fold, overwrite))
    except ScheduleError as e:
        return str(e)


@functools.lru_cache(maxsize=1024)
def _kernel_boxes(g: GemmGeom, s: GemmSchedule, overwrite_first: bool, per_block: bool
                  ) -> tuple[tuple[tuple[tuple[tuple[Dim, ...], bool], int], ...], int]:
    """The distinct GEMM kernels of ``s``'s tiles, as ((loop dims, overwrite), how many
    kernels have them), and the number of distinct ALU init/epilogue kernels.  Kernels
    differ by their dims and by the slots and offsets they index; the walk over the tiles
    does not depend on ``loop_fold``, so the schedule space's fold variants share it."""
    seen: set = set()
    counts: dict[tuple, int] = {}
    first: dict[tuple[int, ...], tuple] = {}
    alu: set = set()
    for t in gemm_tiles(g, s):
        for k, st in enumerate(t.steps):
            shape = dims_key(t, st)
            overwrite = overwrite_first and k == 0
            key = (shape, t.acc_slot, st.inp_slot, st.wgt_slot, st.src_off, st.p0, overwrite)
            if key not in seen:
                seen.add(key)
                counts[shape, overwrite] = counts.get((shape, overwrite), 0) + 1
                first.setdefault(shape, (t, st))
        alu.add((t.acc_slot, t.co0 if per_block else 0))
    boxes: dict[tuple[tuple[Dim, ...], bool], int] = {}
    for (shape, ow), n in counts.items():
        box = (gemm_dims(g, *first[shape]), ow)
        boxes[box] = boxes.get(box, 0) + n
    return tuple(boxes.items()), len(alu)


def check_gemm(op, s: GemmSchedule, cfg: HwConfig, options: LayoutOptions) -> None:
    _need(isinstance(s, GemmSchedule), f"{op.name} needs a GemmSchedule, got "
                                       f"{type(s).__name__}")
    _positive(s, ("tile_co", "tile_ci", "tile_h", "tile_w", "virtual_threads", "tile_kh"),
              allow_zero=("tile_kh",))
    _need(s.order in ORDERS, f"schedule order={s.order!r} must be one of {ORDERS}")
    g = gemm_geometry(op, cfg, options)
    ep = op.epilogue
    rows = ep.const_rows()
    fp = gemm_footprint(g, s, ep.residual, len(rows))
    vt = s.virtual_threads
    red = g.red if g.depthwise else fp.ci
    _need(vt * fp.inp <= cfg.inp_buff_depth,
          f"inp buffer: {vt} virtual thread(s) x {fp.ci} channel block(s) x {fp.rows} rows x "
          f"{fp.cols} columns = {vt * fp.inp} elements > inp_buff_depth {cfg.inp_buff_depth}")
    _need(vt * fp.wgt <= cfg.wgt_buff_depth,
          f"wgt buffer: {vt} virtual thread(s) x {fp.co} output block(s) x {red} input "
          f"block(s) x {fp.kh} x {g.kw} taps = {vt * fp.wgt} elements > wgt_buff_depth "
          f"{cfg.wgt_buff_depth}")
    th, tw = min(s.tile_h, g.ho), min(s.tile_w, g.wo)
    _need(vt * fp.acc <= cfg.out_buff_depth,
          f"acc tiles: {vt} virtual thread(s) x {fp.co} block(s) x {th} x {tw} pixels = "
          f"{vt * fp.acc} elements > out_buff_depth {cfg.out_buff_depth} (stores read the "
          f"out buffer, which mirrors only that much of acc)")
    acc_total = vt * (fp.acc + fp.res) + fp.consts
    _need(acc_total <= cfg.acc_buff_depth,
          f"acc buffer: {vt} x ({fp.acc} accumulator + {fp.res} residual) + {fp.consts} "
          f"constant elements = {acc_total} > acc_buff_depth {cfg.acc_buff_depth}")
    if isinstance(op, (Conv2d, DepthwiseConv2d)) and not options.use_im2col(op, cfg.block_in):
        _check_pads(op, cfg, options)
        halo = options.input_halo if options.input_halo is not None else op.pad
        _need(op.w + 2 * halo[1] <= _stride_field(cfg),
              f"input rows of {op.w + 2 * halo[1]} elements exceed the DMA x_stride field "
              f"({_stride_field(cfg)})")
    uops = gemm_uops(op, s, cfg, options)
    _need(uops <= cfg.uop_buff_depth,
          f"uop buffer: the tiles need {uops} micro-ops > uop_buff_depth {cfg.uop_buff_depth} "
          f"(smaller tile_h/tile_w, or fewer virtual threads)")


def alu_uops(op, s: AluSchedule, cfg: HwConfig) -> int:
    """Micro-ops of an ALU operator's kernels (the tap loops of pooling dominate)."""
    n, cb, h, w = alu_blocks(op, cfg)
    vt = s.virtual_threads
    if not isinstance(op, Pool2d):
        return vt * 8
    ct, th, tw = min(s.tile_c, cb), min(s.tile_h, h), min(s.tile_w or w, w)
    total = 0
    for c in {ct, cb % ct or ct}:
        for y in {th, h % th or th}:
            for x in {tw, w % tw or tw}:
                r, cl = (y - 1) * op.stride[0] + op.kh, (x - 1) * op.stride[1] + op.kw
                dims = (Dim("cb", c, dst=y * x, src=r * cl),
                        Dim("kh", op.kh, src=cl, reduce=True),
                        Dim("kw", op.kw, src=1, reduce=True),
                        Dim("oh", y, dst=x, src=op.stride[0] * cl),
                        Dim("ow", x, dst=1, src=op.stride[1]))
                total += plan_loops(dims, cfg, False, True, 1 << 20).total_uops(dims) + 4
    return vt * total


def check_alu(op, s: AluSchedule, cfg: HwConfig, options: LayoutOptions) -> None:
    _need(isinstance(s, AluSchedule), f"{op.name} needs an AluSchedule, got "
                                      f"{type(s).__name__}")
    _positive(s, ("tile_c", "tile_h", "tile_w", "virtual_threads"), allow_zero=("tile_w",))
    fp = alu_footprint(op, s, cfg)
    vt = s.virtual_threads
    first = next(iter(fp))
    desc = " + ".join(f"{v} {k}" for k, v in fp.items())
    _need(vt * fp[first] <= cfg.out_buff_depth,
          f"acc tiles: {vt} virtual thread(s) x {fp[first]} stored elements = "
          f"{vt * fp[first]} > out_buff_depth {cfg.out_buff_depth}")
    _need(vt * sum(fp.values()) <= cfg.acc_buff_depth,
          f"acc buffer: {vt} virtual thread(s) x ({desc}) elements = "
          f"{vt * sum(fp.values())} > acc_buff_depth {cfg.acc_buff_depth}")
    # one store per channel block of a tile: with virtual threads the next tile's compute
    # waits for a store of the tile before last, so a tile's stores must fit the store
    # command queue, or fetch blocks on it and the compute is never fetched (deadlock)
    _need(vt == 1 or s.tile_c <= cfg.cmd_queue_depth,
          f"store queue: {vt} virtual threads with tile_c={s.tile_c} channel blocks (one "
          f"store each) > cmd_queue_depth {cfg.cmd_queue_depth}")
    if isinstance(op, Pool2d):
        _check_pads(op, cfg, options)
    uops = alu_uops(op, s, cfg)
    _need(uops <= cfg.uop_buff_depth,
          f"uop buffer: the tiles need about {uops} micro-ops > uop_buff_depth "
          f"{cfg.uop_buff_depth}")


def check_schedule(op, schedule, cfg: HwConfig, options: LayoutOptions | None = None) -> None:
    """Raise :class:`ScheduleError` naming the first hardware limit ``schedule`` breaks."""
    options = options or LayoutOptions()
    if isinstance(op, (Conv2d, DepthwiseConv2d, Dense)):
        check_gemm(op, schedule, cfg, options)
    elif isinstance(op, (Elementwise, Pool2d, GlobalAvgPool)):
        check_alu(op, schedule, cfg, options)
    else:
        raise ScheduleError(f"no schedule space for {type(op).__name__}")


__all__ = ["check_schedule", "check_gemm", "check_alu", "gemm_uops", "alu_uops"]
