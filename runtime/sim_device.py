"""The cycle-accurate simulator as a :class:`~runtime.device.Device`.

Memory and program handling are those of :class:`~runtime.dram_image.DramImageDevice`;
``launch`` runs the image on ``vta_sim`` and returns the cycle count.  ``last_result`` keeps
the full :class:`vta_sim.SimResult` (statistics, per-instruction timing) of the last launch.
"""

from __future__ import annotations

from vta_sim import SimResult, simulate_image

from .dram_image import DramImageDevice


class SimDevice(DramImageDevice):
    """The accelerator for ``cfg``, simulated instruction by instruction (exact cycles)."""

    name = "sim"

    def _execute(self, image: bytes, insn_addr: int, insn_count: int
                 ) -> tuple[int, bytes, SimResult]:
        res = simulate_image(self.cfg, image, insn_addr, insn_count)
        return res.cycles, res.dram, res


__all__ = ["SimDevice"]
