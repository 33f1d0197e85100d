"""Host-side layouts: numpy arrays <-> the blocked DRAM layouts the accelerator reads.

* Activations NCHW -> ``(N/b, C/bc, H + 2hh, W + 2hw, b, bc)``: :class:`opset.layout.ActLayout`,
  the blocked layout every device shares (a 3-channel image pads to a whole block; an
  optional spatial *halo* stores the convolution's padding in DRAM so loads need none).
* Conv weights OIHW -> ``(O/bo, I/bi, KH, KW, bo, bi)``; depthwise weights become
  block-diagonal GEMM elements ``(C/bo, bo/bi, KH, KW, bo, bi)``.
* Dense inputs ``(N, I)`` -> an activation ``(b, I, 1, ceil(N/b))``: rows become pixels.
* Per-channel int32 constants -> acc elements ``(rows * C/bo, b, bo)``, replicated over b.

Every layout knows its element count and size and packs/unpacks exactly (round trip).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.errors import LayoutError
from opset.layout import ActLayout, BlockedWeights, ConstLayout, WgtLayout
from opset.layout import ceil_div as _ceil
from opset.layout import check_array as _check


@dataclass(frozen=True)
class Im2colLayout:
    """A conv input ``(n, c, h, w)`` stored as its patches: the activation
    ``(n, c*kh*kw, ho, wo)`` whose channel ``(ci*kh + u)*kw + v`` at output pixel ``(i, j)``
    is ``x[ci, i*sh + u - ph, j*sw + v - pw]`` (``pad_value`` outside the image).

    The convolution becomes a 1x1 one over ``c*kh*kw`` channels: worth it for a first layer
    whose few channels would otherwise fill a fraction of ``block_in`` (3 of 16).
    """

    n: int
    c: int
    h: int
    w: int
    kh: int
    kw: int
    stride: tuple[int, int]
    pad: tuple[int, int]
    block: int
    batch: int

    @property
    def ho(self) -> int:
        return (self.h + 2 * self.pad[0] - self.kh) // self.stride[0] + 1

    @property
    def wo(self) -> int:
        return (self.w + 2 * self.pad[1] - self.kw) // self.stride[1] + 1

    @property
    def act(self) -> ActLayout:
        return ActLayout(self.n, self.c * self.kh * self.kw, self.ho, self.wo, self.block,
                         self.batch)

    @property
    def elems(self) -> int:
        return self.act.elems

    @property
    def elem_bytes(self) -> int:
        return self.act.elem_bytes

    @property
    def nbytes(self) -> int:
        return self.act.nbytes

    @property
    def shape(self) -> tuple[int, ...]:
        return self.act.shape

    def pack(self, x: np.ndarray, pad_value: int = 0) -> np.ndarray:
        a = _check(x, (self.n, self.c, self.h, self.w), "int8", "activation")
        (sh, sw), (ph, pw) = self.stride, self.pad
        xp = np.full((self.n, self.c, self.h + 2 * ph, self.w + 2 * pw), pad_value, np.int8)
        xp[:, :, ph:ph + self.h, pw:pw + self.w] = a
        ho, wo = self.ho, self.wo
        cols = np.empty((self.n, self.c, self.kh, self.kw, ho, wo), np.int8)
        for u in range(self.kh):
            for v in range(self.kw):
                cols[:, :, u, v] = xp[:, :, u:u + (ho - 1) * sh + 1:sh, v:v + (wo - 1) * sw + 1:sw]
        return self.act.pack(cols.reshape(self.n, -1, ho, wo))


@dataclass(frozen=True)
class DenseLayout:
    """Dense operand ``(rows, cols)`` as the activation ``(batch, cols, 1, ceil(rows/batch))``.

    Row ``r`` is pixel ``r // batch`` in lane ``r % batch``: one element carries ``batch``
    rows, and every row is a pixel the weights are reused across.
    """

    rows: int
    cols: int
    block: int
    batch: int

    @property
    def act(self) -> ActLayout:
        return ActLayout(self.batch, self.cols, 1, _ceil(self.rows, self.batch), self.block,
                         self.batch)

    @property
    def elems(self) -> int:
        return self.act.elems

    @property
    def elem_bytes(self) -> int:
        return self.act.elem_bytes

    @property
    def nbytes(self) -> int:
        return self.act.nbytes

    @property
    def shape(self) -> tuple[int, ...]:
        return self.act.shape

    def pack(self, x: np.ndarray, pad_value: int = 0) -> np.ndarray:
        a = _check(x, (self.rows, self.cols), "int8", "dense operand")
        w = self.act.w
        full = np.zeros((w * self.batch, self.cols), np.int8)
        full[:self.rows] = a
        nchw = full.reshape(w, self.batch, self.cols).transpose(1, 2, 0)[:, :, None, :]
        return self.act.pack(np.ascontiguousarray(nchw))

    def unpack(self, blocked: np.ndarray) -> np.ndarray:
        nchw = self.act.unpack(blocked)  # (batch, cols, 1, w)
        rows = nchw[:, :, 0, :].transpose(2, 0, 1).reshape(-1, self.cols)
        return np.ascontiguousarray(rows[:self.rows])


@dataclass(frozen=True)
class DepthwiseWgtLayout(BlockedWeights):
    """Depthwise weights ``(c, 1, kh, kw)`` as block-diagonal GEMM elements.

    Output block ``j`` (channels ``j*bo ..``) reads the ``g = bo / bi`` input blocks
    ``j*g .. j*g + g - 1``; element ``(j, q, u, v)`` holds ``w[j*bo + o, 0, u, v]`` at
    ``[o, i]`` where ``o == q*bi + i`` and zero elsewhere.  Needs ``block_out >= block_in``.
    """

    c: int
    kh: int
    kw: int
    block_out: int
    block_in: int

    def __post_init__(self) -> None:
        if self.block_out % self.block_in:
            raise LayoutError(f"depthwise weights need block_out ({self.block_out}) to be a "
                              f"multiple of block_in ({self.block_in})")

    @property
    def group(self) -> int:
        return self.block_out // self.block_in

    @property
    def o_blocks(self) -> int:
        return _ceil(self.c, self.block_out)

    @property
    def i_blocks(self) -> int:
        return self.group

    def pack(self, w: np.ndarray) -> np.ndarray:
        a = _check(w, (self.c, 1, self.kh, self.kw), "int8", "depthwise weights")
        ob, g, bo, bi = self.o_blocks, self.group, self.block_out, self.block_in
        full = np.zeros((ob * bo, self.kh, self.kw), np.int8)
        full[:self.c] = a[:, 0]
        out = np.zeros(self.shape, np.int8)
        per_block = full.reshape(ob, bo, self.kh, self.kw)
        for q in range(g):
            for i in range(bi):
                o = q * bi + i
                out[:, q, :, :, o, i] = per_block[:, o]
        return out


@dataclass(frozen=True)
class UopLayout:
    """The micro-op kernels of a program, concatenated (one 32-bit word each)."""

    count: int
    elem_bytes: int = 4

    @property
    def elems(self) -> int:
        return self.count

    @property
    def nbytes(self) -> int:
        return 4 * self.count

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.count,)


Layout = (ActLayout | Im2colLayout | DenseLayout | WgtLayout | DepthwiseWgtLayout | ConstLayout
          | UopLayout)

__all__ = ["Im2colLayout", "DenseLayout", "WgtLayout", "DepthwiseWgtLayout",
           "ConstLayout", "UopLayout", "Layout", "LayoutOptions"]


@dataclass(frozen=True)
class LayoutOptions:
    """DRAM layout choices for an operator's activations.

    input_halo: spatial halo stored around the input (conv, depthwise, pooling); None means
    the operator's own padding, so input loads never pad (the previous layer's STORE writes
    the interior of such a tensor).  (0, 0) makes the loads insert the padding instead.
    output_halo: halo around the output, for a consumer that wants its padding in DRAM.
    im2col: store a conv2d input as its patches (:class:`Im2colLayout`); None = when the
    input has fewer than block_in / 2 channels and the kernel more than one tap.
    """

    input_halo: tuple[int, int] | None = None
    output_halo: tuple[int, int] = (0, 0)
    im2col: bool | None = None

    def use_im2col(self, op, block_in: int) -> bool:
        if type(op).__name__ != "Conv2d":
            return False
        if self.im2col is not None:
            return self.im2col
        return 2 * op.c < block_in and op.kh * op.kw > 1

