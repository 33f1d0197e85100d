"""Report parsing on output captured from the real tools (Yosys 0.70, nextpnr-0.11.1)."""

from __future__ import annotations

import json

import pytest

from vta_hw.fpga.report import (
    ClockTiming,
    FpgaReport,
    ReportError,
    ResourceUse,
    nextpnr_errors,
    parse_nextpnr_fmax,
    parse_nextpnr_prepack,
    parse_nextpnr_utilisation,
    parse_yosys_stat,
    resources_from_nextpnr,
    resources_from_yosys,
    yosys_lut4_estimate,
)
from vta_hw.fpga.resources import DEVICES

# nextpnr-ecp5 --85k ... --log nextpnr.log, tiny preset SoC (trimmed, tabs as printed)
NEXTPNR_LOG = """\
Info: constraining clock net 'clk25_0__io' to 25.00 MHz

Info: Logic utilisation before packing:
Info:     Total LUT4s:     10713/83640    12%
Info:         logic LUTs:   8035/83640     9%
Info:         carry LUTs:   2156/83640     2%
Info:           RAM LUTs:    348/10455     3%
Info:          RAMW LUTs:    174/20910     0%

Info:      Total DFFs:      3363/83640     4%

Info: Packing IOs..
Info: Generating derived timing constraints...
Info:     Input frequency of PLL 'pll.pll' is constrained to 25.0 MHz
Info:     Derived frequency constraint of 100.0 MHz for net pll.clk
Info: Device utilisation:
Info: \t          TRELLIS_IO:      13/    365     3%
Info: \t                DCCA:       1/     56     1%
Info: \t              DP16KD:     108/    208    51%
Info: \t          MULT18X18D:      28/    156    17%
Info: \t              ALU54B:       0/     78     0%
Info: \t             EHXPLLL:       1/      4    25%
Info: \t          TRELLIS_FF:    3363/  83640     4%
Info: \t        TRELLIS_COMB:   11195/  83640    13%
Info: \t        TRELLIS_RAMW:      87/  10455     0%

Info: Placed 14 cells based on constraints.
Info: Max frequency for clock '$glbnet$pll.clk': 35.93 MHz (FAIL at 100.00 MHz)

Info: Max delay <async>                 -> posedge $glbnet$pll.clk: 6.48 ns
Info: Routing complete.
Warning: Max frequency for clock '$glbnet$pll.clk': 38.67 MHz (FAIL at 100.00 MHz)

Info: Max delay <async>                 -> posedge $glbnet$pll.clk: 4.12 ns
2 warnings, 0 errors

Info: Program finished normally.
"""

# the end of yosys -l yosys.log for synth_ecp5 (Yosys 0.70 prints count before name)
YOSYS_LOG = """\
2.51. Printing statistics.

=== vta_soc ===

        +----------Local Count, excluding submodules.
        |
    16340 wires
    29079 wire bits
      218 cells
       70   $scopeinfo
      108   DP16KD
        1   EHXPLLL
       28   MULT18X18D
       11   TRELLIS_IO
    14392 submodules
     1078   CCU2C
      505   L6MUX21
     8035   LUT4
     1324   PFUMX
       87   TRELLIS_DPR16X4
     3363   TRELLIS_FF

2.52. Executing CHECK pass (checking for obvious problems).
Found and reported 0 problems.
"""

# older Yosys (name before count)
YOSYS_LOG_OLD = """\
2.50. Printing statistics.

=== top ===

   Number of wires:              12
   Number of cells:              40
     DP16KD                         2
     LUT4                          30
     TRELLIS_FF                     8
     CCU2C                          4
"""


def test_nextpnr_utilisation_is_the_table_after_packing():
    util = parse_nextpnr_utilisation(NEXTPNR_LOG)
    assert util["DP16KD"] == ResourceUse(108, 208)
    assert util["TRELLIS_COMB"] == ResourceUse(11195, 83640)
    res = resources_from_nextpnr(NEXTPNR_LOG)
    assert {k: (v.used, v.available) for k, v in res.items()} == {
        "lut4": (11195, 83640), "ff": (3363, 83640), "dp16kd": (108, 208), "mult18": (28, 156)}


def test_fmax_is_the_last_post_route_report_per_clock():
    fmax = parse_nextpnr_fmax(NEXTPNR_LOG)
    assert fmax == {"pll.clk": ClockTiming("pll.clk", 38.67, 100.0)}
    assert not fmax["pll.clk"].met


def test_fmax_pass_line():
    line = "Info: Max frequency for clock '$glbnet$pll.clk': 104.30 MHz (PASS at 100.00 MHz)"
    c = parse_nextpnr_fmax(line)["pll.clk"]
    assert c.met and c.fmax_mhz == pytest.approx(104.30)


def test_prepack_breakdown():
    assert parse_nextpnr_prepack(NEXTPNR_LOG)["carry_luts"] == 2156


def test_nextpnr_error_lines():
    log = ("Info: Packing IOs..\nERROR: Unable to place cell 'x', no Bels remaining of type "
           "'MULT18X18D'\n0 warnings, 1 error\n")
    assert nextpnr_errors(log) == ["Unable to place cell 'x', no Bels remaining of type "
                                   "'MULT18X18D'"]


def test_missing_utilisation_is_a_clear_error():
    with pytest.raises(ReportError, match="TRELLIS_COMB"):
        resources_from_nextpnr("Info: Device utilisation:\nInfo: \t DP16KD: 1/ 208 0%\n")


def test_yosys_stat_both_formats():
    cells = parse_yosys_stat(YOSYS_LOG)
    assert cells["LUT4"] == 8035 and cells["CCU2C"] == 1078 and cells["DP16KD"] == 108
    assert yosys_lut4_estimate(cells) == 8035 + 2 * 1078 + 4 * 87
    res = resources_from_yosys(cells, DEVICES["LFE5U-85F"])
    assert res["mult18"] == ResourceUse(28, 156) and res["ff"].used == 3363
    old = parse_yosys_stat(YOSYS_LOG_OLD)
    assert old == {"DP16KD": 2, "LUT4": 30, "TRELLIS_FF": 8, "CCU2C": 4}


def test_yosys_log_without_stat():
    with pytest.raises(ReportError, match="Printing statistics"):
        parse_yosys_stat("ERROR: syntax error\n")


def test_report_json_has_the_named_keys():
    res = resources_from_nextpnr(NEXTPNR_LOG)
    rep = FpgaReport(kind="bitstream", board="ulx3s-85f", device="LFE5U-85F",
                     config_name="tiny", config_hash="4783d5e23f19ac74", macs_per_cycle=16,
                     target_clock_mhz=100.0, pll_mhz=100.0, dram_bytes=16384, resources=res,
                     clocks=tuple(parse_nextpnr_fmax(NEXTPNR_LOG).values()),
                     stage_seconds={"yosys": 30.0, "nextpnr": 180.0})
    d = json.loads(rep.to_json())
    for k in ("lut4", "ff", "dp16kd", "mult18"):
        assert set(d[k]) == {"used", "available"}
    assert d["fmax_mhz"] == pytest.approx(38.67) and d["timing_met"] is False
    assert d["config_hash"] == "4783d5e23f19ac74"
    assert d["peak_gops"] == pytest.approx(2 * 16 * 38.67 / 1e3)
    assert d["wall_seconds"] == 210.0
    assert "NOT met" in rep.table()
