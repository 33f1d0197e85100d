"""Optional pipeline registers: the GEMM array and the ALU place theirs by configuration
(``compute.plan``), so each such point is one assignment that is either a register or a wire."""

from __future__ import annotations

from amaranth.hdl import Module


def assign(m: Module, registered: bool, stmt) -> None:
    """``stmt`` as a register (sync) when ``registered``, else as a wire (comb)."""
    if registered:
        m.d.sync += stmt
    else:
        m.d.comb += stmt


__all__ = ["assign"]
