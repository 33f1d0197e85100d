"""Element-wise operators: a chain of ALU steps over int8 tensors.

They run on the accelerator's vector ALU over int8 activations sign-extended into the int32
accumulators (ACC8 loads) and leave through the saturating int8 out path; every other device
computes the same steps with the same int32 wrapping (:mod:`opset.reference`).
"""

from __future__ import annotations

from dataclasses import dataclass

from opset.base import TensorSpec, positive
from opset.errors import OpError
from opset.requant import IMM_MAX, IMM_MIN, MAX_SHIFT
from vta_hw import isa


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


__all__ = ["AluStep", "Elementwise"]
