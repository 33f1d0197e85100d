"""The FPGA board as a :class:`~runtime.device.Device`, over the SoC's UART host link.

``FpgaDevice("/dev/ttyUSB0", cfg)`` speaks the framed protocol of ``vta_hw.soc.protocol``
(documented in ``docs/fpga.md``): it checks with INFO that the bitstream was built for ``cfg``
(config hash), copies bytes in and out of the SoC's DRAM with WRITE/READ, starts a program
with START and polls STATUS until FINISH has retired, returning the core's cycle counter
in a :class:`~runtime.device.LaunchResult`.  ``load`` first validates the bundle on the
simulator (:mod:`runtime.validate`: decode, ranges, hazards, deadlock, races), which also
gives the run's cycle bound, then links it into DRAM it allocates and sends it over the
UART once: weights and micro-op kernels stay on the board, and each later launch sends
only what the caller copies in (its inputs) and START.  A run
that passes its cycle bound or does not finish within the timeout is aborted (the core is
reset) and reported as :class:`FpgaTimeoutError`.

The byte stream goes through a :class:`Transport`: :class:`SerialTransport` (pyserial) for a
board, :class:`SimulatedSocTransport` for the Verilator model of the same SoC, which is how
the tests exercise exactly the path a board user takes without a board.

``parse_device_spec("fpga:/dev/ttyUSB0@1000000")`` turns a ``--device`` argument into a
:class:`DeviceSpec`; ``open_fpga_device(spec, cfg)`` opens it (``fpga:sim`` opens the
simulated SoC).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from vta_hw.config import HwConfig
from vta_hw.errors import VtaError
from vta_hw.soc import protocol as P

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
from .links import DEFAULT_BAUD, LinkError, LinkProfile, split_baud, uart_link
from .validate import cycle_bound, validate_bundle

READ_CHUNK = 4096


class FpgaDeviceError(DeviceError, VtaError):
    """The board (or its simulation) could not do what was asked; the message says why."""


class FpgaTimeoutError(FpgaDeviceError):
    """No reply, or a run that did not finish, within the timeout."""


class FpgaProtocolError(FpgaDeviceError):
    """The SoC refused a request or its reply was malformed after every retry."""


# ---------------------------------------------------------------------------- transports
class Transport(ABC):
    """A byte pipe to the SoC's UART."""

    poll_interval: float = 0.0  # seconds between STATUS polls while a run is in progress
    baud: int = DEFAULT_BAUD  # the UART's rate (the simulated SoC runs at the SoC's default)

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Send ``data``."""

    @abstractmethod
    def read(self, n: int, timeout: float) -> bytes:
        """Up to ``n`` bytes; fewer only if ``timeout`` seconds pass first."""

    @abstractmethod
    def discard_input(self) -> None:
        """Forget received bytes not yet read (resynchronisation after an error)."""

    @abstractmethod
    def reply_timeout(self, nbytes: int) -> float:
        """How long a reply of ``nbytes`` payload bytes may take to arrive."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release the pipe."""


class SerialTransport(Transport):
    """A serial port (the ULX3S's FTDI chip shows up as /dev/ttyUSB0)."""

    poll_interval = 0.002

    def __init__(self, port: str, baud: int = DEFAULT_BAUD):
        try:
            import serial
        except ImportError:
            raise FpgaDeviceError("pyserial is not installed: pip install pyserial") from None
        try:
            self.ser = serial.Serial(port, baudrate=baud, bytesize=8, parity="N", stopbits=1,
                                     timeout=1.0, write_timeout=5.0)
        except (serial.SerialException, OSError, ValueError) as e:
            raise FpgaDeviceError(f"cannot open serial port {port!r} at {baud} baud: {e}"
                                  ) from None
        self.baud = baud

    def write(self, data: bytes) -> None:
        import serial

        try:
            self.ser.write(data)
            self.ser.flush()
        except serial.SerialException as e:
            raise FpgaDeviceError(f"serial write failed: {e}") from None

    def read(self, n: int, timeout: float) -> bytes:
        import serial

        self.ser.timeout = max(timeout, 0.001)
        try:
            return bytes(self.ser.read(n))
        except serial.SerialException as e:
            raise FpgaDeviceError(f"serial read failed: {e}") from None

    def discard_input(self) -> None:
        time.sleep(0.05)
        self.ser.reset_input_buffer()

    def reply_timeout(self, nbytes: int) -> float:
        return 0.5 + 2 * (nbytes + P.HEADER_BYTES + 1) * 10 / self.baud

    def close(self) -> None:
        self.ser.close()


