"""Default schedules: a ranking over the schedule space, good without tuning.

For a GEMM operator the ranking runs over the points of :func:`candidates` that the
heuristic's prior keeps: the automatic loop fold, hoisted loads, no ramp, ``virtual_threads``
slots (one if none fits), the six widest column tiles, and along the rows the most rows
whose tiles fit the buffers (the space's capacity array) and a half and a quarter of that
(a shorter pipeline fill, for layers too small to amortise it); kernel rows are split only
while no tile with the whole kernel fits.  Both loop orders.  They are ranked by
:func:`gemm_cost`, an estimate built from ``vta_hw.timing``: with latency hiding the run
takes about as long as its busiest module (compute: GEMM and ALU iterations plus
per-instruction overheads; load: input and weight DMAs, counting what stays loaded across
tiles; store; fetch: one DRAM read per instruction) plus one tile's load and store that
cannot overlap; without it the three add up.  The cheapest few legal ones are then measured
exactly with the ``estimate`` the caller passes (``compiler.pipeline.estimate_cycles``: the
lowering's own list schedule, which this layer cannot import), and the winner also with
its first tile split into parts (``ramp``), kept if faster.  ALU operators take the largest
tiles that fit.  The autotuner searches the whole space with measured cycles instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from compiler.errors import ScheduleError
from compiler.layout import LayoutOptions
from compiler.schedule.candidates import ScheduleSpace, candidates, same_program
from compiler.schedule.legality import check_alu, check_gemm
from compiler.schedule.space import (
    ORDERS,
    AluSchedule,
    GemmSchedule,
    Schedule,
    alu_blocks,
    gemm_footprint,
    gemm_geometry,
)
from compiler.schedule.tiles import overwrites
from opset import Conv2d, Dense, DepthwiseConv2d, Elementwise, GlobalAvgPool, Pool2d
from opset.requant import INT8_MAX, INT8_MIN
from vta_hw import isa, timing
from vta_hw.config import HwConfig

# cycles per iteration of an ALU pass with an immediate and with a tensor operand
_II_IMM = timing.alu_initiation_interval(isa.Alu(use_imm=True))
_II_TENSOR = timing.alu_initiation_interval(isa.Alu(use_imm=False))


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


Estimator = Callable[[object, Schedule, HwConfig, LayoutOptions | None], int]
"""Cycles of a schedule: ``estimate(op, schedule, cfg, options)``."""


@functools.lru_cache(maxsize=8192)
def _dma(cfg: HwConfig, insns: int, elems: int, elem_bytes: int, write: bool = False) -> int:
    """``insns`` LOADs (STOREs with ``write``) moving ``elems`` elements in all: each pays
    issue, retire and the DRAM latency once (``timing.dma_body``), the elements their
    transfer.  Kept: the search prices thousands of candidates with few distinct DMAs."""
    one = timing.dma_body(cfg, elem_bytes, 1, write=write)
    per_insn = timing.ISSUE_CYCLES + one.dram_latency + timing.RETIRE_CYCLES
    return insns * per_insn + timing.dma_body(cfg, elem_bytes, elems, write=write).transfer


def epilogue_alu_cycles(ep) -> tuple[int, int]:
    """(ALU instructions, cycles per output element) of an accumulator tile's init and
    epilogue, as ``alu_epilogue`` emits them (tensor operands take two cycles)."""
    ops = [_II_TENSOR] if ep.bias else []  # MOV of the bias; else the first GEMM overwrites
    if ep.out_mode() is not None:  # the GEMM out mirror requantizes: no epilogue passes
        return len(ops), sum(ops)
    rq = ep.requant
    if rq is not None:
        ops += [_II_IMM] * bool(rq.pre_shift)
        if rq.per_channel:
            ops += [_II_TENSOR, _II_TENSOR]
        else:
            ops += [_II_IMM] * (rq.multiplier != 1) + [_II_IMM] * bool(rq.shift)
    ops += [_II_TENSOR] * ep.residual + [_II_IMM] * bool(ep.offset)
    lo = max(0 if ep.relu else INT8_MIN, ep.clip[0] if ep.clip else INT8_MIN)
    ops += [_II_IMM] * (lo > INT8_MIN) + [_II_IMM] * bool(ep.clip and ep.clip[1] < INT8_MAX)
    return len(ops), sum(ops)


def gemm_cost(op, s: GemmSchedule, cfg: HwConfig, options: LayoutOptions) -> float:
    """Estimated cycles of ``s`` (see the module docstring)."""
    g = gemm_geometry(op, cfg, options)
    ep = op.epilogue
    fp = gemm_footprint(g, s, ep.residual, len(ep.const_rows()))
    th, tw = min(s.tile_h, g.ho), min(s.tile_w, g.wo)
    n_co, n_h, n_w = _ceil(g.cob, fp.co), _ceil(g.ho, th), _ceil(g.wo, tw)
    n_sp = g.nb * n_h * n_w
    tiles = n_sp * n_co
    red = g.red if g.depthwise else g.cib
    steps = (1 if g.depthwise else _ceil(g.cib, fp.ci)) * _ceil(g.kh, fp.kh)
    # per-instruction overheads: issue, retire and the pipeline (an instruction of 0 iterations)
    pg = timing.instruction_cycles(cfg, isa.Gemm())
    pa = timing.instruction_cycles(cfg, isa.Alu(use_imm=True))
    iters = g.nb * g.cob * g.ho * g.wo * red * g.kh * g.kw
    outs = g.nb * g.cob * g.ho * g.wo
    n_alu, alu_per_out = epilogue_alu_cycles(ep)
    # an overwriting first step is one GEMM more per reduction dim it splits off
    first_pieces = sum(e > 1 for e in (fp.ci, fp.kh, g.kw)) if overwrites(ep, 0) else 0
    compute = (iters + tiles * (steps + first_pieces) * pg + alu_per_out * outs
               + tiles * n_alu * pa)
    # loads: an input chunk is one DMA per channel block, or one in all when rows are whole
    e_in = cfg.inp_elem_bytes
    full = fp.cols >= g.w + 2 * g.halo[1]
    inp_step = _dma(cfg, 1 if full else fp.ci, fp.ci * fp.rows * fp.cols, e_in)
    inp_loads = tiles * steps
    if s.order == "spatial_outer" and steps == 1:
        inp_loads = n_sp
    wgt_step = _dma(cfg, 1, fp.wgt, cfg.wgt_elem_bytes)
    wgt_loads = tiles * steps
    if steps == 1 and (s.order == "co_outer" or n_co <= s.virtual_threads):
        wgt_loads = n_co * (g.nb if n_co > s.virtual_threads else 1)
    load = inp_loads * inp_step + wgt_loads * wgt_step
    store_tile = _dma(cfg, 1, fp.acc, cfg.out_elem_bytes, write=True)
    store = tiles * store_tile
    if ep.residual:
        compute += tiles * store_tile
    n_insn = tiles * (steps * 2 + n_alu + 2) + (wgt_loads if wgt_loads < tiles else 0)
    fetch = n_insn * timing.fetch_cycles(cfg)
    if s.virtual_threads > 1:
        tile_epilogue = alu_per_out * fp.acc + n_alu * pa
        fill = inp_step + wgt_step + tile_epilogue + store_tile
        return max(compute, load, store, fetch) + fill
    return compute + load + store


def default_gemm_schedule(op, cfg: HwConfig, estimate: Estimator,
                          options: LayoutOptions | None = None, virtual_threads: int = 2,
                          refine: int = 8) -> GemmSchedule:
    """The best of the ``refine`` cheapest legal candidates by :func:`gemm_cost`, measured
    with ``estimate`` (module docstring)."""
    return rank_gemm(candidates(op, cfg, options), estimate, virtual_threads, refine)


def rank_gemm(space: ScheduleSpace, estimate: Estimator, virtual_threads: int = 2,
              refine: int = 8) -> GemmSchedule:
    """The default schedule of a GEMM operator's ``space`` (module docstring)."""
    op, cfg, options, g = space.op, space.cfg, space.options, space.geom
    ch = space.choices()
    fits = space.fits  # [co, ci, kh, h, w, vt]: the tiles fit the buffers
    errors: list[str] = []
    for vt in dict.fromkeys((virtual_threads, 1)):
        if vt not in ch["virtual_threads"]:
            raise ScheduleError(f"virtual_threads={vt} is not one of the space's "
                                f"{ch['virtual_threads']}")
        v = ch["virtual_threads"].index(vt)
        ranked = []
        for a, co in enumerate(ch["tile_co"]):
            for b, ci in enumerate(ch["tile_ci"]):
                for c, kh in enumerate(ch["tile_kh"]):
                    for d, tw in enumerate(ch["tile_w"][:6]):
                        rows = fits[a, b, c, :, d, v]
                        if not rows.any():
                            continue
                        # the most rows that fit (the axis is largest first), a half or a
                        # quarter of that (a shorter pipeline fill)
                        th = ch["tile_h"][int(np.argmax(rows))]
                        n_h = _ceil(g.ho, th)
                        for th_ in dict.fromkeys((th, _ceil(g.ho, 2 * n_h),
                                                  _ceil(g.ho, 4 * n_h))):
                            for order in ORDERS:
                                s = GemmSchedule(co, ci, th_, tw, kh, vt, order)
                                ranked.append((gemm_cost(op, s, cfg, options), s))
                    if ranked and kh == 0:  # split kernel rows only while none fits whole
                        break
        if not ranked:  # not even the smallest tile fits: say which limit breaks
            try:
                check_gemm(op, GemmSchedule(1, 1, 1, 1, 1, vt), cfg, options)
            except ScheduleError as e:
                errors.append(f"even 1x1x1 tiles break it: {e}")
        ranked.sort(key=lambda x: (x[0], -x[1].tile_co))
        legal: list[GemmSchedule] = []
        for _, s in ranked[:64]:
            try:
                check_gemm(op, s, cfg, options)
                legal.append(s)
            except ScheduleError as e:
                errors.append(str(e))
            if len(legal) >= max(1, refine):
                break
        if legal:
            def cycles(s: GemmSchedule) -> int:  # same program, same (kept) estimate
                return estimate(op, same_program(g, s), cfg, options)

            best = min(legal, key=cycles) if len(legal) > 1 else legal[0]
            if refine > 1 and not g.depthwise and best.tile_ci > 1:
                ramped = best.replace(ramp=True)
                try:
                    check_gemm(op, ramped, cfg, options)
                    if cycles(ramped) < cycles(best):
                        best = ramped
                except ScheduleError:
                    pass
            return best
    raise ScheduleError(f"no legal schedule for {op.name} on {cfg.name!r}: "
                        + (errors[-1] if errors else "no tile fits the buffers"))


