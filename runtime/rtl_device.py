"""The RTL simulation as a :class:`~runtime.device.Device`: bundles run on the Verilator model.

Device memory is one DRAM image (a byte array).  ``load(bundle)`` puts the bundle's image at
address 0 (its instructions and data use absolute addresses) and returns a handle whose
symbols are device buffers; ``allocate`` reserves space above everything placed so far.
``launch(handle)`` runs the instructions on the current image through the compiled Verilator
model of the device's config (built once per config and cached), replaces the image with the
final one, and returns the cycle count, the same number ``vta_sim.simulate`` gives.
Launches are synchronous, so ``synchronize`` has nothing to wait for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vta_hw.bundle import Bundle, ConfigMismatchError
from vta_hw.config import HwConfig
from vta_hw.cosim import DEFAULT_STALL_BOUND, CosimError, RtlResult

from .device import Buffer, Device, DeviceError


@dataclass(frozen=True)
class RtlProgram:
    """A loaded bundle: where its instructions are and its named regions as buffers."""

    insn_addr: int
    insn_count: int
    buffers: dict[str, Buffer]

    def buffer(self, name: str) -> Buffer:
        try:
            return self.buffers[name]
        except KeyError:
            raise DeviceError(f"rtl-sim: the loaded bundle has no symbol {name!r}; symbols: "
                              f"{sorted(self.buffers)}") from None


class RtlSimDevice(Device):
    """The accelerator's RTL for ``cfg``, simulated by Verilator (or Amaranth's simulator).

    engine: ``"verilator"`` (compiled, the default) or ``"amaranth"`` (small programs).
    backpressure_seed: run against a slow, bursty DRAM (same results, more cycles).
    """

    name = "rtl-sim"

    def __init__(self, cfg: HwConfig, *, engine: str = "verilator",
                 backpressure_seed: int | None = None, max_cycles: int | None = None,
                 stall_bound: int = DEFAULT_STALL_BOUND) -> None:
        if engine not in ("verilator", "amaranth"):
            raise DeviceError(f"rtl-sim: unknown engine {engine!r}; use 'verilator' or "
                              "'amaranth'")
        self.cfg = cfg
        self.engine = engine
        self.backpressure_seed = backpressure_seed
        self.max_cycles = max_cycles
        self.stall_bound = stall_bound
        self.align = max(cfg.wgt_elem_bytes, cfg.acc_elem_bytes, cfg.inp_elem_bytes, 64)
        self._mem = bytearray()
        self.last_result: RtlResult | None = None

    # ------------------------------------------------------------------ memory
    def _check(self, buf: Buffer) -> None:
        if not isinstance(buf, Buffer) or buf.device != self.name:
            raise DeviceError(f"rtl-sim: {buf!r} is not a buffer of this device")
        if buf.handle < 0 or buf.handle + buf.nbytes > len(self._mem):
            raise DeviceError(f"rtl-sim: {buf!r} lies outside the {len(self._mem)}-byte image")

    def allocate(self, nbytes: int) -> Buffer:
        if not isinstance(nbytes, int) or nbytes < 0:
            raise DeviceError(f"rtl-sim: allocate needs a non-negative byte count, got {nbytes!r}")
        addr = -(-len(self._mem) // self.align) * self.align
        self._mem.extend(bytes(addr + nbytes - len(self._mem)))
        return Buffer(self.name, addr, nbytes)

    def copy_in(self, buf: Buffer, data: np.ndarray | bytes) -> None:
        self._check(buf)
        raw = bytes(data) if isinstance(data, bytes | bytearray | memoryview) else \
            np.ascontiguousarray(data).tobytes()
        if len(raw) > buf.nbytes:
            raise DeviceError(f"rtl-sim: copy_in of {len(raw)} bytes into a {buf.nbytes}-byte "
                              "buffer")
        self._mem[buf.handle:buf.handle + len(raw)] = raw

    def copy_out(self, buf: Buffer) -> bytes:
        self._check(buf)
        return bytes(self._mem[buf.handle:buf.handle + buf.nbytes])

    @property
    def dram(self) -> bytes:
        """The whole current DRAM image."""
        return bytes(self._mem)

    # ------------------------------------------------------------------ programs
    def load(self, program: Any) -> RtlProgram:
        if not isinstance(program, Bundle):
            raise DeviceError(f"rtl-sim: cannot load {type(program).__name__}; expected a "
                              "vta_hw.bundle.Bundle")
        try:
            program.check_config(self.cfg)
        except ConfigMismatchError as e:
            raise DeviceError(f"rtl-sim: {e}") from None
        n = len(program.dram)
        if len(self._mem) < n:
            self._mem.extend(bytes(n - len(self._mem)))
        self._mem[:n] = program.dram
        bufs = {k: Buffer(self.name, r.addr, r.nbytes) for k, r in program.symbols.items()}
        return RtlProgram(program.insn_addr, program.insn_count, bufs)

    def launch(self, handle: Any, *args: Any, **kwargs: Any) -> int:
        """Run a loaded program on the current image; returns its cycle count."""
        if not isinstance(handle, RtlProgram):
            raise DeviceError("rtl-sim: launch needs a handle returned by load()")
        if args or kwargs:
            raise DeviceError("rtl-sim: launch takes only the program handle (its buffers are "
                              "already in device memory)")
        opts: dict[str, Any] = {"stall_bound": self.stall_bound,
                                "backpressure_seed": self.backpressure_seed}
        if self.max_cycles is not None:
            opts["max_cycles"] = self.max_cycles
        image = bytes(self._mem)
        try:
            if self.engine == "verilator":
                from vta_hw.cosim.verilator import run_image

                res = run_image(self.cfg, image, handle.insn_addr, handle.insn_count, **opts)
            else:
                from vta_hw.cosim.amaranth_sim import run_amaranth

                bundle = Bundle(self.cfg, image, handle.insn_addr, handle.insn_count)
                res = run_amaranth(bundle, **opts)
        except CosimError as e:
            raise DeviceError(f"rtl-sim: {e}") from e
        self._mem[:] = res.dram
        self.last_result = res
        return res.cycles

    def synchronize(self) -> None:
        """Launches are synchronous: nothing to wait for."""


__all__ = ["RtlSimDevice", "RtlProgram"]
