"""Every accelerator device validates a bundle as the simulator does before running it, and
every run has a cycle bound: random instruction bytes, a hazard, a race or a too-small
``--max-cycles`` end at once with one ``error:`` line and exit status 2, never a hang."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from runtime.devices import open_device, run_bundle
from runtime.validate import BOUND_FACTOR, BOUND_SLACK_CYCLES, cycle_bound, validate_bundle
from tests.programs.corpus import CORPUS
from vta_hw import isa
from vta_hw.bundle import Bundle, BundleBuilder
from vta_hw.config import TINY
from vta_sim import (
    CycleLimitError,
    DeadlockError,
    HazardError,
    IllegalInstructionError,
    RaceError,
    simulate,
)

ROOT = Path(__file__).resolve().parents[2]
DEVICES = ["rtl", "rtl:amaranth", "fpga:sim"]
TIMEOUT = 60  # seconds: the failures below take a Python start-up and a simulation


def random_bytes_bundle() -> Bundle:
    raw = np.random.default_rng(0).integers(0, 256, 64 * isa.INSN_BYTES, dtype=np.uint8)
    return Bundle(TINY, raw.tobytes(), 0, 64)


def hazard_bundle() -> Bundle:
    """A GEMM whose second iteration reads the accumulator the first is still writing."""
    bb = BundleBuilder(TINY)
    ur = bb.add_uops("uops", [isa.Uop(0, 0, 0)])
    bb.set_program([isa.Load(mem=isa.MemType.UOP, dram_base=ur.addr // 4, y_size=1, x_size=1,
                             x_stride=1),
                    isa.Gemm(uop_bgn=0, uop_end=1, iter_out=1, iter_in=2), isa.Finish()])
    return bb.build()


def race_bundle() -> Bundle:
    """A STORE of out[0] that no token orders after the GEMM writing it."""
    bb = BundleBuilder(TINY)
    ur = bb.add_uops("uops", [isa.Uop(0, 0, 0)])
    out = bb.alloc("out", TINY.out_elem_bytes)
    bb.set_program([isa.Load(mem=isa.MemType.UOP, dram_base=ur.addr // 4, y_size=1, x_size=1,
                             x_stride=1),
                    isa.Gemm(uop_bgn=0, uop_end=1, iter_out=1, iter_in=1),
                    isa.Store(mem=isa.MemType.OUT, dram_base=out.addr // TINY.out_elem_bytes,
                              y_size=1, x_size=1, x_stride=1, push_prev=True),
                    isa.Finish(pop_next=True)])
    return bb.build()


def vta(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "vta.cli", *args], capture_output=True,
                          text=True, timeout=TIMEOUT, cwd=ROOT, env=env)


def assert_one_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("error: ") and "Traceback" not in proc.stderr
    assert sum(ln.startswith("error:") for ln in lines) == 1
    for n in needles:
        assert n in proc.stderr, proc.stderr


@pytest.mark.parametrize("device", DEVICES)
def test_vta_run_rejects_random_bytes_at_once(tmp_path, device):
    path = random_bytes_bundle().save(tmp_path / "rand.vtab")
    assert_one_error(vta("run", str(path), "--device", device), "instruction 0",
                     "unknown opcode")


def test_vta_rtl_sim_rejects_random_bytes_hazards_and_races(tmp_path):
    for name, bundle, needle in (("rand", random_bytes_bundle(), "unknown opcode"),
                                 ("hazard", hazard_bundle(), "read-after-write window"),
                                 ("race", race_bundle(), "1 data race")):
        path = bundle.save(tmp_path / f"{name}.vtab")
        sim = vta("sim", str(path), "--check-races")
        assert_one_error(sim, needle)
        rtl = vta("rtl-sim", str(path))
        assert_one_error(rtl, needle)
        assert rtl.stderr.splitlines()[0] == sim.stderr.splitlines()[0]


@pytest.mark.parametrize("device", DEVICES)
def test_vta_run_rejects_a_hazard_as_vta_sim_does(tmp_path, device):
    path = hazard_bundle().save(tmp_path / "hazard.vtab")
    sim = vta("sim", str(path))
    assert_one_error(sim, "instruction 1 (GEMM)", "read-after-write window")
    run = vta("run", str(path), "--device", device)
    assert_one_error(run)
    assert run.stderr == sim.stderr


def test_cycle_bound_flag(tmp_path):
    b = CORPUS["gemm_basic"](TINY)
    cycles = simulate(b).cycles
    path = b.save(tmp_path / "g.vtab")
    for cmd in (("sim",), ("run", "--device", "rtl"), ("rtl-sim",)):
        assert_one_error(vta(*cmd, str(path), "--max-cycles", str(cycles - 1)),
                         f"bound of {cycles - 1} cycles")
    bad = vta("run", str(path), "--max-cycles", "0")  # argparse's usage error
    assert bad.returncode == 2 and "--max-cycles: 0 must be at least 1" in bad.stderr


def test_devices_validate_before_running():
    """Direct use of the devices (no CLI): the RTL device raises the simulator's errors
    before building or running anything; the simulator device checks races too."""
    for spec in ("sim", "rtl", "rtl:amaranth"):
        dev = open_device(spec, TINY)
        with pytest.raises(HazardError) as e:
            run_bundle(dev, hazard_bundle())
        with pytest.raises(HazardError) as want:
            simulate(hazard_bundle())
        assert str(e.value) == str(want.value)
        with pytest.raises(IllegalInstructionError, match="unknown opcode"):
            run_bundle(dev, random_bytes_bundle())
        with pytest.raises(RaceError):
            run_bundle(dev, race_bundle())
    with pytest.raises(CycleLimitError):
        run_bundle(open_device("rtl", TINY, max_cycles=10), CORPUS["gemm_basic"](TINY))


def test_default_bound_is_derived_from_the_simulated_run():
    b = CORPUS["store_overlapping_rows"](TINY)
    r = validate_bundle(b)
    span = max(x.retire for x in r.records) + 1
    assert span >= r.cycles
    assert cycle_bound(r) == BOUND_FACTOR * span + BOUND_SLACK_CYCLES
    assert cycle_bound(r, backpressure=True) > cycle_bound(r)


@pytest.mark.cosim
def test_rtl_device_runs_within_its_default_bound():
    """The bound is not in the way of a valid run, and the RTL's own bound fires: a run
    given fewer cycles than it needs (validation skipped by bounding only the RTL) ends
    with a clear error."""
    from runtime.device import DeviceError
    from runtime.rtl_device import RtlSimDevice

    b = CORPUS["matmul_vt2"](TINY)
    want = simulate(b)
    got = run_bundle(open_device("rtl", TINY), b)
    assert (got.cycles, got.dram) == (want.cycles, want.dram)

    class Unvalidated(RtlSimDevice):  # the RTL alone, with a bound below the run
        def _execute(self, image, program):
            from vta_hw.cosim.verilator import run_image

            try:
                run_image(self.cfg, image, program.insn_addr, program.insn_count,
                          max_cycles=want.cycles // 2)
            except Exception as e:
                raise DeviceError(f"rtl-sim: {e}") from e
            raise AssertionError("the RTL ran past its bound")

    with pytest.raises(DeviceError, match=f"did not finish within {want.cycles // 2} cycles"):
        run_bundle(Unvalidated(TINY), b)


@pytest.mark.cosim
def test_fpga_device_aborts_a_run_past_its_cycle_bound():
    """The simulated SoC running raw bits (validation off) that never finish: the cycle
    bound ends the run, long before the wall-clock timeout."""
    from runtime.fpga_device import FpgaTimeoutError, open_fpga_device

    bb = BundleBuilder(TINY)
    bb.alloc("pad", 64)
    bb.set_program([isa.Gemm(uop_bgn=0, uop_end=0, iter_out=1, iter_in=1, pop_prev=True),
                    isa.Finish()])  # waits for a token nobody pushes
    stuck = bb.build()
    with open_fpga_device("fpga:sim", TINY, max_cycles=2000, validate=False,
                          timeout=50) as dev:
        with pytest.raises(FpgaTimeoutError, match="passed its bound of 2000 cycles"):
            run_bundle(dev, stuck)
        good = CORPUS["gemm_basic"](TINY)
        assert run_bundle(dev, good).cycles == simulate(good).cycles  # the core was reset
    with open_fpga_device("fpga:sim", TINY) as dev, pytest.raises(DeadlockError):
        dev.load(stuck)