def default_alu_schedule(op, cfg: HwConfig, options: LayoutOptions | None = None,
                         virtual_threads: int = 2) -> AluSchedule:
    """The legal point of ``op``'s space with the largest tiles, ``virtual_threads`` slots
    (one if none fits); columns among the six widest tile widths.  Ties go to the first
    point in the space's order; the legality check runs only until, for each channel and
    column tile, the most rows that pass it are found."""
    space = candidates(op, cfg, options)
    ch = space.choices()
    _, _, _, w = alu_blocks(op, cfg)
    errors: list[str] = []
    for vt in dict.fromkeys((virtual_threads, 1)):
        best = None
        for ct in ch["tile_c"]:
            for tw in ch["tile_w"][:6]:
                for th in ch["tile_h"]:
                    s = AluSchedule(ct, th, tw, vt)
                    try:
                        check_alu(op, s, cfg, space.options)
                    except ScheduleError as e:
                        errors.append(str(e))
                        continue
                    size = ct * th * (tw or w)
                    if best is None or size > best[0]:
                        best = (size, s)
                    break  # fewer rows are smaller tiles
        if best is not None:
            return best[1]
    raise ScheduleError(f"no legal schedule for {op.name} on {cfg.name!r}: "
                        + (errors[-1] if errors else "no tile fits the buffers"))


