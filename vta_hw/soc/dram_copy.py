"""One copy of the SoC DRAM: a block RAM with one read and one write port (``SocMemory``
builds one per reader).

Two ways to build it, with the same cycle behaviour:

* ``"memory"``: an Amaranth ``Memory`` (Yosys infers the block RAM), and, with ``outreg``, a
  register after its read port.  The Verilator SoC model and the Amaranth tests use it.
* ``"dp16kd"``: hand-instantiated ECP5 DP16KD cells, for the board.  Yosys's
  ``memory_libmap`` always sets ``REGMODE = "NOREG"`` (YosysHQ/yosys#5814) and cascades blocks
  in depth behind a LUT mux, so the RAM's 5.8 ns clock-to-output plus that mux plus the route
  across the die were one path.  Here each block holds the whole depth (the widest of the
  DP16KD modes 16Kx1, 8Kx2, 4Kx4, 2Kx9 -- used as 8 bits -- that does), so every word bit
  comes from exactly one block: no cascade mux; and with ``outreg`` the read side's own output
  register is on (``REGMODE_B = "OUTREG"``: ~1 ns clock-to-output, a register the placer
  cannot move away from the block).  A block never straddles two byte lanes, so byte write
  enables are per-block write enables (the 1Kx18 mode would need its byte enables on ADA1:0;
  it is not used: depths up to 1K take 2Kx9 blocks).  Deeper than 16K words: the Memory.

Port A writes (``DIA``, ``WEA`` = the block's byte lane enable), port B reads (``CEB`` = read
enable: the latch holds while it is low; ``OCEB`` = 1: with ``OUTREG`` the output register
copies the latch every cycle, as the Memory version's register does).  A DP16KD address is 14
bits wide whatever the mode: the word address sits at ``AD13 .. ADk`` with ``k`` = log2 of the
mode's depth factor (0 for x1, 3 for x9), the low bits tied to 0 -- Lattice TN1264's
convention, the one Yosys's ``brams_map_16kd.v`` wires.
"""

from __future__ import annotations

from collections.abc import Callable

from amaranth.hdl import Cat, ClockSignal, Const, Elaboratable, Instance, Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from vta_hw.soc.errors import refuse

PRIMITIVES = ("memory", "dp16kd")
DP16KD_ADDR_BITS = 14
# DP16KD modes used: (DATA_WIDTH, data bits used per block, log2 of the depth factor k)
DP16KD_MODES = ((1, 1, 0), (2, 2, 1), (4, 4, 2), (9, 8, 3))


def dp16kd_mode(depth: int) -> tuple[int, int, int] | None:
    """(DATA_WIDTH, bits used, k) of the widest DP16KD mode holding ``depth`` words in one
    block, or None when no mode does (``depth`` > 16K)."""
    for width, used, k in reversed(DP16KD_MODES):
        if depth <= 1 << (DP16KD_ADDR_BITS - k):
            return width, used, k
    return None


def primitive_problem(primitive: str) -> str | None:
    """Why ``primitive`` cannot build a DRAM copy, or None when it is one of PRIMITIVES."""
    if primitive in PRIMITIVES:
        return None
    return f"DRAM primitive {primitive!r} is not one of {', '.join(PRIMITIVES)}"


Cell = Callable[[dict[str, int | str], dict[str, Value]], Elaboratable]


def dp16kd_instance(params: dict[str, int | str], pins: dict[str, Value]) -> Elaboratable:
    """The DP16KD cell itself: ``params`` by parameter name, ``pins`` by pin name (inputs
    and the ``DOBn`` outputs)."""
    kw = {f"p_{k}": v for k, v in params.items()}
    for name, v in pins.items():
        kw[f"{'o' if name.startswith('DO') else 'i'}_{name}"] = v
    return Instance("DP16KD", **kw)


