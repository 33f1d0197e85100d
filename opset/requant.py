"""The one requantization definition: what happens to int32 accumulators before they leave
as int8, on every device.

The arithmetic is the hardware's, and the bit-exact contract between the accelerator's code
generator (ALU instructions, ``compiler/lower/alu_epilogue.py``), the CPU backend's fused
epilogue kernels (``cpu_gpu_backends/ops/quantized.py``) and the numpy reference
(:mod:`opset.reference`).
With ``acc`` the int32 accumulator of one output element and every step wrapping to int32
exactly as the ALU does::

    x = acc + bias[c]                       if bias
    x = rshr(x, pre_shift)                  if requant and pre_shift > 0
    x = x * multiplier[c]                   if requant and (per_channel or multiplier != 1)
    x = rshr(x, shift[c])                   if requant and (per_channel or shift > 0)
    x = x + residual                        if residual   (int8 residual, sign-extended)
    x = x + offset                          if offset     (the output zero point)
    x = max(x, 0)                           if relu
    x = min(max(x, lo), hi)                 if clip
    y = saturate_int8(x)                    (free: the out buffer saturates every acc write)

``rshr(x, s) = floor((x + 2**(s - 1)) / 2**s)`` for ``s > 0`` (round half up, the ALU's
RSHR) and ``x`` for ``s = 0``.  ``[c]`` marks per-output-channel values when
``Requant.per_channel`` is set (they come from the op's ``multiplier`` and ``shift``
inputs), otherwise one immediate for the whole tensor.

``offset`` is the output's zero point for asymmetric activations, ``y = round(real / s_y) +
z_y``: the requantized accumulator is the real value in the output scale, so the zero point
is added after it.  It comes after the residual because the residual is an int8 value with a
zero point of its own, ``z_r``, already in the output scale: ``y = requant(acc) + (r - z_r) +
z_y``, so one immediate ``offset = z_y - z_r`` does both, and the residual needs no
zero-point pass of its own.  The clamps come last and are integers of the output encoding
(zero point included): ``relu`` is the integer ``max(x, 0)`` of symmetric outputs, and a
real ReLU of an output with zero point ``z_y`` is ``clip=(z_y, 127)``.  An input zero point
needs no step here: it is the op's ``pad_value`` plus a bias correction ``-z_x * sum(w[c])``
folded into ``bias`` by whoever quantizes the graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from opset.errors import OpError
from vta_hw import isa
from vta_hw.config import OUT_WIDTH, int_range

_IMM = isa.Field("imm", isa.ALU_IMM_BITS, "", signed=True)  # the ALU immediate's range
IMM_MIN, IMM_MAX = _IMM.min, _IMM.max
MAX_SHIFT = (1 << (isa.SHIFT_BITS - 1)) - 1  # largest right shift the ALU encodes (31)
INT8_MIN, INT8_MAX = int_range(OUT_WIDTH)  # what the out buffer saturates to


@dataclass(frozen=True)
class Requant:
    """int32 -> int8 requantization ``rshr(rshr(x, pre_shift) * multiplier, shift)``.

    multiplier, shift: per-tensor immediates (``multiplier`` in the signed 16-bit immediate
    range, ``shift`` in 0..31).  pre_shift: a rounding shift applied first so the product
    cannot overflow 32 bits (see :meth:`from_scale`).  per_channel: take multiplier and shift
    per output channel from the op's ``multiplier``/``shift`` inputs instead (int32 arrays;
    the values must satisfy the same ranges), applied as ALU tensor operations.
    """

    multiplier: int = 1
    shift: int = 0
    pre_shift: int = 0
    per_channel: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.pre_shift <= MAX_SHIFT:
            raise OpError(f"requant pre_shift={self.pre_shift} must be in 0..{MAX_SHIFT}")
        if not 0 <= self.shift <= MAX_SHIFT:
            raise OpError(f"requant shift={self.shift} must be in 0..{MAX_SHIFT}")
        if not IMM_MIN <= self.multiplier <= IMM_MAX:
            raise OpError(f"requant multiplier={self.multiplier} does not fit the ALU's "
                          f"{isa.ALU_IMM_BITS}-bit immediate ({IMM_MIN}..{IMM_MAX})")

    @classmethod
    def from_scale(cls, scale: float, acc_bound: int, bits: int = 15) -> Requant:
        """The per-tensor requantization closest to ``x * scale`` that cannot overflow.

        ``scale = multiplier * 2**-(pre_shift + shift)`` with a ``bits``-bit multiplier;
        ``pre_shift`` is the smallest that keeps ``|rshr(x, pre_shift) * multiplier| < 2**31``
        for every ``|x| <= acc_bound`` (the largest accumulator the op can produce).
        """
        if not (scale > 0 and math.isfinite(scale)):
            raise OpError(f"requant scale must be a positive finite number, got {scale!r}")
        if not 1 <= bits <= isa.ALU_IMM_BITS - 1:
            raise OpError(f"multiplier bits must be in 1..{isa.ALU_IMM_BITS - 1}, got {bits}")
        e = math.floor(math.log2(scale))
        total = bits - 1 - e  # multiplier = scale * 2**total lies in [2**(bits-1), 2**bits]
        m = round(scale * 2.0 ** total)
        if m >= 1 << bits:
            m, total = m >> 1, total - 1
        if total < 0:  # scale >= 2**bits: clamp (such outputs saturate anyway)
            m, total = min(IMM_MAX, m << -total), 0
        while m % 2 == 0 and total > 0:  # exact powers of two need no multiplier at all
            m, total = m >> 1, total - 1
        pre = 0
        bound = max(1, int(acc_bound))
        while pre < total and (((bound + ((1 << pre) >> 1)) >> pre) + 1) * m >= 1 << 31:
            pre += 1
        if pre == total:  # a scale too large to pre-shift: clamp the multiplier instead
            m = max(1, min(m, ((1 << 31) - 1) // (((bound + ((1 << pre) >> 1)) >> pre) + 1)))
        shift = total - pre
        while shift > MAX_SHIFT:  # tiny scale: move shift into the pre-shift, then drop bits
            if pre < MAX_SHIFT:
                pre, shift = pre + 1, shift - 1
            else:
                m, shift = max(1, (m + 1) >> 1), shift - 1
        return cls(multiplier=int(m), shift=int(shift), pre_shift=int(pre))

    @property
    def scale(self) -> float:
        """The real factor this requantization approximates."""
        return self.multiplier * 2.0 ** -(self.pre_shift + self.shift)


def fits_int32(acc_bound: int, pre_shift: int, multiplier: int) -> bool:
    """Whether ``rshr(acc, pre_shift) * multiplier`` stays inside int32 for every
    ``|acc| <= acc_bound``."""
    return (((acc_bound + ((1 << pre_shift) >> 1)) >> pre_shift) + 1) * multiplier < 1 << 31


def channel_requant(scale: float, pre_shift: int, bits: int = 15) -> tuple[int, int]:
    """(multiplier, shift) of one per-channel requantization under a common ``pre_shift``:
    ``multiplier * 2**-(pre_shift + shift)`` closest to ``scale`` with a ``bits``-bit
    multiplier, the shift clamped to ``0..MAX_SHIFT`` and the multiplier to
    ``1..IMM_MAX`` (a scale too small or too large for the range loses precision or
    saturates).  The compiler builds per-channel tables with it, and the host computes a
    run-time table with it (``RequantTable``, :mod:`opset.onnx_kernels`): one definition,
    so both give the same bits."""
    e = math.floor(math.log2(scale))
    shift = min(max(bits - 1 - e - pre_shift, 0), MAX_SHIFT)
    m = round(scale * 2.0 ** (pre_shift + shift))
    if m >= 1 << bits and shift > 0:
        m, shift = round(scale * 2.0 ** (pre_shift + shift - 1)), shift - 1
    return max(1, min(int(m), IMM_MAX)), int(shift)


def any_scale_pre_shift(acc_bound: int) -> int:
    """The smallest pre-shift under which any multiplier :func:`channel_requant` can return
    (at most ``IMM_MAX``) keeps ``|acc| <= acc_bound`` inside int32: what a requantization
    whose scale is only known at run time is compiled with."""
    bound = max(1, int(acc_bound))
    pre = 0
    while pre < MAX_SHIFT and not fits_int32(bound, pre, IMM_MAX):
        pre += 1
    return pre


@dataclass(frozen=True)
class Epilogue:
    """The element-wise tail fused into a GEMM operator (order in the module docstring).

    bias: add the op's ``bias`` input (int32, one per output channel).
    requant: see :class:`Requant` (None: keep the int32 value, saturated to int8 on output).
    residual: add the op's ``residual`` input (int8, the output's shape) after requantization.
    offset: an immediate added after the residual (the output zero point, minus the
    residual's when there is one).  relu: clamp below at integer 0 (a symmetric output's
    real 0; with a zero point ``z`` use ``clip=(z, 127)``).  clip: clamp to ``(lo, hi)``
    (values in the 16-bit immediate range).
    """

    bias: bool = False
    requant: Requant | None = None
    residual: bool = False
    relu: bool = False
    clip: tuple[int, int] | None = None
    offset: int = 0

    def __post_init__(self) -> None:
        if not IMM_MIN <= self.offset <= IMM_MAX:
            raise OpError(f"epilogue offset={self.offset} does not fit the ALU's "
                          f"{isa.ALU_IMM_BITS}-bit immediate ({IMM_MIN}..{IMM_MAX})")
        if self.clip is not None:
            lo, hi = self.clip
            if not (IMM_MIN <= lo <= hi <= IMM_MAX):
                raise OpError(f"clip bounds {self.clip} must satisfy {IMM_MIN} <= lo <= hi <= "
                              f"{IMM_MAX}")

    @property
    def per_channel(self) -> bool:
        return self.requant is not None and self.requant.per_channel

    def bounds(self) -> tuple[int, int]:
        """The clamp ``[lo, hi]`` after ReLU and clip, within int8 (the out path saturates)."""
        lo, hi = (0 if self.relu else INT8_MIN), INT8_MAX
        if self.clip is not None:
            lo, hi = max(lo, self.clip[0]), min(hi, self.clip[1])
        return lo, hi

    def out_mode(self) -> tuple[int, bool] | None:
        """``(shift, relu)`` when everything after the bias is a rounding right shift and a
        clamp to ``[0 or -128, 127]``: the GEMM out mirror applies that for free
        (``isa.AluOp.OUTMODE``) instead of ALU passes over the accumulators, which share the
        compute module with the GEMM core.  None when an ALU pass is needed (multiplier,
        pre-shift, per-channel values, residual, an offset, other bounds)."""
        rq = self.requant
        if self.residual or self.offset or (rq is not None and (rq.per_channel or rq.multiplier != 1
                                                 or rq.pre_shift)):
            return None
        lo, hi = self.bounds()
        if hi != INT8_MAX or lo not in (INT8_MIN, 0):
            return None
        shift = rq.shift if rq is not None else 0
        if shift >= 1 << isa.OUT_MODE_SHIFT_BITS:
            return None
        return shift, lo == 0

    def const_rows(self) -> tuple[str, ...]:
        """Per-output-channel constant vectors this epilogue reads (``bias``, ``multiplier``,
        ``shift``), in the order they are packed into the op's ``consts`` tensor."""
        rows = []
        if self.bias:
            rows.append("bias")
        if self.per_channel:
            rows += ["multiplier", "shift"]
        return tuple(rows)


__all__ = ["Requant", "Epilogue", "channel_requant", "any_scale_pre_shift", "fits_int32",
           "IMM_MIN", "IMM_MAX", "MAX_SHIFT", "INT8_MIN", "INT8_MAX"]
