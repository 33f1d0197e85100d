"""``vta asm`` and ``vta disasm``: assembly text <-> 128-bit instruction words."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vta.commands._common import add_config_args, config_from_args, config_given
from vta_hw import isa
from vta_hw.bundle import Bundle
from vta_hw.errors import VtaError


class CliInputError(VtaError):
    """A file named on the command line is missing or unreadable."""


def _read(path: str, binary: bool) -> bytes | str:
    p = Path(path)
    if not p.is_file():
        raise CliInputError(f"{path!r} does not exist")
    return p.read_bytes() if binary else p.read_text()


def _asm(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    insns = isa.assemble(_read(args.source, binary=False), cfg)
    for i, insn in enumerate(insns):
        isa.check(insn, cfg, i)
    data = isa.encode_program(insns, cfg)
    out = args.output or str(Path(args.source).with_suffix(".bin"))
    Path(out).write_bytes(data)
    print(f"{len(insns)} instructions -> {out}")
    return 0


def _disasm(args: argparse.Namespace) -> int:
    path = args.binary
    if path.endswith(".vtab"):
        bundle = Bundle.load(path)
        if config_given(args):
            bundle.check_config(config_from_args(args))
        cfg, insns = bundle.config, bundle.instructions()
    else:
        cfg = config_from_args(args)
        insns = isa.decode_program(_read(path, binary=True), cfg)
    text = isa.disassemble_program(insns, cfg)
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("asm", help="assemble VTA assembly text into instruction words")
    p.add_argument("source", help="assembly file (.s)")
    p.add_argument("-o", "--output", help="output file (default: SOURCE with .bin)")
    add_config_args(p)
    p.set_defaults(func=_asm)
    d = sub.add_parser("disasm", help="disassemble instruction words (a .bin or a .vtab bundle)")
    d.add_argument("binary", help="raw instruction file or program bundle (.vtab)")
    d.add_argument("-o", "--output", help="write the text here instead of stdout")
    add_config_args(d)
    d.set_defaults(func=_disasm)
