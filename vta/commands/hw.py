"""``vta hw ...``: hardware generation.

``vta hw verilog [--preset P | --config F] -o DIR`` writes ``vta_core.v`` and
``vta_core.json`` (the config and its hash).  Each action registers itself on the ``hw``
subparser group through one function in ``ACTIONS`` (the FPGA flow adds ``synth`` and
``bitstream`` the same way).
"""

from __future__ import annotations

import argparse

from vta.commands._common import add_config_args, config_from_args
from vta_hw.fpga.cli import register_hw_subcommands  # bitstream, synth (the FPGA flow)


def _verilog(args: argparse.Namespace) -> int:
    from vta_hw.verilog import write_verilog

    cfg = config_from_args(args)
    vfile, record = write_verilog(cfg, args.output)
    print(f"verilog: {vfile}")
    print(f"record: {record}")
    print(f"config: {cfg.name} (hash {cfg.config_hash()})")
    return 0


def register_verilog(hsub: argparse._SubParsersAction) -> None:
    p = hsub.add_parser("verilog", help="write the core's Verilog and its config record")
    add_config_args(p)
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="output directory (created if missing)")
    p.set_defaults(func=_verilog)


ACTIONS = [register_verilog, register_hw_subcommands]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hw", help="hardware generation (Verilog, ...)")
    hsub = p.add_subparsers(dest="hw_command", metavar="ACTION")
    hsub.required = True
    for action in ACTIONS:
        action(hsub)
