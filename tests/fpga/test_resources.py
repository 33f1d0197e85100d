"""The early fit estimate: block RAM tiling, DSP plans, and clear refusals."""

from __future__ import annotations

import pytest

from vta_hw.config import DEFAULT, TINY, WIDE
from vta_hw.fpga.flow import FlowError, FlowOptions, fit, synth_script
from vta_hw.fpga.resources import (
    DEVICES,
    FitError,
    bram_blocks,
    check_fit,
    dsp_plan,
    estimate,
    largest_dram_that_fits,
)

ECP5_85 = DEVICES["LFE5U-85F"]


def test_bram_tiling_matches_what_yosys_chose():
    # measured on the tiny SoC: 108 DP16KD (three 64 KiB DRAM copies + buffers + bridge)
    assert bram_blocks(32, 16384, pdp=False) == 32  # a 64 KiB DRAM copy, 32-bit bus
    assert bram_blocks(128, 64) == 4  # tiny wgt buffer: 64 x 16 bytes
    assert bram_blocks(128, 8) == 0  # command FIFO: LUT RAM
    assert bram_blocks(2048, 1024) == 114  # default wgt buffer: 256 KiB
    assert estimate(TINY, ECP5_85, 65536).used["dp16kd"] == 108


def test_default_preset_does_not_fit_the_85f_and_the_message_names_block_ram():
    est = estimate(DEFAULT, ECP5_85, 4096)
    with pytest.raises(FitError) as e:
        check_fit(est)
    msg = str(e.value)
    assert "DP16KD" in msg and "wgt 114" in msg and "LFE5U-85F" in msg
    assert largest_dram_that_fits(DEFAULT, ECP5_85, upper=65536) is None


def test_flow_refuses_before_running_any_tool(tmp_path):
    with pytest.raises(FitError, match="DP16KD"):
        fit(DEFAULT, FlowOptions())
    with pytest.raises(FitError, match="LFE5U-25F"):
        fit(WIDE, FlowOptions(board="ulx3s-25f"))


def test_dsp_plan_puts_excess_gemm_products_in_luts():
    assert dsp_plan(TINY, ECP5_85).soft_products == 0
    p = dsp_plan(DEFAULT, ECP5_85)
    assert p.alu_dsps == 48 and p.dsps == 156 and p.soft_products == 256 - 108
    script = synth_script(estimate(DEFAULT.replace(log_wgt_buff_depth=9), ECP5_85, 16384),
                          FlowOptions())
    assert "%R148" in script and "booth @soft" in script
    assert "-nodsp" in synth_script(estimate(TINY, ECP5_85, 16384), FlowOptions(dsp="lut"))


def test_dsp_policy_dsp_refuses_what_cannot_map():
    with pytest.raises(FlowError, match="MULT18X18D"):
        fit(WIDE, FlowOptions(dsp="dsp", dram_bytes=16384))


def test_auto_dram_is_the_largest_that_fits():
    b, dram, _ = fit(TINY, FlowOptions())
    assert dram == 65536
    variant = DEFAULT.replace(name="default-85f", log_wgt_buff_depth=9)
    assert largest_dram_that_fits(variant, ECP5_85, upper=65536) == 16384


def test_bad_dram_size_is_named():
    from vta_hw.soc.errors import SocError

    with pytest.raises(SocError, match="power of two"):
        fit(TINY, FlowOptions(dram_bytes=3000))
