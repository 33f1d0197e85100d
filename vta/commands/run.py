"""``vta run BUNDLE --device D``: run a program bundle on any accelerator device.

The bundle is validated on the simulator first (decode, ranges, hazards, deadlock, races:
``runtime.validate``), before a device is opened (opening ``fpga:sim`` may build a model),
and every run is bounded by ``--max-cycles`` (default: derived from the simulated run).
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
    from runtime.devices import open_device, run_bundle
    from runtime.validate import validate_bundle

    dram_out = outs.file(args.dram_out, "--dram-out")
    bundle = Bundle.load(args.bundle)
    if config_given(args):
        bundle.check_config(config_from_args(args))
    if args.device != "sim":  # fail before opening (and maybe building) the device
        validate_bundle(bundle, max_cycles=args.max_cycles)
    prepare_device(args.device, bundle.config)
    device = open_device(args.device, bundle.config, max_cycles=args.max_cycles)
    try:
        result = run_bundle(device, bundle)
    finally:
        close = getattr(device, "close", None)
        if close is not None:
            close()
    print(f"cycles: {result.cycles}")
    print(f"device: {args.device}")
    if dram_out:
        dram_out.write_bytes(result.dram)
        print(f"final DRAM: {args.dram_out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a program bundle on a device (sim, rtl, fpga:PORT)")
    path_arg(p, "bundle", kind="in:bundle", help="program bundle (.vtab)")
    p.add_argument("--device", default="sim",
                   help="sim (default), rtl, rtl:amaranth, fpga:/dev/ttyUSB0[@BAUD], fpga:sim")
    path_arg(p, "--dram-out", kind="out:file", metavar="FILE", help="write the final DRAM image")
    p.add_argument("--max-cycles", type=positive_int, metavar="N",
                   help="give up (error) after N cycles (default: twice the simulated run "
                        "plus 1024)")
    add_config_args(p)
    p.set_defaults(func=_run)
