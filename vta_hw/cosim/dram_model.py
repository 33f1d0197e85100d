"""The DRAM model behind one ``DramPort``, in Python (the C++ harness has the same model).

Contract mode (the default) is the timing the model in ``docs/timing.md`` assumes: ready for a
request whenever no burst is in flight; read beat *k* of a request accepted in cycle ``q`` in
cycle ``q + L + k``; write beats accepted every cycle, acknowledged ``L`` cycles after the last.
Back-pressure mode (``rng`` given) is a slow, bursty memory: requests and write beats are
refused at random, read beats arrive with random gaps and extra latency, acknowledges come late.
Results must not change; only the cycle count does.

Each cycle the driver calls :meth:`PortModel.drive` (inputs of the core for this cycle: a
Moore function of the model's state) and then :meth:`PortModel.observe` with the core's
outputs, which performs the handshakes of the cycle.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from vta_hw.cosim import DramRangeError


@dataclass
class _Burst:
    addr: int
    beats: int
    size: int  # bytes per beat
    write: bool
    accepted: int  # cycle


@dataclass
class PortModel:
    """One port of the memory.

    mem: the shared DRAM image (bytearray); latency: ``dram_latency``; bus_bytes: the data
    bus width; rng: back-pressure randomness (None for the contract timing).
    """

    name: str
    mem: bytearray
    latency: int
    bus_bytes: int
    rng: random.Random | None = None
    burst: _Burst | None = None
    next_beat: int = 0  # read: cycle the next beat may be presented
    sent: int = 0  # read beats delivered
    wbeats: list[bytes] = field(default_factory=list)  # write beats received
    last_wbeat: int = 0
    ack_at: int | None = None
    error: str | None = None
    _ready_now: bool = False
    _wready_now: bool = False

    # ------------------------------------------------------------------ cycle interface
    def drive(self, t: int) -> dict[str, int]:
        """Values of the port's inputs (``req_ready``, ``rd_*``, ``wr_ready``, ``wr_ack``)."""
        rng = self.rng
        self._ready_now = self.burst is None and (rng is None or rng.random() < 0.5)
        self._wready_now = rng is None or rng.random() < 0.6
        out = {"req_ready": int(self._ready_now), "wr_ready": int(self._wready_now),
               "rd_valid": 0, "rd_data": 0, "wr_ack": 0}
        b = self.burst
        if b is not None and not b.write and self.sent < b.beats and t >= self.next_beat:
            out["rd_valid"] = 1
            out["rd_data"] = int.from_bytes(self._read(b.addr + self.sent * b.size, b.size),
                                            "little")
        if b is not None and b.write and self.ack_at is not None and t >= self.ack_at:
            out["wr_ack"] = 1
        return out

    def observe(self, t: int, o: dict[str, int], driven: dict[str, int]) -> None:
        """Perform this cycle's handshakes given the core's outputs ``o``."""
        if o["req_valid"] and driven["req_ready"]:
            size = 1 << o["req_size"]
            self.burst = _Burst(o["req_addr"], o["req_len"], size, bool(o["req_write"]), t)
            extra = 0 if self.rng is None else self.rng.choice((0, 0, 1, 3, self.latency))
            self.next_beat = t + self.latency + extra
            self.sent = 0
            self.ack_at = None
            if size > self.bus_bytes or o["req_len"] == 0:
                self._fail(f"malformed burst (len {o['req_len']}, {size}-byte beats)")
        b = self.burst
        if driven["rd_valid"] and o["rd_ready"]:
            self.sent += 1
            gap = 0 if self.rng is None else self.rng.choice((0, 0, 0, 1, 2))
            self.next_beat = t + 1 + gap
            if self.sent == b.beats:
                self.burst = None
        if o["wr_valid"] and driven["wr_ready"]:
            self.wbeats.append(int(o["wr_data"]).to_bytes(self.bus_bytes, "little"))
            self.last_wbeat = t
        b = self.burst
        if driven["wr_ack"]:
            for k in range(b.beats):
                self._write(b.addr + k * b.size, self.wbeats[k][:b.size])
            del self.wbeats[:b.beats]
            self.burst = None
            self.ack_at = None
        elif b is not None and b.write and self.ack_at is None and len(self.wbeats) >= b.beats:
            extra = 0 if self.rng is None else self.rng.choice((0, 0, 2, self.latency))
            self.ack_at = max(self.last_wbeat, b.accepted) + self.latency + extra

    # ------------------------------------------------------------------ memory
    def _fail(self, msg: str) -> None:
        if self.error is None:
            self.error = f"{self.name} port: {msg}"

    def _read(self, addr: int, n: int) -> bytes:
        if addr + n > len(self.mem):
            self._fail(f"read of bytes [{addr}, {addr + n}) outside the {len(self.mem)}-byte "
                       "DRAM image")
            return bytes(n)
        return bytes(self.mem[addr:addr + n])

    def _write(self, addr: int, data: bytes) -> None:
        if addr + len(data) > len(self.mem):
            self._fail(f"write of bytes [{addr}, {addr + len(data)}) outside the "
                       f"{len(self.mem)}-byte DRAM image")
            return
        self.mem[addr:addr + len(data)] = data

    def check(self) -> None:
        if self.error:
            raise DramRangeError(self.error)


INPUTS = ("req_ready", "rd_valid", "rd_data", "wr_ready", "wr_ack")
OUTPUTS = ("req_valid", "req_addr", "req_len", "req_size", "req_write", "rd_ready", "wr_valid",
           "wr_data")

__all__ = ["PortModel", "INPUTS", "OUTPUTS"]
