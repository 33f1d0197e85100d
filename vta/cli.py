"""The ``vta`` command line.

Each subcommand family lives in its own module under ``vta/commands/`` and exposes
``register(subparsers)``; this file only discovers them, parses arguments and turns any
:class:`~vta_hw.errors.VtaError` (or an OSError from the file system) into a one-line
``error: ...`` message with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import vta.commands
from vta_hw.errors import VtaError


def package_version() -> str:
    """The installed distribution's version (package metadata), else the source tree's."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vta-codesign")
    except PackageNotFoundError:  # run from a source tree that is not installed
        import vta

        return vta.__version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vta", description="Open accelerator co-design toolkit (VTA-style int8 accelerator).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in sorted(pkgutil.iter_modules(vta.commands.__path__), key=lambda m: m.name):
        if mod.name.startswith("_"):
            continue
        importlib.import_module(f"vta.commands.{mod.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except VtaError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed: not an error
        sys.stderr.close()
        return 0
    except OSError as e:  # the file system refused (disk full, permissions): not a bug
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
