"""Arguments shared by several subcommands."""

from __future__ import annotations

import argparse

from vta_hw.config import PRESETS, HwConfig, resolve


def add_config_args(p: argparse.ArgumentParser) -> None:
    """``--preset P | --config F``: every command that takes a config accepts either."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--preset", help=f"hardware preset ({', '.join(PRESETS)})")
    g.add_argument("--config", help="hardware config JSON file")


def config_from_args(args: argparse.Namespace) -> HwConfig:
    return resolve(getattr(args, "preset", None), getattr(args, "config", None))


def config_given(args: argparse.Namespace) -> bool:
    return getattr(args, "preset", None) is not None or getattr(args, "config", None) is not None


def positive_int(text: str) -> int:
    """argparse type of counts such as ``--max-cycles``: a whole number >= 1."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return v