class SimulatedSocTransport(Transport):
    """The Verilator model of the whole SoC for ``cfg`` (built once per config, cached)."""

    def __init__(self, cfg: HwConfig, soc_options: Any = None):
        from vta_hw.soc.sim import SocSimProcess

        self.proc = SocSimProcess(cfg, soc_options)

    def write(self, data: bytes) -> None:
        self.proc.write(data)

    def read(self, n: int, timeout: float) -> bytes:
        return self.proc.read(n, timeout)

    def discard_input(self) -> None:
        time.sleep(0.05)
        self.proc.discard_input()

    def reply_timeout(self, nbytes: int) -> float:
        return 30.0 + nbytes * 1e-3

    def close(self) -> None:
        self.proc.close()


# ---------------------------------------------------------------------------- protocol client
class HostLink:
    """Request/reply over a transport, with CRC checks and retries of idempotent requests."""

    def __init__(self, transport: Transport, retries: int = 3):
        self.t = transport
        self.retries = retries

    def _reply(self, expect_len: int | None) -> tuple[int, bytes]:
        head = self.t.read(P.HEADER_BYTES, self.t.reply_timeout(expect_len or 0))
        if len(head) < P.HEADER_BYTES:
            raise FpgaTimeoutError(f"no reply from the SoC (got {len(head)} of "
                                   f"{P.HEADER_BYTES} header bytes): is the bitstream loaded "
                                   "and the baud rate right?")
        if head[0] != P.REPLY_SYNC:
            raise FpgaProtocolError(f"reply starts with 0x{head[0]:02x}, not the sync byte "
                                    f"0x{P.REPLY_SYNC:02x}")
        n = int.from_bytes(head[2:4], "little")
        rest = self.t.read(n + 1, self.t.reply_timeout(n))
        if len(rest) < n + 1:
            raise FpgaTimeoutError(f"reply truncated: {len(rest)} of {n + 1} bytes")
        if P.crc8(head[1:] + rest[:n]) != rest[n]:
            raise FpgaProtocolError("reply CRC mismatch (a corrupted byte on the link)")
        return head[1], rest[:n]

    def request(self, cmd: P.Cmd, payload: bytes = b"", *, expect_len: int | None = None,
                idempotent: bool = True) -> bytes:
        """Send one request; return the reply payload or raise naming the refusal."""
        frame = P.request(cmd, payload)
        last: Exception | None = None
        for _attempt in range(self.retries + 1):
            self.t.write(frame)
            try:
                status, data = self._reply(expect_len)
            except (FpgaTimeoutError, FpgaProtocolError) as e:
                last = e
                self.t.discard_input()
                if not idempotent:
                    raise
                continue
            if status in (P.Status.BAD_CRC, P.Status.TIMEOUT):
                last = FpgaProtocolError(f"{cmd.name}: {P.STATUS_TEXT[P.Status(status)]}")
                self.t.discard_input()
                continue
            if status != P.Status.OK:
                try:
                    why = P.STATUS_TEXT[P.Status(status)]
                except ValueError:
                    why = f"unknown status 0x{status:02x}"
                raise FpgaProtocolError(f"the SoC refused {cmd.name}: {why}")
            if expect_len is not None and len(data) != expect_len:
                raise FpgaProtocolError(f"{cmd.name} reply has {len(data)} bytes, expected "
                                        f"{expect_len}")
            return data
        assert last is not None
        raise type(last)(f"{cmd.name} failed after {self.retries + 1} attempts: {last}")

    # ------------------------------------------------------------------ commands
    def info(self) -> P.SocInfo:
        data = self.request(P.Cmd.INFO, expect_len=P.INFO_BYTES)
        try:
            return P.SocInfo.from_payload(data)
        except ValueError as e:
            raise FpgaProtocolError(str(e)) from None

    def write(self, addr: int, data: bytes, max_write: int) -> None:
        for off in range(0, len(data), max_write):
            chunk = data[off:off + max_write]
            self.request(P.Cmd.WRITE, P.write_payload(addr + off, chunk), expect_len=0)

    def read(self, addr: int, nbytes: int) -> bytes:
        out = bytearray()
        for off in range(0, nbytes, READ_CHUNK):
            n = min(READ_CHUNK, nbytes - off)
            out += self.request(P.Cmd.READ, P.read_payload(addr + off, n), expect_len=n)
        return bytes(out)

    def start(self, insn_addr: int, insn_count: int) -> None:
        self.request(P.Cmd.START, P.start_payload(insn_addr, insn_count), expect_len=0,
                     idempotent=False)

    def status(self) -> P.SocStatus:
        return P.SocStatus.from_payload(self.request(P.Cmd.STATUS, expect_len=P.STATUS_BYTES))

    def abort(self) -> None:
        self.request(P.Cmd.ABORT, expect_len=0)


