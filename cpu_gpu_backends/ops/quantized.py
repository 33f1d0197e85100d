"""Quantized operators from their :mod:`opset` description, with the hardware's arithmetic.

``op_plan(op)`` takes the same frozen description the accelerator compiler takes
(:class:`opset.Conv2d`, :class:`~opset.DepthwiseConv2d`, :class:`~opset.Dense`,
:class:`~opset.Elementwise`, :class:`~opset.Pool2d`, :class:`~opset.GlobalAvgPool`) and
returns a plan whose inputs are named and ordered as ``op.inputs()`` and whose int8 output
equals :func:`opset.reference.run` bit for bit, so the partitioner may move the op between
the accelerator and the CPU.

GEMM ops are the raw int8 kernels (int32 accumulation with the bias fused in the
accumulator's initial value; conv2d and depthwise read ``op.pad_value`` in the padding) and
the :mod:`opset.requant` sequence in wrapping int32 arithmetic (:mod:`.epilogue`), ending in
int8 saturation: fused into conv2d's write-back when its output rows are wide enough to
vectorize (:data:`FUSE_MIN_WIDTH`), otherwise (and for depthwise and dense) a second
element-wise kernel over the accumulators.
"""

from __future__ import annotations

from dataclasses import replace

from opset import (
    AluStep,
    Conv2d,
    Dense,
    DepthwiseConv2d,
    Elementwise,
    Epilogue,
    GlobalAvgPool,
    Pool2d,
)
from opset.layout import ActLayout
from opset.requant import INT8_MIN

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
    Store,
    Var,
    binary,
    ge,
    land,
    lt,
    maximum,
    minimum,
)
from . import winograd as wino
from .common import shape_of, tag, when
from .conv2d import conv2d_plan
from .depthwise import depthwise_conv2d_plan
from .elementwise import elementwise_plan
from .epilogue import I32, clamp8, epilogue_expr, i32c, rshr, sat8
from .gemm import dense_plan
from .microkernel import default_tile
from .plan import BufferSpec, OpPlan, Step


def requantize_plan(shape, ep: Epilogue, axis: int = 1, chunk: int | None = None) -> OpPlan:
    """int32 ``acc`` of ``shape`` -> int8 by ``ep``.  Inputs, in this order: ``acc``, then as
    ``ep`` needs them ``bias``, ``multiplier``, ``shift`` (int32, one per index of ``axis``)
    and ``residual`` (int8, ``shape``).  ``chunk``: see :func:`.elementwise.elementwise_plan`."""
    s = shape_of("requantize", "shape", shape)
    if not -len(s) <= axis < len(s):
        raise ValueError(f"requantize: axis {axis} out of range for a rank-{len(s)} input")
    axis %= len(s)
    ps = tuple(s[d] if d == axis else 1 for d in range(len(s)))
    names = ["acc", *ep.const_rows(), *(["residual"] if ep.residual else [])]
    shapes = [s] + [ps] * len(ep.const_rows()) + ([s] if ep.residual else [])
    dtypes = ["i32"] * (1 + len(ep.const_rows())) + (["i8"] if ep.residual else [])

    def fn(*v: Expr) -> Expr:
        named = dict(zip(names, v, strict=True))
        return epilogue_expr(named["acc"], ep, named.get("bias"), named.get("multiplier"),
                             named.get("shift"), named.get("residual"))

    plan = rename(elementwise_plan(fn, shapes, dtypes, "requant", chunk),
                  {f"x{i}": n for i, n in enumerate(names)})
    rows = set(ep.const_rows())  # broadcast as ps, passed as 1-D vectors (same elements)
    return replace(plan, buffers=tuple(replace(b, shape=(s[axis],)) if b.name in rows else b
                                       for b in plan.buffers))


def rename(plan: OpPlan, names: dict[str, str], temps: frozenset[str] = frozenset()
           ) -> OpPlan:
    """The plan with buffers renamed (``names``: old -> new); buffers named in ``temps``
    (new names) become scratch."""
    bufs = tuple(replace(b, name=names.get(b.name, b.name),
                         role="temp" if names.get(b.name, b.name) in temps else b.role)
                 for b in plan.buffers)
    steps = tuple(replace(st, args=tuple(names.get(a, a) for a in st.args))
                  for st in plan.steps)
    return replace(plan, buffers=bufs, steps=steps)


