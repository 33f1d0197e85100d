"""3x3 stride-1 convolutions by Winograd F(2x2, 3x3): int8 exact in integers, and fp32.

Why: the i16 pair kernel (``vpmaddwd``) runs near what this host allows without VNNI, so
the way to spend less time on ResNet's 3x3 layers is fewer multiplies: F(2x2, 3x3) makes a
2x2 output tile from 16 products per channel instead of 36 (2.25x fewer).

Exactness: with ``Gs = 2 G`` (integer) the transformed weights ``U = Gs g Gs^T`` are
integers (``|U| <= 9 * 128``), the transformed input ``V = B^T d B`` too (``|V| <= 4 *
128``), both fit i16 so their channel sums run on the same pair kernel, and ``A^T (sum U
V) A`` is four times the convolution.  Every step is a ring operation in wrapping int32,
so that value is exact whenever four times the convolution fits int32
(:data:`MAX_CHANNELS`), and the arithmetic shift by 2 divides it exactly.  The result is
the direct kernel's int32 accumulator bit for bit; the epilogue is the same code.  fp32
(:func:`winograd_f32_plan`) runs the same kernels on f32 values, the sum scaled by 0.25.

The form: batch 1, blocked i16 input (halo at least 1, holding the input zero point, as
the direct kernel reads it) and blocked i16 output (:func:`.conv2d.conv2d_plan`'s int8
blocked forms), padding 1, whole 16-channel blocks.  An odd output height or width
takes a last row or column of tiles whose second output is not stored: that output is
the only one the window's fourth input row or column reaches (``B^T``'s last row), so
the reads past the layout are clamped to its last row or column, any finite value.

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
    land,
    lt,
    minimum,
)
from .common import ceil_div, tag, when
from .epilogue import I32, clamp8, requant_expr, tail_expr
from .gemm import apply_activation
from .microkernel import TileShape, acc_name, default_tile, micro_tile, zeros
from .plan import BufferSpec, OpPlan, Step

BLOCK = 16
"""Channels per block of the blocked layouts this form reads and writes."""

MAX_CHANNELS = 3640
"""Four times a 3x3 int8 convolution's sum over this many channels still fits int32
(``4 * C * 9 * 128 * 128 < 2**31``)."""

MIN_TILES = 32
"""The compilers choose the form (:func:`worth_it`) from this many 2x2 output tiles up.
Why: the transformed weights are 16/9 of the direct ones (ResNet-18's 512x512: 16.8 MB
fp32, 8.4 MB i16) and each is used once per tile; in the whole model (weights not in
cache) the 7x7x512 layers (16 tiles) measured int8 1.85-2.03 ms against 1.92 direct and
fp32 4.7-5.0 against 3.7-3.9, while the 14x14 and wider layers (49+ tiles) gained
1.45-1.65x int8 and 1.25-1.35x fp32 (same module, round-robin in one process)."""


def worth_it(h: int, w: int) -> bool:
    """Whether an ``h x w`` output has enough tiles (:data:`MIN_TILES`) for the form."""
    return ceil_div(h, 2) * ceil_div(w, 2) >= MIN_TILES


# F(2x2, 3x3) (Lavin and Gray): B^T (4x4), Gs = 2 G (4x3), A^T (2x4)
BT = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
GS = ((2, 0, 0), (1, 1, 1), (1, -1, 1), (0, 0, 2))
AT = ((1, 1, 1, 0), (0, 1, -1, -1))


def _fits_form(n: int, c: int, h: int, w: int, oc: int, kernel: tuple[int, int],
               stride: tuple[int, int], dilation: tuple[int, int],
               pad: tuple[int, int, int, int], in_layout: ActLayout | None,
               out_layout: ActLayout | None, tile: TileShape) -> bool:
    """The conditions the int8 and fp32 forms share: a 3x3 stride-1 pad-1 convolution,
    batch 1, output at least 2x2, channels in whole blocks, output channels in whole
    register tiles, blocked input (halo >= 1) and output."""
    return (in_layout is not None and out_layout is not None and n == 1
            and kernel == (3, 3) and stride == (1, 1) and dilation == (1, 1)
            and pad == (1, 1, 1, 1) and min(h, w) >= 2 and c % BLOCK == 0
            and oc % tile.cols == 0 and in_layout.block == out_layout.block == BLOCK
            and min(in_layout.halo) >= 1)


def eligible(op: Conv2d, in_layout: ActLayout | None, out_layout: ActLayout | None,
             tile: TileShape) -> bool:
    """Whether :func:`winograd_plan` takes ``op`` with these layouts (int8: at most
    :data:`MAX_CHANNELS`, on the pair kernel)."""
    return (isinstance(op, Conv2d) and not tile.quads and op.c <= MAX_CHANNELS
            and _fits_form(op.n, op.c, op.ho, op.wo, op.o, (op.kh, op.kw), op.stride, (1, 1),
                           (*op.pad, *op.pad), in_layout, out_layout, tile))


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
                         f"convolution, batch 1, output at least 2x2, channels in whole blocks "
                         f"of {BLOCK} (at most {MAX_CHANNELS}), output channels a multiple "
                         f"of {t.cols} and blocked input (halo >= 1) and output; got {op}, "
                         f"{in_layout}, {out_layout}")
    ep = op.epilogue
    if ep.residual and res_layout is None:
        raise ValueError(f"{op.name}: a blocked output takes its residual blocked (res_layout)")
    per_ch = ep.requant is not None and ep.requant.per_channel
    consts = (["bias"] if ep.bias else []) + (["multiplier", "shift"] if per_ch else [])
    vl = t.vl

    def prologue(cbase: Expr, pre: str) -> list:
        return [Let(f"{pre}{nm}", Load(nm, cbase, I32, vl)) for nm in consts]

    def store(y4: Expr, cbase: Expr, oy: Expr, ox: Expr, pre: str) -> list:
        val = _shr2(y4)  # exact: four times the convolution
        if ep.bias:
            val = val + Var(f"{pre}bias", I32, vl)
        val = requant_expr(val, replace(ep, bias=False), Var(f"{pre}multiplier", I32, vl),
                           Var(f"{pre}shift", I32, vl))
        res = Load("residual", _at(res_layout, cbase, oy, ox), dt.i16, vl) \
            if ep.residual else None
        return [Store("y", _at(out_layout, cbase, oy, ox),
                      Cast(clamp8(tail_expr(val, ep, res)), dt.i16))]

    extra = [BufferSpec(nm, I32, (op.o,), "input") for nm in consts]
    if ep.residual:
        extra.append(BufferSpec("residual", dt.i16, res_layout.shape, "input"))
    name = f"conv2d_wino_{tag(op, in_layout, out_layout, res_layout, t)}"
    plan = _plan(name, op.c, op.o, op.ho, op.wo, t, dt.i8, in_layout, out_layout, extra,
                 prologue, store)
    return replace(plan, attrs={**plan.attrs, "op": op})


def f32_eligible(c: int, h: int, w: int, oc: int, kernel: tuple[int, int],
                 stride: tuple[int, int], dilation: tuple[int, int],
                 pad: tuple[int, int, int, int], in_layout: ActLayout | None,
                 out_layout: ActLayout | None, tile: TileShape) -> bool:
    """Whether :func:`winograd_f32_plan` takes this fp32 convolution (the conditions of
    :func:`eligible`, in :func:`.conv2d.conv2d_plan`'s terms)."""
    return (not tile.int8 and in_layout is not None
            and _fits_form(in_layout.n, c, h, w, oc, kernel, stride, dilation, pad, in_layout,
                           out_layout, tile))


def winograd_f32_plan(c: int, h: int, w: int, oc: int, bias: bool, activation: str | None,
                      residual: bool, in_layout: ActLayout, out_layout: ActLayout,
                      res_layout: ActLayout | None, tile: TileShape | None = None) -> OpPlan:
    """``y = act(conv3x3(x, w) + bias[ + residual])``, stride 1, padding 1, fp32 blocked in
    and out (as :func:`.conv2d.conv2d_plan` with those layouts), by F(2x2, 3x3): inputs
    ``x, w[, bias][, residual]``, output ``y``.  The rounding differs from the direct
    kernel's (transformed sums), within fp32 accumulation error."""
    t = tile or default_tile(False)
    if not f32_eligible(c, h, w, oc, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), in_layout,
                        out_layout, t):
        raise ValueError(f"conv2d: the fp32 Winograd form needs a 3x3 stride-1 pad-1 "
                         f"convolution, batch 1, output at least 2x2, channels in whole blocks "
                         f"of {BLOCK}, output channels a multiple of {t.cols} and blocked "
                         f"input (halo >= 1) and output; got c={c} {h}x{w} oc={oc}, "
                         f"{in_layout}, {out_layout}")
    if residual and res_layout is None:
        raise ValueError("conv2d: a blocked output takes its residual blocked (res_layout)")
    vl = t.vl
    f32 = dt.f32

    def prologue(cbase: Expr, pre: str) -> list:
        return [Let(f"{pre}bias", Load("bias", cbase, f32, vl))] if bias else []

    def store(y4: Expr, cbase: Expr, oy: Expr, ox: Expr, pre: str) -> list:
        val = y4 * Const(0.25, f32, vl)  # U was built with 2G: four times the convolution
        if bias:
            val = val + Var(f"{pre}bias", f32, vl)
        if residual:
            val = val + Load("residual", _at(res_layout, cbase, oy, ox), f32, vl)
        return [Store("y", _at(out_layout, cbase, oy, ox), apply_activation(val, activation))]

    extra = [BufferSpec("bias", f32, (oc,), "input")] if bias else []
    if residual:
        extra.append(BufferSpec("residual", f32, res_layout.shape, "input"))
    name = f"conv2d_wino_f32_" \
        f"{tag(c, h, w, oc, bias, activation, residual, in_layout, out_layout, res_layout, t)}"
    return _plan(name, c, oc, h, w, t, f32, in_layout, out_layout, extra, prologue, store)


