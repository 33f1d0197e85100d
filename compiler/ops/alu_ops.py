"""ALU operators: element-wise arithmetic, max/average pooling, global average pooling.

They run on the accelerator's vector ALU over int8 activations sign-extended into the int32
accumulators (ACC8 loads), and leave through the saturating int8 out path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from compiler.errors import OpError
from compiler.ops.base import TensorSpec, pair, positive
from compiler.ops.epilogue import IMM_MAX, IMM_MIN, INT8_MIN, MAX_SHIFT
from vta_hw import isa
from vta_hw.config import ACC_WIDTH, int_range


@dataclass(frozen=True)
class AluStep:
    """One step ``x = op(x, operand)`` with ``operand`` an immediate or (None) input ``b``.

    op is an :class:`vta_hw.isa.AluOp` name in lower case: min, max, add, mul, shr, rshr,
    mov.  Shifts take immediates in 0..31 only.
    """

    op: str
    operand: int | None = None

    def __post_init__(self) -> None:
        names = {o.name.lower() for o in isa.ALU_LANE_OPS}
        if self.op.lower() not in names:
            raise OpError(f"unknown ALU op {self.op!r}; expected one of "
                          f"{[o.name.lower() for o in isa.ALU_LANE_OPS]}")
        if self.operand is None:
            if self.alu_op in (isa.AluOp.SHR, isa.AluOp.RSHR):
                raise OpError(f"{self.op}: shift amounts must be immediates, not a tensor")
        elif self.alu_op in (isa.AluOp.SHR, isa.AluOp.RSHR):
            if not 0 <= self.operand <= MAX_SHIFT:
                raise OpError(f"{self.op}: shift {self.operand} must be in 0..{MAX_SHIFT}")
        elif not IMM_MIN <= self.operand <= IMM_MAX:
            raise OpError(f"{self.op}: immediate {self.operand} does not fit the ALU's "
                          f"{isa.ALU_IMM_BITS}-bit immediate ({IMM_MIN}..{IMM_MAX})")

    @property
    def alu_op(self) -> isa.AluOp:
        return isa.AluOp[self.op.upper()]


@dataclass(frozen=True)
class Elementwise:
    """y = saturate_int8(steps applied in order to int32(a)), each step wrapping to int32.

    Inputs ``a`` and, when a step has a tensor operand, ``b``: int8 arrays of ``shape``
    (NCHW; lower-rank tensors are viewed as N, C, 1, 1).
    """

    shape: tuple[int, int, int, int]
    steps: tuple[AluStep, ...]
    name: str = "elementwise"

    kind = "elementwise"

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(v) for v in self.shape))
        object.__setattr__(self, "steps", tuple(self.steps))
        if len(self.shape) != 4:
            raise OpError(f"{self.name}: shape must be (N, C, H, W), got {self.shape}")
        n, c, h, w = self.shape
        positive(self.name, n=n, c=c, h=h, w=w)
        if not self.steps:
            raise OpError(f"{self.name}: needs at least one step")
        for s in self.steps:
            if not isinstance(s, AluStep):
                raise OpError(f"{self.name}: steps must be AluStep, got {s!r}")

    @property
    def binary(self) -> bool:
        return any(s.operand is None for s in self.steps)

    @property
    def macs(self) -> int:
        return 0

    @property
    def out_channels(self) -> int:
        return self.shape[1]

    def inputs(self) -> tuple[TensorSpec, ...]:
        specs = [TensorSpec("a", self.shape, "int8")]
        if self.binary:
            specs.append(TensorSpec("b", self.shape, "int8"))
        return tuple(specs)

    def output(self) -> TensorSpec:
        return TensorSpec("y", self.shape, "int8")


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
class Pool2d:
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "stride", pair(self.stride, "stride"))
        object.__setattr__(self, "pad", pair(self.pad, "pad"))
        positive(self.name, n=self.n, c=self.c, h=self.h, w=self.w, kh=self.kh, kw=self.kw,
                 stride_h=self.stride[0], stride_w=self.stride[1])
        if self.pool not in ("max", "avg"):
            raise OpError(f"{self.name}: pool must be 'max' or 'avg', got {self.pool!r}")
        if min(self.pad) < 0:
            raise OpError(f"{self.name}: padding must be >= 0, got {self.pad}")
        if self.pad[0] >= self.kh or self.pad[1] >= self.kw:
            raise OpError(f"{self.name}: padding {self.pad} must be smaller than the window "
                          f"({self.kh}, {self.kw})")
        for size, k, s, p, what in ((self.h, self.kh, self.stride[0], self.pad[0], "height"),
                                    (self.w, self.kw, self.stride[1], self.pad[1], "width")):
            if (size + 2 * p - k) // s + 1 < 1:
                raise OpError(f"{self.name}: window {what}={k} is larger than the padded "
                              f"input ({size} + 2*{p})")

    @property
    def ho(self) -> int:
        return (self.h + 2 * self.pad[0] - self.kh) // self.stride[0] + 1

    @property
    def wo(self) -> int:
        return (self.w + 2 * self.pad[1] - self.kw) // self.stride[1] + 1

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


__all__ = ["AluStep", "Elementwise", "Pool2d", "GlobalAvgPool", "avg_multiplier"]
