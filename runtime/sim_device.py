"""The cycle-accurate simulator as a :class:`~runtime.device.Device`.

Memory and program handling are those of :class:`~runtime.dram_image.DramImageDevice`.
``load`` runs the simulator's static checks (every word decodes, every instruction is
legal) before linking; ``launch`` simulates the device's whole image with the race check
(:mod:`runtime.validate`) and returns a :class:`~runtime.device.LaunchResult` whose
``stats`` are the simulator's and whose ``detail`` is the full :class:`vta_sim.SimResult`
(per-instruction timing, for traces and timelines).

Linked at a non-zero base (after other programs), a program computes the same bytes in
the same cycles as at 0: the tests hold a relocated run equal to the bundle's own.
"""

from __future__ import annotations

from vta_hw.bundle import Bundle
from vta_hw.config import HwConfig
from vta_sim import SimResult, SimStats, simulate_image

from .device import LoadedProgram
from .dram_image import DramImageDevice
from .links import LINKS
from .validate import check_static


class SimDevice(DramImageDevice):
    """The accelerator for ``cfg``, simulated instruction by instruction (exact cycles).

    max_cycles: stop a run that would take longer (CycleLimitError).
    check_races: reject a run whose modules race (default; ``vta sim`` makes it optional).
    timing_only: compute no data (``simulate_image``'s ``timing_only``): exact cycles and
    instruction records, but outputs are whatever the memory held (zeros).  For a caller
    that reads only the cycles, such as a design-space sweep.
    """

    name = "sim"
    link_profile = LINKS["sim"]  # a deployed accelerator's link, not the simulator's

    def __init__(self, cfg: HwConfig, *, max_cycles: int | None = None,
                 check_races: bool = True, timing_only: bool = False) -> None:
        super().__init__(cfg)
        self.max_cycles = max_cycles
        self.check_races = check_races
        self.timing_only = timing_only

    def _check_program(self, bundle: Bundle) -> int | None:
        check_static(bundle)
        return self.max_cycles

    def _execute(self, image: bytes, program: LoadedProgram) -> tuple[int, bytes, SimResult]:
        res = simulate_image(self.cfg, image, program.insn_addr, program.insn_count,
                             check_races=self.check_races, max_cycles=self.max_cycles,
                             timing_only=self.timing_only)
        return res.cycles, res.dram, res

    def _stats(self, result: SimResult) -> SimStats:
        return result.stats


__all__ = ["SimDevice"]
