"""A schedule's feature vector: what a learned cost model ranks schedules by.

:func:`features` describes one schedule of one operator on one config as a fixed-length
float vector, named by :data:`FEATURE_NAMES` (the same names for every operator kind, 0
where a feature does not apply), computed without generating code except for the last
entry, the lowering's exact estimate:

* the operator: its kind (one-hot) and loop extents in blocks (batch, output and input
  channels, kernel rows and columns, output rows and columns) and strides;
* the schedule: tile sizes as they take effect (clipped to the extents), tiles per axis,
  reduction steps per tile, virtual threads, loop order, a forced loop fold, hoisting, ramp;
* SRAM: elements one slot of each buffer holds, and the fraction of each buffer the slots
  of all virtual threads fill;
* DRAM: bytes loaded and stored, transfers (tile loads and stores, each one or a few DMA
  instructions), computed from the schedule's tiles (which loads the slots hoist);
* the micro-op count (:func:`~compiler.schedule.legality.gemm_uops` / ``alu_uops``), the
  multiply-accumulates (ALU element operations for ALU operators), arithmetic intensity
  (MACs per DRAM byte);
* ``cost_model``: :func:`~compiler.schedule.heuristic.gemm_cost` (ALU operators: DRAM
  transfer plus ALU cycles); ``estimated_cycles``: the ``estimate`` the caller passes
  (``compiler.pipeline.estimate_cycles``: the lowering's list schedule, within ~0.1% of the
  simulator).
"""

from __future__ import annotations

import numpy as np

from compiler.layout import LayoutOptions
from compiler.schedule.candidates import ALU_OPS, GEMM_OPS
from compiler.schedule.heuristic import Estimator, gemm_cost
from compiler.schedule.legality import alu_uops, gemm_uops
from compiler.schedule.space import (
    AluSchedule,
    GemmSchedule,
    alu_blocks,
    alu_footprint,
    gemm_footprint,
    gemm_geometry,
)
from compiler.schedule.tiles import gemm_tiles
from opset import Dense, DepthwiseConv2d, Elementwise, GlobalAvgPool, Pool2d
from vta_hw import isa, timing
from vta_hw.config import HwConfig

FEATURE_NAMES: tuple[str, ...] = (
    "kind_conv", "kind_depthwise", "kind_dense", "kind_alu",
    "ext_n", "ext_co", "ext_ci", "ext_kh", "ext_kw", "ext_oh", "ext_ow", "stride_h",
    "stride_w",
    "tile_co", "tile_ci", "tile_kh", "tile_h", "tile_w",
    "n_tiles_co", "n_tiles_h", "n_tiles_w", "n_tiles", "n_steps",
    "virtual_threads", "order_spatial_outer", "loop_fold_forced", "hoist_weights",
    "hoist_input", "ramp",
    "slot_inp", "slot_wgt", "slot_acc", "fill_inp", "fill_wgt", "fill_acc",
    "dram_load_bytes", "dram_store_bytes", "dram_bytes", "dram_transfers", "inp_loads",
    "wgt_loads", "stores",
    "uops", "macs", "arith_intensity", "cost_model", "estimated_cycles",
)


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def features(op, cfg: HwConfig, schedule, options: LayoutOptions | None = None, *,
             estimate: Estimator) -> np.ndarray:
    """The feature vector of ``schedule`` (float64, in :data:`FEATURE_NAMES` order; see
    the module docstring).  ``schedule`` need not be legal for the capacity features, but
    the micro-op count and the estimate lower it: pass legal schedules."""
    options = options or LayoutOptions()
    if isinstance(op, GEMM_OPS):
        if not isinstance(schedule, GemmSchedule):
            raise TypeError(f"{op.name} needs a GemmSchedule, got {type(schedule).__name__}")
        f = _gemm_features(op, cfg, schedule, options)
    elif isinstance(op, ALU_OPS):
        if not isinstance(schedule, AluSchedule):
            raise TypeError(f"{op.name} needs an AluSchedule, got {type(schedule).__name__}")
        f = _alu_features(op, cfg, schedule)
    else:
        raise TypeError(f"no schedule features for {type(op).__name__}")
    f["dram_bytes"] = f["dram_load_bytes"] + f["dram_store_bytes"]
    f["arith_intensity"] = f["macs"] / max(1, f["dram_bytes"])
    f["estimated_cycles"] = estimate(op, schedule, cfg, options)
    return np.array([float(f.get(k, 0)) for k in FEATURE_NAMES])


def feature_matrix(op, cfg: HwConfig, schedules, options: LayoutOptions | None = None, *,
                   estimate: Estimator) -> np.ndarray:
    """One :func:`features` row per schedule (shape ``(len(schedules), len(FEATURE_NAMES))``)."""
    rows = [features(op, cfg, s, options, estimate=estimate) for s in schedules]
    return np.array(rows).reshape(len(rows), len(FEATURE_NAMES))


