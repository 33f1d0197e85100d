"""On-chip buffers as block RAM without read-during-write emulation.

Every buffer (uop, inp, wgt, acc, out) has one write port and one synchronous read port.
Written the obvious way (``Memory.read_port()``, synchronous and non-transparent), Yosys must
guarantee that a read in the cycle of a write to the same address returns the old data; the
ECP5 DP16KD does not promise that across its two ports, so Yosys *emulates* it: every write is
delayed by a register and every read gets an address comparator and a bypass multiplexer on
its data (measured: ~1 LUT level on every block-RAM read path and one register per written
bit).

The accelerator never needs that guarantee: a read and a write of the same address in one
cycle only happen in programs the timing model rejects (a read-after-write hazard inside the
pipeline window, or a data race between two modules that no token orders).  So the buffers
are built as an asynchronous read port followed by a register (exactly the same cycle
behaviour: the register samples the old contents) on a memory marked ``no_rw_check``; Yosys'
``memory_dff`` merges the register into the block RAM and, because of the attribute, treats a
collision as don't-care: no emulation logic at all.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib.memory import Memory

NO_RW_CHECK = {"no_rw_check": 1}


def sram(shape: int, depth: int) -> Memory:
    """A zero-initialised buffer whose read/write collisions are don't-care."""
    return Memory(shape=shape, depth=depth, init=[], attrs=NO_RW_CHECK)


class SramRead:
    """A synchronous read port of ``mem``: ``data`` is ``mem[addr]`` of the previous cycle in
    which ``en`` was high (the old contents when the same cycle writes that address).

    ``addr``, ``en`` (default 1) are driven by the user; ``data`` is a register.
    """

    def __init__(self, m: Module, mem: Memory, name: str):
        rp = mem.read_port(domain="comb")
        self.addr = Signal(len(rp.addr), name=f"{name}_addr")
        self.en = Signal(init=1, name=f"{name}_en")
        self.data = Signal(mem.shape, name=f"{name}_data", reset_less=True)
        m.d.comb += rp.addr.eq(self.addr)
        with m.If(self.en):
            m.d.sync += self.data.eq(rp.data)


def bind_read(m: Module, mem: Memory, port, name: str) -> None:
    """Serve a ``ReadPort.Signature`` interface ``port`` (addr/en in, data out) from ``mem``."""
    rd = SramRead(m, mem, name)
    m.d.comb += [rd.addr.eq(port.addr), rd.en.eq(port.en), port.data.eq(rd.data)]


__all__ = ["NO_RW_CHECK", "sram", "SramRead", "bind_read"]
