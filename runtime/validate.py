"""What every accelerator device does before it runs a program: validate it and bound it.

A bundle whose words do not decode, whose accesses leave their buffers or DRAM, whose
GEMM/ALU breaks the hazard window, whose tokens deadlock, or whose modules race would hang
or corrupt a real run (the RTL has no illegal-instruction trap: it executes whatever the
bits say, possibly for 2**40 cycles).  The simulator is the executable spec and rejects all
of them in a fraction of the RTL's time, so a device runs it first
(:func:`validate_image`).  Its cycle count then bounds the run (:func:`cycle_bound`): the
RTL matches the simulator cycle for cycle on the contract's DRAM timing, so a run past the
bound is a broken model or memory, reported as an error instead of a hang.
"""

from __future__ import annotations

from vta_hw.bundle import Bundle
from vta_hw.config import HwConfig
from vta_sim import SimResult, simulate_image
from vta_sim.engine import check_program
from vta_sim.simulator import decode_stream

# Margins of the default bound over the simulated run (cycles until every module is idle):
# contract timing (the RTL must equal the simulator; the factor only absorbs a broken
# model's last instructions) and a slow, bursty DRAM (``--backpressure``: each DRAM beat may
# wait for random refusals, gaps and extra latency).
BOUND_FACTOR = 2
BACKPRESSURE_BOUND_FACTOR = 16
BOUND_SLACK_CYCLES = 1024


def validate_image(cfg: HwConfig, image: bytes, insn_addr: int, insn_count: int, *,
                   max_cycles: int | None = None) -> SimResult:
    """Simulate the program with the race check; raises the simulator's error (decode,
    range, hazard, deadlock, race, or past ``max_cycles``) or returns its result."""
    return simulate_image(cfg, image, insn_addr, insn_count, check_races=True,
                          max_cycles=max_cycles)


def validate_bundle(bundle: Bundle, *, max_cycles: int | None = None) -> SimResult:
    """:func:`validate_image` on a bundle."""
    return validate_image(bundle.config, bundle.standalone_image(), bundle.insn_addr,
                          bundle.insn_count, max_cycles=max_cycles)


def check_static(bundle: Bundle) -> None:
    """The simulator's checks that need no run: every instruction word decodes and every
    instruction is legal for the config (raises the simulator's error).  The simulator
    device makes these at load and the rest (ranges, hazards, deadlock, races) in the run
    itself."""
    insns = decode_stream(bundle.config, bundle.dram, bundle.insn_addr, bundle.insn_count)
    check_program(insns, bundle.config)


def run_span(result: SimResult) -> int:
    """Cycles until the last instruction of any module retired (FINISH may come earlier
    than a trailing LOAD or NOP; the RTL runs until every module is idle)."""
    return max([r.retire for r in result.records] + [result.cycles - 1]) + 1


def cycle_bound(result: SimResult, *, backpressure: bool = False) -> int:
    """The default ``--max-cycles`` of a device run of the program ``result`` simulated."""
    factor = BACKPRESSURE_BOUND_FACTOR if backpressure else BOUND_FACTOR
    return factor * run_span(result) + BOUND_SLACK_CYCLES


__all__ = ["validate_image", "validate_bundle", "check_static", "cycle_bound", "run_span",
           "BOUND_FACTOR", "BACKPRESSURE_BOUND_FACTOR", "BOUND_SLACK_CYCLES"]
