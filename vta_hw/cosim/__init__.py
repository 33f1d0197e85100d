"""Run program bundles on the RTL: Verilator (compiled, fast) or Amaranth's simulator (small).

Both drive ``VtaCore`` with the same DRAM model: a memory holding the bundle's image behind the
four DRAM ports, honouring the timing contract of ``vta_hw.rtl.dram_port`` (or, for
back-pressure tests, a slower randomised version of it), and return the final DRAM image and
the core's cycle counter.  A run that stops making progress raises :class:`RtlDeadlockError`
instead of running forever.

This module imports neither Amaranth nor Verilator; ``vta_hw.cosim.verilator`` and
``vta_hw.cosim.amaranth_sim`` do.
"""

from __future__ import annotations

from dataclasses import dataclass

from vta_hw.errors import VtaError


class CosimError(VtaError):
    """An RTL simulation could not be built or run."""


class RtlDeadlockError(CosimError):
    """The RTL stopped making progress before the program finished (a hang on hardware)."""


class RtlTimeoutError(CosimError):
    """The RTL ran past the cycle bound without finishing."""


class DramRangeError(CosimError):
    """The RTL accessed DRAM outside the bundle's image."""


class CosimBuildError(CosimError):
    """Verilator (or the Verilog emission) failed; the message holds the tool's output."""


@dataclass(frozen=True)
class RtlResult:
    """The outcome of one RTL run.

    cycles: the core's cycle counter when FINISH retired (the simulator's ``cycles``).
    dram: the final DRAM image, after every module went idle.
    total_cycles: clock cycles simulated after ``start`` (>= cycles: stores may finish later).
    wall_s: wall-clock seconds of the simulation proper.
    """

    cycles: int
    dram: bytes
    total_cycles: int
    wall_s: float


DEFAULT_STALL_BOUND = 64
"""Cycles with no unit making progress after which a run is declared deadlocked.

A cycle in which no unit issues, retires, dispatches or runs a body leaves the machine in the
same state for the next cycle, so one such cycle already proves a hang; the margin only makes
the check robust to future units that idle for a cycle or two."""

__all__ = ["CosimError", "RtlDeadlockError", "RtlTimeoutError", "DramRangeError",
           "CosimBuildError", "RtlResult", "DEFAULT_STALL_BOUND"]
