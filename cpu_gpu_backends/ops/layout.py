"""Layout transforms between NCHW and the blocked activation layout every device shares.

The layout is :class:`opset.layout.ActLayout`, the accelerator's DRAM layout
``(N/b, C/bc, H + 2hh, W + 2hw, b, bc)``: ``bc`` channels of ``b`` batch entries form one
element; channels and batch entries past the tensor's are zero, and the spatial halo holds
``pad_value``.  These kernels produce exactly ``ActLayout.pack``'s array (and invert
``ActLayout.unpack``), so a tensor crosses the CPU/accelerator boundary with no NCHW round
trip.  With ``batch=1`` and no halo this is the ``N C/bc H W bc`` layout of the conv
micro-kernel's packed input.
"""

from __future__ import annotations

from opset.layout import ActLayout

from .. import dtypes as dt
from ..kernel_ir import Const, Kernel, Load, Loop, Param, Store, Var, ge, land, lt
from .common import pick_dtype, tag, when
from .plan import BufferSpec, OpPlan, Step


def _check_layout(op: str, layout: object) -> ActLayout:
    if not isinstance(layout, ActLayout):
        raise TypeError(f"{op}: layout must be an opset.layout.ActLayout, got "
                        f"{type(layout).__name__}")
    return layout


def nchw_to_blocked_plan(layout: ActLayout, dtype: str = "i8", pad_value: int = 0) -> OpPlan:
    """x ``[N, C, H, W]`` -> y ``layout.shape`` (halo ``pad_value``, padded lanes zero)."""
    op = "nchw_to_blocked"
    lay = _check_layout(op, layout)
    ty = pick_dtype(op, "dtype", dtype, tuple(dt.DTYPES))
    n, c, h, w = lay.n, lay.c, lay.h, lay.w
    nb, cb, hp, wp, b, bc = lay.shape
    hh, hw = lay.halo
    q = Var("q")  # (nb, cblk, padded row)
    yy, t = q % hp, q // hp
    nn = (t // cb) * b + Var("lane")
    ch = (t % cb) * bc + Var("k")
    iy, ix = yy - hh, Var("i") - hw
    dst = ((q * wp + Var("i")) * b + Var("lane")) * bc + Var("k")
    real = land(lt(nn, n), lt(ch, c)) if (nb * b != n or cb * bc != c) else True
    halo_ok = land(land(ge(iy, 0), lt(iy, h)), land(ge(ix, 0), lt(ix, w))) \
        if (hh or hw) else True
    inside = halo_ok if real is True else (real if halo_ok is True else land(real, halo_ok))
    copy = [Store("y", dst, Load("x", ((nn * c + ch) * h + iy) * w + ix, ty))]
    fill_pad = [Store("y", dst, Const(pad_value, ty))]
    zero = [Store("y", dst, Const(0, ty))]
    outside = fill_pad if real is True else when(real, fill_pad, zero)
    body = (Loop("i", wp, (Loop("lane", b, (Loop("k", bc, tuple(when(inside, copy, outside))),
                                            )),)),)
    name = f"to_blocked_{ty.name}_{tag(lay, pad_value)}"
    k = Kernel(name, (Param("x", ty), Param("y", ty)), (Loop("q", nb * cb * hp, body,
                                                             "parallel"),))
    bufs = (BufferSpec("x", ty, (n, c, h, w), "input"),
            BufferSpec("y", ty, lay.shape, "output"))
    return OpPlan(name, (k,), bufs, (Step(name, ("x", "y")),), {"out_shape": lay.shape})


def blocked_to_nchw_plan(layout: ActLayout, dtype: str = "i8") -> OpPlan:
    """x ``layout.shape`` -> y ``[N, C, H, W]`` (drops halo and padded lanes)."""
    op = "blocked_to_nchw"
    lay = _check_layout(op, layout)
    ty = pick_dtype(op, "dtype", dtype, tuple(dt.DTYPES))
    n, c, h, w = lay.n, lay.c, lay.h, lay.w
    _, cb, hp, wp, b, bc = lay.shape
    hh, hw = lay.halo
    q = Var("q")  # (n, c, row)
    row, nc = q % h, q // h
    ch, nn = nc % c, nc // c
    src = Load("x", (((((nn // b) * cb + ch // bc) * hp + row + hh) * wp + Var("i") + hw) * b
                     + nn % b) * bc + ch % bc, ty)
    body = (Loop("i", w, (Store("y", q * w + Var("i"), src),)),)
    name = f"from_blocked_{ty.name}_{tag(lay)}"
    k = Kernel(name, (Param("x", ty), Param("y", ty)), (Loop("q", n * c * h, body, "parallel"),))
    bufs = (BufferSpec("x", ty, lay.shape, "input"),
            BufferSpec("y", ty, (n, c, h, w), "output"))
    return OpPlan(name, (k,), bufs, (Step(name, ("x", "y")),), {"out_shape": (n, c, h, w)})
