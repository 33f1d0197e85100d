"""Opening a device from a ``--device`` string, and running a bundle on any of them.

==========================  =====================================================
``sim``                     the cycle-accurate simulator (``vta_sim``)
``rtl`` / ``rtl:amaranth``  the RTL on Verilator (default) or Amaranth's simulator
``fpga:/dev/ttyUSB0[@BAUD]`` a ULX3S running the SoC bitstream, over its UART
``fpga:sim``                the same SoC simulated by Verilator, bytes over a pipe
==========================  =====================================================

Every accelerator device loads a :class:`~vta_hw.bundle.Bundle`, validates it as the simulator
does and bounds its run in cycles (:mod:`runtime.validate`), runs it, and returns the same
cycle count and final DRAM bytes; the tests hold them equal.
"""

from __future__ import annotations

from dataclasses import dataclass

from vta_hw.bundle import Bundle
from vta_hw.config import HwConfig

from .device import Device, DeviceError

KINDS = ("sim", "rtl", "fpga")


@dataclass(frozen=True)
class BundleRun:
    """A bundle's outcome on one device: the core's cycle count, the DRAM image (the bundle's
    extent) and, where the device measured it, the host's wall time for the whole run."""

    device: str
    cycles: int
    dram: bytes
    wall_seconds: float | None = None

    def read(self, bundle: Bundle, name: str) -> bytes:
        return bundle.read(name, self.dram)


def open_device(spec: str, cfg: HwConfig, *, max_cycles: int | None = None) -> Device:
    """The device ``spec`` names, for hardware ``cfg``; ``max_cycles`` bounds every run
    (default: derived from the simulated run, :func:`runtime.validate.cycle_bound`)."""
    kind, _, arg = spec.partition(":")
    if kind == "sim" and not arg:
        from .sim_device import SimDevice

        return SimDevice(cfg, max_cycles=max_cycles)
    if kind == "rtl" and arg in ("", "verilator", "amaranth"):
        from .rtl_device import RtlSimDevice

        return RtlSimDevice(cfg, engine=arg or "verilator", max_cycles=max_cycles)
    if kind == "fpga":
        from .fpga_device import open_fpga_device

        return open_fpga_device(spec, cfg, max_cycles=max_cycles)
    raise DeviceError(f"unknown device {spec!r}; expected one of: sim, rtl, rtl:amaranth, "
                      "fpga:PORT[@BAUD], fpga:sim")


def run_bundle(device: Device, bundle: Bundle) -> BundleRun:
    """Load ``bundle`` on ``device``, run it to FINISH and read back its DRAM extent."""
    handle = device.load(bundle)
    cycles = device.launch(handle)
    device.synchronize()
    return BundleRun(device.name, int(cycles), device.read_image(len(bundle.dram)))
