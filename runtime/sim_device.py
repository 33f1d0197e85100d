"""The cycle-accurate simulator as a :class:`~runtime.device.Device`.

Memory and program handling are those of :class:`~runtime.dram_image.DramImageDevice`;
``launch`` runs the image on ``vta_sim`` with the checks every accelerator device makes
(:mod:`runtime.validate`: races too) and returns the cycle count.  ``last_result`` keeps
the full :class:`vta_sim.SimResult` (statistics, per-instruction timing) of the last launch.
"""

from __future__ import annotations

from vta_hw.config import HwConfig
from vta_sim import SimResult, simulate_image

from .dram_image import DramImageDevice


class SimDevice(DramImageDevice):
    """The accelerator for ``cfg``, simulated instruction by instruction (exact cycles).

    max_cycles: stop a run that would take longer (CycleLimitError).
    """

    name = "sim"

    def __init__(self, cfg: HwConfig, *, max_cycles: int | None = None) -> None:
        super().__init__(cfg)
        self.max_cycles = max_cycles

    def _execute(self, image: bytes, insn_addr: int, insn_count: int
                 ) -> tuple[int, bytes, SimResult]:
        res = simulate_image(self.cfg, image, insn_addr, insn_count, check_races=True,
                             max_cycles=self.max_cycles)
        return res.cycles, res.dram, res


__all__ = ["SimDevice"]
