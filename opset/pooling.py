"""Pooling operators: max and average pooling over windows, global average pooling.

The average is a multiply and a rounding shift (:func:`avg_multiplier`), as the
accelerator's ALU computes it; every device gives the same bits (:mod:`opset.reference`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from opset.base import SlidingWindow, TensorSpec, positive
from opset.errors import OpError
from opset.requant import IMM_MAX, INT8_MIN, MAX_SHIFT
from vta_hw.config import ACC_WIDTH, int_range


def avg_multiplier(count: int) -> tuple[int, int]:
    """(m, s) with ``rshr(sum * m, s)`` the rounded mean of ``count`` int8 values.

    Exact for powers of two (m = 1).  Otherwise ``m = round(2**s / count)`` with the largest
    ``s <= 14 + floor(log2(count))`` for which ``128 * count * m < 2**31`` (no overflow),
    which gives the round-half-up mean to within one unit.
    """
    if count < 1:
        raise OpError(f"cannot average {count} values")
    if count & (count - 1) == 0:
        return 1, count.bit_length() - 1
    s = min(14 + int(math.floor(math.log2(count))), MAX_SHIFT)
    while s > 0:
        m = round(2 ** s / count)
        if 1 <= m <= IMM_MAX and -INT8_MIN * count * m <= int_range(ACC_WIDTH)[1]:
            return m, s
        s -= 1
    raise OpError(f"no multiplier averages {count} values without overflow")


@dataclass(frozen=True)
class Pool2d(SlidingWindow):
    """Max or average pooling over ``kh x kw`` windows (NCHW int8 in and out).

    max: out-of-image pixels are -128 (never the maximum of a non-empty window part).
    avg: out-of-image pixels count as 0 (count_include_pad); the mean is
    ``rshr(sum * m, s)`` with ``(m, s) = avg_multiplier(kh * kw)``.
    """

    n: int
    c: int
    h: int
    w: int
    pool: str
    kh: int
    kw: int
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int] = (0, 0)
    name: str = "pool2d"

    kind = "pool2d"
    window = "window"

    def __post_init__(self) -> None:
        if self.pool not in ("max", "avg"):
            raise OpError(f"{self.name}: pool must be 'max' or 'avg', got {self.pool!r}")
        self._check_window()
        if self.pad[0] >= self.kh or self.pad[1] >= self.kw:
            raise OpError(f"{self.name}: padding {self.pad} must be smaller than the window "
                          f"({self.kh}, {self.kw})")

    @property
    def pad_value(self) -> int:
        return INT8_MIN if self.pool == "max" else 0

    @property
    def avg(self) -> tuple[int, int]:
        return avg_multiplier(self.kh * self.kw)

    @property
    def macs(self) -> int:
        return 0

    @property
    def out_channels(self) -> int:
        return self.c

    def inputs(self) -> tuple[TensorSpec, ...]:
        return (TensorSpec("x", (self.n, self.c, self.h, self.w), "int8"),)

    def output(self) -> TensorSpec:
        return TensorSpec("y", (self.n, self.c, self.ho, self.wo), "int8")


@dataclass(frozen=True)
class GlobalAvgPool:
    """y[n, c, 0, 0] = rshr(sum_{i, j} x[n, c, i, j] * m, s), (m, s) = avg_multiplier(h * w)."""

    n: int
    c: int
    h: int
    w: int
    name: str = "global_avg_pool"

    kind = "global_avg_pool"

    def __post_init__(self) -> None:
        positive(self.name, n=self.n, c=self.c, h=self.h, w=self.w)

    @property
    def avg(self) -> tuple[int, int]:
        return avg_multiplier(self.h * self.w)

    @property
    def macs(self) -> int:
        return 0

    @property
    def out_channels(self) -> int:
        return self.c

    def inputs(self) -> tuple[TensorSpec, ...]:
        return (TensorSpec("x", (self.n, self.c, self.h, self.w), "int8"),)

    def output(self) -> TensorSpec:
        return TensorSpec("y", (self.n, self.c, 1, 1), "int8")


__all__ = ["Pool2d", "GlobalAvgPool", "avg_multiplier"]
