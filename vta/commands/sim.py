"""``vta sim BUNDLE``: run a program bundle on the cycle-accurate simulator.

The run goes through the simulator device (:class:`runtime.sim_device.SimDevice`), like
``vta run --device sim``: its launch result carries the simulator's statistics and record,
which the statistics, trace and plots below are made from.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vta.commands._common import (
    add_config_args,
    config_from_args,
    config_given,
    path_arg,
    positive_int,
)
from vta.outputs import PLOT_SUFFIXES, Outputs, writes_outputs
from vta_hw.bundle import Bundle


@writes_outputs
def _run(args: argparse.Namespace, outs: Outputs) -> int:
    from runtime.devices import run_bundle
    from runtime.sim_device import SimDevice
    from vta_sim.trace import write_trace

    stats = outs.file(args.stats, "--stats")
    trace = outs.file(args.trace, "--trace")
    timeline_plot = outs.file(args.timeline, "--timeline", suffixes=PLOT_SUFFIXES)
    roofline_plot = outs.file(args.roofline, "--roofline", suffixes=PLOT_SUFFIXES)
    dram_out = outs.file(args.dram_out, "--dram-out")
    bundle = Bundle.load(args.bundle)
    if config_given(args):
        bundle.check_config(config_from_args(args))
    device = SimDevice(bundle.config, check_races=args.check_races, max_cycles=args.max_cycles)
    run = run_bundle(device, bundle)
    result = run.result.detail  # the vta_sim.SimResult of this run
    print(result.stats.summary())
    if result.races is not None:
        r = result.races
        print(f"races: none ({r.accesses} access ranges, {r.candidates} concurrent pairs "
              "compared)")
    if stats:
        stats.write_text(result.stats.to_json())
        print(f"stats: {args.stats}")
    if trace:
        write_trace(result, trace)
        print(f"trace: {args.trace}")
    if timeline_plot:
        from vta_sim.plots import timeline

        timeline(result, timeline_plot)
        print(f"timeline: {args.timeline}")
    if roofline_plot:
        from vta_sim.plots import RooflinePoint, roofline

        roofline([RooflinePoint(Path(args.bundle).stem, result.stats)], bundle.config,
                 roofline_plot)
        print(f"roofline: {args.roofline}")
    if dram_out:
        dram_out.write_bytes(run.dram)
        print(f"final DRAM: {args.dram_out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="run a program bundle on the cycle-accurate simulator")
    path_arg(p, "bundle", kind="in:bundle", help="program bundle (.vtab)")
    add_config_args(p)
    path_arg(p, "--stats", kind="out:file", metavar="FILE", help="write statistics as JSON")
    path_arg(p, "--trace", kind="out:file", metavar="FILE",
             help="write a Chrome/Perfetto trace (JSON)")
    path_arg(p, "--timeline", kind="out:plot", metavar="FILE",
             help="write a per-module timeline (.png, .svg, .pdf, .jpg)")
    path_arg(p, "--roofline", kind="out:plot", metavar="FILE",
             help="write a roofline plot (.png, .svg, .pdf, .jpg)")
    path_arg(p, "--dram-out", kind="out:file", metavar="FILE", help="write the final DRAM image")
    p.add_argument("--check-races", action="store_true",
                   help="reject a program whose modules race on SRAM or DRAM (accesses no "
                        "token chain orders)")
    p.add_argument("--max-cycles", type=positive_int, metavar="N",
                   help="give up (error) if the run takes more than N cycles")
    p.set_defaults(func=_run)
