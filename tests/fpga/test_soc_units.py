"""SoC building blocks that need no simulation: PLL dividers, option checks, elaboration."""

from __future__ import annotations

import pytest

from vta_hw.config import TINY
from vta_hw.soc.clocking import VCO_MAX, VCO_MIN, ecp5_pll
from vta_hw.soc.errors import SocError
from vta_hw.soc.memory import check_dram_bytes
from vta_hw.soc.soc import BoardTop, SocOptions


@pytest.mark.parametrize("mhz", [100, 75, 50, 125, 60, 33.333])
def test_pll_hits_the_target_with_a_legal_vco(mhz):
    p = ecp5_pll(25e6, mhz * 1e6)
    assert VCO_MIN <= p.fvco_hz <= VCO_MAX
    assert p.fout_hz == pytest.approx(25e6 / p.clki_div * p.clkfb_div)
    assert p.fvco_hz == pytest.approx(p.fout_hz * p.clkop_div)
    assert abs(p.fout_hz - mhz * 1e6) / (mhz * 1e6) < 0.01


def test_pll_100mhz_is_the_ecppll_setting():
    p = ecp5_pll(25e6, 100e6)
    assert (p.clki_div, p.clkfb_div, p.clkop_div, p.clkop_cphase) == (1, 4, 6, 3)


def test_pll_refuses_unreachable_targets():
    with pytest.raises(SocError, match="outside the ECP5 PLL"):
        ecp5_pll(25e6, 500e6)


@pytest.mark.parametrize("size, match", [(3000, "power of two"), (64, "smaller than 64"),
                                         (1 << 25, "16 MiB")])
def test_dram_size_checks(size, match):
    with pytest.raises(SocError, match=match):
        check_dram_bytes(TINY, size)


def test_board_top_refuses_a_baud_the_clock_cannot_make():
    with pytest.raises(SocError, match="too fast"):
        BoardTop(TINY.replace(target_clock_mhz=10), SocOptions(baud=3_000_000), osc_hz=25e6)


def test_soc_elaborates_for_the_ulx3s_with_its_pins():
    from amaranth_boards.ulx3s import ULX3S_85F_Platform

    plan = ULX3S_85F_Platform().prepare(BoardTop(TINY, SocOptions(dram_bytes=4096),
                                                 osc_hz=25e6), name="vta_soc")
    lpf = plan.files["vta_soc.lpf"]
    assert 'LOCATE COMP "uart_0__rx__io" SITE "M1"' in lpf
    assert 'LOCATE COMP "uart_0__tx__io" SITE "L4"' in lpf
    assert 'FREQUENCY PORT "clk25_0__io" 25000000' in lpf
    assert "EHXPLLL" in plan.files["vta_soc.il"]
