"""Host-side layouts: numpy arrays <-> the blocked DRAM layouts the accelerator reads.

* Activations NCHW -> ``(N/b, C/bc, H + 2hh, W + 2hw, b, bc)``: one DRAM *element* is the
  ``b x bc`` int8 tile the DMA moves (``bc`` = block_in for GEMM inputs, block_out for
  outputs and ALU operands).  Channels are zero-padded to a whole number of blocks (so a
  3-channel image runs on the accelerator), and an optional spatial *halo* stores the
  convolution's zero padding in DRAM so loads need no padding.
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


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _check(arr: np.ndarray, shape: tuple[int, ...], dtype: str, what: str) -> np.ndarray:
    a = np.asarray(arr)
    if a.shape != tuple(shape):
        raise LayoutError(f"{what}: expected shape {tuple(shape)}, got {a.shape}")
    if a.dtype != np.dtype(dtype):
        if not np.issubdtype(a.dtype, np.integer):
            raise LayoutError(f"{what}: expected {dtype} values, got dtype {a.dtype}")
        info = np.iinfo(dtype)
        if a.size and (a.min() < info.min or a.max() > info.max):
            raise LayoutError(f"{what}: values outside the {dtype} range")
        a = a.astype(dtype)
    return a


@dataclass(frozen=True)
class ActLayout:
    """Activation ``(n, c, h, w)`` in ``(nb, cb, h + 2*halo_h, w + 2*halo_w, batch, block)``.

    ``c_blocks`` may exceed ``ceil(c / block)`` (depthwise inputs pad to whole output
    blocks).  Logical pixel ``(y, x)`` of channel block ``cb`` in batch block ``nb`` is
    element :meth:`offset`; the halo lies at ``y < 0``, ``y >= h`` (and likewise for x).
    """

    n: int
    c: int
    h: int
    w: int
    block: int
    batch: int
    halo: tuple[int, int] = (0, 0)
    c_blocks: int = 0

    def __post_init__(self) -> None:
        if self.c_blocks == 0:
            object.__setattr__(self, "c_blocks", _ceil(self.c, self.block))
        if self.c_blocks * self.block < self.c:
            raise LayoutError(f"{self.c_blocks} blocks of {self.block} cannot hold "
                              f"{self.c} channels")
        if min(self.halo) < 0:
            raise LayoutError(f"halo must be >= 0, got {self.halo}")

    @property
    def n_blocks(self) -> int:
        return _ceil(self.n, self.batch)

    @property
    def hp(self) -> int:
        return self.h + 2 * self.halo[0]

    @property
    def wp(self) -> int:
        return self.w + 2 * self.halo[1]

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.n_blocks, self.c_blocks, self.hp, self.wp, self.batch, self.block)

    @property
    def strides(self) -> tuple[int, int, int, int]:
        """Element strides of (nb, cb, y, x)."""
        return (self.c_blocks * self.hp * self.wp, self.hp * self.wp, self.wp, 1)

    @property
    def elems(self) -> int:
        return self.n_blocks * self.c_blocks * self.hp * self.wp

    @property
    def elem_bytes(self) -> int:
        return self.batch * self.block

    @property
    def nbytes(self) -> int:
        return self.elems * self.elem_bytes

    def offset(self, nb: int, cb: int, y: int, x: int) -> int:
        s = self.strides
        return nb * s[0] + cb * s[1] + (y + self.halo[0]) * s[2] + (x + self.halo[1])

    def pack(self, x: np.ndarray, pad_value: int = 0) -> np.ndarray:
        """NCHW int8 -> blocked int8 (halo filled with ``pad_value``, padded channels 0)."""
        a = _check(x, (self.n, self.c, self.h, self.w), "int8", "activation")
        nb, cb, b, bc = self.n_blocks, self.c_blocks, self.batch, self.block
        hh, hw = self.halo
        full = np.zeros((nb * b, cb * bc, self.hp, self.wp), np.int8)
        full[:self.n, :self.c] = pad_value
        full[:self.n, :self.c, hh:hh + self.h, hw:hw + self.w] = a
        out = full.reshape(nb, b, cb, bc, self.hp, self.wp).transpose(0, 2, 4, 5, 1, 3)
        return np.ascontiguousarray(out)

    def unpack(self, blocked: np.ndarray) -> np.ndarray:
        """Blocked -> NCHW (drops halo, padded channels and padded batch entries)."""
        a = np.asarray(blocked)
        if a.size != self.elems * self.elem_bytes:
            raise LayoutError(f"blocked activation has {a.size} values, layout needs "
                              f"{self.elems * self.elem_bytes}")
        a = a.reshape(self.shape).view(np.int8) if a.dtype != np.int8 else a.reshape(self.shape)
        nchw = a.transpose(0, 4, 1, 5, 2, 3).reshape(self.n_blocks * self.batch,
                                                    self.c_blocks * self.block, self.hp, self.wp)
        hh, hw = self.halo
        return np.ascontiguousarray(nchw[:self.n, :self.c, hh:hh + self.h, hw:hw + self.w])


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
class WgtLayout:
    """Conv weights ``(o, i, kh, kw)`` in ``(ob, ib, kh, kw, block_out, block_in)``."""

    o: int
    i: int
    kh: int
    kw: int
    block_out: int
    block_in: int

    @property
    def o_blocks(self) -> int:
        return _ceil(self.o, self.block_out)

    @property
    def i_blocks(self) -> int:
        return _ceil(self.i, self.block_in)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.o_blocks, self.i_blocks, self.kh, self.kw, self.block_out, self.block_in)

    @property
    def strides(self) -> tuple[int, int, int, int]:
        """Element strides of (ob, ib, kh, kw)."""
        return (self.i_blocks * self.kh * self.kw, self.kh * self.kw, self.kw, 1)

    @property
    def elems(self) -> int:
        return self.o_blocks * self.i_blocks * self.kh * self.kw

    @property
    def elem_bytes(self) -> int:
        return self.block_out * self.block_in

    @property
    def nbytes(self) -> int:
        return self.elems * self.elem_bytes

    def pack(self, w: np.ndarray) -> np.ndarray:
        """OIHW int8 -> blocked.  (O, I) dense weights, and OIHW weights of an im2col'd
        convolution (``i == C*KH*KW``, 1x1), are flattened to (O, I, 1, 1) first."""
        w = np.asarray(w)
        if self.kh == self.kw == 1 and w.ndim in (2, 4) and w.shape[0] == self.o and \
                int(np.prod(w.shape[1:])) == self.i:
            w = w.reshape(self.o, self.i, 1, 1)
        a = _check(w, (self.o, self.i, self.kh, self.kw), "int8", "weights")
        ob, ib, bo, bi = self.o_blocks, self.i_blocks, self.block_out, self.block_in
        full = np.zeros((ob * bo, ib * bi, self.kh, self.kw), np.int8)
        full[:self.o, :self.i] = a
        out = full.reshape(ob, bo, ib, bi, self.kh, self.kw).transpose(0, 2, 4, 5, 1, 3)
        return np.ascontiguousarray(out)


@dataclass(frozen=True)
class DepthwiseWgtLayout:
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

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.o_blocks, self.group, self.kh, self.kw, self.block_out, self.block_in)

    @property
    def strides(self) -> tuple[int, int, int, int]:
        return (self.group * self.kh * self.kw, self.kh * self.kw, self.kw, 1)

    @property
    def elems(self) -> int:
        return self.o_blocks * self.group * self.kh * self.kw

    @property
    def elem_bytes(self) -> int:
        return self.block_out * self.block_in

    @property
    def nbytes(self) -> int:
        return self.elems * self.elem_bytes

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
class ConstLayout:
    """Per-channel int32 vectors (``rows``) as acc elements ``(len(rows) * cb, batch, bo)``.

    Element ``r * cb + j`` holds row ``r`` for channels ``j*bo ..`` in every batch lane.
    """

    rows: tuple[str, ...]
    channels: int
    block: int
    batch: int

    @property
    def c_blocks(self) -> int:
        return _ceil(self.channels, self.block)

    @property
    def elems(self) -> int:
        return len(self.rows) * self.c_blocks

    @property
    def elem_bytes(self) -> int:
        return 4 * self.batch * self.block

    @property
    def nbytes(self) -> int:
        return self.elems * self.elem_bytes

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.elems, self.batch, self.block)

    def row_offset(self, row: str) -> int:
        return self.rows.index(row) * self.c_blocks

    def pack(self, values: dict[str, np.ndarray]) -> np.ndarray:
        cb, bo = self.c_blocks, self.block
        out = np.zeros((len(self.rows), cb * bo), np.int32)
        for r, name in enumerate(self.rows):
            if name not in values:
                raise LayoutError(f"missing per-channel input {name!r}")
            out[r, :self.channels] = _check(values[name], (self.channels,), "int32", name)
        blk = out.reshape(len(self.rows) * cb, 1, bo)
        return np.ascontiguousarray(np.broadcast_to(blk, self.shape)).astype("<i4")


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

__all__ = ["ActLayout", "Im2colLayout", "DenseLayout", "WgtLayout", "DepthwiseWgtLayout",
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

