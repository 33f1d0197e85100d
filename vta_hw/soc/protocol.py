"""The host-link protocol, as data: frame layout, command and status bytes, CRC-8.

One module holds every constant of the protocol so that the gateware (``vta_hw.soc.bridge``)
and the host (``runtime.fpga_device``) cannot disagree; ``docs/fpga.md`` describes it for
people.  Standard library only: the runtime imports it without Amaranth.

Frames (all integers little-endian)::

    request  (host -> SoC):  0x5A  CMD     LEN_LO LEN_HI  PAYLOAD[LEN]  CRC
    reply    (SoC -> host):  0xA5  STATUS  LEN_LO LEN_HI  PAYLOAD[LEN]  CRC

``CRC`` is CRC-8 (polynomial x^8 + x^2 + x + 1, i.e. 0x07, initial value 0, no reflection,
no final xor) over every byte after the sync byte.  Every request gets exactly one reply; the
host sends the next request only after the reply (one request outstanding).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

REQ_SYNC = 0x5A
REPLY_SYNC = 0xA5
HEADER_BYTES = 4  # sync, cmd/status, len (2)
MAX_LEN = 0xFFFF
MAGIC = b"VTAS"
PROTOCOL_VERSION = 1


class Cmd(IntEnum):
    """Request command bytes."""

    INFO = 0x01  # -> identity of the SoC (INFO_FORMAT)
    WRITE = 0x02  # addr u32, data[n]: write n bytes (1..max_write) of DRAM
    READ = 0x03  # addr u32, count u16: -> count bytes of DRAM (1..65535)
    START = 0x04  # insn_addr u32, insn_count u32: start the accelerator
    STATUS = 0x05  # -> flags u8, cycles u64 (STATUS_FORMAT)
    ABORT = 0x06  # reset the accelerator core (not the DRAM), e.g. after a host timeout


class Status(IntEnum):
    """Reply status bytes: OK, or the reason a request was refused (it then had no effect)."""

    OK = 0x00
    BAD_CRC = 0xE1  # the request's CRC did not match
    BAD_CMD = 0xE2  # unknown command byte
    BAD_LEN = 0xE3  # LEN is not allowed for this command (e.g. WRITE longer than max_write)
    BUSY = 0xE4  # DRAM access or START while the accelerator runs (poll STATUS first)
    RANGE = 0xE5  # the DRAM range lies (partly) outside the SoC's DRAM
    TIMEOUT = 0xE6  # a request stopped mid-frame for longer than the byte timeout
    BAD_ARG = 0xE7  # a zero count (READ count, START insn_count)


STATUS_TEXT = {
    Status.BAD_CRC: "the request's CRC-8 did not match (a corrupted byte on the link)",
    Status.BAD_CMD: "unknown command byte",
    Status.BAD_LEN: "the payload length is not allowed for this command",
    Status.BUSY: "the accelerator is running: DRAM and START are refused until it is idle",
    Status.RANGE: "the address range lies outside the SoC's DRAM",
    Status.TIMEOUT: "the request stopped mid-frame for longer than the byte timeout",
    Status.BAD_ARG: "a count of zero",
}

# STATUS reply payload: flags, cycle counter
STATUS_FORMAT = "<BQ"
STATUS_BYTES = struct.calcsize(STATUS_FORMAT)
FLAG_RUNNING = 0x01  # started and FINISH not yet retired
FLAG_DONE = 0x02  # FINISH retired (until the next START)
FLAG_IDLE = 0x04  # every module idle, every queue empty: DRAM may be read
FLAG_DRAM_RANGE = 0x08  # sticky since START: a core port addressed past the DRAM (wrapped)

# INFO reply payload: magic, version, log2 DRAM bytes, log2 max WRITE data, bus bytes,
# config hash (the 16 hex digits as a u64), clock Hz, baud divisor
INFO_FORMAT = "<4sBBBBQII"
INFO_BYTES = struct.calcsize(INFO_FORMAT)


@dataclass(frozen=True)
class SocInfo:
    """What INFO reports: enough for the host to refuse a mismatched bundle or bitstream."""

    version: int
    dram_bytes: int
    max_write: int
    bus_bytes: int
    config_hash: str
    clock_hz: int
    baud_divisor: int

    def to_payload(self) -> bytes:
        return struct.pack(INFO_FORMAT, MAGIC, self.version, self.dram_bytes.bit_length() - 1,
                           self.max_write.bit_length() - 1, self.bus_bytes,
                           int(self.config_hash, 16), self.clock_hz, self.baud_divisor)

    @classmethod
    def from_payload(cls, data: bytes) -> SocInfo:
        magic, ver, ldram, lwrite, bus, h, clk, div = struct.unpack(INFO_FORMAT, data)
        if magic != MAGIC:
            raise ValueError(f"not a VTA SoC (magic {magic!r}, expected {MAGIC!r})")
        return cls(ver, 1 << ldram, 1 << lwrite, bus, f"{h:016x}", clk, div)


@dataclass(frozen=True)
class SocStatus:
    """What STATUS reports."""

    running: bool
    done: bool
    idle: bool
    dram_range_error: bool
    cycles: int

    @classmethod
    def from_payload(cls, data: bytes) -> SocStatus:
        flags, cycles = struct.unpack(STATUS_FORMAT, data)
        return cls(bool(flags & FLAG_RUNNING), bool(flags & FLAG_DONE), bool(flags & FLAG_IDLE),
                   bool(flags & FLAG_DRAM_RANGE), cycles)

    @property
    def finished(self) -> bool:
        """FINISH retired and every module idle: outputs are final and DRAM may be read."""
        return self.done and self.idle and not self.running


# ---------------------------------------------------------------------------- CRC-8
def crc8_update(crc: int, byte: int) -> int:
    """One byte of CRC-8/0x07 (MSB first), the same recurrence the gateware unrolls."""
    crc ^= byte
    for _ in range(8):
        crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


_TABLE = [crc8_update(0, b) for b in range(256)]


def crc8(data: bytes, crc: int = 0) -> int:
    for b in data:
        crc = _TABLE[crc ^ b]
    return crc


# ---------------------------------------------------------------------------- frames
def request(cmd: int, payload: bytes = b"") -> bytes:
    """A complete request frame."""
    if len(payload) > MAX_LEN:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_LEN}")
    body = bytes([cmd]) + len(payload).to_bytes(2, "little") + payload
    return bytes([REQ_SYNC]) + body + bytes([crc8(body)])


def reply(status: int, payload: bytes = b"") -> bytes:
    """A complete reply frame (what the SoC sends; used by tests and models)."""
    body = bytes([status]) + len(payload).to_bytes(2, "little") + payload
    return bytes([REPLY_SYNC]) + body + bytes([crc8(body)])


def write_payload(addr: int, data: bytes) -> bytes:
    return struct.pack("<I", addr) + data


def read_payload(addr: int, count: int) -> bytes:
    return struct.pack("<IH", addr, count)


def start_payload(insn_addr: int, insn_count: int) -> bytes:
    return struct.pack("<II", insn_addr, insn_count)


__all__ = ["Cmd", "Status", "STATUS_TEXT", "SocInfo", "SocStatus", "crc8", "crc8_update",
           "request", "reply", "write_payload", "read_payload", "start_payload", "REQ_SYNC",
           "REPLY_SYNC", "HEADER_BYTES", "MAX_LEN", "MAGIC", "PROTOCOL_VERSION", "INFO_FORMAT",
           "INFO_BYTES", "STATUS_FORMAT", "STATUS_BYTES", "FLAG_RUNNING", "FLAG_DONE",
           "FLAG_IDLE", "FLAG_DRAM_RANGE"]
