"""``vta config show``: print a hardware config and its derived values as JSON."""

from __future__ import annotations

import argparse
import json

from vta.commands._common import add_config_args, config_from_args


def _show(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    print(json.dumps({"config": cfg.primaries(), "derived": cfg.derived(),
                      "config_hash": cfg.config_hash()}, indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="hardware configurations")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION")
    csub.required = True
    show = csub.add_parser("show", help="print a config and its derived values as JSON")
    add_config_args(show)
    show.set_defaults(func=_show)
