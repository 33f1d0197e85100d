"""The whole SoC in Verilator, driven through its UART by the runtime's FPGA device.

Every byte goes through the path a board user's takes -- FpgaDevice -> host protocol frames
-> UART RX pin -> bridge -> DRAM / core -> UART TX pin -> FpgaDevice -- and the results must
equal the simulator's: every output byte and the cycle count, which is what proves that the
block-RAM DRAM honours the timing contract on all four ports.  One model per config is built
(about 20-40 s) and cached by config hash.
"""

from __future__ import annotations

import pytest

from runtime.devices import run_bundle
from runtime.fpga_device import (
    FpgaDevice,
    FpgaDeviceError,
    FpgaTimeoutError,
    SimulatedSocTransport,
)
from tests.programs.corpus import CORPUS
from tests.toolchain import require_verilator
from vta_hw import isa
from vta_hw.bundle import BundleBuilder
from vta_hw.config import TINY, WIDE
from vta_hw.soc import protocol as P
from vta_sim import DeadlockError, OutOfRangeError, simulate
from vta_sim.workloads import blocked_matmul

pytestmark = pytest.mark.cosim


@pytest.fixture(scope="module", autouse=True)
def _verilator():
    require_verilator()


def _device(cfg, **kw):
    return FpgaDevice(SimulatedSocTransport(cfg), cfg, timeout=60, **kw)


def test_gemm_through_the_host_protocol_equals_vta_sim():
    w = blocked_matmul(TINY, 16, 16, 32, virtual_threads=2)
    ref = simulate(w.bundle)
    with _device(TINY) as dev:
        res = run_bundle(dev, w.bundle)
    assert res.cycles == ref.cycles
    assert res.read(w.bundle, w.output) == ref.read(w.bundle, w.output)
    assert res.dram == ref.dram


# wide: 8-byte bus, so micro-ops move as narrow 4-byte beats; edge: the shortest DRAM
# latency (L = 1: the block RAM read is issued in the request's own cycle) on a bus wider than
# every tiny element but wgt
EDGE = TINY.replace(name="tiny-l1-bus8", dram_latency=1, log_dram_bytes_per_cycle=3)


@pytest.mark.parametrize("cfg", [TINY, WIDE, EDGE], ids=lambda c: c.name)
def test_corpus_cycle_exact(cfg):
    # a fresh SoC per program: on-chip buffers keep values across runs (as on a board), and a
    # few corpus programs read buffer elements they never wrote (zeros on a fresh machine)
    names = list(CORPUS) if cfg is TINY else ["gemm_basic", "alu_all_ops", "matmul_vt2",
                                                "store_overlapping_rows", "load_acc8_store"]
    for name in names:
        b = CORPUS[name](cfg)
        ref = simulate(b)
        with _device(cfg) as dev:
            res = run_bundle(dev, b)
        assert (name, res.cycles) == (name, ref.cycles)
        assert res.dram == ref.dram, name


def test_abort_recovers_from_a_deadlocked_program_and_busy_is_refused():
    bb = BundleBuilder(TINY)
    bb.alloc("pad", 64)
    bb.set_program([isa.Gemm(uop_bgn=0, uop_end=0, iter_out=1, iter_in=1, pop_prev=True),
                    isa.Finish()])  # waits for a load->compute token nobody pushes
    stuck = bb.build()
    w = blocked_matmul(TINY, 8, 8, 16)
    ref = simulate(w.bundle)
    with _device(TINY) as dev:
        with pytest.raises(DeadlockError):  # validation refuses it ...
            dev.load(stuck)
    with _device(TINY, validate=False) as dev:  # ... so run the raw bits
        h = dev.load(stuck)
        dev.launch(h, wait=False)
        with pytest.raises(FpgaDeviceError, match="BUSY|running"):
            dev.link.read(0, 4)  # the bridge refuses DRAM access while the core runs
        with pytest.raises(FpgaTimeoutError, match="ABORT"):
            dev.synchronize(timeout=0.5)
        res = run_bundle(dev, w.bundle)  # the core was reset: the next run is exact again
    # (linked after the stuck program: its instruction words differ, its data must not)
    assert res.cycles == ref.cycles
    assert res.read(w.bundle, w.output) == ref.read(w.bundle, w.output)


def test_out_of_range_dram_access_is_reported():
    bb = BundleBuilder(TINY)
    bb.alloc("pad", 64)
    far = (1 << 20) // TINY.inp_elem_bytes  # 1 MiB: past the SoC's 64 KiB
    bb.set_program([isa.Load(mem=isa.MemType.INP, dram_base=far, y_size=1, x_size=1,
                             x_stride=1), isa.Finish()])
    with _device(TINY) as dev:  # the simulator's DRAM is the image: out of range there too
        with pytest.raises(OutOfRangeError):
            run_bundle(dev, bb.build())
    with _device(TINY, validate=False) as dev:
        with pytest.raises(FpgaDeviceError, match="past the SoC"):
            run_bundle(dev, bb.build())


def test_raw_frames_bad_crc_and_garbage():
    from vta_hw.soc.sim import SocSimProcess

    proc = SocSimProcess(TINY)
    try:
        frame = bytearray(P.request(P.Cmd.STATUS))
        frame[-1] ^= 0x5A
        proc.write(b"\x00\xff" + bytes(frame))
        assert proc.read(5, 30) == P.reply(P.Status.BAD_CRC)
        proc.write(P.request(P.Cmd.READ, P.read_payload(0, 0)))
        assert proc.read(5, 30) == P.reply(P.Status.BAD_ARG)
    finally:
        proc.close()
