"""The SoC DRAM copy built from hand-instantiated DP16KDs against the behavioural one.

``DramCopy(primitive="dp16kd")`` is what the board gets; ``"memory"`` is what every
simulation (``test_memory.py``, the Verilator SoC) runs.  Two checks that the first is the
second:

* in Amaranth's simulator, the DP16KD wiring (address bit placement per mode, data bits,
  byte-lane write enables, read enable, output register) driven through a DP16KD model
  (``dp16kd_model.py``: Yosys's ECP5 library has no DP16KD behaviour, only its pin list, which
  the model enforces) must give the behavioural copy's ``rdata`` in every cycle, under random
  byte-enabled writes and random reads, at each geometry (16Kx1: ``tiny``; 2Kx9:
  ``default-85f``; 8Kx2, 4Kx4);
* in Yosys, the copy is exactly the expected DP16KD cells, every pin and parameter known to
  the ECP5 cell library, ``REGMODE_B = OUTREG``, and each ``rdata`` bit a DOB pin itself (no
  cascade mux, no logic between the block and the output queue).
"""

from __future__ import annotations

import json
import random
import subprocess

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module
from amaranth.sim import Simulator

from tests.fpga.dp16kd_model import Dp16kdModel
from vta_hw.config import TINY
from vta_hw.soc.dram_copy import DramCopy, dp16kd_mode
from vta_hw.soc.errors import SocError
from vta_hw.soc.memory import SocMemory

# (lanes, depth): tiny's copy (64 KiB, 4-byte bus), default-85f's (16 KiB, 8-byte bus), the
# two modes between
GEOMETRIES = [(4, 16384), (8, 2048), (2, 8192), (1, 4096)]


def _built(lanes: int, depth: int) -> DramCopy:
    """The DP16KD copy of that geometry, looked at but not elaborated."""
    copy = DramCopy(lanes, depth, outreg=True, primitive="dp16kd")
    copy._MustUse__silence = True
    return copy


def test_mode_is_the_widest_that_holds_the_whole_depth():
    assert dp16kd_mode(16384) == (1, 1, 0)
    assert dp16kd_mode(8192) == (2, 2, 1)
    assert dp16kd_mode(4096) == (4, 4, 2)
    assert dp16kd_mode(2048) == (9, 8, 3)
    assert dp16kd_mode(64) == (9, 8, 3)  # 1Kx18 would straddle two byte lanes
    assert dp16kd_mode(32768) is None
    assert _built(4, 16384).blocks == 32  # tiny
    assert _built(8, 2048).blocks == 8  # default-85f
    deep = _built(1, 32768)
    assert deep.primitive == "memory" and deep.blocks == 0  # falls back to the Memory


def test_unknown_primitive_is_refused():
    with pytest.raises(SocError, match="'bram'"):
        DramCopy(4, 1024, outreg=True, primitive="bram")
    with pytest.raises(SocError, match="'bram'"):
        SocMemory(TINY, 4096, primitive="bram")


@pytest.mark.parametrize("outreg", [True, False])
@pytest.mark.parametrize(("lanes", "depth"), GEOMETRIES)
def test_dp16kd_copy_reads_what_the_behavioural_copy_reads(lanes, depth, outreg):
    ref = DramCopy(lanes, depth, outreg=outreg)
    hw = DramCopy(lanes, depth, outreg=outreg, primitive="dp16kd", cell=Dp16kdModel)
    assert hw.primitive == "dp16kd"
    m = Module()
    m.submodules.ref, m.submodules.hw = ref, hw
    rng = random.Random(depth * 10 + lanes + outreg)
    # a small address set (spread over the whole depth, high and low address bits) so that
    # reads hit written words often
    addrs = [0, depth - 1, depth // 2, 1] + [rng.randrange(depth) for _ in range(12)]
    checked = []

    async def bench(ctx):
        for cycle in range(400):
            wen = rng.randrange(1 << lanes) if rng.random() < 0.6 else 0
            waddr, wdata = rng.choice(addrs), rng.getrandbits(8 * lanes)
            ren, raddr = int(rng.random() < 0.6), rng.choice(addrs)
            for c in (ref, hw):
                ctx.set(c.waddr, waddr)
                ctx.set(c.wen, wen)
                ctx.set(c.wdata, wdata)
                ctx.set(c.raddr, raddr)
                ctx.set(c.ren, ren)
            await ctx.tick()
            want = ctx.get(ref.rdata)
            assert ctx.get(hw.rdata) == want, f"cycle {cycle}"
            checked.append(want)

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert len({v for v in checked if v}) > 50  # the comparison saw many written words


def _yosys_json(copy: DramCopy, tmp_path) -> dict:
    from vta_hw.fpga.flow import tool

    (tmp_path / "copy.il").write_text(rtlil.convert(copy, name="copy"))
    # the ECP5 cell library as synth_ecp5 reads it; -check: every pin must exist on the cell
    script = ("read_verilog -lib -specify +/ecp5/cells_sim.v +/ecp5/cells_bb.v; "
              "read_rtlil copy.il; hierarchy -check -purge_lib -top copy; proc; flatten; "
              "opt_clean; write_json copy.json")
    run = subprocess.run([*tool("yosys"), "-q", "-p", script], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads((tmp_path / "copy.json").read_text())["modules"]["copy"]


@pytest.mark.parametrize(("lanes", "depth", "width", "blocks"),
                         [(4, 16384, 1, 32), (8, 2048, 9, 8)])
def test_yosys_sees_one_outreg_dp16kd_per_rdata_bit_group(tmp_path, lanes, depth, width,
                                                          blocks):
    mod = _yosys_json(DramCopy(lanes, depth, outreg=True, primitive="dp16kd"), tmp_path)
    cells = [c for c in mod["cells"].values() if c["type"] == "DP16KD"]
    assert len(cells) == blocks
    assert all(c["type"] == "DP16KD" for c in mod["cells"].values())  # nothing else
    for c in cells:
        p = c["parameters"]
        assert p["REGMODE_B"] == "OUTREG" and int(p["DATA_WIDTH_B"], 2) == width
    rdata = mod["ports"]["rdata"]["bits"]
    dob = [b for c in cells for pin, bits in c["connections"].items() if pin.startswith("DOB")
           for b in bits]
    assert sorted(rdata) == sorted(dob)  # each rdata bit is one DOB pin, nothing between
