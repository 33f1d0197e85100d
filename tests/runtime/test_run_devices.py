"""`vta run --device ...`: one bundle, every accelerator device, same cycles and bytes."""

import pytest

from runtime.device import DeviceError
from runtime.devices import open_device, run_bundle
from tests.programs.corpus import CORPUS
from vta_hw.config import TINY
from vta_sim import simulate


def test_open_device_rejects_unknown_specs():
    for spec in ("gpu", "rtl:icarus", "sim:x", ""):
        with pytest.raises(DeviceError, match="unknown device"):
            open_device(spec, TINY)
    with pytest.raises(DeviceError, match="serial port"):
        open_device("fpga:", TINY)


def test_vta_run_on_the_simulator(tmp_path, capsys):
    from vta.cli import main

    b = CORPUS["matmul_vt2"](TINY)
    path = b.save(tmp_path / "m.vtab")
    assert main(["run", str(path), "--dram-out", str(tmp_path / "d.bin")]) == 0
    want = simulate(b)
    assert capsys.readouterr().out.splitlines()[0] == f"cycles: {want.cycles}"
    assert (tmp_path / "d.bin").read_bytes() == want.dram
    assert main(["run", str(path), "--device", "nope"]) == 2


@pytest.mark.cosim
@pytest.mark.usefixtures("needs_verilator")
@pytest.mark.parametrize("spec", ["rtl", "fpga:sim"])
def test_every_device_agrees_with_the_simulator(spec):
    b = CORPUS["gemm_basic"](TINY)
    want = simulate(b)
    dev = open_device(spec, TINY)
    try:
        got = run_bundle(dev, b)
    finally:
        getattr(dev, "close", lambda: None)()
    assert got.cycles == want.cycles
    assert got.dram == want.dram