def _plan(name: str, c: int, k: int, h: int, w: int, t: TileShape, ety: dt.DType,
          in_layout: ActLayout, out_layout: ActLayout, extra: list[BufferSpec],
          prologue, store) -> OpPlan:
    """The three kernels; ``extra``: the inputs the write-back reads (after ``x, w``, in
    the plan's input order), ``prologue(cbase, prefix)``: statements once per output
    vector of a tile, ``store(y4, cbase, oy, ox, prefix)``: those writing one output pixel
    from ``y4`` (four times its convolution)."""
    ncb, th, tw = c // BLOCK, ceil_div(h, 2), ceil_div(w, 2)
    ntiles = th * tw
    otw, vl, rows, g = t.cols, t.vl, t.rows, t.group
    nt = k // otw
    cgroups = BLOCK // g
    vty, acc = t.a_type, t.acc_type  # transformed values; products summed in
    wacc = I32 if t.int8 else dt.f32  # the weight transform's arithmetic

    # 1. weights: U[e][ot][cb][cc][otw][g] = (Gs w Gs^T)[e] of w[o][c]
    q, ci = Var("q"), Var("ci")
    gw = [[Cast(Load("w", (q * c + ci) * 9 + i * 3 + j, ety), wacc) if ety != wacc
           else Load("w", (q * c + ci) * 9 + i * 3 + j, ety) for j in range(3)]
          for i in range(3)]
    wl, u = _transform(GS, GS, gw, "u")
    o_t, o_w = q // otw, q % otw
    ustores = [Store("u", ((((e * nt + o_t) * ncb + ci // BLOCK) * cgroups + ci % BLOCK // g)
                           * otw + o_w) * g + ci % g,
                     Cast(u[e // 4][e % 4], vty) if vty != wacc else u[e // 4][e % 4])
               for e in range(16)]
    kw_ = Kernel(f"{name}_pack_w", (Param("w", ety), Param("u", vty)),
                 (Loop("q", k, (Loop("ci", c, (*wl, *ustores)),), "parallel"),))

    # 2. input: V[e][cb][tile][16] = (B^T d B)[e], d the 4x4 window of tile (ty, tx)
    ih, iw = in_layout.halo[0] - 1, in_layout.halo[1] - 1  # the padded origin
    cbv, ty, tx = Var("q") // th, Var("q") % th, Var("tx")
    def rd(pos: Expr, k: int, odd: bool, last: int) -> Expr:
        # an odd size's last tile: its fourth row/column past the layout, clamped
        return minimum(pos + k, idx(last)) if odd and k == 3 else pos + k

    d = [[Load("x", ((cbv * in_layout.hp + rd(ty * 2 + ih, i, h % 2 == 1, in_layout.hp - 1))
                     * in_layout.wp + rd(tx * 2 + iw, j, w % 2 == 1, in_layout.wp - 1))
               * BLOCK, vty, BLOCK) for j in range(4)] for i in range(4)]
    vlets, v = _transform(BT, BT, d, "v")
    vstores = [Store("v", ((e * ncb + cbv) * ntiles + ty * tw + tx) * BLOCK, v[e // 4][e % 4])
               for e in range(16)]
    kin = Kernel(f"{name}_input", (Param("x", vty), Param("v", vty)),
                 (Loop("q", ncb * th, (Loop("tx", tw, (*vlets, *vstores)),), "parallel"),))

    # 3. main: per (channel tile, group of tiles) the 16 products, then the output transform
    ngroups = ceil_div(ntiles, rows)
    ot, grp = Var("q") % nt, Var("q") // nt
    t0 = grp * rows
    ev = Var("e")

    def group(n_rows: int) -> list:
        tt = TileShape(n_rows, t.nv, vl, t.int8)

        def a_index(r: int) -> Expr:
            return ((ev * ncb + Var("cblk")) * ntiles + t0 + r) * BLOCK + Var("cc") * g

        def b_index(vv: int) -> Expr:
            return ((((ev * nt + ot) * ncb + Var("cblk")) * cgroups + Var("cc")) * otw
                    + vv * vl) * g

        body = micro_tile(tt, "c", [("cblk", ncb, "serial"), ("cc", cgroups, "serial")],
                          "v", a_index, "u", b_index, zeros(tt))
        body += [Store("m", (ev * rows + r) * otw + vv * vl, Var(acc_name("c", r, vv), acc, vl))
                 for r in range(n_rows) for vv in range(t.nv)]
        out: list = [Loop("e", 16, tuple(body))]
        for r in range(n_rows):
            tile_i = t0 + r
            oy, ox = tile_i // tw * 2, tile_i % tw * 2
            for vv in range(t.nv):
                cbase = ot * otw + vv * vl
                pre = f"o{r}_{vv}_"
                mm = [[Load("m", idx(((a * 4 + b) * rows + r) * otw + vv * vl), acc, vl)
                       for b in range(4)] for a in range(4)]
                olets, y = _transform(AT, AT, mm, pre)
                out += olets + prologue(cbase, pre)
                for a in range(2):
                    for b in range(2):
                        st = store(y[a][b], cbase, oy + a, ox + b, pre)
                        inside = [lt(oy + a, h)] if a and h % 2 else []
                        inside += [lt(ox + b, w)] if b and w % 2 else []
                        if inside:
                            st = when(inside[0] if len(inside) == 1
                                      else land(inside[0], inside[1]), st)
                        out += st
        return out

    full, rem = divmod(ntiles, rows)
    body: list = [Alloc("m", acc, 16 * rows * otw)]
    # a short last group: its own code, chosen per task
    body += when(lt(grp, full), group(rows), group(rem)) if rem else group(rows)
    ins = [b.name for b in extra if b.name != "residual"]
    args = ["v", "u", *ins, *(["residual"] if any(b.name == "residual" for b in extra)
                              else []), "y"]
    types = {b.name: b.ty for b in extra}
    params = (Param("v", vty), Param("u", vty), *[Param(a, types[a]) for a in args[2:-1]],
              Param("y", vty if t.int8 else dt.f32))
    kmain = Kernel(f"{name}_main", params, (Loop("q", nt * ngroups, tuple(body), "parallel"),))

    bufs = [BufferSpec("x", vty, in_layout.shape, "input"),
            BufferSpec("w", ety, (k, c, 3, 3), "input"), *extra,
            BufferSpec("y", vty if t.int8 else dt.f32, out_layout.shape, "output"),
            BufferSpec("u", vty, (16 * nt * ncb * cgroups * otw * g,)),
            BufferSpec("v", vty, (16 * ncb * ntiles * BLOCK,))]
    steps = (Step(kw_.name, ("w", "u")), Step(kin.name, ("x", "v")), Step(kmain.name, tuple(args)))
    return OpPlan(name, (kw_, kin, kmain), tuple(bufs), steps,
                  {"out_shape": (1, k, h, w), "tile": t, "winograd": True})


def _shr2(x: Expr) -> Expr:
    """Arithmetic shift right by 2 (exact: the value is a multiple of 4)."""
    return binary("shr", x, Const(2, I32, x.lanes))


def _at(lay: ActLayout, cbase: Expr, y: Expr, x: Expr) -> Expr:
    """Element index of channel ``cbase`` (a vector's first) of pixel ``(y, x)`` in ``lay``
    (batch 1)."""
    return (((cbase // lay.block) * lay.hp + y + lay.halo[0]) * lay.wp + x + lay.halo[1]) \
        * lay.block + cbase % lay.block
