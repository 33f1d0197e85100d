"""The UART in Amaranth's simulator: loopback, framing errors, baud divisor checks."""

from __future__ import annotations

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from vta_hw.soc.uart import UartError, UartRx, UartTx, baud_divisor


def _loopback(data: bytes, divisor: int) -> tuple[bytes, int]:
    m = Module()
    m.submodules.tx = tx = UartTx(divisor)
    m.submodules.rx = rx = UartRx(divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    got = bytearray()
    errors = 0

    async def bench(ctx):
        nonlocal errors
        pending = list(data)
        for _ in range(12 * divisor * (len(data) + 2)):
            if pending:
                ctx.set(tx.i.valid, 1)
                ctx.set(tx.i.payload, pending[0])
            else:
                ctx.set(tx.i.valid, 0)
            taken = ctx.get(tx.i.valid) and ctx.get(tx.i.ready)
            if ctx.get(rx.o.valid):
                got.append(ctx.get(rx.o.payload))
            errors += ctx.get(rx.frame_error)
            await ctx.tick()
            if taken:
                pending.pop(0)

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return bytes(got), errors


@pytest.mark.parametrize("divisor", [4, 5, 16])
def test_loopback_every_bit_pattern(divisor):
    data = bytes([0x00, 0xFF, 0x55, 0xAA, 0x5A, 0xA5, 0x01, 0x80])
    got, errors = _loopback(data, divisor)
    assert got == data and errors == 0


def _drive_line(bits: list[tuple[int, int]], divisor: int) -> tuple[bytes, int]:
    """Drive the RX pin with (level, cycles) segments; return the bytes and frame errors."""
    rx = UartRx(divisor)
    got = bytearray()
    errors = 0

    async def bench(ctx):
        nonlocal errors
        for level, cycles in bits + [(1, 4 * divisor)]:
            ctx.set(rx.rx, level)
            for _ in range(cycles):
                if ctx.get(rx.o.valid):
                    got.append(ctx.get(rx.o.payload))
                errors += ctx.get(rx.frame_error)
                await ctx.tick()

    sim = Simulator(rx)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return bytes(got), errors


def _char(byte: int, cycles_per_bit: int, stop: int = 1) -> list[tuple[int, int]]:
    levels = [0] + [(byte >> i) & 1 for i in range(8)] + [stop]
    return [(lv, cycles_per_bit) for lv in levels]


def test_receiver_tolerates_a_few_percent_baud_error():
    # sender 4% slow / fast relative to a 25-cycle bit
    for cpb in (24, 26):
        got, errors = _drive_line(_char(0xC3, cpb) + _char(0x3C, cpb), 25)
        assert got == b"\xc3\x3c" and errors == 0


def test_missing_stop_bit_is_a_frame_error_and_dropped():
    got, errors = _drive_line(_char(0x42, 8, stop=0) + [(1, 16)] + _char(0x17, 8), 8)
    assert got == b"\x17" and errors == 1


def test_glitch_shorter_than_half_a_bit_is_not_a_start_bit():
    got, errors = _drive_line([(1, 8), (0, 2), (1, 40)] + _char(0x99, 8), 8)
    assert got == b"\x99" and errors == 0


def test_baud_divisor():
    assert baud_divisor(100e6, 1_000_000) == 100
    assert baud_divisor(50e6, 115200) == 434
    with pytest.raises(UartError, match="too fast"):
        baud_divisor(10e6, 3_000_000)
    with pytest.raises(UartError, match="off by"):
        baud_divisor(25e6, 4_000_000)
    with pytest.raises(UartError, match="positive"):
        baud_divisor(25e6, 0)