def _with_epilogue(raw: OpPlan, op, out_shape: tuple[int, ...], axis: int,
                   chunk: int | None = None) -> OpPlan:
    """``raw`` (int32 output ``acc``, bias fused) followed by the epilogue kernel."""
    ep = replace(op.epilogue, bias=False)  # the raw kernel starts from the bias
    epi = requantize_plan(out_shape, ep, axis, chunk)
    order = [t.name for t in op.inputs()]
    bufs = {b.name: b for b in raw.buffers}
    bufs.update({b.name: b for b in epi.buffers if b.name != "acc"})
    ins = [bufs.pop(n) for n in order]
    plan = OpPlan(f"{op.kind}_{tag(op)}", raw.kernels + epi.kernels,
                  (*ins, *bufs.values()), raw.steps + epi.steps,
                  {**raw.attrs, "op": op, "out_shape": out_shape})
    return plan


# Output rows at least this wide get conv2d's epilogue fused into the kernel's row
# write-back; narrower rows leave that loop too short to vectorize, and a separate kernel
# over the whole int32 tensor is faster (benchmarks/cpu_backend.py, ResNet-18 shapes: fused
# 0.99-1.07x the raw conv on 28-112-wide rows, separate 1.04-1.30x on 7-14-wide rows where
# fused measured 1.1-1.95x).
FUSE_MIN_WIDTH = 16


def _gemm_plan(op: Conv2d | DepthwiseConv2d | Dense, fuse_min_width: int,
               in_layout: ActLayout | None = None, out_layout: ActLayout | None = None,
               res_layout: ActLayout | None = None, winograd: bool = True) -> OpPlan:
    bias = op.epilogue.bias
    if isinstance(op, Conv2d) and winograd and wino.worth_it(op.ho, op.wo) \
            and wino.eligible(op, in_layout, out_layout, default_tile(True)):
        return wino.winograd_plan(op, in_layout, out_layout, res_layout)
    if isinstance(op, Conv2d) and (op.wo >= fuse_min_width or out_layout is not None):
        # a blocked output is written from the register tile: fused at any width
        plan = conv2d_plan((op.n, op.c, op.h, op.w), (op.o, op.c, op.kh, op.kw), "i8",
                           op.stride, op.pad, 1, pad_value=op.pad_value, epilogue=op.epilogue,
                           in_layout=in_layout, out_layout=out_layout, res_layout=res_layout)
        return replace(plan, attrs={**plan.attrs, "op": op})
    if isinstance(op, Conv2d):
        raw = conv2d_plan((op.n, op.c, op.h, op.w), (op.o, op.c, op.kh, op.kw), "i8",
                          op.stride, op.pad, 1, bias, None, pad_value=op.pad_value,
                          in_layout=in_layout)
        raw = rename(raw, {"y": "acc"}, frozenset({"acc"}))
        out = (op.n, op.o, op.ho, op.wo)
    elif isinstance(op, DepthwiseConv2d):
        raw = depthwise_conv2d_plan((op.n, op.c, op.h, op.w), (op.c, 1, op.kh, op.kw), "i8",
                                    op.stride, op.pad, 1, bias, None, op.pad_value)
        raw = rename(raw, {"y": "acc"}, frozenset({"acc"}))
        out = (op.n, op.c, op.ho, op.wo)
    else:
        raw = dense_plan(op.n, op.i, op.o, "i8", bias, transpose_b=True)
        raw = rename(raw, {"a": "x", "b": "w", "out": "acc"}, frozenset({"acc"}))
        out = (op.n, op.o)
    return _with_epilogue(raw, op, out, 1)


def alu_expr(step: AluStep, x: Expr, b: Expr | None) -> Expr:
    """One :class:`opset.AluStep` on an int32 value (wrapping like the ALU)."""
    y = Cast(b, I32) if step.operand is None else i32c(step.operand, x.lanes)
    name = step.op.lower()
    if name == "min":
        return minimum(x, y)
    if name == "max":
        return maximum(x, y)
    if name == "add":
        return x + y
    if name == "mul":
        return x * y
    if name == "shr":
        return binary("shr", x, y)
    if name == "rshr":
        return rshr(x, int(step.operand))
    if name == "mov":
        return y
    raise ValueError(f"elementwise: no CPU lowering for ALU step {step.op!r}")


