"""Clocking: the ECP5 PLL (EHXPLLL) from the board oscillator to the config's target clock.

``ecp5_pll(25e6, 100e6)`` searches the divider space the way ``ecppll`` (nextpnr) does --
input divider, feedback divider and output divider with the VCO in 400..800 MHz and the phase
detector at >= 3.125 MHz -- and returns the closest achievable output (below the target on a
tie, so timing is never asked for more than the config wants).  ``Ecp5Pll`` instantiates it
with CLKOP fed back, and holds the ``sync`` domain in reset until the PLL has locked.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import ClockSignal, Elaboratable, Instance, Module, Signal
from amaranth.lib.cdc import ResetSynchronizer

from vta_hw.soc.errors import SocError

VCO_MIN, VCO_MAX = 400e6, 800e6
VCO_MID = (VCO_MIN + VCO_MAX) / 2
PFD_MIN, PFD_MAX = 3.125e6, 400e6
OUT_MIN, OUT_MAX = 3.125e6, 400e6


@dataclass(frozen=True)
class PllConfig:
    """EHXPLLL dividers and the frequencies they give."""

    fin_hz: float
    clki_div: int
    clkfb_div: int
    clkop_div: int
    fout_hz: float
    fvco_hz: float

    @property
    def clkop_cphase(self) -> int:
        """Coarse phase for 0 degrees, as ecppll writes it."""
        return self.clkop_div // 2


def ecp5_pll(fin_hz: float, fout_hz: float) -> PllConfig:
    """The EHXPLLL setting whose CLKOP is closest to ``fout_hz``."""
    if not OUT_MIN <= fout_hz <= OUT_MAX:
        raise SocError(f"target clock {fout_hz / 1e6:g} MHz is outside the ECP5 PLL's "
                       f"{OUT_MIN / 1e6:g}..{OUT_MAX / 1e6:g} MHz")
    best: tuple[float, float, PllConfig] | None = None
    for in_div in range(1, 129):
        pfd = fin_hz / in_div
        if not PFD_MIN <= pfd <= PFD_MAX:
            continue
        for fb_div in range(1, 81):
            out = pfd * fb_div
            if not OUT_MIN <= out <= OUT_MAX:
                continue
            # the output divider that puts the VCO nearest the middle of its range (least jitter)
            legal = [d for d in range(1, 129) if VCO_MIN <= out * d <= VCO_MAX]
            if not legal:
                continue
            op_div = min(legal, key=lambda d: abs(out * d - VCO_MID))
            key = (abs(out - fout_hz), out > fout_hz)
            if best is None or key < best[:2]:
                best = (*key, PllConfig(fin_hz, in_div, fb_div, op_div, out, out * op_div))
    if best is None:
        raise SocError(f"no ECP5 PLL setting gives {fout_hz / 1e6:g} MHz from "
                       f"{fin_hz / 1e6:g} MHz")
    return best[2]


class Ecp5Pll(Elaboratable):
    """Drive clock domain ``domain`` (defined by the parent) from ``clk_in`` through an EHXPLLL.

    The domain's reset is held until the PLL reports lock (and released synchronously).
    """

    def __init__(self, clk_in: Signal, config: PllConfig, domain: str = "sync"):
        self.clk_in = clk_in
        self.config = config
        self.domain = domain
        self.locked = Signal()

    def elaborate(self, platform):
        m = Module()
        c = self.config
        clkop = Signal()
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{c.fin_hz / 1e6:g}",
            a_FREQUENCY_PIN_CLKOP=f"{c.fout_hz / 1e6:g}",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
            a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
            p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
            p_CLKI_DIV=c.clki_div, p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=c.clkop_div,
            p_CLKOP_CPHASE=c.clkop_cphase, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
            p_CLKFB_DIV=c.clkfb_div,
            i_RST=0, i_STDBY=0, i_CLKI=self.clk_in, i_CLKFB=clkop,
            i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
            i_PLLWAKESYNC=0, i_ENCLKOP=0,
            o_CLKOP=clkop, o_LOCK=self.locked,
        )
        m.d.comb += ClockSignal(self.domain).eq(clkop)
        m.submodules.reset_sync = ResetSynchronizer(~self.locked, domain=self.domain)
        # No constraint on the output: nextpnr derives it from the input pin's constraint
        # through the PLL (an explicit one names a net that synthesis renames).
        return m


__all__ = ["PllConfig", "ecp5_pll", "Ecp5Pll"]
