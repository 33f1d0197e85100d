"""Errors the simulator raises for programs that real hardware would hang on or corrupt."""

from __future__ import annotations

from vta_hw.errors import VtaError


class SimError(VtaError):
    """A program cannot be simulated; the message names the instruction."""


class DeadlockError(SimError):
    """A module waits for a token or a queue slot that will never come."""


class OutOfRangeError(SimError):
    """An instruction addresses SRAM or DRAM outside its buffer or image."""


class HazardError(SimError):
    """A GEMM/ALU reads an accumulator an earlier iteration has not written back yet."""


class IllegalInstructionError(SimError):
    """An instruction is undecodable or breaks an ISA rule."""


class CycleLimitError(SimError):
    """A run would exceed its cycle bound (``--max-cycles``)."""
