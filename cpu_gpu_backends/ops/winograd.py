"""int8 3x3 stride-1 convolution by Winograd F(2x2, 3x3), exact in integers.

Why: the i16 pair kernel (``vpmaddwd``) runs near what this host allows without VNNI, so
the way to spend less time on ResNet's 3x3 layers is fewer multiplies: F(2x2, 3x3) makes a
2x2 output tile from 16 products per channel instead of 36 (2.25x fewer).

Exactness: with ``Gs = 2 G`` (integer) the transformed weights ``U = Gs g Gs^T`` are
integers (``|U| <= 9 * 128``), the transformed input ``V = B^T d B`` too (``|V| <= 4 *
128``), both fit i16 so their channel sums run on the same pair kernel, and ``A^T (sum U
V) A`` is four times the convolution.  Every step is a ring operation in wrapping int32,
so that value is exact whenever four times the convolution fits int32
(:data:`MAX_CHANNELS`), and the arithmetic shift by 2 divides it exactly.  The result is
the direct kernel's int32 accumulator bit for bit; the epilogue is the same code.

The form: batch 1, blocked i16 input (halo at least 1, holding the input zero point, as
the direct kernel reads it) and blocked i16 output (:func:`.conv2d.conv2d_plan`'s int8
blocked forms), padding 1, even output height and width, whole 16-channel blocks.

Plan (generated code):
1. ``pack_w`` (weight-only, run once by :meth:`CompiledOp.bind`): ``U[e][ot][cb][cc][otw]
   [2]``, i16 pairs as the pair kernel's "B" side, ``e`` the 16 transform points.
2. ``input``: ``V[e][cb][tile][16]`` i16, parallel over (channel block, tile row).
3. ``main``: parallel over (output channel tile, group of ``rows`` tiles): for each ``e``
   the register-blocked pair kernel over the channels, its tile stored to a small
   per-task buffer; then the output transform of each tile, ``>> 2``, the bias and the
   epilogue on channel lanes, stored blocked (residual read blocked).
"""

from __future__ import annotations

from dataclasses import replace

from opset import Conv2d
from opset.layout import ActLayout

from .. import dtypes as dt
from ..kernel_ir import (
    Alloc,
    Cast,
    Const,
    Expr,
    Kernel,
    Let,
    Load,
    Loop,
    Param,
    Store,
    Var,
    binary,
    idx,
    lt,
)
from .common import ceil_div, tag, when
from .epilogue import I32, clamp8, requant_expr, tail_expr
from .microkernel import TileShape, acc_name, default_tile, micro_tile, zeros
from .plan import BufferSpec, OpPlan, Step

BLOCK = 16
"""Channels per block of the blocked layouts this form reads and writes."""

MAX_CHANNELS = 3640
"""Four times a 3x3 int8 convolution's sum over this many channels still fits int32
(``4 * C * 9 * 128 * 128 < 2**31``)."""

# F(2x2, 3x3) (Lavin and Gray): B^T (4x4), Gs = 2 G (4x3), A^T (2x4)
BT = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
GS = ((2, 0, 0), (1, 1, 1), (1, -1, 1), (0, 0, 2))
AT = ((1, 1, 1, 0), (0, 1, -1, -1))


def eligible(op: Conv2d, in_layout: ActLayout | None, out_layout: ActLayout | None,
             tile: TileShape) -> bool:
    """Whether :func:`winograd_plan` takes ``op`` with these layouts."""
    return (isinstance(op, Conv2d) and in_layout is not None and out_layout is not None
            and not tile.quads and op.n == 1 and (op.kh, op.kw) == (3, 3)
            and op.stride == (1, 1) and op.pad == (1, 1) and op.ho % 2 == 0
            and op.wo % 2 == 0 and op.c % BLOCK == 0 and op.o % tile.cols == 0
            and op.c <= MAX_CHANNELS and in_layout.block == out_layout.block == BLOCK
            and min(in_layout.halo) >= 1)


def _combine(coeffs: tuple[int, ...], vals: list[Expr]) -> Expr:
    """``sum(c * v)`` over the non-zero coefficients (``+-1`` and ``2`` as adds)."""
    out: Expr | None = None
    for c, v in zip(coeffs, vals, strict=True):
        if c == 0:
            continue
        term = v + v if abs(c) == 2 else v
        if out is None:
            out = -term if c < 0 else term
        else:
            out = out - term if c < 0 else out + term
    assert out is not None
    return out


