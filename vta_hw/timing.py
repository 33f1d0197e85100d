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

Pure Python, standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vta_hw import isa

if TYPE_CHECKING:
    from vta_hw.config import HwConfig

ISSUE_CYCLES = 1  # the cycle in which a module pops its command and tokens
RETIRE_CYCLES = 1  # the cycle in which it pushes its tokens (at least one)
FETCH_DISPATCH_CYCLES = 1  # the cycle in which fetch pushes into a command queue


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
    return max(1, nbytes // cfg.dram_bytes_per_cycle)


def fetch_read_cycles(cfg: HwConfig) -> int:
    """Cycles fetch spends reading one 128-bit instruction from DRAM."""
    return cfg.dram_latency + elem_cycles(cfg, isa.INSN_BYTES)


def dma_cost(cfg: HwConfig, insn: isa.Load | isa.Store) -> BodyCost:
    """Body of a LOAD or STORE (``docs/timing.md``): pad elements one per cycle, data elements
    ``elem_cycles`` each, and the DRAM latency once.

    A LOAD requests each row ``dram_latency`` cycles before it writes the row's first element
    and a STORE streams its rows' write bursts back to back, waiting only for the last one's
    acknowledge: either way the latency of later rows hides behind earlier rows' data.
    """
    ec = elem_cycles(cfg, isa.elem_bytes(cfg, insn.mem))
    pad = insn.sram_elems - insn.dram_elems
    rows = insn.y_size if insn.x_size > 0 else 0
    xfer = rows * insn.x_size * ec
    lat = cfg.dram_latency if rows else 0
    return BodyCost(total=pad + lat + xfer, dram_latency=lat, transfer=xfer, pad=pad)


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
