"""The timing model, in closed form.

This is the executable half of ``docs/timing.md``: the simulator computes every duration with
these functions, the RTL implements the same cycle counts, and co-simulation proves they agree.
The compiler's cost model uses them too.  Change the doc, this module and the RTL together.

Summary (see the doc for queue semantics):

* An instruction on a module occupies an *issue* cycle (command and tokens popped), ``body``
  cycles, and a *retire* cycle (tokens pushed; repeated while a target token queue is full).
* DMA bodies: one SRAM element per cycle for padding, ``elem_cycles`` per data element, and
  ``dram_latency`` once: a LOAD's row requests run that far ahead of its SRAM writes, a
  STORE's row bursts follow one another and only the last acknowledge is waited for.
  ``elem_cycles = max(1, elem_bytes // dram_bytes_per_cycle)``: the bus moves
  ``dram_bytes_per_cycle`` bytes per cycle and an SRAM takes at most one element per cycle.
* GEMM: one micro-op iteration per cycle plus ``gemm_pipeline_depth``.
* ALU: one iteration per cycle with an immediate (or reset), two with a tensor operand (two
  acc reads share a port), plus ``alu_pipeline_depth``.
* FINISH and NOP: no body.
* Fetch: per instruction one DRAM read of ``dram_latency + elem_cycles(16)`` cycles, then one
  dispatch cycle in which it is pushed into its module's command queue (waiting while full).
* Queues: an entry pushed in cycle ``p`` is visible to its consumer from ``p + QUEUE_LATENCY``,
  and the room a pop frees is visible to the producer from ``pop + QUEUE_LATENCY``.
* DRAM ports: :class:`DramTiming` is the contract every DRAM model implements (the Python
  model of ``vta_hw/cosim/dram_model.py``, the C++ harness through :meth:`DramTiming.c_defines`,
  the SoC's block-RAM DRAM in ``vta_hw/soc/memory.py``) and the DMA costs above assume.

Pure Python, standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from vta_hw import isa

if TYPE_CHECKING:
    from vta_hw.config import HwConfig

ISSUE_CYCLES = 1  # the cycle in which a module pops its command and tokens
RETIRE_CYCLES = 1  # the cycle in which it pushes its tokens (at least one)
FETCH_DISPATCH_CYCLES = 1  # the cycle in which fetch pushes into a command queue
QUEUE_LATENCY = 1  # cycles from a push (pop) to the entry (the room) being visible


@dataclass(frozen=True)
class DramTiming:
    """The timing contract of one DRAM port (``vta_hw/rtl/dram_port.py`` has the protocol).

    This is the one definition: the Python DRAM model, the C++ harness (compiled with
    :meth:`c_defines`) and the SoC's memory take these numbers and formulas from here.

    * A read request is accepted while fewer than ``read_queue`` accepted read bursts have
      not started delivering.
    * A read burst accepted in cycle ``q`` delivers beat *k* in cycle
      :meth:`read_start` ``(q, e) + k``, ``e`` the previous burst's last beat on the port:
      ``max(q + read_latency, e + 1)``.
    * A write request is accepted while no write burst is taking beats; its beats are taken
      one per cycle, and it is acknowledged in cycle :meth:`write_ack`: ``ack_latency``
      cycles after its last beat (not before its request), in order, at most one a cycle,
      so at most ``ack_latency`` acknowledges are pending.
    * The bus moves ``bus_bytes`` bytes per beat.
    """

    read_latency: int
    ack_latency: int
    read_queue: int
    bus_bytes: int

    def read_start(self, accepted: int, prev_last_beat: int | None) -> int:
        """Cycle of the first beat of a read burst accepted in cycle ``accepted``."""
        first = accepted + self.read_latency
        return first if prev_last_beat is None else max(first, prev_last_beat + 1)

    def accepts_read(self, queued: int) -> bool:
        """Whether a read request is accepted with ``queued`` bursts not yet delivering."""
        return queued < self.read_queue

    def write_ack(self, accepted: int, last_beat: int, prev_ack: int | None) -> int:
        """Cycle of the acknowledge of a write burst (request in ``accepted``, last beat in
        ``last_beat``), after the previous burst's acknowledge ``prev_ack``."""
        ack = max(last_beat, accepted) + self.ack_latency
        return ack if prev_ack is None else max(ack, prev_ack + 1)

    def c_defines(self) -> dict[str, int]:
        """The parameters as C preprocessor defines (``-DNAME=value``) for the C++ harness."""
        return {"DRAM_READ_LATENCY": self.read_latency, "DRAM_ACK_LATENCY": self.ack_latency,
                "DRAM_READ_QUEUE": self.read_queue, "DRAM_BUS_BYTES": self.bus_bytes}