def _elementwise_plan(op: Elementwise, chunk: int | None = None) -> OpPlan:
    names = [t.name for t in op.inputs()]

    def fn(a: Expr, b: Expr | None = None) -> Expr:
        x: Expr = Cast(a, I32)
        for st in op.steps:
            x = alu_expr(st, x, b)
        return sat8(x)

    plan = elementwise_plan(fn, [op.shape] * len(names), ["i8"] * len(names), op.kind, chunk)
    return rename(plan, {f"x{i}": n for i, n in enumerate(names)})


def blocked_elementwise_plan(op: Elementwise, in_layouts: tuple[ActLayout, ...],
                             out_layout: ActLayout, vl: int) -> OpPlan:
    """``op`` over blocked i16 operands into a blocked i16 output (the layout int8
    convolutions keep between them: :func:`.conv2d.conv2d_plan`), interior pixels and real
    channel blocks only, ``vl`` channels per vector; halos may differ.  Why: a ResNet
    block's residual rescale otherwise forces its input and output back to NCHW."""
    n, c, h, w = op.shape
    names = [t.name for t in op.inputs()]
    lays = (*in_layouts, out_layout)
    if len(in_layouts) != len(names) or any(
            (lay.n, lay.c, lay.h, lay.w, lay.batch) != (n, c, h, w, 1)
            or lay.block % vl or lay.block != out_layout.block
            or lay.c_blocks != out_layout.c_blocks for lay in lays):
        raise ValueError(f"{op.name}: blocked elementwise needs one layout per input "
                         f"{names} and the output, each of shape {op.shape}, batch 1 and "
                         f"one block (a multiple of {vl}); got {lays}")
    blk = out_layout.block
    q, px = Var("q"), Var("x")
    plane, row = q // h, q % h

    def at(lay: ActLayout, v: int) -> Expr:
        return ((plane * lay.hp + row + lay.halo[0]) * lay.wp + px + lay.halo[1]) * blk \
            + v * vl

    stores = []
    for v in range(blk // vl):
        vals = [Cast(Load(nm, at(lay, v), dt.i16, vl), I32)
                for nm, lay in zip(names, in_layouts, strict=True)]
        x = vals[0]
        for st in op.steps:
            x = alu_expr(st, x, vals[1] if len(vals) > 1 else None)
        stores.append(Store("y", at(out_layout, v), Cast(clamp8(x), dt.i16)))
    name = f"{op.kind}_blk_{tag(op, lays, vl)}"
    k = Kernel(name, (*[Param(nm, dt.i16) for nm in names], Param("y", dt.i16)),
               (Loop("q", n * out_layout.c_blocks * h, (Loop("x", w, tuple(stores)),),
                     "parallel"),))
    bufs = (*[BufferSpec(nm, dt.i16, lay.shape, "input")
              for nm, lay in zip(names, in_layouts, strict=True)],
            BufferSpec("y", dt.i16, out_layout.shape, "output"))
    return OpPlan(name, (k,), bufs, (Step(name, (*names, "y")),),
                  {"op": op, "out_shape": op.shape})


def blocked_global_avg_pool_plan(op: GlobalAvgPool, lay: ActLayout, vl: int) -> OpPlan:
    """``op`` (int8 NCHW ``[N, C, 1, 1]`` out, as :func:`_pool_plan`) from a blocked i16
    activation: ``vl`` channels summed per int32 vector over the interior.  Why: the last
    convolution's output can then stay blocked, and with it (residuals being tied to the
    output's layout) the last stage's tensors."""
    n, c, h, w, blk = op.n, op.c, op.h, op.w, lay.block
    if (lay.n, lay.c, lay.h, lay.w, lay.batch) != (n, c, h, w, 1) or c % blk or blk % vl:
        raise ValueError(f"{op.name}: a blocked input needs shape {(n, c, h, w)}, batch 1 "
                         f"and whole blocks of a multiple of {vl} channels, got {lay}")
    m, s = op.avg
    p = Var("p")  # n * c_blocks + block
    accs = [f"acc{v}" for v in range(blk // vl)]
    src = ((p * lay.hp + Var("y") + lay.halo[0]) * lay.wp + Var("x") + lay.halo[1]) * blk
    upd = tuple(Assign(a, Var(a, I32, vl) + Cast(Load("x", src + v * vl, dt.i16, vl), I32))
                for v, a in enumerate(accs))
    outs = []
    for v, a in enumerate(accs):
        acc: Expr = Var(a, I32, vl)
        outs.append(Store("y", p * blk + v * vl,
                          sat8(rshr(acc * i32c(m, vl) if m != 1 else acc, s))))
    name = f"{op.kind}_blk_{tag(op, lay, vl)}"
    k = Kernel(name, (Param("x", dt.i16), Param("y", dt.i8)),
               (Loop("p", n * lay.c_blocks, (*[Decl(a, i32c(0, vl)) for a in accs],
                                             Loop("y", h, (Loop("x", w, upd),)), *outs),
                     "parallel"),))
    bufs = (BufferSpec("x", dt.i16, lay.shape, "input"),
            BufferSpec("y", dt.i8, (n, c, 1, 1), "output"))
    return OpPlan(name, (k,), bufs, (Step(name, ("x", "y")),),
                  {"op": op, "out_shape": (n, c, 1, 1)})


def _max_pool_plan(op: Pool2d) -> OpPlan:
    """Max pooling, one task per output row: its window rows inside the image, each tap
    ``kx`` over the output columns whose input column is inside (a range known while
    generating code), ``row[ox] = max(row[ox], x[...])`` with no per-tap bounds branch, so
    the column loop vectorizes.  The padding (-128, never larger) is never read."""
    kh, kw, (sh, sw), (ph, pw) = op.kh, op.kw, op.stride, op.pad
    n, c, h, w, oh, ow = op.n, op.c, op.h, op.w, op.ho, op.wo
    q, ox = Var("q"), Var("ox")
    ih = Var("oy") * sh - ph + Var("ky")
    taps: list = []
    for kx in range(kw):
        lo = max(0, -(-(pw - kx) // sw))  # first ox with ox * sw + kx - pw >= 0
        hi = min(ow, (w - 1 + pw - kx) // sw + 1)
        if lo >= hi:
            continue
        src = (Var("plane") * h + ih) * w + ox * sw + (kx - pw)
        taps.append(Loop("ox", hi, (Store("row", ox, maximum(
            Load("row", ox, dt.i8), Load("x", src, dt.i8))),), start=lo))
    body = (Let("oy", q % oh), Let("plane", q // oh), Alloc("row", dt.i8, ow),
            Loop("ox", ow, (Store("row", ox, i8c(INT8_MIN)),)),
            Loop("ky", kh, tuple(when(land(ge(ih, 0), lt(ih, h)), taps))),
            Loop("ox", ow, (Store("y", (Var("plane") * oh + Var("oy")) * ow + ox,
                                  Load("row", ox, dt.i8)),)))
    name = f"{op.kind}_{tag(op)}"
    k = Kernel(name, (Param("x", dt.i8), Param("y", dt.i8)),
               (Loop("q", n * c * oh, body, "parallel"),))
    bufs = (BufferSpec("x", dt.i8, (n, c, h, w), "input"),
            BufferSpec("y", dt.i8, (n, c, oh, ow), "output"))
    return OpPlan(name, (k,), bufs, (Step(name, ("x", "y")),),
                  {"op": op, "out_shape": (n, c, oh, ow)})


def _pool_plan(op: Pool2d | GlobalAvgPool) -> OpPlan:
    """Max: the largest in-image value (padding is -128, never larger; see
    :func:`_max_pool_plan`).  Average: the in-image int32 sum (padding counts as 0),
    ``rshr(sum * m, s)``, saturated."""
    if isinstance(op, Pool2d) and op.pool == "max":
        return _max_pool_plan(op)
    if isinstance(op, GlobalAvgPool):
        kh, kw, (sh, sw), (ph, pw), kind = op.h, op.w, (1, 1), (0, 0), "avg"
        oh = ow = 1
    else:
        kh, kw, (sh, sw), (ph, pw), kind = op.kh, op.kw, op.stride, op.pad, op.pool
        oh, ow = op.ho, op.wo
    n, c, h, w = op.n, op.c, op.h, op.w
    q, ox = Var("q"), Var("ox")
    ih = Var("oy") * sh - ph + Var("ky")
    iw = ox * sw - pw + Var("kx")
    inside = land(land(ge(ih, 0), lt(ih, h)), land(ge(iw, 0), lt(iw, w))) if ph or pw \
        else True
    x_at = Cast(Load("x", (Var("plane") * h + ih) * w + iw, dt.i8), I32)
    acc = Var("acc", I32)
    if kind == "max":
        init, upd, result = i32c(INT8_MIN), Assign("acc", maximum(acc, x_at)), sat8(acc)
    else:
        m, s = op.avg
        init, upd = i32c(0), Assign("acc", acc + x_at)
        result = sat8(rshr(acc * i32c(m) if m != 1 else acc, s))
    window = Loop("ky", kh, (Loop("kx", kw, tuple(when(inside, [upd]))),))
    body = Loop("ox", ow, (Decl("acc", init), window,
                           Store("y", (Var("plane") * oh + Var("oy")) * ow + ox, result)))
    name = f"{op.kind}_{tag(op)}"
    k = Kernel(name, (Param("x", dt.i8), Param("y", dt.i8)),
               (Loop("q", n * c * oh, (Let("oy", q % oh), Let("plane", q // oh), body),
                     "parallel"),))
    bufs = (BufferSpec("x", dt.i8, (n, c, h, w), "input"),
            BufferSpec("y", dt.i8, (n, c, oh, ow), "output"))
    return OpPlan(name, (k,), bufs, (Step(name, ("x", "y")),),
                  {"op": op, "out_shape": (n, c, oh, ow)})


def i8c(v: int) -> Const:
    return Const(int(v), dt.i8)


def op_plan(op, fuse_min_width: int = FUSE_MIN_WIDTH, in_layout: ActLayout | None = None,
            out_layout: ActLayout | None = None, res_layout: ActLayout | None = None,
            winograd: bool = True) -> OpPlan:
    """The CPU plan of a quantized :mod:`opset` operator (inputs named as ``op.inputs()``,
    output ``y``, int8, equal to :func:`opset.reference.run`).  ``fuse_min_width``: the
    narrowest conv2d output row that gets the epilogue fused (tests force either form).
    ``in_layout`` / ``out_layout`` / ``res_layout`` (:class:`opset.Conv2d` only): ``x`` /
    ``y`` / ``residual`` blocked, as the i16 the pair kernel reads
    (:func:`.conv2d.conv2d_plan`); ``y`` then holds the same int8 values widened.
    ``winograd``: a 3x3 stride-1 convolution blocked in and out runs as Winograd F(2x2,
    3x3) where :func:`.winograd.eligible` and :func:`.winograd.worth_it` (the same bits;
    ``False``: always direct)."""
    if in_layout is not None or out_layout is not None or res_layout is not None:
        if not isinstance(op, Conv2d):
            raise ValueError(f"op_plan: blocked layouts are for Conv2d, got "
                             f"{type(op).__name__}")
        return _gemm_plan(op, fuse_min_width, in_layout, out_layout, res_layout, winograd)
    if isinstance(op, Conv2d | DepthwiseConv2d | Dense):
        return _gemm_plan(op, fuse_min_width)
    if isinstance(op, Elementwise):
        return _elementwise_plan(op)
    if isinstance(op, Pool2d | GlobalAvgPool):
        return _pool_plan(op)
    raise TypeError(f"op_plan: expected an opset operator (Conv2d, DepthwiseConv2d, Dense, "
                    f"Elementwise, Pool2d, GlobalAvgPool), got {type(op).__name__}")


__all__ = ["op_plan", "requantize_plan", "epilogue_expr", "rshr", "sat8", "alu_expr",
           "rename"]
