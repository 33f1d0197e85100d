"""Regenerate the Yosys measurements the resource estimator is calibrated on.

``python -m vta_hw.fpga.calibrate_resources`` runs ``vta hw synth`` (Yosys ``synth_ecp5`` on
the whole SoC, ``flow.synth``) on every configuration of :data:`CALIBRATION` and stores, per
point, the config, the SoC options the flow chose (DRAM size), the Yosys cell counts and the
four resource counts in ``resource_calibration.json`` next to this file, with the Yosys version
and the RTL version they were measured with.  The estimator (``estimate.py``) fits its LUT4
and FF coefficients to that table, so a recalibration after an RTL change is this one command.

Points already in the table for the same config, RTL and Yosys are kept (``--redo`` reruns
them); the table is rewritten atomically after every point, so an interrupted run loses only
the point in progress.  To add a point, append its config to :data:`CALIBRATION` and run
``--only NAME``: minutes for that point, not the whole table's 1.5 hours.  Each synthesis
takes ~1-5 min on this machine: run it under ``nice -n 19``, one process at a time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from vta_hw.config import DEFAULT_85F, TINY, HwConfig
from vta_hw.files import write_atomic

TABLE = Path(__file__).with_name("resource_calibration.json")
BOARD = "ulx3s-85f"

_SMALL = dict(log_uop_buff_depth=9, log_inp_buff_depth=8, log_wgt_buff_depth=6,
              log_acc_buff_depth=8, log_out_buff_depth=8)


def _v(name: str, base: HwConfig = TINY, **changes: Any) -> HwConfig:
    return replace(base, name=name, **changes)


# The spread: GEMM shape, buffer depths, bus width, DRAM latency, queue depths, pipeline
# depths, clock -- what a design-space sweep varies -- around `tiny` (fast to synthesise), plus
# larger cores (DSP overflow into Booth LUT multipliers) in the order they are most useful.
CALIBRATION: tuple[HwConfig, ...] = (
    TINY,
    _v("c_1x2x2", log_block_in=1, log_block_out=1),
    _v("c_1x8x8", log_block_in=3, log_block_out=3),
    _v("c_1x4x8_bus8", log_block_out=3, log_dram_bytes_per_cycle=3),
    _v("c_1x8x4_lat16", log_block_in=3, dram_latency=16),
    _v("c_1x16x16_small", DEFAULT_85F, **_SMALL, log_dram_bytes_per_cycle=3),
    _v("c_1x8x16", log_block_in=3, log_block_out=4, log_dram_bytes_per_cycle=3,
       dram_latency=16, log_wgt_buff_depth=7),
    DEFAULT_85F,
    _v("c_pipe_min", gemm_pipeline_depth=2, alu_pipeline_depth=2, target_clock_mhz=40.0),
    _v("c_deep_bufs", log_uop_buff_depth=11, log_inp_buff_depth=10, log_wgt_buff_depth=8,
       log_acc_buff_depth=10, log_out_buff_depth=10),
    _v("c_pipe_deep", gemm_pipeline_depth=7, alu_pipeline_depth=6, target_clock_mhz=80.0),
    _v("c_2x4x4", log_batch=1),
    _v("c_cmdq64_lat40", log_cmd_queue_depth=6, dram_latency=40),
    _v("c_shallow_bufs", log_uop_buff_depth=6, log_inp_buff_depth=5, log_wgt_buff_depth=5,
       log_acc_buff_depth=6, log_out_buff_depth=5),
    _v("c_1x4x16_bus16", log_block_out=4, log_dram_bytes_per_cycle=4, dram_latency=8),
    _v("c_2x8x8_bus8", log_batch=1, log_block_in=3, log_block_out=3,
       log_dram_bytes_per_cycle=3, dram_latency=12, log_cmd_queue_depth=4),
    _v("c_1x16x4", log_block_in=4, log_wgt_buff_depth=7, dram_latency=32),
    _v("c_4x4x4", log_batch=2, gemm_pipeline_depth=5, alu_pipeline_depth=3),
    _v("c_1x2x8_lat2", log_block_in=1, log_block_out=3, dram_latency=2, log_dram_bytes_per_cycle=3,
       log_acc_buff_depth=9, log_out_buff_depth=9),
    _v("c_queues", log_cmd_queue_depth=5, log_token_queue_depth=5),
    _v("c_1x8x8_deep", log_block_in=3, log_block_out=3, log_inp_buff_depth=10,
       log_wgt_buff_depth=8, log_acc_buff_depth=10, log_out_buff_depth=9, log_uop_buff_depth=11,
       gemm_pipeline_depth=5, dram_latency=8, log_dram_bytes_per_cycle=3),
    # the DRAM bus width (2 to 32 bytes) apart from the GEMM shape, which the points above
    # changed with it: the SoC DRAM's byte-lane shifters grow as bus x log2(bus)
    _v("c_bus8_lat6", log_dram_bytes_per_cycle=3, dram_latency=6),
    _v("c_1x2x2_bus16", log_block_in=1, log_block_out=1, log_dram_bytes_per_cycle=4),
    _v("c_bus32", log_dram_bytes_per_cycle=5),
    _v("c_bus2_lat12", log_dram_bytes_per_cycle=1, dram_latency=12),
    _v("c_1x8x8_bus16", log_block_in=3, log_block_out=3, log_dram_bytes_per_cycle=4,
       dram_latency=16),
    # batch > 1 on a small core (only three points had it)
    _v("c_4x2x2", log_batch=2, log_block_in=1, log_block_out=1, dram_latency=6),
)


def load_table(path: Path = TABLE) -> dict[str, Any]:
    """The stored table (``{"yosys_version", "rtl_version", "board", "points": [...]}``)."""
    return json.loads(path.read_text())


def write_table(table: dict[str, Any], path: Path = TABLE) -> None:
    """Write ``table`` atomically (temporary file + rename in the same directory)."""
    write_atomic(path, json.dumps(table, indent=1) + "\n")


def point_from_report(cfg: HwConfig, report: dict[str, Any], max_write: int, dsp: str
                      ) -> dict[str, Any]:
    """One table row from a synth ``report.json`` (``FpgaReport.to_dict``)."""
    return {"name": cfg.name, "config": cfg.primaries(), "config_hash": cfg.config_hash(),
            "dram_bytes": report["dram_bytes"], "max_write": max_write, "dsp": dsp,
            "counts": {r: report[r]["used"] for r in ("lut4", "ff", "dp16kd", "mult18")},
            "cells": report["details"]["yosys_cells"],
            "yosys_seconds": report["stage_seconds"].get("yosys")}


def measure(cfg: HwConfig, work: Path) -> dict[str, Any]:
    """Run ``flow.synth`` on ``cfg`` (auto DRAM, ``--dsp auto``) and return its table row."""
    from vta_hw.fpga.flow import FlowOptions, synth

    opts = FlowOptions(board=BOARD, progress=False)
    res = synth(cfg, work / cfg.config_hash(), opts)
    return point_from_report(cfg, res.report.to_dict(), opts.max_write, opts.dsp)


def main(argv: list[str] | None = None) -> int:
    from vta_hw.fpga.synth_cache import yosys_version
    from vta_hw.verilog import rtl_version

    ap = argparse.ArgumentParser(prog="python -m vta_hw.fpga.calibrate_resources",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="+", metavar="NAME", help="measure only these points")
    ap.add_argument("--redo", action="store_true", help="re-measure points already stored")
    ap.add_argument("--table", type=Path, default=TABLE, help=f"table file (default {TABLE})")
    ap.add_argument("--work", type=Path, help="keep the synthesis directories here")
    args = ap.parse_args(argv)
    names = [c.name for c in CALIBRATION]
    unknown = sorted(set(args.only or ()) - set(names))
    if unknown:
        print(f"error: unknown calibration point(s) {unknown}; known: {names}", file=sys.stderr)
        return 2
    version, rtl = yosys_version(), rtl_version()
    table = (load_table(args.table) if args.table.exists()
             else {"yosys_version": version, "rtl_version": rtl, "board": BOARD, "points": []})
    if (table["yosys_version"], table["rtl_version"]) != (version, rtl) and args.only:
        print(f"error: the table was measured with {table['yosys_version']} on RTL "
              f"{table['rtl_version']}, now {version} on RTL {rtl}: --only would mix the "
              "two (or start a new table of only these points); re-measure every point "
              "(without --only)", file=sys.stderr)
        return 2
    if (table["yosys_version"], table["rtl_version"]) != (version, rtl):
        print(f"note: the table was measured with {table['yosys_version']} on RTL "
              f"{table['rtl_version']}; now {version} on RTL {rtl}: starting a new table",
              file=sys.stderr)
        table = {"yosys_version": version, "rtl_version": rtl, "board": BOARD, "points": []}
    work = args.work or Path(tempfile.mkdtemp(prefix="vta-calib-"))
    for cfg in CALIBRATION:
        if args.only and cfg.name not in args.only:
            continue
        stored = [p for p in table["points"] if p["config_hash"] == cfg.config_hash()]
        if stored and not args.redo:
            continue
        t0 = time.perf_counter()
        row = measure(cfg, work)
        table["points"] = [p for p in table["points"] if p["config_hash"] != cfg.config_hash()]
        table["points"].append(row)
        order = {n: i for i, n in enumerate(names)}
        table["points"].sort(key=lambda p: order.get(p["name"], len(order)))
        write_table(table, args.table)
        print(f"{cfg.name}: {row['counts']} ({time.perf_counter() - t0:.0f} s)", flush=True)
    if args.table == TABLE:
        from vta_hw.fpga.resource_model import cross_validate, load_calibration, markdown_table

        cal = load_calibration(args.table)
        print("leave-one-out errors of the estimate (docs/fpga.md):")
        print(markdown_table(cal, cross_validate(cal)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
