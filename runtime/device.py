"""The one interface every execution target implements.

The simulator, the RTL simulation, the FPGA board, the host CPU and an NVIDIA GPU all run
compiled work through the same six verbs -- allocate, copy in, copy out, load, launch,
synchronize -- so the graph executor never special-cases a device.  A device owns its memory:
a :class:`Buffer` is a handle into it, never a numpy array the caller can alias.  Every
``launch`` returns the same :class:`LaunchResult`.

An accelerator device's ``load`` takes a :class:`~vta_hw.bundle.Bundle`, allocates device
memory for its image and links it there (:meth:`~vta_hw.bundle.Bundle.linked`): the
instructions, weights and micro-op kernels are written once and stay resident; the
returned :class:`LoadedProgram` names each symbol's buffer, so a run copies in only its
inputs, launches and copies out only its outputs.  Several programs can be loaded at once;
each owns its own image.  ``load(bundle, arena=buf)`` links a program whose activation
tensors live in an arena (a module's memory plan) into ``buf``, a buffer the caller
allocated once and shares between the module's programs; without ``arena`` the program's
arena is allocated right after its image.  ``memory_bytes`` is what the device's memory
holds: an allocation past it fails.  ``link_profile`` is how host bytes reach it
(:mod:`runtime.links`: bandwidth and per-copy latency).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from runtime.links import LinkProfile
from vta_hw.bundle import Bundle, ConfigMismatchError, link_align
from vta_hw.config import HwConfig
from vta_hw.errors import VtaError

if TYPE_CHECKING:
    from vta_sim import SimStats


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


@dataclass(frozen=True)
class LaunchResult:
    """What one launch did, on any device.

    device: the device's name ("sim", "rtl-sim", "fpga", "cpu", "gpu").
    cycles: the accelerator core's cycle count (FINISH retired); None on host devices.
    wall_seconds: host wall time of the launch (for the accelerator: simulating or waiting
    for the board, including the device's own checks).
    stats: the simulator's statistics (:class:`vta_sim.SimStats`) where the device is the
    simulator; None elsewhere.
    detail: the device's own record of the run (``vta_sim.SimResult``, the RTL's
    ``RtlResult``), for traces and plots; None when the device keeps none.
    """

    device: str
    cycles: int | None
    wall_seconds: float
    stats: SimStats | None = None
    detail: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class LoadedProgram:
    """An accelerator program linked into one device's memory (``load``'s handle).

    image: the buffer holding the whole linked image (instructions, constants, inputs,
    outputs); ``buffers``: each bundle symbol's region inside it (or inside ``arena``, the
    shared buffer the module's activation tensors live in, when the program was loaded
    with one).  ``insn_addr`` is absolute.  ``max_cycles``: the run's cycle bound, where
    the device derived one.
    """

    device: str
    bundle: Bundle = field(repr=False)
    image: Buffer
    insn_addr: int
    insn_count: int
    buffers: dict[str, Buffer]
    max_cycles: int | None = None
    arena: Buffer | None = None

    @property
    def base(self) -> int:
        """The byte address the bundle was linked at."""
        return int(self.image.handle)

    def buffer(self, name: str) -> Buffer:
        try:
            return self.buffers[name]
        except KeyError:
            raise DeviceError(f"{self.device}: the loaded bundle has no symbol {name!r}; "
                              f"symbols: {sorted(self.buffers)}") from None


def link_program(device: str, bundle: Bundle, image: Buffer, max_cycles: int | None = None,
                 *, arena: Buffer | None = None, check_ranges: bool = True
                 ) -> tuple[bytes, LoadedProgram]:
    """The bundle's image linked at ``image`` (a buffer the device allocated) and the
    handle naming its symbols there; raises DeviceError if it cannot be linked
    (``check_ranges``: see :meth:`vta_hw.bundle.Bundle.linked`).

    arena: the buffer holding the bundle's arena (shared with the other programs of a
    module, :attr:`Bundle.arena_bytes`); None: ``image`` holds it right after the image
    (``image`` then needs :meth:`Bundle.standalone_image`'s size)."""
    from vta_hw.bundle import BundleError

    n = len(bundle.dram)
    need = n if arena is not None else n + bundle.arena_bytes
    if image.nbytes < need:
        raise DeviceError(f"{device}: a {image.nbytes}-byte buffer cannot hold the bundle's "
                          f"{need}-byte image")
    if arena is not None and arena.nbytes < bundle.arena_bytes:
        raise DeviceError(f"{device}: a {arena.nbytes}-byte arena cannot hold the bundle's "
                          f"{bundle.arena_bytes}-byte arena")
    arena_base = image.handle + n if arena is None else arena.handle
    try:
        data = bundle.linked(image.handle, arena_base=arena_base, check_ranges=check_ranges)
    except BundleError as e:
        raise DeviceError(f"{device}: {e}") from None
    bufs = {k: Buffer(device, (arena_base - n if r.addr >= n and bundle.arena_bytes
                               else image.handle) + r.addr, r.nbytes)
            for k, r in bundle.symbols.items()}
    return data, LoadedProgram(device, bundle, image, image.handle + bundle.insn_addr,
                               bundle.insn_count, bufs, max_cycles, arena)


def program_align(cfg: HwConfig) -> int:
    """The alignment of the memory an accelerator device allocates (any buffer may hold a
    linked program): :func:`vta_hw.bundle.link_align`."""
    return link_align(cfg)


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
    memory_bytes: int | None = None
    """The device memory programs and buffers may occupy (None: host memory, unbounded)."""

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
    def launch(self, handle: Any, *args: Any, **kwargs: Any) -> LaunchResult | None:
        """Run a loaded program; returns its :class:`LaunchResult` (None only for a launch
        a device runs asynchronously, whose result ``synchronize`` returns)."""

    @abstractmethod
    def synchronize(self) -> Any:
        """Wait until every launch so far has finished (asynchronous devices return the
        last launch's :class:`LaunchResult`)."""

    @property
    def link_profile(self) -> LinkProfile | None:
        """How bytes reach this device's memory from the host (:mod:`runtime.links`): what
        the executor models its copies with.  None: the host's own memory (CPU)."""
        return None

    def free(self, buf: Buffer) -> None:  # noqa: B027 - optional for devices with no allocator
        """Release ``buf``; devices with a bump allocator may ignore it."""
