"""Default schedules: good without tuning, from a closed-form cost model.

For GEMM operators the candidates are balanced chunkings of the output channels, input
channels, output rows and columns, both loop orders, with ``virtual_threads`` slots; the
legal ones (capacity first, then micro-ops) are ranked by :func:`gemm_cost`, an estimate
built from ``vta_hw.timing``: with latency hiding the run takes about as long as its
busiest module (compute: GEMM and ALU iterations plus per-instruction overheads; load:
input and weight DMAs, counting what stays loaded across tiles; store; fetch: one DRAM
read per instruction) plus one tile's load and store that cannot overlap; without it the
three add up.  The best few are then measured exactly with :func:`estimate_cycles`, and
the winner also with its first tile split into parts (``ramp``), kept if faster.  ALU
operators take the largest tiles that fit.  The autotuner searches the
same space (``compiler/schedule/space.py``) with measured cycles instead.
"""

from __future__ import annotations

import functools
from dataclasses import replace

from compiler.errors import ScheduleError
from compiler.layout import LayoutOptions
from compiler.schedule.legality import check_alu, check_gemm
from compiler.schedule.space import (
    ORDERS,
    AluSchedule,
    GemmGeom,
    GemmSchedule,
    alu_blocks,
    gemm_footprint,
    gemm_geometry,
)
from opset import Conv2d, Dense, DepthwiseConv2d, Elementwise, GlobalAvgPool, Pool2d
from opset.requant import INT8_MAX, INT8_MIN
from vta_hw import isa, timing
from vta_hw.config import HwConfig

# cycles per iteration of an ALU pass with an immediate and with a tensor operand
_II_IMM = timing.alu_initiation_interval(isa.Alu(use_imm=True))
_II_TENSOR = timing.alu_initiation_interval(isa.Alu(use_imm=False))


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def balanced(n: int, limit: int | None = None) -> list[int]:
    """Chunk sizes that split ``n`` into equal-ish parts: ceil(n / k) for k = 1..n."""
    out = sorted({_ceil(n, k) for k in range(1, n + 1)}, reverse=True)
    return [v for v in out if limit is None or v <= limit]


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
    from compiler.lower.tiling import overwrites  # lowering imports the schedule space

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


def estimate_cycles(op, s, cfg: HwConfig, options: LayoutOptions | None = None) -> int:
    """Cycles of ``s`` as the ``interleave`` pass schedules it: lowers the operator up to
    that pass, whose list schedule follows ``vta_hw.timing`` (within ~0.1% of the
    simulator on the ResNet-18 layers).  Deterministic, so kept: the search asks for the
    winner's estimate again when it tries the ramped variant."""
    try:
        return _estimate_cached(op, s, cfg, options)
    except TypeError:  # unhashable attributes: estimate afresh
        return _estimate(op, s, cfg, options)


@functools.lru_cache(maxsize=4096)
def _estimate_cached(op, s, cfg: HwConfig, options: LayoutOptions | None) -> int:
    return _estimate(op, s, cfg, options)


def _estimate(op, s, cfg: HwConfig, options: LayoutOptions | None) -> int:
    from compiler.lower.interleave import list_cycles
    from compiler.pipeline import PASSES, run_pipeline

    names = [n for n, _ in PASSES]
    p = run_pipeline(op, cfg, s, options, passes=PASSES[:names.index("interleave")],
                     checked=False)
    return list_cycles(p)


def same_program(g: GemmGeom, s: GemmSchedule) -> GemmSchedule:
    """The representative of the schedules that lower to ``s``'s program: the loop order
    only permutes the output tiles when both the output-channel loop and the spatial loops
    have more than one tile (``lower/tiling.gemm_tiles``), so otherwise ``s`` with the first
    order.  The search measures each program once."""
    n_co = _ceil(g.cob, min(s.tile_co, g.cob))
    n_sp = _ceil(g.ho, min(s.tile_h, g.ho)) * _ceil(g.wo, min(s.tile_w, g.wo))
    return s.replace(order=ORDERS[0]) if min(n_co, n_sp) == 1 else s


