"""Boards the flow can target: the FPGA part, the platform (pins, clock) and the SoC wiring.

A board is data: its amaranth-boards platform class (pin and clock definitions), the device
entry of ``resources.DEVICES``, the oscillator and the resource names of its clock, UART and
LEDs.  Adding another ECP5 board with a USB-serial UART is one more ``Board(...)`` entry;
another FPGA family would also need its own flow stages.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from vta_hw.errors import VtaError
from vta_hw.fpga.resources import DEVICES, Device


class BoardError(VtaError, ValueError):
    """Unknown board name."""


@dataclass(frozen=True)
class Board:
    """One supported board.

    name: the ``--board`` value.  platform: ``module:Class`` of its amaranth-boards platform.
    part: key of ``resources.DEVICES``.  osc_hz: the oscillator the PLL starts from.
    clock / uart: platform resource names.  leds: how many LEDs show the SoC's status.
    programmer: how to load a bitstream (documented; the flow never programs a board).
    """

    name: str
    platform: str
    part: str
    osc_hz: float
    clock: str = "clk25"
    uart: str = "uart"
    leds: int = 8
    programmer: str = "openFPGALoader -b ulx3s {bit}"

    @property
    def device(self) -> Device:
        return DEVICES[self.part]

    def make_platform(self):
        mod, cls = self.platform.split(":")
        return getattr(import_module(mod), cls)()


BOARDS: dict[str, Board] = {b.name: b for b in (
    Board("ulx3s-85f", "amaranth_boards.ulx3s:ULX3S_85F_Platform", "LFE5U-85F", 25e6),
    Board("ulx3s-45f", "amaranth_boards.ulx3s:ULX3S_45F_Platform", "LFE5U-45F", 25e6),
    Board("ulx3s-25f", "amaranth_boards.ulx3s:ULX3S_25F_Platform", "LFE5U-25F", 25e6),
    Board("ulx3s-12f", "amaranth_boards.ulx3s:ULX3S_12F_Platform", "LFE5U-12F", 25e6),
)}


def board(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise BoardError(f"unknown board {name!r}; supported: {sorted(BOARDS)}") from None


__all__ = ["Board", "BOARDS", "board", "BoardError"]
