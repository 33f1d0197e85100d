"""The one blocked activation layout, shared by every device.

An NCHW activation in ``(N/b, C/bc, H + 2hh, W + 2hw, b, bc)``: one *element* is the
``b x bc`` int8 tile the accelerator's DMA moves (``bc`` = block_in for GEMM inputs,
block_out for outputs and ALU operands; ``b`` = the GEMM batch).  Channels are zero-padded
to a whole number of blocks, and an optional spatial *halo* stores a convolution's padding
(``pad_value``) so loads need none.  The accelerator compiler packs its DRAM tensors in it
(``compiler.layout``), and the CPU backend's layout transforms
(``cpu_gpu_backends.ops.layout``) produce exactly :meth:`ActLayout.pack`'s bytes, so a tensor
crosses a device boundary in this layout with no round trip through NCHW.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from opset.errors import LayoutError


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def check_array(arr: np.ndarray, shape: tuple[int, ...], dtype: str, what: str) -> np.ndarray:
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
            object.__setattr__(self, "c_blocks", ceil_div(self.c, self.block))
        if self.c_blocks * self.block < self.c:
            raise LayoutError(f"{self.c_blocks} blocks of {self.block} cannot hold "
                              f"{self.c} channels")
        if min(self.halo) < 0:
            raise LayoutError(f"halo must be >= 0, got {self.halo}")

    @property
    def n_blocks(self) -> int:
        return ceil_div(self.n, self.batch)

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
        a = check_array(x, (self.n, self.c, self.h, self.w), "int8", "activation")
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


class BlockedWeights:
    """The geometry every blocked weight layout shares: ``(o_blocks, i_blocks, kh, kw)``
    elements of ``block_out x block_in`` int8, what the accelerator's weight buffer and DMA
    see.  A layout supplies ``o_blocks``, ``i_blocks``, ``kh``, ``kw``, ``block_out`` and
    ``block_in``; the rest is derived here once (:class:`WgtLayout`, and the compiler's
    block-diagonal depthwise layout)."""

    o_blocks: int
    i_blocks: int
    kh: int
    kw: int
    block_out: int
    block_in: int

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


@dataclass(frozen=True)
class WgtLayout(BlockedWeights):
    """Conv weights ``(o, i, kh, kw)`` in ``(ob, ib, kh, kw, block_out, block_in)``.

    Here (not in the compiler) because the runtime packs a weight fed at run time (the
    second operand of an activation-activation matmul) with it, as it packs activations."""

    o: int
    i: int
    kh: int
    kw: int
    block_out: int
    block_in: int

    @property
    def o_blocks(self) -> int:
        return ceil_div(self.o, self.block_out)

    @property
    def i_blocks(self) -> int:
        return ceil_div(self.i, self.block_in)

    def pack(self, w: np.ndarray) -> np.ndarray:
        """OIHW int8 -> blocked.  (O, I) dense weights, and OIHW weights of an im2col'd
        convolution (``i == C*KH*KW``, 1x1), are flattened to (O, I, 1, 1) first."""
        w = np.asarray(w)
        if self.kh == self.kw == 1 and w.ndim in (2, 4) and w.shape[0] == self.o and \
                int(np.prod(w.shape[1:])) == self.i:
            w = w.reshape(self.o, self.i, 1, 1)
        a = check_array(w, (self.o, self.i, self.kh, self.kw), "int8", "weights")
        ob, ib, bo, bi = self.o_blocks, self.i_blocks, self.block_out, self.block_in
        full = np.zeros((ob * bo, ib * bi, self.kh, self.kw), np.int8)
        full[:self.o, :self.i] = a
        out = full.reshape(ob, bo, ib, bi, self.kh, self.kw).transpose(0, 2, 4, 5, 1, 3)
        return np.ascontiguousarray(out)


@dataclass(frozen=True)
class ConstLayout:
    """Per-channel int32 vectors (``rows``) as acc elements ``(len(rows) * cb, batch, bo)``.

    Element ``r * cb + j`` holds row ``r`` for channels ``j*bo ..`` in every batch lane.

    Here (not in the compiler) because the runtime packs per-channel rows fed at run time
    with it (a requantization table the host computes per run from dynamic scales).
    """

    rows: tuple[str, ...]
    channels: int
    block: int
    batch: int

    @property
    def c_blocks(self) -> int:
        return ceil_div(self.channels, self.block)

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
            out[r, :self.channels] = check_array(values[name], (self.channels,), "int32", name)
        blk = out.reshape(len(self.rows) * cb, 1, bo)
        return np.ascontiguousarray(np.broadcast_to(blk, self.shape)).astype("<i4")


__all__ = ["ActLayout", "BlockedWeights", "WgtLayout", "ConstLayout", "check_array", "ceil_div"]
