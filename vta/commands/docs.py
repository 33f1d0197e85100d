"""``vta docs isa``: regenerate the ISA reference from the field tables."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vta.commands._common import add_config_args, config_from_args
from vta_hw import isa


def _isa(args: argparse.Namespace) -> int:
    text = isa.markdown_table(config_from_args(args))
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("docs", help="generate reference documentation")
    dsub = p.add_subparsers(dest="docs_command", metavar="WHAT")
    dsub.required = True
    i = dsub.add_parser("isa", help="the ISA table (docs/isa.md)")
    i.add_argument("-o", "--output", help="write here instead of stdout")
    add_config_args(i)
    i.set_defaults(func=_isa)
