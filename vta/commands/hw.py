"""``vta hw ...``: hardware generation.

``vta hw verilog [--preset P | --config F] -o DIR`` writes ``vta_core.v`` and
``vta_core.json`` (the config and its hash).  ``vta hw synth`` and ``vta hw bitstream`` run
the FPGA flow (``vta_hw.fpga.flow``); ``vta hw estimate`` answers "does it fit, and how full
is the device" in a second, from the calibrated model (``vta_hw.fpga.resources``), with no
tool run.  Each action registers itself on the ``hw`` subparser
group through one function in ``ACTIONS``; nothing heavy is imported until a command runs.

The FPGA flow's output directory is checked up front but created by the flow itself, after
its fit check: a configuration that cannot fit leaves nothing behind, while a tool that fails
later leaves its log there for diagnosis (the error names it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vta.commands._common import UsageError, add_config_args, add_output_arg, config_from_args
from vta.outputs import Outputs, check_directory, writes_outputs
from vta_hw.fpga.cli import parse_seeds, seed_sweep_lines

DEFAULT_BOARD = "ulx3s-85f"


@writes_outputs
def _verilog(args: argparse.Namespace, outs: Outputs) -> int:
    from vta_hw.verilog import write_verilog

    cfg = config_from_args(args)
    out = outs.directory(args.output, "-o/--output")
    assert out is not None
    vfile, record = write_verilog(cfg, out)
    print(f"verilog: {Path(args.output) / vfile.name}")
    print(f"record: {Path(args.output) / record.name}")
    print(f"config: {cfg.name} (hash {cfg.config_hash()})")
    return 0


def register_verilog(hsub: argparse._SubParsersAction) -> None:
    p = hsub.add_parser("verilog", help="write the core's Verilog and its config record")
    add_config_args(p)
    add_output_arg(p, "output directory (created if missing)", kind="out:dir", required=True)
    p.set_defaults(func=_verilog)


# ---------------------------------------------------------------------------- the FPGA flow
def _add_flow_args(p: argparse.ArgumentParser) -> None:
    from vta_hw.fpga.boards import BOARDS

    add_config_args(p)
    p.add_argument("--board", default=DEFAULT_BOARD, choices=sorted(BOARDS),
                   help=f"target board (default {DEFAULT_BOARD})")
    add_output_arg(p, "output directory (logs, report.json, and the .bit)", kind="out:dir",
                   required=True)
    p.add_argument("--dram-kib", type=int, metavar="N",
                   help="SoC DRAM in KiB, a power of two (default: the largest up to 64 "
                        "that fits; three copies are built)")
    p.add_argument("--dsp", choices=("auto", "lut", "dsp"), default="auto",
                   help="multipliers: auto = DSPs, excess int8 products in LUTs; lut = all "
                        "in LUTs; dsp = all on DSPs")
    p.add_argument("--baud", type=int, default=1_000_000, help="UART baud (default 1000000)")
    p.add_argument("--no-progress", action="store_true", help="no progress display")


def _options(args: argparse.Namespace, **extra):
    from vta_hw.fpga.flow import FlowOptions

    dram = None if args.dram_kib is None else args.dram_kib * 1024
    return FlowOptions(board=args.board, dram_bytes=dram, dsp=args.dsp, baud=args.baud,
                       progress=not args.no_progress, **extra)


def _bitstream(args: argparse.Namespace) -> int:
    from vta_hw.fpga.boards import board
    from vta_hw.fpga.flow import bitstream

    check_directory(args.output, "-o/--output")
    cfg = config_from_args(args)
    res = bitstream(cfg, args.output, _options(args, seeds=args.seed, jobs=args.jobs,
                                               timing_allow_fail=not args.require_timing),
                    cache=not args.no_cache)
    rep = res.report
    print(rep.table())
    print(seed_sweep_lines(rep.details), end="")
    hit = rep.details.get("cache")
    if hit:
        print(f"cached: the tools were not run (same config, tools, sources and options as "
              f"{hit['entry']}; --no-cache rebuilds)")
    print(f"bitstream: {res.bitstream}")
    print(f"report:    {Path(args.output) / 'report.json'}")
    print("program:   " + board(args.board).programmer.format(bit=res.bitstream)
          + "   (SRAM; add -f to write the flash)")
    if not rep.timing_met:
        print(f"warning: timing NOT met (Fmax {rep.fmax_mhz:.2f} MHz < target "
              f"{rep.target_clock_mhz:g} MHz): the bitstream may misbehave on the board; "
              "lower target_clock_mhz in the config", file=sys.stderr)
        return 1 if args.require_timing else 0
    return 0


def _synth(args: argparse.Namespace) -> int:
    from vta_hw.fpga.flow import synth

    check_directory(args.output, "-o/--output")
    cfg = config_from_args(args)
    res = synth(cfg, args.output, _options(args), cache=not args.no_cache)
    print(res.report.table())
    hit = res.report.details.get("cache")
    if hit:
        print(f"cached: Yosys was not run (same config, Yosys, sources and options as "
              f"{hit['entry']}; --no-cache reruns it)")
    print(f"report: {Path(args.output) / 'report.json'}")
    return 0


def register_flow(hsub: argparse._SubParsersAction) -> None:
    """``bitstream`` and ``synth`` (the FPGA flow)."""
    p = hsub.add_parser(
        "bitstream", help="build an FPGA bitstream (Yosys, nextpnr-ecp5, ecppack from PyPI)",
        description="Build the SoC (core + block-RAM DRAM + UART host bridge) for a board and "
                    "write the .bit, the tool logs and report.json (LUT4, FF, DP16KD, "
                    "MULT18X18D used/available, Fmax, timing met, wall time per stage).")
    _add_flow_args(p)
    p.add_argument("--seed", type=parse_seeds, default=(1,), metavar="S",
                   help="nextpnr placement seed, or seeds to try (1,2,5 or 1-4): the first "
                        "that meets timing is kept, else the fastest (default 1)")
    p.add_argument("--jobs", type=int, default=1, metavar="J",
                   help="seeds placed in parallel (each nextpnr takes a core and ~1 GB for "
                        "tiny, ~4 GB for a 1x16x16 core; default 1)")
    p.add_argument("--require-timing", action="store_true",
                   help="fail (exit 1, no bitstream) when timing is not met")
    p.add_argument("--no-cache", action="store_true",
                   help="build even if this config was built before (builds are cached by "
                        "config hash, tool versions, sources and options in "
                        "$VTA_CACHE_DIR/bitstream, default ~/.cache/vta/bitstream)")
    p.set_defaults(func=_bitstream)

    s = hsub.add_parser(
        "synth", help="synthesise only (Yosys): fast resource estimate, no timing",
        description="Run Yosys synth_ecp5 on the SoC and report cell-based resource counts "
                    "(report.json); used by design-space exploration.")
    _add_flow_args(s)
    s.add_argument("--no-cache", action="store_true",
                   help="run Yosys even if this config was synthesised before (results are "
                        "cached by config hash, Yosys version and sources in "
                        "$VTA_CACHE_DIR/synth, default ~/.cache/vta/synth)")
    s.set_defaults(func=_synth)


# ---------------------------------------------------------------------------- the estimate
@writes_outputs
def _estimate(args: argparse.Namespace, outs: Outputs) -> int:
    import json

    from vta_hw.fpga.boards import board
    from vta_hw.fpga.resource_model import cross_validate, model
    from vta_hw.fpga.resources import RESOURCES, SHORT_NAMES, estimate_resources
    from vta_hw.soc.errors import SocError
    from vta_hw.soc.memory import check_dram_bytes

    out = outs.file(args.output, "-o/--output")
    cfg = config_from_args(args)
    b = board(args.board)
    dram = None if args.dram_kib is None else args.dram_kib * 1024
    if dram is not None:
        try:
            check_dram_bytes(cfg, dram)
        except SocError as e:
            raise UsageError(f"--dram-kib {args.dram_kib}: {e}") from None
    est = estimate_resources(cfg, b.device, dram_bytes=dram, dsp=args.dsp)
    cal = model().calibration
    cv = cross_validate(cal)
    names = SHORT_NAMES
    print(f"{cfg.name} ({cfg.config_hash()}) on {b.name} / {b.device.name}, estimate "
          f"(no tool run; SoC DRAM {est.dram_bytes // 1024} KiB, --dsp {args.dsp}):")
    print(f"  {'resource':<12}{'estimate':>9}{'available':>11}{'used':>8}")
    for r in RESOURCES:
        how = ("exact" if r in est.exact else
               f"model, within {100 * cv.max_abs_error(r):.0f}% of Yosys (leave-one-out)")
        print(f"  {names[r]:<12}{est.used[r]:>9}{est.capacity[r]:>11}"
              f"{100 * est.utilization[r]:>7.1f}%  {how}")
    if est.dsp.soft_products:
        print(f"  ({est.dsp.soft_products} of {est.dsp.gemm_products} int8 products in LUTs: "
              "more than the DSPs left after the ALU's)")
    if est.fits:
        print(f"fits: yes (fullest: {names[max(RESOURCES, key=est.utilization.get)]} "
              f"{100 * max(est.utilization.values()):.1f}%)")
    else:
        print("fits: NO -- " + ", ".join(f"{names[r]} {est.used[r]} > {est.capacity[r]}"
                                         for r in est.over))
    print(f"calibration: {len(cal.points)} Yosys runs ({cal.yosys_version.split(' (')[0]}); "
          "LUT4 and FF are Yosys' counts: nextpnr's packed TRELLIS_COMB is 4-11% more")
    if out is not None:
        d = {"config": cfg.name, "config_hash": cfg.config_hash(), "board": b.name,
             **est.to_dict()}
        out.write_text(json.dumps(d, indent=2) + "\n")
        print(f"estimate: {args.output}")
    return 0


def register_estimate(hsub: argparse._SubParsersAction) -> None:
    from vta_hw.fpga.boards import BOARDS

    p = hsub.add_parser(
        "estimate", help="estimate LUT4, FF, DP16KD and MULT18X18D use in a second, no tools",
        description="Estimate the SoC's resources for a config without running Yosys: block "
                    "RAM and DSPs exactly, LUT4 and flip-flops from a model calibrated on "
                    "Yosys runs; printed next to the device's capacity, with whether it fits.")
    add_config_args(p)
    p.add_argument("--board", default=DEFAULT_BOARD, choices=sorted(BOARDS),
                   help=f"target board (default {DEFAULT_BOARD})")
    p.add_argument("--dram-kib", type=int, metavar="N",
                   help="SoC DRAM in KiB, a power of two (default: what `vta hw synth` "
                        "would choose, the largest up to 64 that fits)")
    p.add_argument("--dsp", choices=("auto", "lut", "dsp"), default="auto",
                   help="multiplier policy, as for `vta hw synth` (default auto)")
    add_output_arg(p, "also write the estimate as JSON", kind="out:file")
    p.set_defaults(func=_estimate)


ACTIONS = [register_verilog, register_flow, register_estimate]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hw", help="hardware generation (Verilog, synthesis, bitstreams)")
    hsub = p.add_subparsers(dest="hw_command", metavar="ACTION")
    hsub.required = True
    for action in ACTIONS:
        action(hsub)