@lru_cache(maxsize=64)
def dram_timing(cfg: HwConfig) -> DramTiming:
    """The DRAM contract of ``cfg``: ``dram_latency`` to the first read beat, to a write's
    acknowledge, and as many queued read requests; ``dram_bytes_per_cycle`` per beat."""
    lat = cfg.dram_latency
    return DramTiming(read_latency=lat, ack_latency=lat, read_queue=lat,
                      bus_bytes=cfg.dram_bytes_per_cycle)


@dataclass(frozen=True)
class BodyCost:
    """Cycles of an instruction's body and what they were spent on.

    total = dram_latency + transfer + pad + compute.
    """

    total: int
    dram_latency: int = 0  # waiting for DRAM to answer a row request
    transfer: int = 0  # moving data elements over the DRAM bus
    pad: int = 0  # writing padding elements (no DRAM traffic)
    compute: int = 0  # GEMM / ALU iterations and pipeline fill/drain


def elem_cycles(cfg: HwConfig, nbytes: int) -> int:
    """Cycles to move one element of ``nbytes`` between DRAM and an SRAM."""
    return max(1, nbytes // dram_timing(cfg).bus_bytes)


def fetch_read_cycles(cfg: HwConfig) -> int:
    """Cycles fetch spends reading one 128-bit instruction from DRAM."""
    return dram_timing(cfg).read_latency + elem_cycles(cfg, isa.INSN_BYTES)


def fetch_cycles(cfg: HwConfig) -> int:
    """Cycles fetch is busy per instruction when no command queue is full."""
    return fetch_read_cycles(cfg) + FETCH_DISPATCH_CYCLES


def dma_body(cfg: HwConfig, elem_bytes: int, data_elems: int, pad_elems: int = 0,
             write: bool = False) -> BodyCost:
    """Body of one DMA moving ``data_elems`` elements of ``elem_bytes`` (in any number of
    rows) and writing ``pad_elems`` padding elements: pads one per cycle, data
    ``elem_cycles`` each, and the DRAM latency once when any data moves (a LOAD's read
    latency, a STORE's (``write``) acknowledge latency)."""
    dram = dram_timing(cfg)
    xfer = data_elems * elem_cycles(cfg, elem_bytes)
    lat = (dram.ack_latency if write else dram.read_latency) if data_elems else 0
    return BodyCost(total=pad_elems + lat + xfer, dram_latency=lat, transfer=xfer,
                    pad=pad_elems)


def dma_cost(cfg: HwConfig, insn: isa.Load | isa.Store) -> BodyCost:
    """Body of a LOAD or STORE (``docs/timing.md``): pad elements one per cycle, data elements
    ``elem_cycles`` each, and the DRAM latency once.

    A LOAD requests each row ``dram_latency`` cycles before it writes the row's first element
    and a STORE streams its rows' write bursts back to back, waiting only for the last one's
    acknowledge: either way the latency of later rows hides behind earlier rows' data.
    """
    return dma_body(cfg, isa.elem_bytes(cfg, insn.mem), insn.dram_elems,
                    insn.sram_elems - insn.dram_elems, write=isinstance(insn, isa.Store))


def gemm_cost(cfg: HwConfig, insn: isa.Gemm) -> BodyCost:
    n = insn.n_iters + cfg.gemm_pipeline_depth
    return BodyCost(total=n, compute=n)


def alu_initiation_interval(insn: isa.Alu) -> int:
    """Cycles per ALU iteration: 2 when acc[src] must be read besides acc[dst]."""
    return 1 if (insn.use_imm or insn.reset) else 2


def alu_cost(cfg: HwConfig, insn: isa.Alu) -> BodyCost:
    n = insn.n_iters * alu_initiation_interval(insn) + cfg.alu_pipeline_depth
    return BodyCost(total=n, compute=n)


_ZERO = BodyCost(total=0)


def body_cost(cfg: HwConfig, insn: isa.Insn) -> BodyCost:
    """The body of any instruction."""
    if isinstance(insn, (isa.Load, isa.Store)):
        return dma_cost(cfg, insn)
    if isinstance(insn, isa.Gemm):
        return gemm_cost(cfg, insn)
    if isinstance(insn, isa.Alu):
        return alu_cost(cfg, insn)
    return _ZERO


def hazard_window(cfg: HwConfig, insn: isa.Gemm | isa.Alu) -> int:
    """Minimum distance, in iterations, between a write of acc[i] and a later read of it.

    A GEMM/ALU iteration reads acc[dst] (and, for ALU tensor ops, acc[src]) when it enters
    the pipeline and writes acc[dst] when it leaves it; there is no forwarding.  Iterations
    ``j > i`` of one instruction with ``j - i < window`` must not read what ``i`` writes.
    Between instructions there is no hazard: a body ends after its pipeline drains.
    """
    return cfg.gemm_pipeline_depth if isinstance(insn, isa.Gemm) else cfg.alu_pipeline_depth


def instruction_cycles(cfg: HwConfig, insn: isa.Insn) -> int:
    """Cycles from issue to retire of ``insn`` when nothing stalls it."""
    return ISSUE_CYCLES + body_cost(cfg, insn).total + RETIRE_CYCLES
