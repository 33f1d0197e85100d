"""Device memory that is host memory: byte arrays behind integer handles.

The CPU device and the emulated GPU both keep their buffers in this process, and both must
behave like a real device's memory (a handle, not a pointer; a copy in that does not fit is
an error, a freed or foreign buffer is refused), so the executor cannot tell them from the
accelerator or a CUDA GPU.  :class:`HostMemoryDevice` is that memory once, for both.
"""

from __future__ import annotations

import itertools

import numpy as np

from .device import Buffer, Device, DeviceError


class HostMemoryDevice(Device):
    """A :class:`~runtime.device.Device` whose ``allocate``/``copy_in``/``copy_out``/``free``
    are host byte arrays; subclasses add ``load``, ``launch`` and ``synchronize``."""

    def __init__(self) -> None:
        self._mem: dict[int, np.ndarray] = {}
        self._ids = itertools.count(1)

    def _array(self, buf: Buffer) -> np.ndarray:
        """The bytes behind a live buffer of this device."""
        if not isinstance(buf, Buffer) or buf.device != self.name or buf.handle not in self._mem:
            raise DeviceError(f"{self.name}: {buf!r} is not a live buffer of this device")
        return self._mem[buf.handle]

    def allocate(self, nbytes: int) -> Buffer:
        if not isinstance(nbytes, int) or nbytes < 0:
            raise DeviceError(f"{self.name}: allocate needs a non-negative byte count, "
                              f"got {nbytes!r}")
        h = next(self._ids)
        self._mem[h] = np.zeros(max(nbytes, 1), np.uint8)
        return Buffer(self.name, h, nbytes)

    def copy_in(self, buf: Buffer, data: np.ndarray | bytes) -> None:
        mem = self._array(buf)
        raw = np.frombuffer(data if isinstance(data, bytes | bytearray | memoryview)
                            else np.ascontiguousarray(data).tobytes(), np.uint8)
        if raw.size > buf.nbytes:
            raise DeviceError(f"{self.name}: copy_in of {raw.size} bytes into a "
                              f"{buf.nbytes}-byte buffer")
        mem[: raw.size] = raw

    def copy_out(self, buf: Buffer) -> bytes:
        return self._array(buf)[: buf.nbytes].tobytes()

    def free(self, buf: Buffer) -> None:
        self._mem.pop(buf.handle, None)


__all__ = ["HostMemoryDevice"]