class DramCopy(wiring.Component):
    """A ``depth`` x ``8 * lanes`` RAM: one read port, one byte-enabled write port.

    Members
    -------
    raddr : In(range(depth))   word to read
    ren : In(1)                read ``raddr`` this cycle (else the read side holds)
    rdata : Out(8 * lanes)     the word read in t, from t + 1 (no ``outreg``) or t + 2 (``outreg``)
    waddr : In(range(depth))   word to write
    wen : In(lanes)            byte lanes of ``wdata`` to write this cycle
    wdata : In(8 * lanes)

    ``cell`` builds a DP16KD from its parameters and pins (the Instance; a simulation model
    can stand in, see ``tests/fpga/dp16kd_model.py``).
    """

    def __init__(self, lanes: int, depth: int, *, outreg: bool, primitive: str = "memory",
                 cell: Cell = dp16kd_instance):
        refuse(self, primitive_problem(primitive))
        if lanes <= 0 or depth <= 0:
            refuse(self, f"a DRAM copy needs lanes and depth > 0, got {lanes} x {depth}")
        self.lanes, self.depth, self.outreg = lanes, depth, outreg
        self.mode = dp16kd_mode(depth) if primitive == "dp16kd" else None
        self.cell = cell
        super().__init__({"raddr": In(range(depth)), "ren": In(1), "rdata": Out(8 * lanes),
                          "waddr": In(range(depth)), "wen": In(lanes),
                          "wdata": In(8 * lanes)})

    @property
    def primitive(self) -> str:
        """What is built: ``"dp16kd"`` only if asked for and the depth fits one block."""
        return "memory" if self.mode is None else "dp16kd"

    @property
    def blocks(self) -> int:
        """DP16KD cells of the hand-built copy (0 for the Memory)."""
        return 0 if self.mode is None else 8 * self.lanes // self.mode[1]

    def elaborate(self, platform):
        m = Module()
        if self.mode is None:
            mem = m.submodules.mem = Memory(shape=8 * self.lanes, depth=self.depth, init=[])
            wp = mem.write_port(granularity=8)
            rp = mem.read_port()
            m.d.comb += [wp.addr.eq(self.waddr), wp.en.eq(self.wen), wp.data.eq(self.wdata),
                         rp.addr.eq(self.raddr), rp.en.eq(self.ren)]
            if self.outreg:
                # the DP16KD's output register: no reset (a block RAM register is not on the
                # core reset), copies the read port every cycle
                q = Signal(8 * self.lanes, name="rdata_q", reset_less=True)
                m.d.sync += q.eq(rp.data)
                m.d.comb += self.rdata.eq(q)
            else:
                m.d.comb += self.rdata.eq(rp.data)
            return m
        width, used, k = self.mode
        params = {"DATA_WIDTH_A": width, "DATA_WIDTH_B": width, "REGMODE_A": "NOREG",
                  "REGMODE_B": "OUTREG" if self.outreg else "NOREG", "RESETMODE": "SYNC",
                  "ASYNC_RESET_RELEASE": "SYNC", "CSDECODE_A": "0b000", "CSDECODE_B": "0b000",
                  "WRITEMODE_A": "NORMAL", "WRITEMODE_B": "NORMAL", "GSR": "AUTO"}
        abits = DP16KD_ADDR_BITS - k
        wa = Cat(Const(0, k), self.waddr, Const(0, abits - len(self.waddr)))
        ra = Cat(Const(0, k), self.raddr, Const(0, abits - len(self.raddr)))
        for b in range(self.blocks):
            lo = b * used
            pins: dict[str, Value] = {
                "CLKA": ClockSignal(), "CEA": Const(1), "OCEA": Const(1),
                "WEA": self.wen[lo // 8], "RSTA": Const(0),
                "CLKB": ClockSignal(), "CEB": self.ren, "OCEB": Const(1), "WEB": Const(0),
                "RSTB": Const(0)}
            for i in range(3):
                pins[f"CSA{i}"] = pins[f"CSB{i}"] = Const(0)
            for i in range(DP16KD_ADDR_BITS):
                pins[f"ADA{i}"], pins[f"ADB{i}"] = wa[i], ra[i]
            for i in range(18):
                pins[f"DIA{i}"] = self.wdata[lo + i] if i < used else Const(0)
                pins[f"DIB{i}"] = Const(0)
            for i in range(used):
                pins[f"DOB{i}"] = self.rdata[lo + i]
            m.submodules[f"bram{b}"] = self.cell(params, pins)
        return m


__all__ = ["DramCopy", "PRIMITIVES", "primitive_problem", "DP16KD_MODES", "dp16kd_mode",
           "dp16kd_instance"]
