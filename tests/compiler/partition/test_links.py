"""The partitioner prices transfers over the runtime device's link (runtime.links): the
board's UART at its baud rate, 10 bits on the wire per byte, so the slower the link the
fewer bytes the chosen partition sends across it."""

from __future__ import annotations

import pytest

from compiler.partition.api import partition
from compiler.partition.costs import OpNode, build_cost_graph, cpu_model, link_for
from compiler.partition.errors import PartitionError
from compiler.partition.solve import explain
from opset import Conv2d, Epilogue, Requant
from runtime.fpga_device import FpgaDeviceError, parse_device_spec
from runtime.links import DEFAULT_BAUD, LINKS, UART_BITS_PER_BYTE, uart_link
from vta_hw.config import DEFAULT

EP = Epilogue(requant=Requant(1, 8))
EMBEDDED = 50.0  # this host's kernels 50 times slower: the host next to an accelerator


@pytest.mark.parametrize("baud", [115_200, DEFAULT_BAUD, 3_000_000])
@pytest.mark.parametrize("nbytes", [1, 4096, 200_704])
def test_a_uart_copy_costs_ten_bit_times_a_byte_plus_a_command(baud, nbytes):
    link = link_for(f"fpga:/dev/ttyUSB0@{baud}")
    assert UART_BITS_PER_BYTE == 10
    assert link.seconds(nbytes) == pytest.approx(nbytes * 10 / baud + link.latency_s)
    assert link.latency_s == LINKS["fpga"].latency_s > LINKS["sim"].latency_s


def test_device_specs_name_their_links():
    assert link_for("fpga:/dev/ttyUSB0") == LINKS["fpga"] == uart_link("fpga", DEFAULT_BAUD)
    assert link_for("fpga:sim") == LINKS["fpga:sim"]
    assert link_for("rtl:amaranth") == LINKS["rtl"]
    assert link_for("sim").bytes_per_s == 1.2e9
    for bad, match in (("fpga:/dev/ttyUSB0@fast", "baud 'fast' is not a positive integer"),
                       ("fpga:/dev/ttyUSB0@0", "baud '0'"), ("gpu0", "unknown accelerator")):
        with pytest.raises(PartitionError, match=match):
            link_for(bad)
    # the runtime parses the same spec the same way (one definition of the baud suffix)
    assert parse_device_spec("fpga:/dev/ttyUSB0@115200").baud == 115_200
    with pytest.raises(FpgaDeviceError, match="baud 'fast'"):
        parse_device_spec("fpga:/dev/ttyUSB0@fast")


def test_the_cost_graph_prices_a_boundary_at_the_ports_baud():
    m = cpu_model()
    x = {"x": (1, 16, 8, 8)}  # 1024 blocked bytes, 1024 NCHW
    for baud in (115_200, 3_000_000):
        g = build_cost_graph([], x, [], DEFAULT, f"fpga:/dev/ttyUSB0@{baud}", m)
        assert g[0].transfer[("cpu", "vta")] == pytest.approx(
            2e-3 + 1024 * 10 / baud + m.pack_seconds(1024, 1024))


def convs() -> list[OpNode]:
    a = Conv2d(1, 64, 28, 28, 64, 3, 3, pad=1, epilogue=EP, name="a")
    b = Conv2d(1, 64, 28, 28, 64, 3, 3, pad=1, epilogue=EP, name="b")
    return [OpNode("a", a, ("x",)), OpNode("b", b, ("a",))]


def test_a_slower_link_sends_fewer_bytes_across():
    """Two convolutions against an embedded host: over shared DRAM (sim) both go to the
    accelerator and the input and output cross; over the UART the copies cost more than the
    accelerator saves, and the partition keeps everything on the host."""
    cpu = cpu_model().scaled(EMBEDDED)
    moved, seconds = {}, {}
    for dev in ("sim", "fpga:/dev/ttyUSB0@12000000", "fpga:/dev/ttyUSB0",
                "fpga:/dev/ttyUSB0@115200"):
        p = partition(convs(), {"x": (1, 64, 28, 28)}, ["b"], DEFAULT, cpu=cpu, device=dev)
        moved[dev] = sum(b[3] for b in p.boundaries)
        seconds[dev] = p.seconds
    assert moved["sim"] == 2 * 64 * 28 * 28 > 0
    assert list(moved.values()) == sorted(moved.values(), reverse=True)
    assert moved["fpga:/dev/ttyUSB0@115200"] == 0
    assert list(seconds.values()) == sorted(seconds.values())
    p = partition(convs(), {"x": (1, 64, 28, 28)}, ["b"], DEFAULT, cpu=cpu,
                  device="fpga:/dev/ttyUSB0@115200")
    assert set(p.assignment[n] for n in ("a", "b")) == {"cpu"}
    assert "avoided a transfer of" in explain(p)
