"""``vta sim BUNDLE``: run a program bundle on the cycle-accurate simulator."""

from __future__ import annotations

import argparse
from pathlib import Path

from vta.commands._common import (
    add_config_args,
    config_from_args,
    config_given,
    positive_int,
)
from vta_hw.bundle import Bundle


def _run(args: argparse.Namespace) -> int:
    from vta_sim import simulate
    from vta_sim.trace import write_trace

    bundle = Bundle.load(args.bundle)
    result = simulate(bundle, config_from_args(args) if config_given(args) else None,
                      check_races=args.check_races, max_cycles=args.max_cycles)
    print(result.stats.summary())
    if result.races is not None:
        r = result.races
        print(f"races: none ({r.accesses} access ranges, {r.candidates} concurrent pairs "
              "compared)")
    if args.stats:
        Path(args.stats).write_text(result.stats.to_json())
        print(f"stats: {args.stats}")
    if args.trace:
        write_trace(result, args.trace)
        print(f"trace: {args.trace}")
    if args.timeline:
        from vta_sim.plots import timeline

        timeline(result, args.timeline)
        print(f"timeline: {args.timeline}")
    if args.roofline:
        from vta_sim.plots import RooflinePoint, roofline

        roofline([RooflinePoint(Path(args.bundle).stem, result.stats)], bundle.config,
                 args.roofline)
        print(f"roofline: {args.roofline}")
    if args.dram_out:
        Path(args.dram_out).write_bytes(result.dram)
        print(f"final DRAM: {args.dram_out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="run a program bundle on the cycle-accurate simulator")
    p.add_argument("bundle", help="program bundle (.vtab)")
    add_config_args(p)
    p.add_argument("--stats", metavar="FILE", help="write statistics as JSON")
    p.add_argument("--trace", metavar="FILE", help="write a Chrome/Perfetto trace (JSON)")
    p.add_argument("--timeline", metavar="FILE", help="write a per-module timeline (PNG)")
    p.add_argument("--roofline", metavar="FILE", help="write a roofline plot (PNG)")
    p.add_argument("--dram-out", metavar="FILE", help="write the final DRAM image")
    p.add_argument("--check-races", action="store_true",
                   help="reject a program whose modules race on SRAM or DRAM (accesses no "
                        "token chain orders)")
    p.add_argument("--max-cycles", type=positive_int, metavar="N",
                   help="give up (error) if the run takes more than N cycles")
    p.set_defaults(func=_run)
