"""Opening a device from a ``--device`` string, and running a bundle on any of them.

==========================  =====================================================
``sim``                     the cycle-accurate simulator (``vta_sim``)
``rtl`` / ``rtl:amaranth``  the RTL on Verilator (default) or Amaranth's simulator
``fpga:/dev/ttyUSB0[@BAUD]`` a ULX3S running the SoC bitstream, over its UART
``fpga:sim``                the same SoC simulated by Verilator, bytes over a pipe
==========================  =====================================================

Every accelerator device loads a :class:`~vta_hw.bundle.Bundle`, validates it as the simulator
does and bounds its run in cycles (:mod:`runtime.validate`), links it into memory it
allocated, runs it, and returns the same cycle count and final bytes; the tests hold them
equal.  :func:`run_bundle` is the whole round trip for one bundle (``vta run``,
``vta sim``, ``vta rtl-sim``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vta_hw.bundle import Bundle
from vta_hw.config import HwConfig

from .device import Device, DeviceError, LaunchResult

KINDS = ("sim", "rtl", "fpga")


@dataclass(frozen=True)
class BundleRun:
    """:func:`run_bundle`'s outcome: the launch's result and the bundle's image after the
    run (its whole extent, copied out of the device: what ``--dram-out`` writes)."""

    result: LaunchResult
    dram: bytes = field(repr=False)

    @property
    def cycles(self) -> int:
        assert self.result.cycles is not None
        return self.result.cycles

    def read(self, bundle: Bundle, name: str) -> bytes:
        """Bytes of ``bundle``'s symbol ``name`` after the run."""
        return bundle.read(name, self.dram)


def open_device(spec: str, cfg: HwConfig, *, max_cycles: int | None = None,
                timing_only: bool = False) -> Device:
    """The device ``spec`` names, for hardware ``cfg``; ``max_cycles`` bounds every run
    (default: derived from the simulated run, :func:`runtime.validate.cycle_bound`).
    ``timing_only`` (``sim`` only): the simulator counts cycles and computes no data (what a
    design-space sweep reads, several times faster); a keyword, not a spec, so that no
    command line can ask for outputs that were never computed."""
    if not isinstance(spec, str):
        raise DeviceError(f"a device spec is a string, got {type(spec).__name__}")
    kind, _, arg = spec.partition(":")
    if timing_only and spec != "sim":
        raise DeviceError(f"timing_only runs need the simulator ('sim'), not {spec!r}")
    if kind == "sim" and not arg:
        from .sim_device import SimDevice

        return SimDevice(cfg, max_cycles=max_cycles, timing_only=timing_only)
    if kind == "rtl" and arg in ("", "verilator", "amaranth"):
        from .rtl_device import RtlSimDevice

        return RtlSimDevice(cfg, engine=arg or "verilator", max_cycles=max_cycles)
    if kind == "fpga":
        from .fpga_device import open_fpga_device

        return open_fpga_device(spec, cfg, max_cycles=max_cycles)
    raise DeviceError(f"unknown device {spec!r}; expected one of: sim, rtl, rtl:amaranth, "
                      "fpga:PORT[@BAUD], fpga:sim")


def run_bundle(device: Device, bundle: Bundle) -> BundleRun:
    """Load ``bundle`` on ``device``, run it to FINISH and copy its image back out (linked
    at a non-zero base, the image's LOAD/STORE fields are the linked ones; every data
    byte is the bundle's own)."""
    handle = device.load(bundle)
    result = device.launch(handle)
    done = device.synchronize()
    result = result if result is not None else done
    return BundleRun(result, device.copy_out(handle.image))
