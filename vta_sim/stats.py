"""What a run measured: cycles, per-module busy and stall cycles (and why), bytes, MACs."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from vta_hw import isa

MODULES = ("fetch",) + tuple(m.name.lower() for m in isa.Module)  # fetch, then by module
TOKEN_QUEUES = isa.TOKEN_QUEUE_NAMES


@dataclass(frozen=True)
class ModuleStats:
    """Cycle accounting of one module over the run.

    busy = issue + body + retire cycles of its instructions (for fetch: reading and
    dispatching).  Body cycles split into dram_latency, transfer, pad and compute.
    stall_cmd: waiting for a command (its queue empty); stall_token[q]: waiting for a token
    on queue q; stall_full[q]: waiting to push into the full queue q.  idle: the rest of the
    run (before its first and after its last instruction, or waiting with nothing queued
    after fetch has finished).
    """

    name: str
    instructions: int = 0
    busy: int = 0
    dram_latency: int = 0
    transfer: int = 0
    pad: int = 0
    compute: int = 0
    stall_cmd: int = 0
    stall_token: dict[str, int] = field(default_factory=dict)
    stall_full: dict[str, int] = field(default_factory=dict)
    idle: int = 0

    @property
    def stalled(self) -> int:
        return self.stall_cmd + sum(self.stall_token.values()) + sum(self.stall_full.values())


@dataclass(frozen=True)
class SimStats:
    """Everything ``vta sim --stats`` writes.

    utilization = macs / (cycles * macs_per_cycle): the fraction of the GEMM core's peak.
    bytes: DRAM traffic per buffer ("dram->inp", "out->dram", "insn", ...).
    """

    cycles: int
    instructions: int
    macs: int
    macs_per_cycle: int
    gemm_iterations: int
    alu_iterations: int
    modules: dict[str, ModuleStats]
    bytes: dict[str, int]
    config_name: str = ""
    config_hash: str = ""
    clock_mhz: float = 100.0

    @property
    def ideal_cycles(self) -> float:
        return self.macs / self.macs_per_cycle

    @property
    def utilization(self) -> float:
        return self.macs / (self.cycles * self.macs_per_cycle) if self.cycles else 0.0

    @property
    def dram_bytes(self) -> int:
        return sum(self.bytes.values())

    @property
    def seconds(self) -> float:
        return self.cycles / (self.clock_mhz * 1e6)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ideal_cycles"] = self.ideal_cycles
        d["utilization"] = self.utilization
        d["dram_bytes"] = self.dram_bytes
        d["seconds_at_clock"] = self.seconds
        for name, m in self.modules.items():
            d["modules"][name]["stalled"] = m.stalled
        return d

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def summary(self) -> str:
        """A few human-readable lines (the CLI prints them; the library never prints)."""
        lines = [f"cycles: {self.cycles}",
                 f"instructions: {self.instructions}",
                 f"MACs: {self.macs} (ideal {self.ideal_cycles:.0f} cycles, "
                 f"utilization {100 * self.utilization:.1f}%)",
                 f"DRAM traffic: {self.dram_bytes} bytes"]
        for name in MODULES:
            m = self.modules[name]
            c = max(self.cycles, 1)
            lines.append(f"  {name:8s} busy {100 * m.busy / c:5.1f}%  stalled "
                         f"{100 * m.stalled / c:5.1f}%  ({m.instructions} instructions)")
        return "\n".join(lines)