def timing_equivalent(op):
    """A representative of the GEMM operators whose programs take the same cycles as ``op``.

    The instructions a schedule produces depend on the epilogue's *structure* (which ALU
    passes run, whether the out mirror can requantize), not on its immediates: a layer's
    multiplier, shifts, output offset, clip bounds and input pad value change values, not
    instructions or their timing.  Mapping them (and the name) to fixed values lets the
    schedule search of one layer serve every layer of the same shape and structure, as in
    ResNet's repeated blocks.  Only pass-count-relevant facts are kept: ``multiplier != 1``,
    ``shift > 0``, ``pre_shift > 0``, ``offset != 0``, and the clamp bounds as the
    epilogue lowering and :meth:`Epilogue.out_mode` read them (``lo`` -128, 0 or other,
    ``hi`` 127 or below)."""
    ep = op.epilogue
    rq = ep.requant
    if rq is not None:
        rq = replace(rq, multiplier=1 if rq.multiplier == 1 else 2, shift=min(rq.shift, 1),
                     pre_shift=min(rq.pre_shift, 1))
    lo, hi = ep.bounds()
    clip = (lo if lo in (INT8_MIN, 0) else 1, INT8_MAX if hi >= INT8_MAX else 100)
    canon = replace(ep, requant=rq, offset=1 if ep.offset else 0, relu=False,
                    clip=None if clip == (INT8_MIN, INT8_MAX) else clip)
    return replace(op, epilogue=canon, name="op", **(
        {"pad_value": 0} if hasattr(op, "pad_value") else {}))


@functools.lru_cache(maxsize=512)
def _shared_gemm_schedule(op, cfg: HwConfig, options: LayoutOptions | None,
                          virtual_threads: int, estimate: Estimator) -> GemmSchedule:
    return default_gemm_schedule(op, cfg, estimate, options, virtual_threads)


def choose_schedule(op, cfg: HwConfig, estimate: Estimator,
                    options: LayoutOptions | None = None, virtual_threads: int = 2) -> Schedule:
    """A legal, fast schedule for ``op`` (GemmSchedule or AluSchedule), GEMM candidates
    measured with ``estimate`` (``compiler.default_schedule`` passes the lowering's).
    GEMM searches are shared between :func:`timing_equivalent` operators; a failed search
    is repeated on ``op`` itself so that the error names it."""
    if isinstance(op, (Conv2d, DepthwiseConv2d, Dense)):
        try:
            return _shared_gemm_schedule(timing_equivalent(op), cfg, options, virtual_threads,
                                         estimate)
        except (ScheduleError, TypeError):  # name the op in the error; unhashable options
            return default_gemm_schedule(op, cfg, estimate, options, virtual_threads)
    if isinstance(op, (Elementwise, Pool2d, GlobalAvgPool)):
        return default_alu_schedule(op, cfg, options, virtual_threads)
    raise ScheduleError(f"no schedule space for {type(op).__name__}")


__all__ = ["choose_schedule", "timing_equivalent", "default_gemm_schedule", "rank_gemm",
           "default_alu_schedule", "gemm_cost", "epilogue_alu_cycles", "Estimator"]
