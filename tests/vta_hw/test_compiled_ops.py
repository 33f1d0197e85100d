"""Compiled operators on the RTL: what the compiler emits runs on Verilator with the
simulator's bytes and cycles, and its output is the numpy reference's.

The corpus is ``tests/programs/compiled_ops.py`` (conv2d strided / padded / first layer /
im2col / partial tiles, depthwise, dense, max and average pooling, element-wise, per-channel
requantization, chained operators).  Each case is checked three ways: the simulator's
output equals the numpy reference; the RTL's final DRAM image equals the simulator's, byte
for byte; and the RTL's cycle count equals the simulator's.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.programs.compiled_ops import CASES, LARGE_CASES, CompiledCase, applicable
from vta_hw.config import DEFAULT_85F
from vta_sim import simulate

from .conftest import PRESETS as _HW_PRESETS

pytestmark = pytest.mark.cosim

# the four presets, default-85f (the FPGA figures' configuration) included
PRESETS = {**_HW_PRESETS, DEFAULT_85F.name: DEFAULT_85F}


def _params(cases: dict) -> list:
    """(preset, case) pairs the case can be built for (``wide`` has no conv -> conv chain:
    its conv outputs are blocked by 16 channels, its conv inputs by 8)."""
    return [pytest.param(preset, name, id=f"{preset}-{name}")
            for preset in sorted(PRESETS) for name in sorted(cases)
            if applicable(name, PRESETS[preset]) is None]


def test_every_case_runs_on_square_presets():
    """Only a block_in != block_out preset may leave a case out."""
    for preset, cfg in PRESETS.items():
        left_out = [n for n in {**CASES, **LARGE_CASES} if applicable(n, cfg) is not None]
        want = [] if cfg.block_in == cfg.block_out else ["chain_conv_conv"]
        assert left_out == want, preset


def first_difference(case: CompiledCase, want: bytes, got: bytes) -> str:
    """Where two final DRAM images first differ: symbol, offset, both bytes."""
    if len(want) != len(got):
        return f"image sizes differ: {len(want)} and {len(got)} bytes"
    diff = np.flatnonzero(np.frombuffer(want, np.uint8) != np.frombuffer(got, np.uint8))
    at = int(diff[0])
    where = f"byte {at}"
    for sym, r in case.bundle.symbols.items():
        if r.addr <= at < r.addr + r.nbytes:
            where = f"symbol {sym!r} byte {at - r.addr} (image byte {at})"
    return (f"{len(diff)} byte(s) differ, first at {where}: simulator {want[at]:#04x}, "
            f"RTL {got[at]:#04x}")


def check_case(case: CompiledCase) -> tuple[int, float]:
    """Simulator == numpy, RTL == simulator (bytes and cycles); returns (cycles, RTL s)."""
    from vta_hw.cosim.verilator import run_bundle

    sim = simulate(case.bundle)
    np.testing.assert_array_equal(case.output(sim.dram), case.expected,
                                  err_msg=f"{case.name}: simulator output != numpy reference")
    rtl = run_bundle(case.bundle)
    assert rtl.dram == sim.dram, f"{case.name}: {first_difference(case, sim.dram, rtl.dram)}"
    assert rtl.cycles == sim.cycles, (f"{case.name}: RTL {rtl.cycles} cycles, simulator "
                                      f"{sim.cycles}")
    np.testing.assert_array_equal(case.output(rtl.dram), case.expected)
    return sim.cycles, rtl.wall_s


@pytest.mark.parametrize(("preset", "name"), _params(CASES))
def test_compiled_op_on_rtl(verilator_model, preset, name):
    cfg = PRESETS[preset]
    verilator_model(cfg)
    check_case(CASES[name](cfg))


@pytest.mark.slow
@pytest.mark.parametrize(("preset", "name"), _params(LARGE_CASES))
def test_large_compiled_op_on_rtl(verilator_model, preset, name):
    """ResNet-18-sized layers: hundreds of thousands of cycles each."""
    cfg = PRESETS[preset]
    verilator_model(cfg)
    check_case(LARGE_CASES[name](cfg))


@pytest.mark.parametrize("preset", ["tiny", "default"])
def test_compiled_ops_under_dram_backpressure(verilator_model, preset):
    """A slow, bursty DRAM (refused requests, gaps, late acknowledges) under every compiled
    case: the same final image, and never fewer cycles than the contract's timing."""
    from vta_hw.cosim.verilator import run_bundle

    cfg = PRESETS[preset]
    verilator_model(cfg)
    for seed, name in enumerate(sorted(CASES)):
        case = CASES[name](cfg)
        sim = simulate(case.bundle)
        rtl = run_bundle(case.bundle, backpressure_seed=seed)
        assert rtl.dram == sim.dram, f"{name}: {first_difference(case, sim.dram, rtl.dram)}"
        assert rtl.cycles >= sim.cycles, name
