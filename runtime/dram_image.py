"""Devices whose memory is one DRAM image held on the host: the simulator and the RTL.

Device memory is a byte array.  ``load(bundle)`` puts the bundle's image at address 0 (its
instructions and data use absolute addresses) and returns a handle whose symbols are device
buffers; ``allocate`` reserves space above everything placed so far.  ``launch(handle)`` runs
the instructions on the current image, replaces the image with the final one and returns the
cycle count.  Launches are synchronous, so ``synchronize`` has nothing to wait for.
Subclasses say only how to run an image (:meth:`DramImageDevice._execute`).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from vta_hw.config import HwConfig

from .device import Buffer, Device, DeviceError, expect_bundle


@dataclass(frozen=True)
class LoadedProgram:
    """A loaded bundle: where its instructions are and its named regions as buffers."""

    device: str
    insn_addr: int
    insn_count: int
    buffers: dict[str, Buffer]

    def buffer(self, name: str) -> Buffer:
        try:
            return self.buffers[name]
        except KeyError:
            raise DeviceError(f"{self.device}: the loaded bundle has no symbol {name!r}; "
                              f"symbols: {sorted(self.buffers)}") from None


class DramImageDevice(Device):
    """A device for one HwConfig whose DRAM is a host byte array."""

    name = "dram-image"

    def __init__(self, cfg: HwConfig) -> None:
        self.cfg = cfg
        self.align = max(cfg.wgt_elem_bytes, cfg.acc_elem_bytes, cfg.inp_elem_bytes, 64)
        self._mem = bytearray()
        self.last_result: Any = None

    @abstractmethod
    def _execute(self, image: bytes, insn_addr: int, insn_count: int) -> tuple[int, bytes, Any]:
        """Run the program; returns (cycles, final image, device-specific result)."""

    # ------------------------------------------------------------------ memory
    def _check(self, buf: Buffer) -> None:
        if not isinstance(buf, Buffer) or buf.device != self.name:
            raise DeviceError(f"{self.name}: {buf!r} is not a buffer of this device")
        if buf.handle < 0 or buf.handle + buf.nbytes > len(self._mem):
            raise DeviceError(f"{self.name}: {buf!r} lies outside the {len(self._mem)}-byte "
                              "image")

    def allocate(self, nbytes: int) -> Buffer:
        if not isinstance(nbytes, int) or nbytes < 0:
            raise DeviceError(f"{self.name}: allocate needs a non-negative byte count, got "
                              f"{nbytes!r}")
        addr = -(-len(self._mem) // self.align) * self.align
        self._mem.extend(bytes(addr + nbytes - len(self._mem)))
        return Buffer(self.name, addr, nbytes)

    def copy_in(self, buf: Buffer, data: np.ndarray | bytes) -> None:
        self._check(buf)
        raw = bytes(data) if isinstance(data, bytes | bytearray | memoryview) else \
            np.ascontiguousarray(data).tobytes()
        if len(raw) > buf.nbytes:
            raise DeviceError(f"{self.name}: copy_in of {len(raw)} bytes into a {buf.nbytes}-"
                              "byte buffer")
        self._mem[buf.handle:buf.handle + len(raw)] = raw

    def copy_out(self, buf: Buffer) -> bytes:
        self._check(buf)
        return bytes(self._mem[buf.handle:buf.handle + buf.nbytes])

    @property
    def dram(self) -> bytes:
        """The whole current DRAM image."""
        return bytes(self._mem)

    def read_image(self, nbytes: int) -> bytes:
        """The first ``nbytes`` of DRAM (a loaded bundle's whole extent)."""
        return bytes(self._mem[:nbytes])

    # ------------------------------------------------------------------ programs
    def load(self, program: Any) -> LoadedProgram:
        expect_bundle(program, self.cfg, self.name)
        n = len(program.dram)
        if len(self._mem) < n:
            self._mem.extend(bytes(n - len(self._mem)))
        self._mem[:n] = program.dram
        bufs = {k: Buffer(self.name, r.addr, r.nbytes) for k, r in program.symbols.items()}
        return LoadedProgram(self.name, program.insn_addr, program.insn_count, bufs)

    def launch(self, handle: Any, *args: Any, **kwargs: Any) -> int:
        """Run a loaded program on the current image; returns its cycle count."""
        if not isinstance(handle, LoadedProgram) or handle.device != self.name:
            raise DeviceError(f"{self.name}: launch needs a handle returned by this device's "
                              "load()")
        if args or kwargs:
            raise DeviceError(f"{self.name}: launch takes only the program handle (its buffers "
                              "are already in device memory)")
        cycles, image, result = self._execute(bytes(self._mem), handle.insn_addr,
                                              handle.insn_count)
        self._mem[:] = image
        self.last_result = result
        return cycles

    def synchronize(self) -> None:
        """Launches are synchronous: nothing to wait for."""
