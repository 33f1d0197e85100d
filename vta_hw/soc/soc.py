"""The SoC: accelerator core + block-RAM DRAM + UART host bridge, and its ULX3S top level.

::

            +--------------------------------- SocCore ---------------------------------+
   rx ----> | UartRx --> HostBridge --> UartTx | ----> tx                               |
            |              |  |  ctrl/status                                            |
            |              |  +------------> VtaCore  fetch/load/compute/store ports     |
            |              |  host port                |    |     |      |              |
            |              +-------------------> SocMemory (DRAM: one BRAM copy per     |
            |                                    reader, writes to every copy)          |
            +----------------------------------------------------------------------------+
   Ulx3sTop: clk25 -> EHXPLLL -> sync (target_clock_mhz), reset until lock; LEDs show status.

``SocCore`` has no board dependency: the Verilator harness (``vta_hw.soc.sim``) simulates it
directly and drives its UART pins, so the host protocol runs end to end without a board.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from amaranth.hdl import ClockDomain, Elaboratable, Module, ResetInserter, Signal
from amaranth.lib import io, wiring
from amaranth.lib.wiring import In, Out, connect

from vta_hw import timing
from vta_hw.config import HwConfig
from vta_hw.rtl.core import PORTS, VtaCore
from vta_hw.soc import protocol as P
from vta_hw.soc.bridge import HostBridge
from vta_hw.soc.errors import SocError
from vta_hw.soc.memory import SocMemory, check_dram_bytes
from vta_hw.soc.uart import UartRx, UartTx, baud_divisor

DEFAULT_DRAM_BYTES = 64 * 1024
DEFAULT_BAUD = 1_000_000
SIM_DIVISOR = 4


@dataclass(frozen=True)
class SocOptions:
    """How the SoC around a core is built (everything but the core's HwConfig).

    dram_bytes: size of the block-RAM DRAM (a power of two; three copies are built).
    baud: UART rate on a board (the divisor is derived from the achieved clock).
    max_write: largest WRITE payload the bridge buffers (a power of two).
    byte_timeout_s: silence inside a request frame after which it is dropped.
    sim_divisor: cycles per UART bit in simulation (the clock is nominal there).
    """

    dram_bytes: int = DEFAULT_DRAM_BYTES
    baud: int = DEFAULT_BAUD
    max_write: int = 256
    byte_timeout_s: float = 0.1
    sim_divisor: int = SIM_DIVISOR

    def replace(self, **changes) -> SocOptions:
        return replace(self, **changes)

    def key(self) -> str:
        """Identity of the options for build caches."""
        return (f"d{self.dram_bytes}-b{self.baud}-w{self.max_write}-t{self.byte_timeout_s:g}"
                f"-s{self.sim_divisor}")


def soc_info(cfg: HwConfig, opts: SocOptions, clock_hz: float, divisor: int) -> P.SocInfo:
    return P.SocInfo(version=P.PROTOCOL_VERSION, dram_bytes=opts.dram_bytes,
                     max_write=opts.max_write, bus_bytes=timing.dram_timing(cfg).bus_bytes,
                     config_hash=cfg.config_hash(), clock_hz=int(round(clock_hz)),
                     baud_divisor=divisor)


class SocCore(wiring.Component):
    """Core, DRAM, UART and bridge in one ``sync`` domain.

    Members
    -------
    rx : In(1)       UART line from the host (idle high)
    tx : Out(1)      UART line to the host
    leds : Out(8)    0 running, 1 done, 2 DRAM range error since START, 3 host owns DRAM,
                     7 heartbeat
    busy : Out(1)    something is in progress besides waiting for host bytes (simulation)

    ``dram_primitive``: how the DRAM copies are built (``SocMemory``): ``"memory"`` for
    simulation, ``"dp16kd"`` on an ECP5 board (``BoardTop``); same cycles either way.
    """

    def __init__(self, cfg: HwConfig, opts: SocOptions, *, clock_hz: float, divisor: int,
                 dram_primitive: str = "memory"):
        check_dram_bytes(cfg, opts.dram_bytes)
        self.cfg = cfg
        self.dram_primitive = dram_primitive
        self.opts = opts
        self.clock_hz = clock_hz
        self.divisor = divisor
        self.info = soc_info(cfg, opts, clock_hz, divisor)
        self.byte_timeout = max(16 * 10 * divisor, int(opts.byte_timeout_s * clock_hz))
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "leds": Out(8),
                          "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        core_reset = Signal()
        core = VtaCore(cfg)
        mem = SocMemory(cfg, self.opts.dram_bytes, primitive=self.dram_primitive)
        m.submodules.core = ResetInserter(core_reset)(core)
        m.submodules.dram = ResetInserter(core_reset)(mem)
        m.submodules.uart_rx = urx = UartRx(self.divisor)
        m.submodules.uart_tx = utx = UartTx(self.divisor)
        m.submodules.bridge = br = HostBridge(self.info, byte_timeout=self.byte_timeout)

        for p in PORTS:
            connect(m, getattr(core, f"{p}_dram"), getattr(mem, p))
        connect(m, core.ctrl, br.core)
        connect(m, br.mem, mem.host)
        connect(m, urx.o, br.rx)
        connect(m, br.tx, utx.i)
        m.d.comb += [
            urx.rx.eq(self.rx), self.tx.eq(utx.tx),
            mem.host_owns.eq(br.host_owns), br.range_error.eq(mem.range_error),
            core_reset.eq(br.core_reset),
            self.busy.eq(br.busy | utx.busy | urx.busy | core.ctrl.running | ~core.ctrl.idle),
        ]
        range_seen = Signal()
        with m.If(mem.range_error):
            m.d.sync += range_seen.eq(1)
        with m.If(core.ctrl.start | core_reset):
            m.d.sync += range_seen.eq(0)
        beat = Signal(26)
        m.d.sync += beat.eq(beat + 1)
        m.d.comb += self.leds.eq(core.ctrl.running | core.ctrl.done << 1 | range_seen << 2
                                 | br.host_owns << 3 | beat[-1] << 7)
        return m


def sim_soc(cfg: HwConfig, opts: SocOptions | None = None) -> SocCore:
    """The SoC as simulated: nominal clock, the fast simulation divisor."""
    opts = opts or SocOptions()
    return SocCore(cfg, opts, clock_hz=cfg.target_clock_mhz * 1e6, divisor=opts.sim_divisor)


class BoardTop(Elaboratable):
    """SocCore on an ECP5 board: oscillator -> PLL -> SoC; UART and LEDs to pins.

    The board's oscillator, UART and LED resources come from its amaranth-boards platform;
    ``vta_hw.fpga.boards`` says which resource names a board uses.
    """

    def __init__(self, cfg: HwConfig, opts: SocOptions, *, osc_hz: float,
                 clock_resource: str = "clk25", uart_resource: str = "uart", leds: int = 8):
        from vta_hw.soc.clocking import ecp5_pll

        self.cfg = cfg
        self.opts = opts
        try:
            self.pll = ecp5_pll(osc_hz, cfg.target_clock_mhz * 1e6)
            self.clock_hz = self.pll.fout_hz
            self.divisor = baud_divisor(self.clock_hz, opts.baud)
        except ValueError as e:
            self._MustUse__silence = True  # never elaborated: no "unused" warning on top
            raise SocError(str(e)) from None
        self.clock_resource = clock_resource
        self.uart_resource = uart_resource
        self.n_leds = leds

    def elaborate(self, platform):
        from vta_hw.soc.clocking import Ecp5Pll

        m = Module()
        m.domains.sync = ClockDomain("sync")
        m.submodules.clk_buf = clk = io.Buffer("i", platform.request(self.clock_resource, 0,
                                                                     dir="-"))
        m.submodules.pll = Ecp5Pll(clk.i, self.pll, "sync")
        # an ECP5 top: the DRAM copies from DP16KDs with their output registers on
        m.submodules.soc = soc = SocCore(self.cfg, self.opts, clock_hz=self.clock_hz,
                                         divisor=self.divisor, dram_primitive="dp16kd")
        uart = platform.request(self.uart_resource, 0, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [soc.rx.eq(rx.i), tx.o.eq(soc.tx)]
        for i in range(self.n_leds):
            m.submodules[f"led_{i}"] = led = io.Buffer("o", platform.request("led", i, dir="-"))
            m.d.comb += led.o.eq(soc.leds[i])
        return m


__all__ = ["SocCore", "SocOptions", "BoardTop", "sim_soc", "soc_info", "DEFAULT_DRAM_BYTES",
           "DEFAULT_BAUD", "SIM_DIVISOR"]
