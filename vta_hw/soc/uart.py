"""An 8N1 UART: the SoC's host link (ULX3S: the FTDI USB-serial chip).

Bit time is ``divisor`` clock cycles (``clock_hz / baud``, rounded); in simulation a small
divisor (>= 4) makes a byte cost only ``10 * divisor`` cycles.  The receiver samples the
middle of each bit after a two-flop synchronizer, so the host's baud may differ from ours
by up to about 4% (half a bit over ten bits).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from vta_hw.errors import VtaError

MIN_DIVISOR = 4


class UartError(VtaError, ValueError):
    """A baud rate the clock cannot produce within the UART's tolerance."""


def baud_divisor(clock_hz: float, baud: int) -> int:
    """Cycles per bit for ``baud`` at ``clock_hz``; refuses an error above 2%."""
    if baud <= 0:
        raise UartError(f"baud must be positive, got {baud}")
    div = round(clock_hz / baud)
    if div < MIN_DIVISOR:
        raise UartError(f"baud {baud} is too fast for a {clock_hz / 1e6:g} MHz clock: "
                        f"{clock_hz / baud:.2f} cycles per bit, the UART needs >= {MIN_DIVISOR}")
    err = abs(clock_hz / div - baud) / baud
    if err > 0.02:
        raise UartError(f"baud {baud} at {clock_hz / 1e6:g} MHz is off by {100 * err:.1f}% "
                        "(divisor {div}); pick a baud closer to clock / integer")
    return div


class UartTx(wiring.Component):
    """8N1 transmitter.

    Members
    -------
    i : In(stream(8))   bytes to send (taken when ``ready``: one per 10 bit times)
    tx : Out(1)         the serial line (idle high)
    busy : Out(1)       a byte is being shifted out
    """

    def __init__(self, divisor: int):
        if divisor < MIN_DIVISOR:
            raise UartError(f"UART divisor {divisor} < {MIN_DIVISOR}")
        self.divisor = divisor
        super().__init__({"i": In(stream.Signature(8)), "tx": Out(1, init=1), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        shreg = Signal(10, init=0x3FF)
        bits = Signal(range(11))
        timer = Signal(range(self.divisor))
        m.d.comb += [self.busy.eq(bits != 0), self.i.ready.eq(bits == 0)]
        m.d.sync += self.tx.eq(shreg[0])
        with m.If(bits == 0):
            with m.If(self.i.valid):
                m.d.sync += [shreg.eq(Cat(0, self.i.payload, 1)), bits.eq(10),
                             timer.eq(self.divisor - 1)]
        with m.Elif(timer == 0):
            m.d.sync += [shreg.eq(Cat(shreg[1:], 1)), bits.eq(bits - 1),
                         timer.eq(self.divisor - 1)]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
        return m


class UartRx(wiring.Component):
    """8N1 receiver.

    Members
    -------
    rx : In(1)          the serial line
    o : Out(stream(8))  received bytes (``valid`` for one cycle; the consumer must take them)
    busy : Out(1)       inside a character (start bit seen, stop bit not yet)
    frame_error : Out(1)  pulse: a character without its stop bit was dropped
    """

    def __init__(self, divisor: int):
        if divisor < MIN_DIVISOR:
            raise UartError(f"UART divisor {divisor} < {MIN_DIVISOR}")
        self.divisor = divisor
        super().__init__({"rx": In(1, init=1), "o": Out(stream.Signature(8, always_ready=True)),
                          "busy": Out(1), "frame_error": Out(1)})

    def elaborate(self, platform):
        m = Module()
        div = self.divisor
        line = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, line, init=1)
        timer = Signal(range(div))
        bit = Signal(range(8))
        shreg = Signal(8)
        m.d.comb += self.o.payload.eq(shreg)
        with m.If(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.FSM(name="rx"):
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(div // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                m.d.comb += self.busy.eq(1)
                with m.If(timer == 0):
                    with m.If(~line):  # still low mid-bit: a real start bit
                        m.d.sync += [timer.eq(div - 1), bit.eq(0)]
                        m.next = "DATA"
                    with m.Else():
                        m.next = "IDLE"
            with m.State("DATA"):
                m.d.comb += self.busy.eq(1)
                with m.If(timer == 0):
                    m.d.sync += [shreg.eq(Cat(shreg[1:], line)), timer.eq(div - 1),
                                 bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.comb += self.busy.eq(1)
                with m.If(timer == 0):
                    with m.If(line):
                        m.d.comb += self.o.valid.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.comb += self.frame_error.eq(1)
                        m.next = "BREAK"
            with m.State("BREAK"):  # wait for the line to go idle before the next start bit
                with m.If(line):
                    m.next = "IDLE"
        return m


__all__ = ["UartTx", "UartRx", "UartError", "baud_divisor", "MIN_DIVISOR"]
