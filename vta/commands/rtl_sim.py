"""``vta rtl-sim BUNDLE``: run a program bundle on the RTL (Verilator, or Amaranth's simulator).

Prints ``cycles: <n>`` as ``vta sim`` does, so the two are compared line for line.  The run
goes through the RTL device (:class:`runtime.rtl_device.RtlSimDevice`), like ``vta run
--device rtl``, with this command's options (waveform, back-pressure, stall bound, engine).
The first run for a config builds the Verilator model (tens of seconds) and caches it.  The
device validates the bundle on the simulator first (``runtime.validate``: a program the
simulator rejects would hang or corrupt the RTL run) and bounds the run by ``--max-cycles``
(default: derived from the simulated run).
"""

from __future__ import annotations

import argparse

from vta.commands._common import (
    add_config_args,
    config_from_args,
    config_given,
    path_arg,
    positive_int,
    prepare_device,
)
from vta.outputs import Outputs, writes_outputs
from vta_hw.bundle import Bundle


@writes_outputs
def _run(args: argparse.Namespace, outs: Outputs) -> int:
    from runtime.rtl_device import RtlSimDevice
    from vta_hw.cosim import DEFAULT_STALL_BOUND

    wave = outs.file(args.wave, "--wave", diagnostic=True)  # kept if the RTL deadlocks
    dram_out = outs.file(args.dram_out, "--dram-out")
    bundle = Bundle.load(args.bundle)
    if config_given(args):
        bundle.check_config(config_from_args(args))
    device = RtlSimDevice(bundle.config, engine="amaranth" if args.amaranth else "verilator",
                          backpressure_seed=args.backpressure, max_cycles=args.max_cycles,
                          stall_bound=args.stall_bound or DEFAULT_STALL_BOUND, wave=wave)
    handle = device.load(bundle)  # validates on the simulator: fails before any build
    if not args.amaranth:
        prepare_device("rtl", bundle.config, trace=wave is not None)
    launch = device.launch(handle)
    result = launch.detail  # the RTL's own record (cycles until idle, wall time)
    print(f"cycles: {launch.cycles}")
    rate = result.total_cycles / result.wall_s if result.wall_s > 0 else 0.0
    engine = "amaranth" if args.amaranth else "verilator"
    print(f"rtl: {engine}, {result.total_cycles} cycles simulated in {result.wall_s:.3f} s "
          f"({rate:,.0f} cycles/s)")
    if args.wave:
        print(f"wave: {args.wave}")
    if dram_out:
        dram_out.write_bytes(device.copy_out(handle.image))
        print(f"final DRAM: {args.dram_out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rtl-sim", help="run a program bundle on the RTL (Verilator)")
    path_arg(p, "bundle", kind="in:bundle", help="program bundle (.vtab)")
    add_config_args(p)
    path_arg(p, "--wave", kind="out:file", metavar="FILE", help="write a VCD waveform")
    p.add_argument("--max-cycles", type=positive_int, metavar="N",
                   help="give up (error) after N cycles (default: twice the simulated run "
                        "plus 1024; 16 times with --backpressure)")
    p.add_argument("--stall-bound", type=int, metavar="N",
                   help="cycles without progress that count as a deadlock (default 64)")
    p.add_argument("--backpressure", type=int, metavar="SEED",
                   help="slow, bursty DRAM with this random seed (results equal, cycles not)")
    p.add_argument("--amaranth", action="store_true",
                   help="use Amaranth's simulator instead of Verilator (small programs)")
    path_arg(p, "--dram-out", kind="out:file", metavar="FILE", help="write the final DRAM image")
    p.set_defaults(func=_run)
