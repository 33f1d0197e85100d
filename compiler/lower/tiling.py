"""Pass ``tiling``: the operator's loop nest, cut into tiles that fit the SRAM buffers.

The output is the *sequential* program of tile-level nodes: for every output tile, load its
operands into buffer slots, contract or apply ALU ops, run the epilogue, store it.  For GEMM
operators the tiles, their reduction steps, slots and hoisted loads come from the schedule's
tile geometry (:mod:`compiler.schedule.tiles`, which the legality check reads too); later
passes can overlap tiles that use different slots.  Hoisted weights are prefetched here
(:func:`prefetch_weights`).
"""

from __future__ import annotations

from dataclasses import replace

from compiler.errors import ScheduleError
from compiler.ir import (
    AluTile,
    Dim,
    EpilogueTile,
    GemmTile,
    InitTile,
    LoadTile,
    Program,
    Ref,
    SramRegion,
    StoreTile,
)
from compiler.schedule.space import (
    AluSchedule,
    GemmGeom,
    GemmSchedule,
    alu_footprint,
    gemm_footprint,
    gemm_geometry,
)
from compiler.schedule.tiles import OutTile, RedStep, cuts, gemm_dims, gemm_tiles, overwrites
from opset import Conv2d, Dense, DepthwiseConv2d, Elementwise, GlobalAvgPool, Pool2d
from vta_hw import isa

A = isa.AluOp


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _act(layout):
    return getattr(layout, "act", layout)


