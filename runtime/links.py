"""How bytes reach each accelerator device's memory from the host: the link profiles.

One table serves both sides of the toolkit: the partitioner prices a tensor crossing a
device boundary with it (``compiler.partition.costs``), and the graph executor models the
copies of a run with it (``runtime.pipeline``).  The compiler may import this module (it
is data, like the module format; ``tests/spec/test_layering.py``), so it stays free of
devices and of the simulator.

* ``sim`` and ``rtl`` model a *deployed* accelerator rather than the simulators' own wall
  time: one sharing DRAM with its host over a 64-bit AXI port at 150 MHz (Zynq-class:
  1.2 GB/s), with ~10 us of driver call and cache flush per copy.
* ``fpga`` (``fpga:PORT[@BAUD]``) and ``fpga:sim`` (the Verilator model of the same SoC)
  reach the SoC's DRAM through its UART bridge (docs/fpga.md, "The host protocol"): 8N1
  framing puts 10 bits on the wire per byte (start, 8 data, stop), so a copy costs
  ``10 / baud`` seconds per byte, plus one framed command round trip (USB-serial latency
  timer and the CRC'd reply, ~2 ms).  The rate is the port's (``@BAUD``), else the SoC's
  default, :data:`DEFAULT_BAUD`.
* GPU links (:data:`GPU_LINKS`, named by a GPU spec: ``compiler.partition.gpu_model``) are
  PCIe: ``cuMemcpyHtoD``/``DtoH`` from pageable numpy memory go through the driver's
  staging buffer at about half the bus rate, with ~10 us of call and synchronisation each.
"""

from __future__ import annotations

from dataclasses import dataclass

from vta_hw.errors import VtaError

DEFAULT_BAUD = 1_000_000  # vta_hw.soc.soc.DEFAULT_BAUD (not imported: that needs Amaranth)
UART_BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit
UART_COMMAND_S = 2e-3  # one framed command round trip over USB-serial


class LinkError(VtaError, ValueError):
    """A device spec whose link is unknown or malformed (the message names it)."""


@dataclass(frozen=True)
class LinkProfile:
    """One host<->device link: ``seconds(n) = latency_s + n / bytes_per_s`` per copy."""

    name: str
    bytes_per_s: float
    latency_s: float
    source: str

    def seconds(self, nbytes: int) -> float:
        return self.latency_s + nbytes / self.bytes_per_s


def uart_link(name: str, baud: int, latency_s: float = UART_COMMAND_S) -> LinkProfile:
    """A UART at ``baud``, 8N1: :data:`UART_BITS_PER_BYTE` bit times per byte."""
    if not isinstance(baud, int) or baud <= 0:
        raise LinkError(f"{name}: a UART's baud rate must be a positive integer, got {baud!r}")
    return LinkProfile(name, baud / UART_BITS_PER_BYTE, latency_s,
                       f"UART {baud} baud 8N1 ({UART_BITS_PER_BYTE} bits per byte); "
                       f"{latency_s * 1e3:g} ms per framed command round trip (USB-serial "
                       "latency timer + CRC reply)")


_AXI = LinkProfile("sim", 1.2e9, 10e-6,
                   "shared DRAM over a 64-bit AXI port at 150 MHz (1.2 GB/s), 10 us per copy")
LINKS: dict[str, LinkProfile] = {
    "sim": _AXI,
    "rtl": LinkProfile("rtl", _AXI.bytes_per_s, _AXI.latency_s, _AXI.source),
    "fpga": uart_link("fpga", DEFAULT_BAUD),
    "fpga:sim": uart_link("fpga:sim", DEFAULT_BAUD),
}


GPU_LINKS: dict[str, LinkProfile] = {
    "pcie3x16": LinkProfile("pcie3x16", 6e9, 10e-6,
                            "PCIe 3.0 x16 (15.8 GB/s raw) from pageable host memory: ~6 GB/s, "
                            "10 us per copy"),
    "pcie4x16": LinkProfile("pcie4x16", 12e9, 10e-6,
                            "PCIe 4.0 x16 (31.5 GB/s raw) from pageable host memory: ~12 GB/s, "
                            "10 us per copy"),
}


def split_baud(spec: str, rest: str) -> tuple[str, int | None]:
    """``PORT[@BAUD]`` (the part of fpga spec ``spec`` after ``fpga:``) -> (port, baud or
    None); LinkError for a baud that is not a positive integer."""
    if "@" not in rest:
        return rest, None
    port, _, baud = rest.rpartition("@")
    if not baud.isdigit() or int(baud) <= 0:
        raise LinkError(f"fpga device {spec!r}: baud {baud!r} is not a positive integer")
    return port, int(baud)


def link_for(device: str) -> LinkProfile:
    """The link of a runtime device spec: ``sim``, ``rtl[:ENGINE]``, ``fpga:sim``, or
    ``fpga:PORT[@BAUD]`` (the board's UART at ``BAUD``, default :data:`DEFAULT_BAUD`)."""
    if not isinstance(device, str):
        raise LinkError(f"a device spec is a string, got {type(device).__name__}")
    if device in LINKS:
        return LINKS[device]
    kind, _, rest = device.partition(":")
    if kind == "rtl" and rest in ("verilator", "amaranth"):
        return LINKS["rtl"]
    if kind == "fpga" and rest:
        _, baud = split_baud(device, rest)
        return LINKS["fpga"] if baud is None else uart_link(f"fpga@{baud}", baud)
    raise LinkError(f"unknown accelerator device {device!r}; known: {sorted(LINKS)}, "
                    "rtl:ENGINE or fpga:PORT[@BAUD]")


__all__ = ["LinkProfile", "LinkError", "LINKS", "GPU_LINKS", "DEFAULT_BAUD", "UART_BITS_PER_BYTE",
           "uart_link", "link_for", "split_baud"]