# ---------------------------------------------------------------------------- device
class FpgaDevice(Device):
    """An ECP5 board running the VTA SoC bitstream for ``cfg``.

    port: a serial device path, or a :class:`Transport` (e.g. SimulatedSocTransport).
    timeout: default seconds a run may take before it is aborted.
    max_cycles: cycles a run may take before it is aborted (default: derived from the
    simulated run, :func:`runtime.validate.cycle_bound`).
    validate: check every bundle on the simulator at load (default).  ``False`` runs the
    bits as they are, to exercise the hardware's own protections (ABORT, the DRAM range
    flag); then only ``max_cycles``, if given, and the timeout bound a run.
    """

    name = "fpga"

    def __init__(self, port: str | Transport, cfg: HwConfig, baud: int = DEFAULT_BAUD, *,
                 timeout: float = 60.0, max_cycles: int | None = None, validate: bool = True):
        self.cfg = cfg
        self.max_cycles = max_cycles
        self.validate = validate
        self.transport = port if isinstance(port, Transport) else SerialTransport(port, baud)
        self.link = HostLink(self.transport)
        self.timeout = timeout
        try:
            self.info = self.link.info()
        except FpgaDeviceError:
            self.transport.close()
            raise
        if self.info.version != P.PROTOCOL_VERSION:
            self.close()
            raise FpgaDeviceError(f"the SoC speaks host protocol v{self.info.version}, this "
                                  f"runtime v{P.PROTOCOL_VERSION}: rebuild the bitstream")
        if self.info.config_hash != cfg.config_hash():
            self.close()
            raise FpgaDeviceError(f"the bitstream was built for config hash "
                                  f"{self.info.config_hash}, not {cfg.name!r} "
                                  f"({cfg.config_hash()}): program the matching bitstream")
        self.memory_bytes = self.info.dram_bytes  # the SoC's, not the config's capacity
        self._allocs: dict[int, int] = {}  # addr -> nbytes
        self._top = 0
        self._pending = False
        self._bound: int | None = None
        self._started = 0.0
        self._last: LaunchResult | None = None
        self.align = program_align(cfg)

    @property
    def link_profile(self) -> LinkProfile:
        """The UART at the transport's baud rate (8N1: 10 bits per byte)."""
        return uart_link(f"fpga@{self.transport.baud}", self.transport.baud)

    # ------------------------------------------------------------------ memory
    def _buf(self, buf: Buffer) -> tuple[int, int]:
        """``buf``'s address and size if it lies in a live allocation (a loaded program's
        symbols are buffers inside its image's allocation)."""
        if (isinstance(buf, Buffer) and buf.device == self.name
                and isinstance(buf.handle, int) and buf.nbytes >= 0
                and any(a <= buf.handle and buf.handle + buf.nbytes <= a + n
                        for a, n in self._allocs.items())):
            return buf.handle, buf.nbytes
        raise FpgaDeviceError(f"fpga: {buf!r} is not a live buffer of this device")

    def allocate(self, nbytes: int) -> Buffer:
        if not isinstance(nbytes, int) or nbytes < 0:
            raise FpgaDeviceError(f"fpga: allocate needs a byte count >= 0, got {nbytes!r}")
        addr = -(-self._top // self.align) * self.align
        if addr + nbytes > self.info.dram_bytes:
            raise FpgaDeviceError(f"fpga: out of DRAM: {nbytes} bytes at {addr} exceed the "
                                  f"SoC's {self.info.dram_bytes} bytes")
        self._allocs[addr] = nbytes
        self._top = addr + nbytes
        return Buffer(self.name, addr, nbytes)

    def free(self, buf: Buffer) -> None:
        addr, nbytes = self._buf(buf)
        if self._allocs.get(addr) != nbytes:
            raise FpgaDeviceError(f"fpga: {buf!r} is part of an allocation, not one itself")
        del self._allocs[addr]
        self._top = max((a + n for a, n in self._allocs.items()), default=0)

    def copy_in(self, buf: Buffer, data: np.ndarray | bytes) -> None:
        addr, nbytes = self._buf(buf)
        raw = bytes(data) if isinstance(data, bytes | bytearray | memoryview) else \
            np.ascontiguousarray(data).tobytes()
        if len(raw) > nbytes:
            raise FpgaDeviceError(f"fpga: copy_in of {len(raw)} bytes into a {nbytes}-byte "
                                  "buffer")
        self._idle_or_raise("copy_in")
        self.link.write(addr, raw, self.info.max_write)

    def copy_out(self, buf: Buffer) -> bytes:
        addr, nbytes = self._buf(buf)
        self._idle_or_raise("copy_out")
        return self.link.read(addr, nbytes) if nbytes else b""

    def _idle_or_raise(self, what: str) -> None:
        if self._pending:
            raise FpgaDeviceError(f"fpga: {what} while a run is in progress; call "
                                  "synchronize() first")

    # ------------------------------------------------------------------ programs
    def load(self, program: Any, *, arena: Buffer | None = None) -> LoadedProgram:
        """Validate a bundle (raising the simulator's error), allocate SoC DRAM for its
        image, link it there and write it over the link, once: instructions, weights and
        micro-op kernels stay resident for every later launch.  ``arena``: see
        :func:`~runtime.device.link_program`."""
        bundle = expect_bundle(program, self.cfg, "fpga", FpgaDeviceError)
        if arena is not None:
            self._buf(arena)
        bound = self.max_cycles
        if self.validate:
            expected = validate_bundle(bundle, max_cycles=self.max_cycles)
            bound = bound if bound is not None else cycle_bound(expected)
        size = len(bundle.dram) + (0 if arena else bundle.arena_bytes)
        if size > self.info.dram_bytes:
            raise FpgaDeviceError(f"fpga: the bundle's DRAM image is {size} bytes, the SoC has "
                                  f"{self.info.dram_bytes}; rebuild the bitstream with a "
                                  "larger --dram-kib or use a smaller workload")
        self._idle_or_raise("load")
        image = self.allocate(size)
        try:
            data, handle = link_program(self.name, bundle, image, bound, arena=arena,
                                        check_ranges=self.validate)
        except DeviceError as e:
            self.free(image)
            raise FpgaDeviceError(str(e)) from None
        self.link.write(image.handle, data, self.info.max_write)
        return handle

    def launch(self, handle: Any, *args: Any, wait: bool = True,
               timeout: float | None = None, **kwargs: Any) -> LaunchResult | None:
        """Start a loaded program; with ``wait`` (default) return its result, else None
        (``synchronize`` returns it)."""
        if not isinstance(handle, LoadedProgram) or handle.device != self.name:
            raise FpgaDeviceError("fpga: launch needs a handle returned by load()")
        if args or kwargs:
            raise FpgaDeviceError("fpga: a program takes no launch arguments (its buffers are "
                                  "in device memory: copy_in to handle.buffer(name))")
        self._idle_or_raise("launch")
        self._started = time.perf_counter()
        self.link.start(handle.insn_addr, handle.insn_count)
        self._pending = True
        self._bound = handle.max_cycles
        return self.synchronize(timeout) if wait else None

    def synchronize(self, timeout: float | None = None) -> LaunchResult | None:
        """Wait for the run in progress; returns the last run's result (None if nothing
        ran)."""
        if not self._pending:
            return self._last
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            st = self.link.status()
            if st.finished:
                break
            over = self._bound is not None and st.cycles > self._bound
            if over or time.monotonic() > deadline:
                self._pending = False
                try:
                    self.link.abort()
                    note = "the core was reset (ABORT)"
                except FpgaDeviceError as e:
                    note = f"and ABORT failed too ({e})"
                if over:
                    raise FpgaTimeoutError(
                        f"fpga: the run passed its bound of {self._bound} cycles (cycle "
                        f"counter {st.cycles}); {note}. Raise the bound with --max-cycles")
                raise FpgaTimeoutError(
                    f"fpga: the run did not finish within {limit:g} s (cycle counter "
                    f"{st.cycles}, running={st.running}, idle={st.idle}); {note}. A program "
                    "that deadlocks on tokens never retires FINISH: check it with `vta sim`")
            if self.transport.poll_interval:
                time.sleep(self.transport.poll_interval)
        self._pending = False
        if st.dram_range_error:
            raise FpgaDeviceError("fpga: the program accessed DRAM past the SoC's "
                                  f"{self.info.dram_bytes} bytes (addresses wrapped): its "
                                  "outputs are not trustworthy")
        self._last = LaunchResult(self.name, st.cycles, time.perf_counter() - self._started,
                                  detail=st)
        return self._last

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> FpgaDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------- --device specs
@dataclass(frozen=True)
class DeviceSpec:
    """A parsed ``--device`` argument: ``kind`` plus, for ``fpga``, the port and baud."""

    kind: str
    target: str = ""
    baud: int | None = None

    @property
    def simulated(self) -> bool:
        return self.kind == "fpga" and self.target == "sim"


def parse_device_spec(spec: str) -> DeviceSpec:
    """``fpga:/dev/ttyUSB0``, ``fpga:/dev/ttyUSB0@115200``, ``fpga:sim``, or ``KIND[:ARG]``.

    Raises FpgaDeviceError for a malformed FPGA spec; other kinds are returned unparsed for
    their own devices to interpret.
    """
    if not isinstance(spec, str) or not spec:
        raise FpgaDeviceError(f"empty device spec {spec!r}")
    kind, _, rest = spec.partition(":")
    if kind != "fpga":
        return DeviceSpec(kind, rest)
    if not rest:
        raise FpgaDeviceError("fpga device needs a serial port: --device fpga:/dev/ttyUSB0 "
                              "(or fpga:sim for the simulated SoC)")
    try:
        port, baud = split_baud(spec, rest)
    except LinkError as e:
        raise FpgaDeviceError(str(e)) from None
    return DeviceSpec("fpga", port, baud)


def open_fpga_device(spec: str | DeviceSpec, cfg: HwConfig, **kwargs: Any) -> FpgaDevice:
    """Open the FPGA device a spec names (``fpga:sim``: the Verilator model of the SoC)."""
    s = parse_device_spec(spec) if isinstance(spec, str) else spec
    if s.kind != "fpga":
        raise FpgaDeviceError(f"not an fpga device spec: {s.kind!r}")
    if s.simulated:
        return FpgaDevice(SimulatedSocTransport(cfg), cfg, **kwargs)
    return FpgaDevice(s.target, cfg, baud=s.baud or DEFAULT_BAUD, **kwargs)


__all__ = ["FpgaDevice", "FpgaDeviceError", "FpgaTimeoutError", "FpgaProtocolError",
           "Transport", "SerialTransport", "SimulatedSocTransport", "HostLink", "DeviceSpec",
           "parse_device_spec", "open_fpga_device"]