def prefetch_weights(g: GemmGeom, tiles: list[OutTile], vt: int) -> dict[int, list]:
    """Hoisted weights (one chunk kept across several tiles) are loaded ahead of time.

    A chunk's weights go to a slot the previous chunk does not use, so they can stream in
    while the previous chunk computes: from the tile after the previous chunk's first (or
    after the slot's last use), split along the output blocks into one piece per tile so
    the load module keeps up with the input tiles in between.  Returns ``tile -> [(tile,
    step, output block, (first input block, blocks)), ...]``: pieces to load before that
    tile's own loads.
    """
    early: dict[int, list[tuple[int, int, int, tuple[int, int]]]] = {}
    if vt < 2:
        return early
    last_use: dict[int, int] = {}
    prev_load: int | None = None
    for t in tiles:
        for k, st in enumerate(t.steps):
            if st.wgt_load:
                if prev_load is not None and len(t.steps) == 1:
                    at = max(prev_load + 1, last_use.get(st.wgt_slot, -1) + 1)
                    span = t.index - at
                    if span > 0:
                        per = max(1, -(-4 // t.co))  # split small chunks along ci too
                        red = g.red if g.depthwise else st.ci
                        parts = [(b, c) for b in range(t.co) for c in cuts(red, per)]
                        for i, (b, c) in enumerate(parts):
                            early.setdefault(at + i * span // len(parts), []).append(
                                (t.index, k, b, c))
                prev_load = t.index
            last_use[st.wgt_slot] = t.index
    return early


def _alloc(cfg, specs: list[tuple[str, str, int]]) -> tuple[SramRegion, ...]:
    """Regions packed in order within each buffer."""
    pos: dict[str, int] = {}
    out = []
    for name, buf, size in specs:
        base = pos.get(buf, 0)
        depth = getattr(cfg, f"{buf}_buff_depth")
        if base + size > depth:
            raise ScheduleError(f"{buf} buffer: regions need {base + size} elements > "
                                f"{buf}_buff_depth {depth} (region {name})")
        out.append(SramRegion(name, buf, base, size))
        pos[buf] = base + size
    return tuple(out)


def tile_gemm(p: Program) -> Program:
    cfg, op, s = p.cfg, p.op, p.schedule
    if not isinstance(s, GemmSchedule):
        raise ScheduleError(f"{op.name} needs a GemmSchedule, got {type(s).__name__}")
    g = gemm_geometry(op, cfg, p.options)
    ep = op.epilogue
    rows = ep.const_rows()
    fp = gemm_footprint(g, s, ep.residual, len(rows))
    vt = s.virtual_threads
    specs = [(f"acc.{k}", "acc", fp.acc) for k in range(vt)]
    if ep.residual:
        specs += [(f"res.{k}", "acc", fp.res) for k in range(vt)]
    if rows:
        specs.append(("consts", "acc", fp.consts))
    specs += [(f"inp.{k}", "inp", fp.inp) for k in range(vt)]
    specs += [(f"wgt.{k}", "wgt", fp.wgt) for k in range(vt)]
    regions = _alloc(cfg, specs)
    nodes: list = []
    if rows:
        nodes.append(LoadTile("consts", Ref("consts"), (0,), (fp.consts,), tag="consts"))
    tiles = gemm_tiles(g, s)
    early = prefetch_weights(g, tiles, vt)
    moved = {x[:2] for v in early.values() for x in v}

    def wgt_load(t: OutTile, st: RedStep, piece: tuple | None = None) -> LoadTile:
        red = g.red if g.depthwise else st.ci
        taps = st.kh * g.kw
        if piece is None:
            co, blocks, (c0, cn) = 0, t.co, (0, red)
        else:
            co, blocks, (c0, cn) = piece[0], 1, piece[1]
        box = ((t.co0 + co, c0 + (0 if g.depthwise else st.ci0), st.kh0, 0),
               (blocks, cn, st.kh, g.kw))
        return LoadTile("w", Ref(f"wgt.{st.wgt_slot}", (co * red + c0) * taps), *box,
                        tag=f"t{t.index}")

    for t in tiles:
        tag = f"t{t.index}"
        for src_tile, src_step, blk, cut in early.get(t.index, ()):
            nodes.append(wgt_load(tiles[src_tile], tiles[src_tile].steps[src_step],
                                  (blk, cut)))
        acc = Ref(f"acc.{t.acc_slot}")
        pix = t.h * t.w
        if ep.bias:  # the bias initialises the accumulators (one ALU MOV pass)
            nodes.append(InitTile(acc, t.co, pix, Ref("consts", rows.index("bias") * g.cob
                                                      + t.co0), tag))
        # else the first reduction step overwrites them: no reset pass
        for k, st in enumerate(t.steps):
            plane = st.rows * st.cols
            if st.inp_load:
                nodes.append(LoadTile("x", Ref(f"inp.{st.inp_slot}", st.p0 * plane),
                                      (t.nb, st.ci0 + st.p0, st.y_in, st.x_in),
                                      (1, st.n_ci, st.rows, st.cols), g.pad_value, tag,
                                      (1, 1, st.ystep, 1)))
            if st.wgt_load and (t.index, k) not in moved:
                if st.part[1]:  # a part: its slice of every output block
                    for co in range(t.co):
                        nodes.append(wgt_load(t, st, (co, st.part)))
                else:
                    nodes.append(wgt_load(t, st))
            taps = st.kh * g.kw
            nodes.append(GemmTile(acc, Ref(f"inp.{st.inp_slot}", st.src_off + st.p0 * plane),
                                  Ref(f"wgt.{st.wgt_slot}", st.p0 * taps),
                                  gemm_dims(g, t, st), s.loop_fold, tag,
                                  overwrite=overwrites(ep, k)))
        box = ((t.nb, t.co0, t.y0, t.x0), (1, t.co, t.h, t.w))
        res = None
        if ep.residual:
            res = Ref(f"res.{t.acc_slot}")
            nodes.append(LoadTile("residual", res, *box, tag=tag))
        nodes.append(EpilogueTile(acc, t.co, pix, ep, Ref("consts", t.co0) if rows else None,
                                  g.cob, res, bias_done=ep.bias, tag=tag, mirror=True))
        nodes.append(StoreTile(acc, "y", *box, tag=tag))
    meta = p.meta + (("tiles", len(tiles)),)
    return replace(p, regions=regions, nodes=tuple(nodes), stage="tiling", meta=meta)


# ---------------------------------------------------------------------------- ALU ops
def _flat(n: int, src: int = 0) -> tuple[Dim, ...]:
    return (Dim("e", n, dst=1, src=src),)


def _alu_sched(p: Program) -> AluSchedule:
    if not isinstance(p.schedule, AluSchedule):
        raise ScheduleError(f"{p.op.name} needs an AluSchedule, got "
                            f"{type(p.schedule).__name__}")
    return p.schedule


def tile_elementwise(p: Program) -> Program:
    s, op = _alu_sched(p), p.op
    lay = _act(p.tensor("a").layout)
    n, cb, h, w = lay.n_blocks, lay.c_blocks, lay.h, lay.w
    cbt, th, tw = min(s.tile_c, cb), min(s.tile_h, h), min(s.tile_w or w, w)
    vt = s.virtual_threads
    fp = alu_footprint(op, s, p.cfg)
    regions = _alloc(p.cfg, [(f"{r}.{k}", "acc", size) for r, size in fp.items()
                             for k in range(vt)])
    nodes: list = []
    tiles = [(nb, c, y, x) for nb in range(n) for c in range(0, cb, cbt)
             for y in range(0, h, th) for x in range(0, w, tw)]
    for t, (nb, c0, y0, x0) in enumerate(tiles):
        k, tag = t % vt, f"t{t}"
        box = ((nb, c0, y0, x0), (1, min(cbt, cb - c0), min(th, h - y0), min(tw, w - x0)))
        e = box[1][1] * box[1][2] * box[1][3]
        a = Ref(f"a.{k}")
        nodes.append(LoadTile("a", a, *box, tag=tag))
        if op.binary:
            nodes.append(LoadTile("b", Ref(f"b.{k}"), *box, tag=tag))
        for st in op.steps:
            if st.operand is None:
                nodes.append(AluTile(st.alu_op, a, _flat(e, 1), src=Ref(f"b.{k}"), tag=tag))
            else:
                nodes.append(AluTile(st.alu_op, a, _flat(e), imm=st.operand, tag=tag))
        nodes.append(StoreTile(a, "y", *box, tag=tag))
    return replace(p, regions=regions, nodes=tuple(nodes), stage="tiling")


def tile_pool(p: Program) -> Program:
    s, op = _alu_sched(p), p.op
    lay = _act(p.tensor("x").layout)
    n, cb = lay.n_blocks, lay.c_blocks
    (sh, sw), (ph, pw) = op.stride, op.pad
    cbt, th, tw = min(s.tile_c, cb), min(s.tile_h, op.ho), min(s.tile_w or op.wo, op.wo)
    vt = s.virtual_threads
    fp = alu_footprint(op, s, p.cfg)
    regions = _alloc(p.cfg, [(f"{r}.{k}", "acc", size) for r, size in fp.items()
                             for k in range(vt)])
    m, shift = op.avg
    nodes: list = []
    tiles = [(nb, c, y, x) for nb in range(n) for c in range(0, cb, cbt)
             for y in range(0, op.ho, th) for x in range(0, op.wo, tw)]
    for t, (nb, c0, y0, x0) in enumerate(tiles):
        k, tag = t % vt, f"t{t}"
        ct, ht, wt = min(cbt, cb - c0), min(th, op.ho - y0), min(tw, op.wo - x0)
        r, cl = (ht - 1) * sh + op.kh, (wt - 1) * sw + op.kw
        src, dst = Ref(f"in.{k}"), Ref(f"out.{k}")
        nodes.append(LoadTile("x", src, (nb, c0, y0 * sh - ph, x0 * sw - pw), (1, ct, r, cl),
                              op.pad_value, tag))
        pix = ht * wt
        dims = (Dim("cb", ct, dst=pix, src=r * cl),
                Dim("kh", op.kh, src=cl, reduce=True),
                Dim("kw", op.kw, src=1, reduce=True),
                Dim("oh", ht, dst=wt, src=sh * cl),
                Dim("ow", wt, dst=1, src=sw))
        if op.pool == "max":
            nodes.append(AluTile(A.MOV, dst, _flat(ct * pix), imm=op.pad_value, tag=tag))
            nodes.append(AluTile(A.MAX, dst, dims, src=src, tag=tag))
        else:
            nodes.append(AluTile(A.MIN, dst, _flat(ct * pix), reset=True, tag=tag))
            nodes.append(AluTile(A.ADD, dst, dims, src=src, tag=tag))
            if m != 1:
                nodes.append(AluTile(A.MUL, dst, _flat(ct * pix), imm=m, tag=tag))
            if shift:
                nodes.append(AluTile(A.RSHR, dst, _flat(ct * pix), imm=shift, tag=tag))
        nodes.append(StoreTile(dst, "y", (nb, c0, y0, x0), (1, ct, ht, wt), tag=tag))
    return replace(p, regions=regions, nodes=tuple(nodes), stage="tiling")


def tile_global_avg_pool(p: Program) -> Program:
    s, op, cfg = _alu_sched(p), p.op, p.cfg
    lay = _act(p.tensor("x").layout)
    n, cb, h, w = lay.n_blocks, lay.c_blocks, lay.h, lay.w
    q = cfg.alu_pipeline_depth  # partial sums per channel block: covers the hazard window
    cbt, th = min(s.tile_c, cb), min(s.tile_h, h)
    vt = s.virtual_threads
    fp = alu_footprint(op, s, cfg)
    regions = _alloc(cfg, [(f"{r}.{k}", "acc", size) for r, size in fp.items()
                           for k in range(vt)])
    m, shift = op.avg
    nodes: list = []
    chunk = 0
    for t, (nb, c0) in enumerate((nb, c) for nb in range(n) for c in range(0, cb, cbt)):
        k, tag = t % vt, f"t{t}"
        ct = min(cbt, cb - c0)
        part = Ref(f"part.{k}")
        nodes.append(AluTile(A.MIN, part, _flat(q * ct), reset=True, tag=tag))
        for y0 in range(0, h, th):
            ht = min(th, h - y0)
            src = Ref(f"in.{chunk % vt}")
            chunk += 1
            nodes.append(LoadTile("x", src, (nb, c0, y0, 0), (1, ct, ht, w), tag=tag))
            pix = ht * w
            full, rem = divmod(pix, q)
            if full:
                nodes.append(AluTile(A.ADD, part, (Dim("r", full, src=q, reduce=True),
                                                   Dim("cb", ct, dst=1, src=pix),
                                                   Dim("j", q, dst=ct, src=1)),
                                     src=src, tag=tag))
            if rem:
                nodes.append(AluTile(A.ADD, part, (Dim("cb", ct, dst=1, src=pix),
                                                   Dim("j", rem, dst=ct, src=1)),
                                     src=Ref(src.region, full * q), tag=tag))
        left = q
        while left > 1:  # tree-sum the partials into part[0:ct]
            half = left // 2
            nodes.append(AluTile(A.ADD, part, (Dim("j", half, dst=ct, src=ct),
                                               Dim("cb", ct, dst=1, src=1)),
                                 src=Ref(part.region, (left - half) * ct), tag=tag))
            left -= half
        if m != 1:
            nodes.append(AluTile(A.MUL, part, _flat(ct), imm=m, tag=tag))
        if shift:
            nodes.append(AluTile(A.RSHR, part, _flat(ct), imm=shift, tag=tag))
        nodes.append(StoreTile(part, "y", (nb, c0, 0, 0), (1, ct, 1, 1), tag=tag))
    return replace(p, regions=regions, nodes=tuple(nodes), stage="tiling")


def tile(p: Program) -> Program:
    """Dispatch on the operator kind."""
    if isinstance(p.op, (Conv2d, DepthwiseConv2d, Dense)):
        return tile_gemm(p)
    if isinstance(p.op, Elementwise):
        return tile_elementwise(p)
    if isinstance(p.op, Pool2d):
        return tile_pool(p)
    if isinstance(p.op, GlobalAvgPool):
        return tile_global_avg_pool(p)
    raise ScheduleError(f"no tiling for {type(p.op).__name__}")


__all__ = ["tile", "tile_gemm", "prefetch_weights"]