def _transform(mat_l: tuple, mat_r: tuple, d: list[list[Expr]], prefix: str
               ) -> tuple[list[Let], list[list[Expr]]]:
    """``mat_l d mat_r^T`` as Let-bound expressions (rows first, then columns)."""
    lets: list[Let] = []
    rows = []
    for a, coef in enumerate(mat_l):
        row = []
        for j in range(len(d[0])):
            name = f"{prefix}r{a}_{j}"
            lets.append(Let(name, _combine(coef, [d[i][j] for i in range(len(d))])))
            row.append(Var(name, d[0][0].dtype, d[0][0].lanes))
        rows.append(row)
    out = []
    for a in range(len(mat_l)):
        col = []
        for b, coef in enumerate(mat_r):
            name = f"{prefix}c{a}_{b}"
            lets.append(Let(name, _combine(coef, rows[a])))
            col.append(Var(name, d[0][0].dtype, d[0][0].lanes))
        out.append(col)
    return lets, out


def winograd_plan(op: Conv2d, in_layout: ActLayout, out_layout: ActLayout,
                  res_layout: ActLayout | None = None, tile: TileShape | None = None
                  ) -> OpPlan:
    """The plan of ``op`` (int8, blocked i16 in and out) by F(2x2, 3x3); inputs as
    ``op.inputs()`` (``x`` and ``residual`` blocked), output ``y`` blocked i16, equal to
    the direct kernel's bit for bit."""
    t = tile or default_tile(True)
    if not eligible(op, in_layout, out_layout, t):
        raise ValueError(f"{op.name}: the Winograd form needs a 3x3 stride-1 pad-1 int8 "
                         f"convolution, batch 1, even output size, channels in whole blocks "
                         f"of {BLOCK} (at most {MAX_CHANNELS}), output channels a multiple "
                         f"of {t.cols} and blocked input (halo >= 1) and output; got {op}, "
                         f"{in_layout}, {out_layout}")
    ep = op.epilogue
    if ep.residual and res_layout is None:
        raise ValueError(f"{op.name}: a blocked output takes its residual blocked (res_layout)")
    c, k, h, w = op.c, op.o, op.ho, op.wo
    ncb, th, tw = c // BLOCK, h // 2, w // 2
    ntiles = th * tw
    otw, vl, rows = t.cols, t.vl, t.rows
    nt = k // otw
    cgroups = BLOCK // 2
    name = f"conv2d_wino_{tag(op, in_layout, out_layout, res_layout, t)}"

    # 1. weights: U[e][ot][cb][cc][otw][2] = (Gs g Gs^T)[e] of w[o][c]
    q = Var("q")
    g = [[Cast(Load("w", (q * c + Var("ci")) * 9 + i * 3 + j, dt.i8), I32) for j in range(3)]
         for i in range(3)]
    wl, u = _transform(GS, GS, g, "u")
    o_t, o_w = q // otw, q % otw
    ci = Var("ci")
    ustores = [Store("u", ((((e * nt + o_t) * ncb + ci // BLOCK) * cgroups + ci % BLOCK // 2)
                           * otw + o_w) * 2 + ci % 2, Cast(u[e // 4][e % 4], dt.i16))
               for e in range(16)]
    kw_ = Kernel(f"{name}_pack_w", (Param("w", dt.i8), Param("u", dt.i16)),
                 (Loop("q", k, (Loop("ci", c, (*wl, *ustores)),), "parallel"),))

    # 2. input: V[e][cb][tile][16] = (B^T d B)[e], d the 4x4 window of tile (ty, tx)
    ih, iw = in_layout.halo[0] - 1, in_layout.halo[1] - 1  # the padded origin
    cbv, ty, tx = Var("q") // th, Var("q") % th, Var("tx")
    d = [[Load("x", ((cbv * in_layout.hp + ty * 2 + i + ih) * in_layout.wp + tx * 2 + j + iw)
               * BLOCK, dt.i16, BLOCK) for j in range(4)] for i in range(4)]
    vlets, v = _transform(BT, BT, d, "v")
    vstores = [Store("v", ((e * ncb + cbv) * ntiles + ty * tw + tx) * BLOCK, v[e // 4][e % 4])
               for e in range(16)]
    kin = Kernel(f"{name}_input", (Param("x", dt.i16), Param("v", dt.i16)),
                 (Loop("q", ncb * th, (Loop("tx", tw, (*vlets, *vstores)),), "parallel"),))

    # 3. main: per (channel tile, group of tiles) the 16 products, then the output transform
    ngroups = ceil_div(ntiles, rows)
    ot, grp = Var("q") % nt, Var("q") // nt
    t0 = grp * rows
    ev = Var("e")

    def group(n_rows: int) -> list:
        tt = TileShape(n_rows, t.nv, vl, True)

        def a_index(r: int) -> Expr:
            return ((ev * ncb + Var("cblk")) * ntiles + t0 + r) * BLOCK + Var("cc") * 2

        def b_index(vv: int) -> Expr:
            return ((((ev * nt + ot) * ncb + Var("cblk")) * cgroups + Var("cc")) * otw
                    + vv * vl) * 2

        body = micro_tile(tt, "c", [("cblk", ncb, "serial"), ("cc", cgroups, "serial")],
                          "v", a_index, "u", b_index, zeros(tt))
        body += [Store("m", (ev * rows + r) * otw + vv * vl,
                       Var(acc_name("c", r, vv), I32, vl))
                 for r in range(n_rows) for vv in range(t.nv)]
        out: list = [Loop("e", 16, tuple(body))]
        for r in range(n_rows):
            tile_i = t0 + r
            oy, ox = tile_i // tw * 2, tile_i % tw * 2
            for vv in range(t.nv):
                cbase = ot * otw + vv * vl
                pre = f"o{r}_{vv}_"
                mm = [[Load("m", idx(((a * 4 + b) * rows + r) * otw + vv * vl), I32, vl)
                       for b in range(4)] for a in range(4)]
                olets, y = _transform(AT, AT, mm, pre)
                out += olets
                if ep.bias:
                    out.append(Let(f"{pre}b", Load("bias", cbase, I32, vl)))
                if ep.requant is not None and ep.requant.per_channel:
                    out += [Let(f"{pre}m", Load("multiplier", cbase, I32, vl)),
                            Let(f"{pre}s", Load("shift", cbase, I32, vl))]
                for a in range(2):
                    for b in range(2):
                        val: Expr = _shr2(y[a][b])
                        if ep.bias:
                            val = val + Var(f"{pre}b", I32, vl)
                        val = requant_expr(val, replace(ep, bias=False),
                                           Var(f"{pre}m", I32, vl), Var(f"{pre}s", I32, vl))
                        res = None
                        if ep.residual:
                            res = Load("residual", _at(res_layout, cbase, oy + a, ox + b),
                                       dt.i16, vl)
                        out.append(Store("y", _at(out_layout, cbase, oy + a, ox + b),
                                         Cast(clamp8(tail_expr(val, ep, res)), dt.i16)))
        return out

    full, rem = divmod(ntiles, rows)
    body: list = [Alloc("m", I32, 16 * rows * otw)]
    if rem:
        # the last group is short: its own code, chosen per task
        body += when(lt(grp, full), group(rows), group(rem))
    else:
        body += group(rows)
    params = [Param("v", dt.i16), Param("u", dt.i16)]
    names = ["v", "u"]
    for nm in (["bias"] if ep.bias else []) + (
            ["multiplier", "shift"] if ep.requant is not None and ep.requant.per_channel
            else []):
        params.append(Param(nm, I32))
        names.append(nm)
    if ep.residual:
        params.append(Param("residual", dt.i16))
        names.append("residual")
    params.append(Param("y", dt.i16))
    names.append("y")
    kmain = Kernel(f"{name}_main", tuple(params),
                   (Loop("q", nt * ngroups, tuple(body), "parallel"),))

    bufs = [BufferSpec("x", dt.i16, in_layout.shape, "input"),
            BufferSpec("w", dt.i8, (k, c, 3, 3), "input")]
    if ep.bias:
        bufs.append(BufferSpec("bias", I32, (k,), "input"))
    if ep.requant is not None and ep.requant.per_channel:
        bufs += [BufferSpec(r, I32, (k,), "input") for r in ("multiplier", "shift")]
    if ep.residual:
        bufs.append(BufferSpec("residual", dt.i16, res_layout.shape, "input"))
    bufs += [BufferSpec("y", dt.i16, out_layout.shape, "output"),
             BufferSpec("u", dt.i16, (16 * nt * ncb * cgroups * otw * 2,)),
             BufferSpec("v", dt.i16, (16 * ncb * ntiles * BLOCK,))]
    steps = (Step(kw_.name, ("w", "u")), Step(kin.name, ("x", "v")),
             Step(kmain.name, tuple(names)))
    return OpPlan(name, (kw_, kin, kmain), tuple(bufs), steps,
                  {"op": op, "out_shape": (op.n, k, h, w), "tile": t, "winograd": True})


def _shr2(x: Expr) -> Expr:
    """Arithmetic shift right by 2 (exact: the value is a multiple of 4)."""
    return binary("shr", x, Const(2, I32, x.lanes))


def _at(lay: ActLayout, cbase: Expr, y: Expr, x: Expr) -> Expr:
    """Element index of channel ``cbase`` (a vector's first) of pixel ``(y, x)`` in ``lay``
    (batch 1)."""
    return (((cbase // lay.block) * lay.hp + y + lay.halo[0]) * lay.wp + x + lay.halo[1]) \
        * lay.block + cbase % lay.block
