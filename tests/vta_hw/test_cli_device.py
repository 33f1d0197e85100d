"""``vta hw verilog``, ``vta rtl-sim`` and the RtlSimDevice."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.programs.corpus import CORPUS
from vta.cli import main
from vta_hw.config import TINY
from vta_sim import DeadlockError, simulate

from .helpers import deadlock_program


def test_hw_verilog_writes_verilog_and_record(tmp_path, capsys):
    assert main(["hw", "verilog", "--preset", "tiny", "-o", str(tmp_path / "v")]) == 0
    text = (tmp_path / "v" / "vta_core.v").read_text()
    assert "module vta_core(" in text
    rec = json.loads((tmp_path / "v" / "vta_core.json").read_text())
    assert rec["config_hash"] == TINY.config_hash() and rec["config"] == TINY.primaries()
    assert rec["ports"]["ctrl__cycles"] == [64, "out"]
    assert rec["ports"]["load_dram__rd_data"] == [8 * TINY.dram_bytes_per_cycle, "in"]
    assert "verilog:" in capsys.readouterr().out


def test_hw_verilog_rejects_a_bad_config(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"log_block_in": 9}))
    assert main(["hw", "verilog", "--config", str(bad), "-o", str(tmp_path / "v")]) == 2
    assert "log_block_in" in capsys.readouterr().err


@pytest.mark.cosim
def test_rtl_sim_cli_prints_cycles_like_sim(verilator_model, tmp_path, capsys):
    verilator_model(TINY)
    path = tmp_path / "p.vtab"
    CORPUS["matmul_vt2"](TINY).save(path)
    out_dram = tmp_path / "final.bin"
    assert main(["rtl-sim", str(path), "--preset", "tiny", "--dram-out", str(out_dram)]) == 0
    rtl_lines = capsys.readouterr().out.splitlines()
    assert main(["sim", str(path)]) == 0
    sim_lines = capsys.readouterr().out.splitlines()
    assert rtl_lines[0] == sim_lines[0] and rtl_lines[0].startswith("cycles: ")
    assert out_dram.read_bytes() == simulate(CORPUS["matmul_vt2"](TINY)).dram
    # wrong config, deadlock: one-line errors (the deadlock found by the simulator's
    # validation before the RTL runs)
    assert main(["rtl-sim", str(path), "--preset", "default"]) == 2
    assert "built for config" in capsys.readouterr().err
    deadlock_program(TINY, "token").save(tmp_path / "dl.vtab")
    assert main(["rtl-sim", str(tmp_path / "dl.vtab")]) == 2
    assert "deadlock: compute instruction 0 (GEMM) waits" in capsys.readouterr().err


@pytest.mark.cosim
def test_rtl_sim_cli_waveform(verilator_model, tmp_path, capsys):
    path = tmp_path / "p.vtab"
    CORPUS["single_load"](TINY).save(path)
    wave = tmp_path / "w.vcd"
    assert main(["rtl-sim", str(path), "--wave", str(wave)]) == 0
    assert wave.read_text().startswith("$") and "ctrl__cycles" in wave.read_text()
    assert main(["rtl-sim", str(path), "--amaranth", "--wave", str(tmp_path / "a.vcd")]) == 0
    assert (tmp_path / "a.vcd").stat().st_size > 0


@pytest.mark.cosim
def test_rtl_device_runs_a_bundle_with_new_inputs(verilator_model):
    from runtime.device import DeviceError
    from runtime.rtl_device import RtlSimDevice

    verilator_model(TINY)
    bundle = CORPUS["gemm_basic"](TINY)
    dev = RtlSimDevice(TINY)
    prog = dev.load(bundle)
    # fresh input data through copy_in, compared with the simulator on the same image
    name = next(n for n in bundle.symbols if n.startswith("inp"))
    buf = prog.buffer(name)
    new = np.random.default_rng(2).integers(-128, 128, buf.nbytes, dtype=np.int8)
    dev.copy_in(buf, new)
    image = dev.dram
    res = dev.launch(prog)
    dev.synchronize()
    from vta_sim import simulate_image

    want = simulate_image(TINY, image, bundle.insn_addr, bundle.insn_count)
    assert res.cycles == want.cycles and res.device == "rtl-sim"
    assert dev.dram == want.dram
    out = next(n for n in bundle.symbols if n.startswith("out"))
    assert dev.copy_out(prog.buffer(out)) == bundle.read(out, want.dram)
    extra = dev.allocate(100)
    assert extra.handle >= len(bundle.dram) and extra.handle % dev.align == 0
    with pytest.raises(DeviceError, match="built for config"):
        RtlSimDevice(TINY.replace(name="other", dram_latency=5)).load(bundle)
    with pytest.raises(DeadlockError, match="deadlock: compute instruction 0 .GEMM. waits"):
        dev.launch(dev.load(deadlock_program(TINY, "token")))  # validated before it runs
