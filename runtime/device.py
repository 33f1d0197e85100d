"""The one interface every execution target implements.

The simulator, the RTL simulation, the FPGA board, the host CPU and an NVIDIA GPU all run
compiled work through the same six verbs -- allocate, copy in, copy out, load, launch,
synchronize -- so the graph executor never special-cases a device.  A device owns its memory:
a :class:`Buffer` is a handle into it, never a numpy array the caller can alias.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from vta_hw.bundle import Bundle, ConfigMismatchError
from vta_hw.config import HwConfig
from vta_hw.errors import VtaError


@dataclass(frozen=True)
class Buffer:
    """A region of one device's memory.

    device: name of the device that owns it.
    handle: the device's own reference (an offset, a pointer, an index).
    nbytes: size in bytes.
    """

    device: str
    handle: Any
    nbytes: int


class DeviceError(VtaError, RuntimeError):
    """A device could not do what was asked (bad buffer, failed launch, timeout)."""


def expect_bundle(program: Any, cfg: HwConfig, who: str,
                  error: type[DeviceError] = DeviceError) -> Bundle:
    """``program`` itself when it is a bundle built for ``cfg``; otherwise ``error``, naming the
    device ``who`` (every accelerator device's ``load`` starts with this check)."""
    if not isinstance(program, Bundle):
        raise error(f"{who}: cannot load {type(program).__name__}; expected a "
                    "vta_hw.bundle.Bundle")
    try:
        program.check_config(cfg)
    except ConfigMismatchError as e:
        raise error(f"{who}: {e}") from None
    return program


class Device(ABC):
    """An execution target.

    Subclasses implement the six verbs; ``load`` turns a device-specific program (an instruction
    bundle, a compiled kernel, a PTX module) into a handle that ``launch`` runs on buffers.
    Launches may be asynchronous; ``synchronize`` waits for all of them.
    """

    name: str = "device"

    @abstractmethod
    def allocate(self, nbytes: int) -> Buffer:
        """Reserve ``nbytes`` of device memory."""

    @abstractmethod
    def copy_in(self, buf: Buffer, data: np.ndarray | bytes) -> None:
        """Copy host bytes into ``buf`` (at most ``buf.nbytes``)."""

    @abstractmethod
    def copy_out(self, buf: Buffer) -> bytes:
        """Return the contents of ``buf`` as host bytes."""

    @abstractmethod
    def load(self, program: Any) -> Any:
        """Prepare ``program`` for launching and return its handle."""

    @abstractmethod
    def launch(self, handle: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a loaded program; returns device-specific launch info (e.g. cycles)."""

    @abstractmethod
    def synchronize(self) -> None:
        """Wait until every launch so far has finished."""

    def free(self, buf: Buffer) -> None:  # noqa: B027 - optional for devices with no allocator
        """Release ``buf``; devices with a bump allocator may ignore it."""
