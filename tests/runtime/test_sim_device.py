"""The simulator as a Device: the same verbs as the RTL and FPGA devices."""

import numpy as np
import pytest

from runtime.device import DeviceError
from runtime.sim_device import SimDevice
from tests.programs.corpus import CORPUS
from vta_hw.config import TINY, WIDE
from vta_sim import simulate_image


def test_sim_device_runs_bundles_with_new_inputs():
    bundle = CORPUS["gemm_basic"](TINY)
    dev = SimDevice(TINY)
    prog = dev.load(bundle)
    buf = prog.buffer("inp")
    dev.copy_in(buf, np.random.default_rng(3).integers(-128, 128, buf.nbytes, dtype=np.int8))
    image = dev.dram
    res = dev.launch(prog)
    dev.synchronize()
    want = simulate_image(TINY, image, bundle.insn_addr, bundle.insn_count, check_races=True)
    assert res.cycles == want.cycles == res.detail.cycles
    assert res.stats == want.stats and res.device == "sim" and res.wall_seconds > 0
    assert dev.copy_out(prog.buffer("out")) == bundle.read("out", want.dram)
    extra = dev.allocate(10)
    assert extra.handle >= len(bundle.dram) and extra.handle % dev.align == 0


def test_sim_device_errors():
    dev = SimDevice(TINY)
    with pytest.raises(DeviceError, match="built for config"):
        dev.load(CORPUS["finish_only"](WIDE))
    with pytest.raises(DeviceError, match="expected a vta_hw.bundle.Bundle"):
        dev.load("nope")
    prog = dev.load(CORPUS["finish_only"](TINY))
    with pytest.raises(DeviceError, match="no symbol 'zz'"):
        prog.buffer("zz")
    with pytest.raises(DeviceError, match="copy_in of 9999 bytes"):
        dev.copy_in(prog.buffer("out"), bytes(9999))
    with pytest.raises(DeviceError, match="only the program handle"):
        dev.launch(prog, 1)
    with pytest.raises(DeviceError, match="returned by this device"):
        dev.launch(object())
