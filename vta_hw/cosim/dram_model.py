"""The DRAM model behind one ``DramPort``, in Python (the C++ harness has the same model).

Contract mode (the default) is the timing of ``vta_hw.timing.DramTiming``, the one definition
of the DRAM contract that the timing model (``docs/timing.md``) assumes: this model calls its
``accepts_read``, ``read_start`` and ``write_ack``.  Back-pressure mode (``rng`` given) is a
slow, bursty memory: requests and write beats are refused at random, read beats arrive with
random gaps and extra latency, acknowledges come late.
Results must not change; only the cycle count does.

Each cycle the driver calls :meth:`PortModel.drive` (inputs of the core for this cycle: a
Moore function of the model's state) and then :meth:`PortModel.observe` with the core's
outputs, which performs the handshakes of the cycle.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from vta_hw.cosim import DramRangeError
from vta_hw.timing import DramTiming


@dataclass
class _Burst:
    addr: int
    beats: int
    size: int  # bytes per beat
    accepted: int  # cycle
    extra: int = 0  # back-pressure: latency beyond L
    start: int | None = None  # read: first cycle a beat may be presented (set at the head)
    ack_at: int = 0  # write: cycle of the acknowledge
    data: list[bytes] = field(default_factory=list)  # write: its beats


@dataclass
class PortModel:
    """One port of the memory.

    mem: the shared DRAM image (bytearray); dram: the contract (``timing.dram_timing(cfg)``);
    rng: back-pressure randomness (None for the contract timing).
    """

    name: str
    mem: bytearray
    dram: DramTiming
    rng: random.Random | None = None
    reads: deque[_Burst] = field(default_factory=deque)  # head delivering, rest queued
    next_beat: int = 0  # read: cycle the head's next beat may be presented
    sent: int = 0  # read beats of the head delivered
    last_read_beat: int | None = None  # cycle of the previous read burst's last beat (e)
    wcur: _Burst | None = None  # the write burst taking beats
    wbeats: list[bytes] = field(default_factory=list)  # write beats not yet in a burst
    last_wbeat: int = 0
    acks: deque[_Burst] = field(default_factory=deque)  # written, acknowledge pending
    error: str | None = None

    # ------------------------------------------------------------------ cycle interface
    def _promote(self) -> None:
        """Fix the head read burst's start: L after its request, after the previous burst."""
        b = self.reads[0] if self.reads else None
        if b is not None and b.start is None:
            b.start = self.dram.read_start(b.accepted + b.extra, self.last_read_beat)
            self.next_beat = b.start
            self.sent = 0

    def _queued(self, t: int) -> int:
        """Accepted read bursts that have not started delivering by cycle ``t``."""
        n = len(self.reads)
        if n and self.reads[0].start is not None and t >= self.reads[0].start:
            n -= 1
        return n

    def drive(self, t: int) -> dict[str, int]:
        """Values of the port's inputs (``req_ready``, ``rd_*``, ``wr_ready``, ``wr_ack``)."""
        rng = self.rng
        self._promote()
        ready = self.dram.accepts_read(self._queued(t)) and self.wcur is None
        out = {"req_ready": int(ready and (rng is None or rng.random() < 0.5)),
               "wr_ready": int(rng is None or rng.random() < 0.6),
               "rd_valid": 0, "rd_data": 0, "wr_ack": 0}
        b = self.reads[0] if self.reads else None
        if b is not None and t >= self.next_beat:
            out["rd_valid"] = 1
            out["rd_data"] = int.from_bytes(self._read(b.addr + self.sent * b.size, b.size),
                                            "little")
        if self.acks and t >= self.acks[0].ack_at:
            out["wr_ack"] = 1
        return out

    def observe(self, t: int, o: dict[str, int], driven: dict[str, int]) -> None:
        """Perform this cycle's handshakes given the core's outputs ``o``."""
        rng = self.rng
        if o["req_valid"] and driven["req_ready"]:
            size = 1 << o["req_size"]
            extra = 0 if rng is None else rng.choice((0, 0, 1, 3, self.dram.read_latency))
            burst = _Burst(o["req_addr"], o["req_len"], size, t, extra)
            if size > self.dram.bus_bytes or o["req_len"] == 0:
                self._fail(f"malformed burst (len {o['req_len']}, {size}-byte beats)")
            elif o["req_write"]:
                self.wcur = burst
            else:
                self.reads.append(burst)
        if driven["rd_valid"] and o["rd_ready"]:
            self.sent += 1
            gap = 0 if rng is None else rng.choice((0, 0, 0, 1, 2))
            self.next_beat = t + 1 + gap
            if self.sent == self.reads[0].beats:
                self.reads.popleft()
                self.last_read_beat = t
        if o["wr_valid"] and driven["wr_ready"]:
            self.wbeats.append(int(o["wr_data"]).to_bytes(self.dram.bus_bytes, "little"))
            self.last_wbeat = t
        if driven["wr_ack"]:
            b = self.acks.popleft()
            for k in range(b.beats):
                self._write(b.addr + k * b.size, b.data[k][:b.size])
        b = self.wcur
        if b is not None and len(self.wbeats) >= b.beats:
            b.data, self.wbeats = self.wbeats[:b.beats], self.wbeats[b.beats:]
            extra = 0 if rng is None else rng.choice((0, 0, 2, self.dram.ack_latency))
            b.ack_at = self.dram.write_ack(b.accepted, self.last_wbeat + extra,
                                           self.acks[-1].ack_at if self.acks else None)
            self.acks.append(b)
            self.wcur = None

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
