"""The RTL simulation as a :class:`~runtime.device.Device`: bundles run on the Verilator model.

Memory and program handling are those of :class:`~runtime.dram_image.DramImageDevice`.
``load`` validates the bundle on the simulator (:mod:`runtime.validate`: decode, ranges,
hazards, deadlock, races) once, which also gives its runs' cycle bound; ``launch`` runs the
device's image through the compiled Verilator model of the device's config (built once per
config and cached), or Amaranth's simulator, and returns the cycle count ``vta_sim``
gives in a :class:`~runtime.device.LaunchResult` whose ``detail`` is the
:class:`~vta_hw.cosim.RtlResult`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vta_hw.bundle import Bundle
from vta_hw.config import HwConfig
from vta_hw.cosim import DEFAULT_STALL_BOUND, CosimError, RtlResult, RtlTimeoutError

from .device import DeviceError, LoadedProgram
from .dram_image import DramImageDevice
from .links import LINKS
from .validate import cycle_bound, validate_bundle


class RtlSimDevice(DramImageDevice):
    """The accelerator's RTL for ``cfg``, simulated by Verilator (or Amaranth's simulator).

    engine: ``"verilator"`` (compiled, the default) or ``"amaranth"`` (small programs).
    backpressure_seed: run against a slow, bursty DRAM (same results, more cycles).
    max_cycles: the run's cycle bound; default :func:`runtime.validate.cycle_bound` of the
    simulated run.
    wave: write a VCD waveform of each launch to this path.
    """

    name = "rtl-sim"
    link_profile = LINKS["rtl"]  # a deployed accelerator's link, not the simulator's

    def __init__(self, cfg: HwConfig, *, engine: str = "verilator",
                 backpressure_seed: int | None = None, max_cycles: int | None = None,
                 stall_bound: int = DEFAULT_STALL_BOUND, wave: str | Path | None = None
                 ) -> None:
        if engine not in ("verilator", "amaranth"):
            raise DeviceError(f"rtl-sim: unknown engine {engine!r}; use 'verilator' or "
                              "'amaranth'")
        super().__init__(cfg)
        self.engine = engine
        self.backpressure_seed = backpressure_seed
        self.max_cycles = max_cycles
        self.stall_bound = stall_bound
        self.wave = wave

    def _check_program(self, bundle: Bundle) -> int | None:
        expected = validate_bundle(bundle, max_cycles=self.max_cycles)
        return self.max_cycles if self.max_cycles is not None else cycle_bound(
            expected, backpressure=self.backpressure_seed is not None)

    def _execute(self, image: bytes, program: LoadedProgram
                 ) -> tuple[int, bytes, RtlResult]:
        assert program.max_cycles is not None
        opts: dict[str, Any] = {"stall_bound": self.stall_bound,
                                "backpressure_seed": self.backpressure_seed,
                                "max_cycles": program.max_cycles}
        try:
            if self.engine == "verilator":
                from vta_hw.cosim.verilator import run_image

                res = run_image(self.cfg, image, program.insn_addr, program.insn_count,
                                wave=self.wave, **opts)
            else:
                from vta_hw.cosim.amaranth_sim import run_amaranth

                res = run_amaranth(Bundle(self.cfg, image, program.insn_addr,
                                          program.insn_count), vcd=self.wave, **opts)
        except RtlTimeoutError as e:
            raise DeviceError(f"rtl-sim: {e} (the bound was derived from the simulated run "
                              "or given; raise it with --max-cycles)") from e
        except CosimError as e:
            raise DeviceError(f"rtl-sim: {e}") from e
        return res.cycles, res.dram, res


__all__ = ["RtlSimDevice"]
