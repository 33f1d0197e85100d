"""``vta hw bitstream`` and ``vta hw synth``: the FPGA flow from the command line.

``register_hw_subcommands(hw_subparsers)`` adds both to the ``vta hw`` group (created in
``vta/commands/hw.py``).  It imports nothing heavy until a command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vta_hw.config import resolve

DEFAULT_BOARD = "ulx3s-85f"


def _add_common(p: argparse.ArgumentParser) -> None:
    from vta_hw.fpga.boards import BOARDS

    g = p.add_mutually_exclusive_group()
    g.add_argument("--preset", help="hardware preset (default, tiny, wide)")
    g.add_argument("--config", help="hardware config JSON file")
    p.add_argument("--board", default=DEFAULT_BOARD, choices=sorted(BOARDS),
                   help=f"target board (default {DEFAULT_BOARD})")
    p.add_argument("-o", "--out", required=True, metavar="DIR",
                   help="output directory (logs, report.json, and the .bit)")
    p.add_argument("--dram-kib", type=int, metavar="N",
                   help="SoC DRAM in KiB, a power of two (default: the largest up to 64 "
                        "that fits; three copies are built)")
    p.add_argument("--dsp", choices=("auto", "lut", "dsp"), default="auto",
                   help="multipliers: auto = DSPs, excess int8 products in LUTs; lut = all "
                        "in LUTs; dsp = all on DSPs")
    p.add_argument("--baud", type=int, default=1_000_000, help="UART baud (default 1000000)")
    p.add_argument("--no-progress", action="store_true", help="no progress display")


def parse_seeds(text: str) -> tuple[int, ...]:
    """``--seed`` values: ``3``, ``1,2,5`` or ``1-4`` (combinable: ``1-3,7``)."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        try:
            if sep:
                a, b = int(lo), int(hi)
                if b < a:
                    raise ValueError
                seeds += range(a, b + 1)
            else:
                seeds.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected a seed (3), a list (1,2,5) or a range (1-4) of "
                "non-negative integers") from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"{text!r}: a seed is repeated")
    return tuple(seeds)


def seed_sweep_lines(details: dict) -> str:
    """One line per seed of a sweep (empty for a single seed)."""
    lines = []
    for r in details.get("seed_sweep", []):
        what = (f"Fmax {r['fmax_mhz']:.2f} MHz, timing {'met' if r['timing_met'] else 'not met'}"
                if "fmax_mhz" in r else
                "stopped (another seed met timing)" if r.get("stopped") else
                f"failed: {r.get('error', '?').splitlines()[0]}")
        secs = f" ({r['seconds']:.0f} s)" if "seconds" in r else ""
        lines.append(f"  seed {r['seed']:>3}: {what}{secs}{'  <- kept' if r['kept'] else ''}")
    return "".join(line + "\n" for line in lines)


def _options(args: argparse.Namespace, **extra):
    from vta_hw.fpga.flow import FlowOptions

    dram = None if args.dram_kib is None else args.dram_kib * 1024
    return FlowOptions(board=args.board, dram_bytes=dram, dsp=args.dsp, baud=args.baud,
                       progress=not args.no_progress, **extra)


def _bitstream(args: argparse.Namespace) -> int:
    from vta_hw.fpga.boards import board
    from vta_hw.fpga.flow import bitstream

    cfg = resolve(args.preset, args.config)
    res = bitstream(cfg, args.out, _options(args, seeds=args.seed, jobs=args.jobs,
                                            timing_allow_fail=not args.require_timing))
    rep = res.report
    print(rep.table())
    print(seed_sweep_lines(rep.details), end="")
    print(f"bitstream: {res.bitstream}")
    print(f"report:    {Path(args.out) / 'report.json'}")
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

    cfg = resolve(args.preset, args.config)
    res = synth(cfg, args.out, _options(args))
    print(res.report.table())
    print(f"report: {Path(args.out) / 'report.json'}")
    return 0


def register_hw_subcommands(hw_subparsers: argparse._SubParsersAction) -> None:
    """Add ``bitstream`` and ``synth`` to the ``vta hw`` subcommand group."""
    p = hw_subparsers.add_parser(
        "bitstream", help="build an FPGA bitstream (Yosys, nextpnr-ecp5, ecppack from PyPI)",
        description="Build the SoC (core + block-RAM DRAM + UART host bridge) for a board and "
                    "write the .bit, the tool logs and report.json (LUT4, FF, DP16KD, "
                    "MULT18X18D used/available, Fmax, timing met, wall time per stage).")
    _add_common(p)
    p.add_argument("--seed", type=parse_seeds, default=(1,), metavar="S",
                   help="nextpnr placement seed, or seeds to try (1,2,5 or 1-4): the first "
                        "that meets timing is kept, else the fastest (default 1)")
    p.add_argument("--jobs", type=int, default=1, metavar="J",
                   help="seeds placed in parallel (each nextpnr takes a core and ~1 GB for "
                        "tiny, ~4 GB for a 1x16x16 core; default 1)")
    p.add_argument("--require-timing", action="store_true",
                   help="fail (exit 1, no bitstream) when timing is not met")
    p.set_defaults(func=_bitstream)

    s = hw_subparsers.add_parser(
        "synth", help="synthesise only (Yosys): fast resource estimate, no timing",
        description="Run Yosys synth_ecp5 on the SoC and report cell-based resource counts "
                    "(report.json); used by design-space exploration.")
    _add_common(s)
    s.set_defaults(func=_synth)


__all__ = ["parse_seeds", "register_hw_subcommands"]