def default_gemm_schedule(op, cfg: HwConfig, options: LayoutOptions | None = None,
                          virtual_threads: int = 2, refine: int = 8) -> GemmSchedule:
    """The best of the ``refine`` cheapest legal candidates by :func:`gemm_cost`, measured
    with :func:`estimate_cycles` (module docstring)."""
    options = options or LayoutOptions()
    g = gemm_geometry(op, cfg, options)
    errors: list[str] = []
    for vt in dict.fromkeys((virtual_threads, 1)):
        ranked = []
        for co in balanced(g.cob):
            for ci in ([g.red] if g.depthwise else balanced(g.cib)):
                for kh in balanced(g.kh):
                    for tw in balanced(g.wo)[:6]:
                        th = _max_rows(g, co, ci, kh, tw, vt, op, cfg)
                        if th == 0:
                            continue
                        # the most rows, balanced, and a half or a quarter of that (a
                        # shorter pipeline fill, for layers too small to amortise it)
                        n_h = _ceil(g.ho, th)
                        for th_ in dict.fromkeys((th, _ceil(g.ho, n_h), _ceil(g.ho, 2 * n_h),
                                                  _ceil(g.ho, 4 * n_h))):
                            for order in ORDERS:
                                s = GemmSchedule(co, ci, th_, tw, 0 if kh == g.kh else kh, vt,
                                                 order)
                                ranked.append((gemm_cost(op, s, cfg, options), s))
                    if ranked and kh == g.kh:
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
                return estimate_cycles(op, same_program(g, s), cfg, options)

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


def _max_rows(g: GemmGeom, co: int, ci: int, kh: int, tw: int, vt: int, op,
              cfg: HwConfig) -> int:
    """The most output rows per tile that fit the inp and acc buffers (0: none fit)."""
    ep = op.epilogue
    lo, hi = 0, g.ho
    while lo < hi:
        th = (lo + hi + 1) // 2
        s = GemmSchedule(co, ci, th, tw, kh, vt)
        fp = gemm_footprint(g, s, ep.residual, len(ep.const_rows()))
        ok = (vt * fp.inp <= cfg.inp_buff_depth and vt * fp.wgt <= cfg.wgt_buff_depth
              and vt * fp.acc <= cfg.out_buff_depth
              and vt * (fp.acc + fp.res) + fp.consts <= cfg.acc_buff_depth)
        if ok:
            lo = th
        else:
            hi = th - 1
    return lo


def default_alu_schedule(op, cfg: HwConfig, options: LayoutOptions | None = None,
                         virtual_threads: int = 2) -> AluSchedule:
    options = options or LayoutOptions()
    _, cb, h, w = alu_blocks(op, cfg)
    errors: list[str] = []
    for vt in dict.fromkeys((virtual_threads, 1)):
        best = None
        widths = [0] if isinstance(op, GlobalAvgPool) else [0] + balanced(w)[1:6]
        for ct in balanced(cb):
            for tw in widths:
                for th in balanced(h):
                    s = AluSchedule(ct, th, tw, vt)
                    try:
                        check_alu(op, s, cfg, options)
                    except ScheduleError as e:
                        errors.append(str(e))
                        continue
                    size = ct * th * (tw or w)
                    if best is None or size > best[0]:
                        best = (size, s)
                    break
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
                          virtual_threads: int) -> GemmSchedule:
    return default_gemm_schedule(op, cfg, options, virtual_threads)


def default_schedule(op, cfg: HwConfig, options: LayoutOptions | None = None,
                     virtual_threads: int = 2):
    """A legal, fast schedule for ``op`` (GemmSchedule or AluSchedule).  GEMM searches
    are shared between :func:`timing_equivalent` operators; a failed search is repeated
    on ``op`` itself so that the error names it."""
    if isinstance(op, (Conv2d, DepthwiseConv2d, Dense)):
        try:
            return _shared_gemm_schedule(timing_equivalent(op), cfg, options, virtual_threads)
        except (ScheduleError, TypeError):  # name the op in the error; unhashable options
            return default_gemm_schedule(op, cfg, options, virtual_threads)
    if isinstance(op, (Elementwise, Pool2d, GlobalAvgPool)):
        return default_alu_schedule(op, cfg, options, virtual_threads)
    raise ScheduleError(f"no schedule space for {type(op).__name__}")


__all__ = ["default_schedule", "timing_equivalent", "same_program", "default_gemm_schedule",
           "default_alu_schedule", "gemm_cost", "balanced"]
