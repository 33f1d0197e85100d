"""Layout transforms between NCHW and the blocked ``N C/bc H W bc`` layout.

The blocked layout is the accelerator's (and the conv micro-kernel's): ``bc`` channels of one
pixel are contiguous.  Channels are padded with zeros up to a multiple of ``bc``.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import dtypes as dt
from ..kernel_ir import Const, Kernel, Load, Loop, Param, Store, Var, lt
from .common import ceil_div, pick_dtype, positive, shape_of, tag, when
from .plan import BufferSpec, OpPlan, Step


def nchw_to_blocked_plan(shape: Sequence[int], bc: int, dtype: str = "f32") -> OpPlan:
    """x ``[N, C, H, W]`` -> y ``[N, ceil(C/bc), H, W, bc]`` (zero channel padding)."""
    n, c, h, w = shape_of("nchw_to_blocked", "shape", shape, 4)
    positive("nchw_to_blocked", bc=bc)
    ty = pick_dtype("nchw_to_blocked", "dtype", dtype, tuple(dt.DTYPES))
    cb = ceil_div(c, bc)
    q = Var("q")  # (n, cblk, row)
    row, nc = q % h, q // h
    ch = (nc % cb) * bc + Var("k")
    src = Load("x", ((nc // cb * c + ch) * h + row) * w + Var("i"), ty)
    dst = (q * w + Var("i")) * bc + Var("k")
    copy = [Loop("i", w, (Store("y", dst, src),))]
    zero = [Loop("i", w, (Store("y", dst, Const(0, ty)),))]
    body = (Loop("k", bc, tuple(when(lt(ch, c) if c % bc else True, copy, zero))),)
    name = f"to_blocked_{ty.name}_{tag(shape, bc)}"
    k = Kernel(name, (Param("x", ty), Param("y", ty)), (Loop("q", n * cb * h, body, "parallel"),))
    bufs = (BufferSpec("x", ty, (n, c, h, w), "input"),
            BufferSpec("y", ty, (n, cb, h, w, bc), "output"))
    return OpPlan(name, (k,), bufs, (Step(name, ("x", "y")),), {"out_shape": (n, cb, h, w, bc)})


def blocked_to_nchw_plan(shape: Sequence[int], bc: int, dtype: str = "f32") -> OpPlan:
    """x ``[N, ceil(C/bc), H, W, bc]`` -> y ``[N, C, H, W]``; ``shape`` is the NCHW shape."""
    n, c, h, w = shape_of("blocked_to_nchw", "shape", shape, 4)
    positive("blocked_to_nchw", bc=bc)
    ty = pick_dtype("blocked_to_nchw", "dtype", dtype, tuple(dt.DTYPES))
    cb = ceil_div(c, bc)
    q = Var("q")  # (n, c, row)
    row, nc = q % h, q // h
    ch, nn = nc % c, nc // c
    src = Load("x", (((nn * cb + ch // bc) * h + row) * w + Var("i")) * bc + ch % bc, ty)
    body = (Loop("i", w, (Store("y", q * w + Var("i"), src),)),)
    name = f"from_blocked_{ty.name}_{tag(shape, bc)}"
    k = Kernel(name, (Param("x", ty), Param("y", ty)), (Loop("q", n * c * h, body, "parallel"),))
    bufs = (BufferSpec("x", ty, (n, cb, h, w, bc), "input"),
            BufferSpec("y", ty, (n, c, h, w), "output"))
    return OpPlan(name, (k,), bufs, (Step(name, ("x", "y")),), {"out_shape": (n, c, h, w)})
