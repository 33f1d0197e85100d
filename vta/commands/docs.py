"""``vta docs isa``: regenerate the ISA reference from the field tables."""

from __future__ import annotations

import argparse
import sys

from vta.commands._common import add_config_args, add_output_arg, config_from_args
from vta.outputs import Outputs, writes_outputs
from vta_hw import isa


@writes_outputs
def _isa(args: argparse.Namespace, outs: Outputs) -> int:
    staged = outs.file(args.output, "-o/--output")
    text = isa.markdown_table(config_from_args(args))
    if staged:
        staged.write_text(text)
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("docs", help="generate reference documentation")
    dsub = p.add_subparsers(dest="docs_command", metavar="WHAT")
    dsub.required = True
    i = dsub.add_parser("isa", help="the ISA table (docs/isa.md)")
    add_output_arg(i, "write here instead of stdout")
    add_config_args(i)
    i.set_defaults(func=_isa)
