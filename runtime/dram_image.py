"""Devices whose memory is one DRAM image held on the host: the simulator and the RTL.

Device memory is a byte array that grows as buffers are allocated (aligned to
:func:`vta_hw.bundle.link_align`, so any buffer can hold a linked program), up to the
config's DRAM capacity (``HwConfig.dram_bytes``).  ``load(bundle)``
runs the device's pre-run checks (:meth:`DramImageDevice._check_program`), allocates memory
for the bundle's image, links it there and writes it once: another program loaded before
or after keeps its own memory.  ``launch(handle)`` runs the instructions on the current
image, replaces the image with the final one and returns a
:class:`~runtime.device.LaunchResult`.  Launches are synchronous, so ``synchronize`` has
nothing to wait for.  Subclasses say only how to check and how to run an image.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from typing import Any

import numpy as np

from vta_hw.bundle import Bundle
from vta_hw.config import HwConfig

from .device import (
    Buffer,
    Device,
    DeviceError,
    LaunchResult,
    LoadedProgram,
    expect_bundle,
    link_program,
    program_align,
)


class DramImageDevice(Device):
    """A device for one HwConfig whose DRAM is a host byte array."""

    name = "dram-image"

    def __init__(self, cfg: HwConfig) -> None:
        self.cfg = cfg
        self.align = program_align(cfg)
        self.memory_bytes = cfg.dram_bytes
        self._mem = bytearray()

    @abstractmethod
    def _check_program(self, bundle: Bundle) -> int | None:
        """Reject a program the device must not run (raising the simulator's error);
        returns the cycle bound of its runs, if the device uses one."""

    @abstractmethod
    def _execute(self, image: bytes, program: LoadedProgram
                 ) -> tuple[int, bytes, Any]:
        """Run the program; returns (cycles, final image, device-specific result)."""

    def _stats(self, result: Any) -> Any:
        """The simulator's statistics in ``result``, if the device keeps them."""
        return None

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
        if addr + nbytes > self.memory_bytes:
            raise DeviceError(f"{self.name}: out of device memory: {nbytes} bytes at {addr} "
                              f"exceed the {self.memory_bytes}-byte DRAM of config "
                              f"{self.cfg.name!r} (log_dram_bytes={self.cfg.log_dram_bytes})")
        self._mem.extend(bytes(addr + nbytes - len(self._mem)))
        return Buffer(self.name, addr, nbytes)

    def free(self, buf: Buffer) -> None:
        """Release ``buf``: memory shrinks when it is the last allocation (a bump
        allocator); space below other buffers is not reused."""
        self._check(buf)
        if buf.handle + buf.nbytes == len(self._mem):
            del self._mem[buf.handle:]

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
        """The whole current DRAM image (every loaded program and buffer)."""
        return bytes(self._mem)

    # ------------------------------------------------------------------ programs
    def load(self, program: Any, *, arena: Buffer | None = None) -> LoadedProgram:
        """Check the bundle, link it into newly allocated memory (its arena into
        ``arena``, when given: see :func:`~runtime.device.link_program`) and write it."""
        bundle = expect_bundle(program, self.cfg, self.name)
        if arena is not None:
            self._check(arena)
        bound = self._check_program(bundle)
        image = self.allocate(len(bundle.dram) + (0 if arena else bundle.arena_bytes))
        data, handle = link_program(self.name, bundle, image, bound, arena=arena)
        self.copy_in(image, data)
        return handle

    def launch(self, handle: Any, *args: Any, **kwargs: Any) -> LaunchResult:
        """Run a loaded program on the current image."""
        if not isinstance(handle, LoadedProgram) or handle.device != self.name:
            raise DeviceError(f"{self.name}: launch needs a handle returned by this device's "
                              "load()")
        if args or kwargs:
            raise DeviceError(f"{self.name}: launch takes only the program handle (its buffers "
                              "are already in device memory)")
        t0 = time.perf_counter()
        cycles, image, result = self._execute(bytes(self._mem), handle)
        wall = time.perf_counter() - t0
        self._mem[:] = image
        return LaunchResult(self.name, int(cycles), wall, self._stats(result), result)

    def synchronize(self) -> None:
        """Launches are synchronous: nothing to wait for."""