def _gemm_features(op, cfg: HwConfig, s: GemmSchedule, options: LayoutOptions) -> dict:
    g = gemm_geometry(op, cfg, options)
    ep = op.epilogue
    fp = gemm_footprint(g, s, ep.residual, len(ep.const_rows()))
    th, tw = min(s.tile_h, g.ho), min(s.tile_w, g.wo)
    vt = s.virtual_threads
    tiles = gemm_tiles(g, s)
    inp_elems = wgt_elems = inp_loads = wgt_loads = 0
    for t in tiles:
        for st in t.steps:
            if st.inp_load:
                inp_loads += 1
                inp_elems += st.n_ci * st.rows * st.cols
            if st.wgt_load:
                wgt_loads += 1
                red = g.red if g.depthwise else st.n_ci
                wgt_elems += t.co * red * st.kh * g.kw
    out_elems = sum(t.co * t.h * t.w for t in tiles)
    load = (inp_elems * cfg.inp_elem_bytes + wgt_elems * cfg.wgt_elem_bytes
            + (out_elems * cfg.out_elem_bytes if ep.residual else 0))  # residual: int8
    red = g.red if g.depthwise else g.cib
    macs = (g.nb * g.cob * g.ho * g.wo * red * g.kh * g.kw
            * cfg.batch * cfg.block_in * cfg.block_out)
    steps = len(tiles[0].steps) if tiles else 0
    return {
        "kind_conv": not isinstance(op, (DepthwiseConv2d, Dense)),
        "kind_depthwise": isinstance(op, DepthwiseConv2d), "kind_dense": isinstance(op, Dense),
        "ext_n": g.nb, "ext_co": g.cob, "ext_ci": red, "ext_kh": g.kh, "ext_kw": g.kw,
        "ext_oh": g.ho, "ext_ow": g.wo, "stride_h": g.sh, "stride_w": g.sw,
        "tile_co": fp.co, "tile_ci": fp.ci, "tile_kh": fp.kh, "tile_h": th, "tile_w": tw,
        "n_tiles_co": _ceil(g.cob, fp.co), "n_tiles_h": _ceil(g.ho, th),
        "n_tiles_w": _ceil(g.wo, tw), "n_tiles": len(tiles), "n_steps": steps,
        "virtual_threads": vt, "order_spatial_outer": s.order == "spatial_outer",
        "loop_fold_forced": s.loop_fold is not None, "hoist_weights": s.hoist_weights,
        "hoist_input": s.hoist_input, "ramp": s.ramp,
        "slot_inp": fp.inp, "slot_wgt": fp.wgt, "slot_acc": fp.acc + fp.res,
        "fill_inp": vt * fp.inp / cfg.inp_buff_depth,
        "fill_wgt": vt * fp.wgt / cfg.wgt_buff_depth,
        "fill_acc": (vt * (fp.acc + fp.res) + fp.consts) / cfg.acc_buff_depth,
        "dram_load_bytes": load, "dram_store_bytes": out_elems * cfg.out_elem_bytes,
        "dram_transfers": inp_loads + wgt_loads + len(tiles) * (2 if ep.residual else 1),
        "inp_loads": inp_loads, "wgt_loads": wgt_loads, "stores": len(tiles),
        "uops": gemm_uops(op, s, cfg, options), "macs": macs,
        "cost_model": gemm_cost(op, s, cfg, options),
    }


def _alu_features(op, cfg: HwConfig, s: AluSchedule) -> dict:
    nb, cb, h, w = alu_blocks(op, cfg)
    ct, th = min(s.tile_c, cb), min(s.tile_h, h)
    tw = w if isinstance(op, GlobalAvgPool) else min(s.tile_w or w, w)
    vt = s.virtual_threads
    fp = alu_footprint(op, s, cfg)
    n_c, n_h, n_w = _ceil(cb, ct), _ceil(h, th), _ceil(w, tw)
    e = cfg.batch * cfg.block_out  # elements of an activation block
    pix = nb * cb * h * w  # output blocks (input blocks for a global pool)
    kh = kw = 1
    sh = sw = 1
    if isinstance(op, Elementwise):
        inputs = 2 if op.binary else 1
        load = inputs * pix * e
        ops = pix * e * len(op.steps)
        store = pix * e
        tiles = nb * n_c * n_h * n_w
        loads = inputs * tiles
    elif isinstance(op, Pool2d):
        kh, kw, (sh, sw) = op.kh, op.kw, op.stride
        rows, cols = (th - 1) * sh + kh, (tw - 1) * sw + kw
        tiles = nb * n_c * n_h * n_w
        load = tiles * ct * rows * cols * e  # edge tiles counted full: an upper bound
        ops = pix * e * kh * kw
        store = pix * e
        loads = tiles
    else:
        tiles = nb * n_c
        loads = nb * n_c * n_h
        load = pix * e
        ops = pix * e
        store = nb * cb * e
    ii = timing.alu_initiation_interval(isa.Alu(use_imm=False))
    cost = (load + store) / cfg.dram_bytes_per_cycle + ii * ops / e
    return {
        "kind_alu": True, "ext_n": nb, "ext_co": cb, "ext_kh": kh, "ext_kw": kw, "ext_oh": h,
        "ext_ow": w, "stride_h": sh, "stride_w": sw,
        "tile_co": ct, "tile_h": th, "tile_w": tw, "n_tiles_co": n_c, "n_tiles_h": n_h,
        "n_tiles_w": n_w, "n_tiles": tiles, "n_steps": 1, "virtual_threads": vt,
        "slot_acc": sum(fp.values()), "fill_acc": vt * sum(fp.values()) / cfg.acc_buff_depth,
        "dram_load_bytes": load, "dram_store_bytes": store,
        "dram_transfers": loads + tiles, "inp_loads": loads, "stores": tiles,
        "uops": alu_uops(op, s, cfg), "macs": ops, "cost_model": cost,
    }


__all__ = ["FEATURE_NAMES", "features", "feature_matrix"]
