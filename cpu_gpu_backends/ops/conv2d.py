"""conv2d (NCHW, groups=1): direct convolution on a channel-blocked copy of the input.

Why direct rather than im2col: output channels go in the vector lanes and output pixels of one
row in the register-blocked rows of the micro-kernel, so the "A" operand is a scalar broadcast
straight from the padded, channel-blocked input (no im2col buffer, no packing of B per call),
and every lane is useful as long as the output channels fill a vector.

Plan (all steps generated code):
1. ``pack_x``: ``x[N][C][H][W]`` -> ``xp[N][Cb][H+pads][W+pads][CB]`` (zero borders and
   zero channel padding; int8 widened to i16 so a channel pair is one 32-bit broadcast, or
   with VNNI stored as u8 ``x + 128`` so a channel quad is one 32-bit broadcast).
2. ``pack_w`` (weight-only; :meth:`CompiledOp.bind` runs it once):
   ``w[OC][C][KH][KW]`` -> ``wp[OT][Cb][KH][KW][CB][OTW]`` (int8: ``[CB/2][OTW][2]`` i16)
   and the bias padded to ``OT * OTW``.
3. ``main``: parallel over ``(n, output-channel tile, output row)``.  Each output row is
   computed in tiles of ``rows`` pixels by the micro-kernel; each tile (pixels x channels in
   registers) is transposed in registers, ``vl x vl`` at a time.  A raw output with whole
   channel tiles takes the transposed columns straight into its NCHW rows; otherwise they go
   to a thread-local channels x pixels row buffer, which is then copied to the NCHW output
   with bias and ReLU fused, or for a quantized :class:`opset.Conv2d` its whole
   :class:`opset.Epilogue` (requantization, residual, clip; int8 out: ``.epilogue``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from opset import Epilogue
from opset.layout import ActLayout

from .. import dtypes as dt
from ..kernel_ir import (
    Alloc,
    Assign,
    Cast,
    Const,
    Decl,
    Expr,
    Kernel,
    Let,
    Load,
    Loop,
    Param,
    Select,
    Shuffle,
    Stmt,
    Store,
    Var,
    binary,
    ge,
    idx,
    land,
    lt,
    minimum,
)
from . import winograd as wino
from .common import ceil_div, pair2, pick_dtype, positive, shape_of, tag, when
from .epilogue import I32, clamp8, epilogue_expr, requant_expr, tail_expr
from .gemm import ACTIVATIONS, apply_activation
from .microkernel import TileShape, acc_name, default_tile, micro_tile, zeros
from .plan import BufferSpec, OpPlan, Step


def _v(name: str) -> Var:
    return Var(name)


def norm_padding(op: str, padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    """``int``, ``(ph, pw)`` or ONNX-style ``(top, left, bottom, right)``."""
    if isinstance(padding, int):
        p = (padding,) * 4
    else:
        p = tuple(padding)
        if len(p) == 2:
            p = (p[0], p[1], p[0], p[1])
    if len(p) != 4 or not all(isinstance(x, int) and x >= 0 for x in p):
        raise ValueError(f"{op}: padding must be a non-negative int, a pair or "
                         f"(top, left, bottom, right), got {padding!r}")
    return p  # type: ignore[return-value]


def conv_out_size(op: str, size: int, k: int, stride: int, dil: int, p0: int, p1: int,
                  axis: str) -> int:
    span = dil * (k - 1) + 1
    out = (size + p0 + p1 - span) // stride + 1
    if out < 1:
        raise ValueError(f"{op}: kernel {axis}={k} (dilation {dil}) does not fit the padded "
                         f"input {axis}={size}+{p0}+{p1}")
    return out


def pack_input_kernel(name: str, n: int, c: int, h: int, w: int, cb: int, pad: tuple,
                      ety: dt.DType, pty: dt.DType, sample: tuple[int, int] = (1, 1),
                      out_hw: tuple[int, int] | None = None, offset: int = 0,
                      pad_value: int = 0) -> Kernel:
    """x NCHW -> xp[N][Cb][Hp][Wp][CB] with ``pad_value`` borders (the input zero point of
    :class:`opset.Conv2d`) and padded channels (their weights are zero, so any value).

    ``xp[.., i, j, ..] = x[.., i * sample_h - top, j * sample_w - left]`` (0 outside): with a
    sample stride (1x1 convolutions) only the pixels the convolution reads are packed.
    ``offset`` (int8 quads: 128) is added to every stored value, borders included, so a
    border is the offset form of ``pad_value``."""
    pt, pl, pb, pr = pad
    ssh, ssw = sample
    hp, wp = out_hw or (h + pt + pb, w + pl + pr)
    ncb = ceil_div(c, cb)
    q = _v("q")
    ih = q % hp
    ncb_idx = q // hp  # n * Cb + cblk
    nn, cblk = ncb_idx // ncb, ncb_idx % ncb
    ch = cblk * cb + _v("cc")
    dst = lambda iw: ((ncb_idx * hp + ih) * wp + iw) * cb + _v("cc")  # noqa: E731
    src_row = ((nn * c + ch) * h + (ih * ssh - pt)) * w
    zero = Const(offset + pad_value, pty)  # what the border holds

    def value(v: Expr) -> Expr:
        if offset:
            return Cast(Cast(v, dt.i16) + Const(offset, dt.i16, v.lanes), pty)
        return Cast(v, pty)

    valid_row = land(ge(ih * ssh, pt), lt(ih * ssh, pt + h))
    lo = min(wp, ceil_div(pl, ssw))
    hi = max(lo, min(wp, (pl + w - 1) // ssw + 1))
    fill = (Loop("iw", wp, (Store("xp", dst(_v("iw")), zero),)),)
    copy = (
        Loop("iw", lo, (Store("xp", dst(_v("iw")), zero),)),
        Loop("iw", hi, (Store("xp", dst(_v("iw")),
                              value(Load("x", src_row + _v("iw") * ssw - pl, ety))),),
             start=lo),
        Loop("iw", wp, (Store("xp", dst(_v("iw")), zero),), start=hi),
    )
    if c % cb:
        per_c = when(land(valid_row, lt(ch, c)), list(copy), list(fill))
        body: tuple[Stmt, ...] = (Loop("cc", cb, tuple(per_c)),)
    else:
        # every block is full: channels innermost, so each pixel's CB values are one
        # contiguous store (LLVM gathers the CB loads into a vector)
        def pixels(start: int, stop: int, val: Expr) -> Stmt:
            return Loop("iw", stop, (Loop("cc", cb, (Store("xp", dst(_v("iw")), val),)),),
                        start=start)
        data = value(Load("x", src_row + _v("iw") * ssw - pl, ety))
        mid: list[Stmt] = [pixels(lo, hi, data)]
        blk = cb  # pixels per register transpose: cb x cb
        if cb == 16:
            # 16 pixels x 16 channels at a time: one vector load per channel row (strided
            # sampling: the row's span, its pixels gathered by a shuffle), a register
            # transpose, one vector store per pixel; the row's last few pixels likewise
            chunks, tail = divmod(hi - lo, blk)
            base = (ncb_idx * hp + ih) * wp

            def block(prefix: str, iw0: Expr, count: int) -> list[Stmt]:
                span = (count - 1) * ssw + 1
                rows = []
                for r in range(cb):
                    start = ((nn * c + cblk * cb + r) * h + (ih * ssh - pt)) * w \
                        + iw0 * ssw - pl
                    if span == blk:
                        v: Expr = Load("x", start, ety, blk)
                    elif 3 <= span <= 2 * blk:
                        # two overlapping power-of-two loads, the row span's first and last
                        # lanes (never past it), gathered by one two-source shuffle
                        hw = blk if span > blk else 1 << (ceil_div(span, 2) - 1).bit_length()
                        back = span - hw
                        v = Shuffle(Load("x", start, ety, hw), Load("x", start + back, ety, hw),
                                    tuple(e if e < hw else e - back + hw
                                          for e in (j * ssw if j < count else 0
                                                    for j in range(blk))))
                    else:
                        v = Load("x", start, ety, span)
                        v = Shuffle(v, v, tuple(j * ssw if j < count else 0
                                                for j in range(blk)))
                    rows.append(value(v))
                lets_t, cols = transpose_block(prefix, rows, blk)
                return [*lets_t, *[Store("xp", (base + iw0 + j) * cb, col)
                                   for j, col in enumerate(cols[:count])]]

            mid = []
            if chunks:
                mid.append(Loop("iwc", chunks, tuple(block("px", lo + _v("iwc") * blk, blk))))
            if tail >= 2:
                mid += block("pt", idx(lo + chunks * blk), tail)
            elif tail:
                mid.append(pixels(hi - tail, hi, data))
        body = tuple(when(valid_row, [pixels(0, lo, zero), *mid, pixels(hi, wp, zero)],
                          [pixels(0, wp, zero)]))
    return Kernel(name, (Param("x", ety), Param("xp", pty)),
                  (Loop("q", n * ncb * hp, body, "parallel"),))


def pack_weight_kernel(name: str, oc: int, c: int, kh: int, kw: int, cb: int, t: TileShape,
                       bias: bool, ety: dt.DType, unfold: bool = False) -> Kernel:
    """w[OC][C][KH][KW] -> wp[OT][Cb][KH][KW][CB][OTW] (int8: [CB/2][OTW][2] i16, quads:
    [CB/4][OTW][4] i8).  Quads: ``biasp`` carries ``-128 * sum(w[o])``, cancelling the
    ``+128`` the input is packed with.  ``unfold``: for :func:`pack_unfolded_kernel`'s
    input, ``wp[OT][1][KH][1][CB]...`` with channel ``kx * C + ci`` of ``w[o][ci][ky][kx]``."""
    otw = t.cols
    g = t.group
    c0, kw0 = c, kw
    if unfold:
        c, kw = c0 * kw0, 1
    ncb = ceil_div(c, cb)
    ot = _v("ot")
    o, cc = _v("o"), _v("cc")
    och = ot * otw + o
    ich = _v("cblk") * cb + cc
    valid = land(lt(och, oc), lt(ich, c))
    if unfold:
        ichc = minimum(ich, c - 1)
        src = Load("w", ((minimum(och, oc - 1) * c0 + ichc % c0) * kh + _v("y")) * kw0
                   + ichc // c0, ety)
    else:
        src = Load("w", ((minimum(och, oc - 1) * c + minimum(ich, c - 1)) * kh + _v("y"))
                   * kw + _v("x"), ety)
    pty = t.b_type
    val = Select(valid, Cast(src, pty), Const(0, pty))
    base = ((ot * ncb + _v("cblk")) * kh + _v("y")) * kw + _v("x")
    if t.int8:
        dst = ((base * (cb // g) + cc // g) * otw + o) * g + cc % g
    else:
        dst = (base * cb + cc) * otw + o
    inner: tuple[Stmt, ...] = (Store("wp", dst, val),)
    for var, ext in (("o", otw), ("cc", cb), ("x", kw), ("y", kh), ("cblk", ncb)):
        inner = (Loop(var, ext, inner),)
    body = list(inner)
    if bias or t.quads:
        bty = t.acc_type
        init: Expr = Load("bias", minimum(och, oc - 1), bty) if bias else Const(0, bty)
        fill: list[Stmt] = []
        if t.quads:
            wsum: Stmt = Assign("wsum", Var("wsum", dt.i32) + Cast(Load(
                "w", ((minimum(och, oc - 1) * c0 + _v("ci")) * kh + _v("y")) * kw0 + _v("x"),
                ety), dt.i32))
            fill = [Decl("wsum", Const(0, dt.i32)),
                    Loop("ci", c0, (Loop("y", kh, (Loop("x", kw0, (wsum,)),)),))]
            init = init - Var("wsum", dt.i32) * 128
        body.append(Loop("o", otw, (*fill, Store("biasp", och, Select(
            lt(och, oc), init, Const(0, bty))))))
    params = [Param("w", ety), Param("wp", pty)]
    if bias:
        params.append(Param("bias", t.acc_type))
    if bias or t.quads:
        params.append(Param("biasp", t.acc_type))
    return Kernel(name, tuple(params), (Loop("ot", ceil_div(oc, otw), tuple(body), "parallel"),))


def transpose_block(prefix: str, rows: list[Expr], vl: int) -> tuple[list[Stmt], list[Var]]:
    """The ``vl x vl`` transpose of ``rows`` (``vl``-lane vectors; missing rows are zeros) in
    ``log2(vl)`` stages of two-source shuffles: stage ``d`` swaps the off-diagonal ``d x d``
    blocks of each row pair ``(i, i + d)``.  Returns the ``Let`` statements and the columns."""
    ty = rows[0].dtype
    v: list[Expr] = list(rows) + [Const(0, ty, vl)] * (vl - len(rows))
    lets: list[Stmt] = []
    d, stage = vl // 2, 0
    while d:
        nxt = list(v)
        for i in range(vl):
            if i & d:
                continue
            lo = tuple(j if not j & d else vl + j - d for j in range(vl))
            hi = tuple(j + d if not j & d else vl + j for j in range(vl))
            for k, mask in ((i, lo), (i + d, hi)):
                name = f"{prefix}{stage}_{k}"
                lets.append(Let(name, Shuffle(v[i], v[i + d], mask)))
                nxt[k] = Var(name, ty, vl)
        v, d, stage = nxt, d // 2, stage + 1
    return lets, v  # type: ignore[return-value]


def conv_main_kernel(name: str, n: int, c: int, oc: int, hp: int, wp: int, oh: int, ow: int,
                     kh: int, kw: int, stride: tuple[int, int], dil: tuple[int, int], cb: int,
                     t: TileShape, bias: bool, activation: str | None,
                     epilogue: Epilogue | None = None, residual: bool = False,
                     x_offset: tuple[int, int] = (0, 0), out_layout: ActLayout | None = None,
                     res_layout: ActLayout | None = None, flat: bool = False,
                     k_chunk: int = 0) -> Kernel:
    """The register-blocked convolution; with an ``epilogue`` (int8, bias already in the
    accumulators' initial value) the write-back applies the rest of it and stores int8.

    ``xp`` is ``[N][Cb][hp][wp][cb]``; the convolution's padded origin is at ``x_offset``
    in it (a blocked input whose halo is wider than this convolution's padding).  With
    ``out_layout`` (f32) each tile's pixels x channels go straight into that blocked
    output's interior, no transpose; ``res_layout``: the residual's blocked layout.

    ``flat``: the output's pixels are tiled as one row of ``oh * ow`` (a task per channel
    tile, not per output row): narrow outputs then take fewer, fuller tiles, and each tile
    streams the channel tile's weights once (see :data:`FLAT_MAX_WIDTH`).

    ``k_chunk`` (with ``flat``; 0: off): the reduction runs in chunks of that many input
    channel blocks, each chunk over every pixel tile before the next, the accumulators
    kept between chunks in a per-task buffer of ``oh * ow`` x the channel tile: one chunk's
    weights and input stay in L1 across all the pixel tiles instead of being streamed from
    L2 once per tile (see :data:`REDUCTION_CHUNK_BYTES`).  Same operations in the same
    order, so the same bits."""
    otw, vl = t.cols, t.vl
    ow2d = ow
    if flat:  # from here on the output is one row of oh * ow pixels (NCHW: the same)
        oh, ow = 1, oh * ow
    ncb = ceil_div(c, cb)
    nt = ceil_div(oc, otw)
    sh, sw = stride
    dh, dw = dil
    q = _v("q")
    ohv = q % oh
    ot = (q // oh) % nt
    nn = q // (oh * nt)
    acc_ty = t.acc_type
    lets: list[Stmt] = [Let("oy", ohv), Let("ot", ot), Let("nn", nn)]
    oy, otv, nv_ = _v("oy"), _v("ot"), _v("nn")
    g = t.group
    cgroups = cb // g
    uses_biasp = bias or t.quads
    owp = ow + vl  # yrow[otw][owp]: room for a last transposed block past the row's end
    # raw output, whole channel tiles: the transposed columns go straight to the NCHW rows
    # (no row buffer, no second pass); otherwise through yrow and the epilogue's copy
    direct = epilogue is None and oc % otw == 0
    offy, offx = x_offset
    if k_chunk and not flat:
        raise ValueError(f"{name}: k_chunk needs flat")
    nchunks = ceil_div(ncb, k_chunk) if k_chunk else 1
    kc = _v("kc")

    def pixel(ow0: Expr, r: int) -> tuple[Expr, Expr]:
        """Output row and column of the tile's pixel ``r``."""
        if flat:
            return (ow0 + r) // ow2d, (ow0 + r) % ow2d
        return oy, ow0 + r

    def blocked_stores(v: int, ow0: Expr, rows: int) -> list[Stmt]:
        """The tile's vector ``v`` (``vl`` channels) of each of its ``rows`` pixels into
        ``y`` in ``out_layout`` (``residual`` read in ``res_layout``); nothing past the
        layout's blocks (a last channel tile wider than the padded channels)."""
        cbase = otv * otw + v * vl

        def at(lay: ActLayout, r: int) -> Expr:
            py, px = pixel(ow0, r)
            return ((((nv_ * lay.c_blocks + cbase // lay.block) * lay.hp + py
                      + lay.halo[0]) * lay.wp + px + lay.halo[1]) * lay.block
                    + cbase % lay.block)

        stores: list[Stmt] = []
        bias_v = Load("biasp", cbase, acc_ty, vl) if uses_biasp else None
        if epilogue is not None and epilogue.per_channel:  # channels are the lanes
            stores += [Let(f"em{v}", Load("multiplier", cbase, I32, vl)),
                       Let(f"es{v}", Load("shift", cbase, I32, vl))]
        for r in range(rows):
            val: Expr = Var(acc_name("c", r, v), acc_ty, vl)
            if bias_v is not None:
                val = val + bias_v
            if epilogue is not None:  # int8 out, kept as the i16 the next conv reads
                ep = replace(epilogue, bias=False)
                val = requant_expr(val, ep, Var(f"em{v}", I32, vl), Var(f"es{v}", I32, vl))
                res = Load("residual", at(res_layout, r), dt.i16, vl) if ep.residual else None
                stores.append(Store("y", at(out_layout, r),
                                    Cast(clamp8(tail_expr(val, ep, res)), dt.i16)))
                continue
            if residual:
                val = val + Load("residual", at(res_layout, r), acc_ty, vl)
            stores.append(Store("y", at(out_layout, r), apply_activation(val, activation)))
        if nt * otw > out_layout.c_blocks * out_layout.block:
            return when(lt(cbase, out_layout.c_blocks * out_layout.block), stores)
        return stores

    def tile(ow0: Expr, rows: int) -> list[Stmt]:
        tt = TileShape(rows, t.nv, t.vl, t.int8, t.quads)
        cstep = g * _v("cc")
        def a_index(r: int) -> Expr:
            py, px = pixel(ow0, r)
            xrow = (nv_ * ncb + _v("cblk")) * hp + py * sh + _v("ky") * dh + offy
            return (xrow * wp + px * sw + _v("kx") * dw + offx) * cb + cstep

        wbase = ((otv * ncb + _v("cblk")) * kh + _v("ky")) * kw + _v("kx")

        def b_index(v: int) -> Expr:
            return ((wbase * cgroups + _v("cc")) * otw + v * vl) * g

        # a blocked output adds the bias at the store: with the accumulators starting from
        # it, LLVM kept a copy live across the reduction and spilled (4x3 tile: 1.45x slower)
        init = (lambda r, v: Load("biasp", otv * otw + v * vl, acc_ty, vl)) \
            if uses_biasp and out_layout is None else zeros(tt)
        cblks: tuple = ("cblk", ncb, "serial")
        if nchunks > 1:  # this chunk's blocks, from the partial sums of the chunks before
            def part(r: int, v: int) -> Expr:
                return (ow0 + r) * otw + v * vl

            first = init
            init = lambda r, v: Select(binary("eq", kc, idx(0)), first(r, v),  # noqa: E731
                                       Load("part", part(r, v), acc_ty, vl))
            stop = kc * k_chunk + k_chunk if ncb % k_chunk == 0 \
                else minimum(kc * k_chunk + k_chunk, idx(ncb))
            cblks = ("cblk", stop, "serial", kc * k_chunk)
        loops = [cblks, ("ky", kh, "serial"), ("kx", kw, "serial"), ("cc", cgroups, "serial")]
        body = micro_tile(tt, "c", loops, "xp", a_index, "wp", b_index, init)
        if nchunks > 1:
            spill = [Store("part", part(r, v), Var(acc_name("c", r, v), acc_ty, vl))
                     for r in range(rows) for v in range(t.nv)]
            return [*body, *when(lt(kc, nchunks - 1), spill, write_back(ow0, rows))]
        return [*body, *write_back(ow0, rows)]

    def write_back(ow0: Expr, rows: int) -> list[Stmt]:
        """The finished tile's accumulators into ``y`` (or ``yrow``)."""
        body: list[Stmt] = []
        if out_layout is not None:  # pixels x channels is the blocked layout: no transpose
            for v in range(t.nv):
                body += blocked_stores(v, ow0, rows)
            return body
        # the tile holds pixels x channels; yrow is channels x pixels: transpose vl x vl
        # blocks in registers and store whole vectors (the lanes past the tile's last pixel
        # are overwritten by the next tile or never read)
        for v in range(t.nv):
            for r0 in range(0, rows, vl):
                accs: list[Expr] = []
                for r in range(r0, min(rows, r0 + vl)):
                    acc: Expr = Var(acc_name("c", r, v), acc_ty, vl)
                    if not residual:  # with a residual, the activation follows the add
                        acc = apply_activation(acc, activation)
                    accs.append(acc)
                lets_t, cols = transpose_block(f"t{v}_{r0}_", accs, vl)
                body += lets_t
                if direct:  # each column is `count` pixels of one NCHW output row
                    count = len(accs)
                    for j, col in enumerate(cols):
                        dst = ((nv_ * oc + otv * otw + v * vl + j) * oh + oy) * ow + ow0 + r0
                        val = col if count == vl else Shuffle(col, col, tuple(range(count)))
                        if residual:
                            val = apply_activation(val + Load("residual", dst, acc_ty, count),
                                                   activation)
                        body.append(Store("y", dst, val))
                else:
                    body += [Store("yrow", (v * vl + j) * owp + ow0 + r0, col)
                             for j, col in enumerate(cols)]
        return body

    full, rem = ow // t.rows, ow % t.rows
    tiles: list[Stmt] = []
    if full:
        tiles.append(Loop("owt", full, tuple(tile(_v("owt") * t.rows, t.rows))))
    if rem:
        tiles.extend(tile(idx(full * t.rows), rem))
    if nchunks > 1:
        tiles = [Alloc("part", acc_ty, ow * otw), Loop("kc", nchunks, tuple(tiles))]
    nvalid = minimum(idx(otw), binary("sub", idx(oc), otv * otw))
    out_idx = ((nv_ * oc + otv * otw + _v("o")) * oh + oy) * ow + _v("ox")
    value: Expr = Load("yrow", _v("o") * owp + _v("ox"), acc_ty)
    extra: list[Param] = []
    if epilogue is not None:
        och = otv * otw + _v("o")
        per_ch = epilogue.per_channel
        value = epilogue_expr(value, replace(epilogue, bias=False),
                              mult=Load("multiplier", och, I32) if per_ch else None,
                              shift=Load("shift", och, I32) if per_ch else None,
                              residual=Load("residual", out_idx, dt.i8)
                              if epilogue.residual else None)
        extra = [Param(r, I32) for r in ("multiplier", "shift") if per_ch]
        extra += [Param("residual", dt.i16 if res_layout else dt.i8)] \
            if epilogue.residual else []
    elif residual:
        value = apply_activation(value + Load("residual", out_idx, acc_ty), activation)
        extra = [Param("residual", acc_ty)]
    write = Loop("o", nvalid, (Loop("ox", ow, (Store("y", out_idx, value),)),))
    if direct or out_layout is not None:
        body: tuple[Stmt, ...] = (*lets, *tiles)
    else:
        body = (Alloc("yrow", acc_ty, otw * owp), *lets, *tiles, write)
    params = [Param("xp", t.a_type), Param("wp", t.b_type)]
    if uses_biasp:
        params.append(Param("biasp", acc_ty))
    params += extra
    blocked_i8 = epilogue is not None and out_layout is not None
    params.append(Param("y", dt.i16 if blocked_i8 else value.dtype))
    return Kernel(name, tuple(params), (Loop("q", n * nt * oh, body, "parallel"),))


def choose_tile(ow: int, oc: int, int8: bool) -> TileShape:
    """Register blocking for one output row: narrow rows (7, as in ResNet's last stage) get
    four output-channel vectors so the accumulators still fill the register file.  The
    int8 quad kernel splits the row into as few tiles of 8-14 pixels as it can (28
    accumulators at most), the last one as long as possible: ResNet's 56/28/14-wide rows then
    have no short remainder tile (a 14-wide row was 12 + 2)."""
    t = default_tile(int8)
    if oc <= t.vl:
        return TileShape(t.rows, 1, t.vl, int8, t.quads)
    if not int8 and t.vl >= 16 and ow <= 7 and oc % (4 * t.vl) == 0:
        return TileShape(ow, 4, t.vl, int8)
    if not int8 and t.vl < 16:
        return _fp32_tile_16_registers(ow, oc, t)
    if t.quads:
        def cost(r: int) -> tuple[int, int, int]:  # fewest tiles, then no short tile
            tiles = ceil_div(ow, r)
            return tiles, -(ow - (tiles - 1) * r), -r
        rows = min(range(min(ow, 8), min(ow, 14) + 1), key=cost)
        return TileShape(rows, t.nv, t.vl, int8, True)
    return t


def _fp32_tile_16_registers(ow: int, oc: int, t: TileShape) -> TileShape:
    """fp32 with 16 vector registers (AVX2): 6x2, 5x2 or 4x3 accumulators, whichever
    covers the row and the output channels in the fewest modelled cycles.  A reduction
    step of a tile costs ``max(FMAs / 2, 4)`` cycles (two FMA pipes; an accumulator is
    updated once per step and an FMA takes 4 cycles, so a short tile waits on latency).
    Why: with 6x2 everywhere a 7-wide row (ResNet's last stage) was a 6-row tile plus a
    1-row tile at 25% of peak, and 14-wide rows ended in a 2-row tile; measured on the
    ResNet-18 shapes (GFLOP/s, one thread): 7 wide 46 -> 59 with 4x3, 14 wide 52-65 ->
    73-78 with 5x2, 28 and 56 wide unchanged with 6x2."""
    def cycles(rows: int, nv: int) -> float:
        full, rem = divmod(ow, rows)
        per_row = full * max(rows * nv / 2, 4.0) + (max(rem * nv / 2, 4.0) if rem else 0.0)
        return ceil_div(oc, nv * t.vl) * per_row

    rows, nv = min(((6, 2), (5, 2), (4, 3)), key=lambda s: cycles(*s))  # ties: 6x2
    return TileShape(rows, nv, t.vl)


def conv2d_plan(x_shape: Sequence[int], w_shape: Sequence[int], dtype: str = "f32",
                stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                dilation: int | Sequence[int] = 1, bias: bool = False,
                activation: str | None = None, tile: TileShape | None = None,
                pad_value: int = 0, epilogue: Epilogue | None = None,
                residual: bool = False, in_layout: ActLayout | None = None,
                out_layout: ActLayout | None = None,
                res_layout: ActLayout | None = None, winograd: bool = True) -> OpPlan:
    """Plan for ``y = act(conv2d(x, w) + bias)`` in NCHW with OIHW weights, groups=1.

    dtype ``f32``, or ``i8`` (int8 x and w, int32 bias and output, exact accumulation).
    padding: int, ``(ph, pw)`` or ``(top, left, bottom, right)``; the padded cells read
    ``pad_value`` (int8: the input zero point).  epilogue (int8 only, instead of ``bias`` and
    ``activation``): an :class:`opset.Epilogue` fused into the write-back, int8 output ``y``;
    inputs ``x, w[, bias][, multiplier, shift][, residual]`` as in ``opset.Conv2d.inputs()``.
    residual (f32): ``y = act(conv2d(x, w) + bias + residual)``, the residual an input of
    the output's shape (a ResNet block's Add + ReLU fused into the write-back).

    Blocked layouts (f32, :class:`opset.layout.ActLayout`, batch 1; a model's host program
    keeps activations in them between ops): ``in_layout``: ``x`` is already blocked (block
    16, a halo at least the padding, zero), so there is no ``pack_x``; ``out_layout``: ``y``
    is written blocked into that layout's interior (halo untouched); ``res_layout``: the
    residual is read blocked (needs ``out_layout``).  int8 with the i16 pair kernel (not
    the VNNI quads) takes them too, as the i16 values ``pack_x`` would make: ``x`` blocked
    i16 (its halo holding ``pad_value``), and with an ``epilogue`` ``y`` written blocked
    as i16, the int8 values sign-extended, straight from the register tile (no transpose,
    no row buffer: per-channel multipliers and shifts are the lanes), its residual read
    blocked i16 (``res_layout``).

    ``winograd``: an fp32 3x3 stride-1 convolution blocked in and out runs as Winograd
    F(2x2, 3x3) where :func:`.winograd.f32_eligible` and :func:`.winograd.worth_it`
    (``False``: always direct; the int8
    form is chosen by :func:`.quantized.op_plan`).
    """
    op = "conv2d"
    n, c, h, w = shape_of(op, "x_shape", x_shape, 4)
    oc, wc, kh, kw = shape_of(op, "w_shape", w_shape, 4)
    if wc != c:
        raise ValueError(f"{op}: w_shape[1]={wc} must equal the input channels x_shape[1]={c}"
                         " (groups=1; use depthwise_conv2d for groups=C)")
    sh, sw = pair2(op, "stride", stride)
    dh, dw = pair2(op, "dilation", dilation)
    positive(op, stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw)
    pad = norm_padding(op, padding)
    ety = pick_dtype(op, "dtype", dtype, ("f32", "i8"))
    if activation not in ACTIVATIONS:
        raise ValueError(f"{op}: activation must be one of {ACTIVATIONS}, got {activation!r}")
    int8 = ety is dt.i8
    if epilogue is not None:
        if not int8 or activation is not None or bias or residual:
            raise ValueError(f"{op}: an epilogue needs dtype i8 and replaces bias/activation/"
                             "residual")
        bias = epilogue.bias
    oh = conv_out_size(op, h, kh, sh, dh, pad[0], pad[2], "height")
    ow = conv_out_size(op, w, kw, sw, dw, pad[1], pad[3], "width")
    flat = ow <= FLAT_MAX_WIDTH and oh > 1
    t = tile or choose_tile(oh * ow if flat else ow, oc, int8)
    # whole reduction groups (int8 pairs/quads); 64-channel quad blocks measured no faster
    cb = min(16, ceil_div(c, t.group) * t.group)
    ncb = ceil_div(c, cb)
    hp, wp = h + pad[0] + pad[2], w + pad[1] + pad[3]
    sample, conv_stride = (1, 1), (sh, sw)
    x_offset = (0, 0)
    # few int8 input channels (an RGB stem): (kx, channel) pairs unfolded into channels
    unfold = int8 and in_layout is None and kw > 1 and c % t.group != 0 \
        and c * kw <= UNFOLD_MAX
    ck, kwk, dwk = (c * kw, 1, 1) if unfold else (c, kw, dw)  # what the main kernel sees
    if unfold:
        cb = ceil_div(ck, t.group) * t.group
        ncb, wp, conv_stride = 1, ow, (sh, 1)
    if in_layout is not None or out_layout is not None or res_layout is not None:
        _check_blocked(op, int8, t.quads, epilogue, n, in_layout, (c, h, w), cb, pad,
                       out_layout, (oc, oh, ow), t.vl, res_layout, residual)
    if winograd and not int8 and tile is None and wino.worth_it(oh, ow) and wino.f32_eligible(
            c, oh, ow, oc, (kh, kw), (sh, sw), (dh, dw), pad, in_layout, out_layout,
            default_tile(False)):
        return wino.winograd_f32_plan(c, oh, ow, oc, bias, activation, residual, in_layout,
                                      out_layout, res_layout)
    if int8 and out_layout is not None and oc % t.cols:
        raise ValueError(f"{op}: an int8 blocked output needs output channels a multiple "
                         f"of the register tile's {t.cols} (its epilogue reads per-channel "
                         f"rows in whole vectors), got {oc}")
    if in_layout is not None:  # read in place: the halo holds the padding
        hp, wp = in_layout.hp, in_layout.wp
        x_offset = (in_layout.halo[0] - pad[0], in_layout.halo[1] - pad[1])
    elif kh == kw == 1 and (sh, sw) != (1, 1):
        # 1x1: pack only the sampled pixels, then convolve them with stride 1
        sample, conv_stride, hp, wp = (sh, sw), (1, 1), oh, ow
    nt = ceil_div(oc, t.cols)
    acc = t.acc_type
    name = f"conv2d_{ety.name}_" \
        f"{tag(x_shape, w_shape, sh, sw, dh, dw, pad, bias, activation, t, pad_value, epilogue)}" \
        + ("_res" if residual else "") \
        + (f"_blk{tag(in_layout, out_layout, res_layout)}"
           if in_layout or out_layout or res_layout else "")
    bufs = [BufferSpec("x", t.a_type, in_layout.shape, "input") if in_layout else
            BufferSpec("x", ety, (n, c, h, w), "input"),
            BufferSpec("w", ety, (oc, c, kh, kw), "input")]
    if bias:
        bufs.append(BufferSpec("bias", acc, (oc,), "input"))
    if epilogue is not None:
        bufs += [BufferSpec(r, dt.i32, (oc,), "input") for r in ("multiplier", "shift")
                 if epilogue.per_channel]
        if epilogue.residual:
            bufs.append(BufferSpec("residual", dt.i16, res_layout.shape, "input") if res_layout
                        else BufferSpec("residual", dt.i8, (n, oc, oh, ow), "input"))
    if residual:
        if int8:
            raise ValueError(f"{op}: an int8 residual goes in the epilogue")
        bufs.append(BufferSpec("residual", acc, res_layout.shape if res_layout else
                               (n, oc, oh, ow), "input"))
    y_ty = acc if epilogue is None else dt.i16 if out_layout is not None else dt.i8
    bufs += [BufferSpec("y", y_ty,
                        out_layout.shape if out_layout else (n, oc, oh, ow), "output"),
             *([] if in_layout else [BufferSpec("xp", t.a_type, (n * ncb * hp * wp * cb,))]),
             BufferSpec("wp", t.b_type, (nt * ncb * kh * kwk * cb * t.cols,)),
             BufferSpec("biasp", acc, (nt * t.cols,))]
    if unfold:
        px = pack_unfolded_kernel(f"{name}_pack_x", n, c, h, w, kw, cb, pad, (sw, dw), ow,
                                  ety, t.a_type, 128 if t.quads else 0, pad_value)
    else:
        px = pack_input_kernel(f"{name}_pack_x", n, c, h, w, cb, pad, ety, t.a_type, sample,
                               (hp, wp), 128 if t.quads else 0, pad_value)
    pw = pack_weight_kernel(f"{name}_pack_w", oc, c, kh, kw, cb, t, bias, ety, unfold)
    main = conv_main_kernel(f"{name}_main", n, ck, oc, hp, wp, oh, ow, kh, kwk, conv_stride,
                            (dh, dwk), cb, t, bias, activation, epilogue, residual, x_offset,
                            out_layout, res_layout, flat,
                            reduction_chunk(t, cb, ncb, kh * kwk, hp * wp)
                            if flat and not int8 else 0)
    biasp = ("biasp",) if bias or t.quads else ()
    # params name buffers; a blocked input is read in place as the packed one
    args = tuple("x" if p.name == "xp" and in_layout else p.name for p in main.params)
    steps = (Step(pw.name, ("w", "wp", *(("bias",) if bias else ()), *biasp)),
             *(() if in_layout else (Step(px.name, ("x", "xp")),)),
             Step(main.name, args))
    kernels = (pw, main) if in_layout else (px, pw, main)
    return OpPlan(name, kernels, tuple(bufs), steps,
                  {"out_shape": (n, oc, oh, ow), "tile": t, "cb": cb})


FLAT_MAX_WIDTH = 7
"""Output rows at most this wide are tiled as one flattened row of all the output's pixels
(:func:`conv_main_kernel` ``flat``).  Why: ResNet-18's last stage (7x7 outputs, 512
channels) took 1.35x the time of the wider stages for the same work: per output row a
4-row and a 3-row tile, each streaming its channel tile's 442 KB of weights, which do not
stay in L2."""


REDUCTION_CHUNK_BYTES = 16 * 1024
"""A flat fp32 convolution's reduction runs in chunks of input channel blocks whose weights
(one channel tile's) and input (every pixel of those blocks) take at most this many bytes,
half the 32 KB L1 of this host (:func:`conv_main_kernel` ``k_chunk``).  Why: ResNet-18's
7x7x512 layers streamed a channel tile's weights (295 KB) and the input from L2 once per
pixel tile.  Measured (512x7x7 3x3, blocked in and out, one thread, min of 100-200
interleaved runs, loaded host): fp32 3.30 -> 3.15, 3.37 -> 3.21 and 3.42 -> 3.41 ms;
int8 (147 KB of i16 pair weights per tile) 1.91 -> 1.95 and 1.93 -> 1.92 ms, so int8
keeps one chunk."""


def reduction_chunk(t: TileShape, cb: int, ncb: int, taps: int, plane: int) -> int:
    """Input channel blocks per reduction chunk of a flat convolution (0: one chunk): as
    many as fit :data:`REDUCTION_CHUNK_BYTES`, at least one."""
    per_block = taps * cb * t.cols * t.b_type.itemsize + plane * cb * t.a_type.itemsize
    chunk = max(1, REDUCTION_CHUNK_BYTES // per_block)
    return chunk if chunk < ncb else 0


UNFOLD_MAX = 32
"""An int8 convolution whose input channels do not fill whole reduction groups (3 RGB
channels in int8 pairs: a quarter of every pair step multiplied padding) packs its input
with ``(kx, channel)`` unfolded into channels, when there are at most this many, and runs
as a ``KH x 1`` convolution over them (:func:`pack_unfolded_kernel`): ResNet-18's 7x7 stem,
21 values in 11 pairs instead of 7 x 2 pairs of which one channel in four was padding."""


def pack_unfolded_kernel(name: str, n: int, c: int, h: int, w: int, kw: int, cb: int,
                         pad: tuple[int, int, int, int], stride_dil: tuple[int, int], ow: int,
                         ety: dt.DType, pty: dt.DType, offset: int = 0,
                         pad_value: int = 0) -> Kernel:
    """x NCHW -> ``xp[N][1][Hp][OW][cb]``: unfolded channel ``kx * c + ci`` of output column
    ``ox`` holds ``x[ci][iy - top][ox * sw + kx * dw - left]`` (``pad_value`` outside the
    image; channels past ``c * kw`` too: their weights are zero), plus ``offset``."""
    pt, pl, pb, _ = pad
    sw, dw = stride_dil
    hp = h + pt + pb
    q, ox = _v("q"), _v("ox")
    ih, nn = q % hp, q // hp
    zero = Const(offset + pad_value, pty)
    row_ok = land(ge(ih, pt), lt(ih, pt + h))
    stores: list[Stmt] = []
    for cc in range(cb):
        kx, ci = divmod(cc, c)
        dst = ((q * ow + ox) * cb + cc)
        if kx >= kw:
            stores.append(Store("xp", dst, zero))
            continue
        iw = ox * sw + kx * dw - pl
        src = ((nn * c + ci) * h + ih - pt) * w + minimum(binary("max", iw, idx(0)),
                                                           idx(w - 1))
        v = Cast(Load("x", src, ety), dt.i16)
        val = Cast(v + Const(offset, dt.i16), pty) if offset else Cast(v, pty)
        stores.append(Store("xp", dst, Select(land(ge(iw, 0), lt(iw, w)), val, zero)))
    body = when(row_ok, [Loop("ox", ow, tuple(stores))],
                [Loop("ox", ow, tuple(Store("xp", (q * ow + ox) * cb + cc, zero)
                                      for cc in range(cb)))])
    return Kernel(name, (Param("x", ety), Param("xp", pty)),
                  (Loop("q", n * hp, tuple(body), "parallel"),))


BLOCK = 16
"""Channels per block of the f32 activations a host program keeps blocked between ops (the
conv kernels' input block ``cb``)."""


def _check_blocked(op: str, int8: bool, quads: bool, epilogue: Epilogue | None, n: int,
                   in_layout: ActLayout | None, chw: tuple[int, int, int], cb: int,
                   pad: tuple[int, int, int, int], out_layout: ActLayout | None,
                   ochw: tuple[int, int, int], vl: int, res_layout: ActLayout | None,
                   residual: bool) -> None:
    """Reject a blocked layout the kernels cannot take, naming it and what was expected."""
    if int8 and quads:
        raise ValueError(f"{op}: int8 blocked layouts need the i16 pair kernel (this host "
                         "packs byte quads)")
    if int8 and out_layout is not None and epilogue is None:
        raise ValueError(f"{op}: a blocked output is f32, or int8 with an epilogue (i16)")
    if int8:  # the epilogue's residual stands for the f32 kernel's
        residual = epilogue is not None and epilogue.residual
    for what, lay, dims in (("in_layout", in_layout, chw), ("out_layout", out_layout, ochw),
                            ("res_layout", res_layout, ochw)):
        if lay is None:
            continue
        if not isinstance(lay, ActLayout):
            raise TypeError(f"{op}: {what} must be an opset.layout.ActLayout, got "
                            f"{type(lay).__name__}")
        if (lay.n, lay.c, lay.h, lay.w) != (n, *dims) or lay.batch != 1:
            raise ValueError(f"{op}: {what} {lay} must describe ({n}, {dims[0]}, {dims[1]}, "
                             f"{dims[2]}) with batch 1")
        if lay.c_blocks != ceil_div(lay.c, lay.block):
            raise ValueError(f"{op}: {what} must have ceil(c / block) channel blocks")
    if in_layout is not None:
        if in_layout.block != cb:
            raise ValueError(f"{op}: in_layout block {in_layout.block} must be the kernel's "
                             f"channel block {cb}")
        if pad[0] != pad[2] or pad[1] != pad[3] or in_layout.halo[0] < pad[0] \
                or in_layout.halo[1] < pad[1]:
            raise ValueError(f"{op}: a blocked input needs symmetric padding within its halo "
                             f"{in_layout.halo}, got {pad}")
    if out_layout is not None and out_layout.block % vl:
        raise ValueError(f"{op}: out_layout block {out_layout.block} must be a multiple of "
                         f"the vector length {vl}")
    if res_layout is not None and (not residual or out_layout is None
                                   or res_layout.block % vl):
        raise ValueError(f"{op}: res_layout needs residual=True, an out_layout and a block "
                         f"that is a multiple of {vl}")
    if residual and out_layout is not None and res_layout is None:
        raise ValueError(f"{op}: a blocked output takes its residual blocked (res_layout)")
