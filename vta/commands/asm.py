"""``vta asm`` and ``vta disasm``: assembly text <-> instruction words or runnable bundles.

``vta asm prog.s`` writes raw 128-bit instruction words (``.bin``) for a program of
instructions only, or a program bundle (``.vtab``, which ``vta sim`` / ``vta run`` /
``vta rtl-sim`` run) when the program declares its DRAM data with directives (``.data``,
``.zeros``, ``.uops``; see :mod:`vta_hw.assembler`), when ``--data NAME=FILE`` supplies a
region, or when ``-o`` ends in ``.vtab``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vta.commands._common import (
    InputFileError,
    add_config_args,
    add_output_arg,
    config_from_args,
    config_given,
    path_arg,
    read_input,
)
from vta.outputs import Outputs, writes_outputs
from vta_hw import isa
from vta_hw.assembler import parse_program
from vta_hw.bundle import Bundle

BUNDLE_SUFFIX = ".vtab"
_ZIP_MAGIC = b"PK\x03\x04"  # a bundle is a zip archive


def _is_text(raw: bytes) -> bool:
    """Whether ``raw`` reads as text (a likely mix-up of a .s file and instruction words)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\n\r\t" for c in text)


def _data_args(items: list[str] | None) -> dict[str, bytes]:
    """``--data NAME=FILE`` options: region name -> the file's bytes."""
    data: dict[str, bytes] = {}
    for item in items or ():
        name, eq, path = item.partition("=")
        if not eq or not name:
            raise InputFileError(f"--data {item!r}: expected NAME=FILE")
        if name in data:
            raise InputFileError(f"--data {name}: given twice")
        data[name] = read_input(path, f"--data {name}", text=False)  # type: ignore[assignment]
    return data


@writes_outputs
def _asm(args: argparse.Namespace, outs: Outputs) -> int:
    cfg = config_from_args(args)
    staged = outs.file(args.output, "-o/--output")
    source = read_input(args.source, "assembly source", text=True)
    data = _data_args(args.data)
    prog = parse_program(source, cfg)  # type: ignore[arg-type]
    target = args.output
    if target is None:
        wants_bundle = prog.has_regions or bool(data)
        target = str(Path(args.source).with_suffix(BUNDLE_SUFFIX if wants_bundle else ".bin"))
        if Path(target) == Path(args.source):
            raise InputFileError(f"the default output {target!r} is the source itself; give "
                                 "-o FILE")
        staged = outs.file(target, "output")
    assert staged is not None
    if Path(target).suffix == BUNDLE_SUFFIX:
        bundle = prog.bundle(data, base_dir=Path(args.source).parent)
        bundle.save(staged)
        regions = ", ".join(bundle.symbols) or "none"
        print(f"{bundle.insn_count} instructions, regions: {regions} -> {target} "
              f"(run it: vta sim {target})")
    else:
        if data:
            raise InputFileError("--data needs a bundle output: -o FILE.vtab")
        staged.write_bytes(prog.words())
        print(f"{len(prog.lines)} instructions -> {target}")
    return 0


@writes_outputs
def _disasm(args: argparse.Namespace, outs: Outputs) -> int:
    staged = outs.file(args.output, "-o/--output")
    raw = read_input(args.binary, "instruction file", text=False)
    if args.binary.endswith(BUNDLE_SUFFIX) or raw[:4] == _ZIP_MAGIC:
        bundle = Bundle.load(args.binary)
        if config_given(args):
            bundle.check_config(config_from_args(args))
        cfg, insns = bundle.config, bundle.instructions()
    else:
        cfg = config_from_args(args)
        try:
            insns = isa.decode_program(raw, cfg)  # type: ignore[arg-type]
        except isa.IsaError as e:
            hint = ("; it looks like text (assemble it with `vta asm`)" if _is_text(raw)
                    else "")
            raise InputFileError(f"instruction file {args.binary!r}: {e}{hint}") from None
    if not insns:
        raise InputFileError(f"{args.binary!r} holds no instructions")
    text = isa.disassemble_program(insns, cfg)
    if staged is not None:
        staged.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "asm", help="assemble VTA assembly into instruction words or a runnable bundle",
        description="Assemble a .s file.  Instructions only: raw 128-bit words (.bin).  With "
                    "DRAM directives (.data NAME file=PATH | .data NAME int8 V.. | .data NAME | "
                    ".zeros NAME NBYTES | .uops NAME + UOP lines; dram_base=@NAME[+K]) or "
                    "--data, or -o *.vtab: a program bundle for vta sim / run / rtl-sim.")
    path_arg(p, "source", kind="in:asm", help="assembly file (.s)")
    add_output_arg(p, "output file: .vtab for a bundle, else raw words (default: SOURCE "
                      "with .vtab if it declares data, else .bin)")
    path_arg(p, "--data", kind="in:raw", action="append", metavar="NAME=FILE",
             help="contents of DRAM region NAME (a `.data NAME` without contents, or a new "
                  "region); repeatable")
    add_config_args(p)
    p.set_defaults(func=_asm)
    d = sub.add_parser("disasm", help="disassemble instruction words (a .bin or a .vtab bundle)")
    path_arg(d, "binary", kind="in:words", help="raw instruction file or program bundle (.vtab)")
    add_output_arg(d, "write the text here instead of stdout")
    add_config_args(d)
    d.set_defaults(func=_disasm)
