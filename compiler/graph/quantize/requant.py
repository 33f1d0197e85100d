"""Real-valued rescale factors -> the hardware's requantization (:class:`opset.Requant`).

Per tensor, :meth:`opset.Requant.from_scale` does it.  Per channel the ALU applies one
pre-shift to every channel and a multiplier and shift per channel, so :func:`per_channel`
picks the common pre-shift that keeps every channel's product inside int32 and then the
most precise multiplier (``bits`` bits) and shift of each channel under it.
"""

from __future__ import annotations

import numpy as np

from opset import AluStep, Requant
from opset.requant import MAX_SHIFT, channel_requant
from opset.requant import fits_int32 as _fits


def per_channel(scales: np.ndarray, acc_bound: int, bits: int = 15
                ) -> tuple[Requant, np.ndarray, np.ndarray]:
    """A per-channel :class:`Requant` and its int32 multiplier and shift vectors."""
    scales = np.asarray(scales, np.float64)
    bound = max(1, int(acc_bound))
    pre = max(Requant.from_scale(float(s), bound, bits).pre_shift for s in scales)
    while True:
        pairs = [channel_requant(float(s), pre, bits) for s in scales]
        if pre >= MAX_SHIFT or all(_fits(bound, pre, m) for m, _ in pairs):
            break
        pre += 1
    mult = np.array([m for m, _ in pairs], np.int32)
    shift = np.array([s for _, s in pairs], np.int32)
    return Requant(per_channel=True, pre_shift=pre), mult, shift


def rescale_steps(scale: float, acc_bound: int = 128) -> tuple[AluStep, ...]:
    """ALU steps multiplying int32 values of magnitude <= ``acc_bound`` by ``scale``
    (the hardware's requantization written as element-wise steps; empty when exact 1)."""
    rq = Requant.from_scale(scale, acc_bound)
    steps = []
    if rq.pre_shift:
        steps.append(AluStep("rshr", rq.pre_shift))
    if rq.multiplier != 1:
        steps.append(AluStep("mul", rq.multiplier))
    if rq.shift:
        steps.append(AluStep("rshr", rq.shift))
    return tuple(steps)


__all__ = ["per_channel", "rescale_steps"]
