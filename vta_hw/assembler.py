"""Whole assembly programs: instructions plus the DRAM they run on, as a runnable Bundle.

:func:`vta_hw.isa.assemble` turns instruction lines into instructions.  A program that runs
also needs its DRAM image: input data, output areas and the micro-op kernels its GEMM and ALU
instructions index.  Directives declare those regions, one per line (``#`` starts a comment)::

    .data NAME file=PATH      the bytes of PATH (relative to the .s file)
    .data NAME int8 V V ...   inline values: int8, uint8, int16, int32 or uint32, little-endian
    .data NAME                contents given on the command line: vta asm --data NAME=FILE
    .zeros NAME NBYTES        NBYTES zero bytes (an output area)
    .uops NAME                a micro-op kernel, made of the UOP lines that follow it:
    UOP dst=D src=S wgt=W

An instruction names a region in ``dram_base=@NAME`` or ``dram_base=@NAME+K``: the region's
address in elements of the instruction's memory type (``mem``), plus K elements, which is the
unit the DMA engines count in.  Regions are laid out in declaration order, aligned as
:class:`~vta_hw.bundle.BundleBuilder` aligns them, with the instructions after them; each is a
bundle symbol, so ``Bundle.read(NAME, dram)`` and ``vta sim --dram-out`` find the results.

A program without directives can also be written as raw instruction words (:meth:`words`).
Part of the spec layer: standard library only.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vta_hw import isa
from vta_hw.bundle import Bundle, BundleBuilder
from vta_hw.config import HwConfig

INLINE_TYPES: dict[str, tuple[int, bool]] = {  # name -> (bytes, signed)
    "int8": (1, True), "uint8": (1, False), "int16": (2, True), "int32": (4, True),
    "uint32": (4, False)}
DIRECTIVES = (".data", ".zeros", ".uops")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REF = re.compile(r"(?<!\S)dram_base=@([A-Za-z_][A-Za-z0-9_]*)([+-]\d+)?(?!\S)")


@dataclass(frozen=True)
class RegionDecl:
    """One declared DRAM region.  ``data`` is None when it comes from the command line;
    ``file`` is set for ``file=PATH`` (read when the bundle is built)."""

    name: str
    lineno: int
    data: bytes | None = None
    file: str | None = None
    dtype: str = "uint8"
    uops: tuple[isa.Uop, ...] = ()


@dataclass(frozen=True)
class AsmLine:
    """An instruction with, for ``dram_base=@NAME+K``, the region and offset to resolve."""

    lineno: int
    insn: isa.Insn
    ref: tuple[str, int] | None = None


@dataclass(frozen=True)
class AsmProgram:
    """A parsed program: regions in declaration order and instructions in program order."""

    cfg: HwConfig
    regions: tuple[RegionDecl, ...]
    lines: tuple[AsmLine, ...]

    @property
    def has_regions(self) -> bool:
        return bool(self.regions) or any(ln.ref for ln in self.lines)

    def words(self) -> bytes:
        """The instructions as raw 128-bit words (a program that declares no DRAM regions)."""
        if self.has_regions:
            first = self.regions[0] if self.regions else None
            what = (f"region {first.name!r} (line {first.lineno})" if first else
                    "DRAM regions (dram_base=@...)")
            raise isa.AsmError(f"the program declares {what}: raw instruction words cannot "
                               "hold data; write a bundle (.vtab) instead")
        return isa.encode_program([ln.insn for ln in self.lines], self.cfg)

    def bundle(self, data: Mapping[str, bytes] | None = None,
               base_dir: str | Path | None = None) -> Bundle:
        """The runnable bundle: regions placed, ``@NAME`` resolved, FINISH required last.

        ``data`` gives the contents of ``.data NAME`` regions declared without contents
        (or adds regions after the declared ones); ``base_dir`` resolves ``file=`` paths.
        """
        data = dict(data or {})
        b = BundleBuilder(self.cfg)
        addr: dict[str, int] = {}
        for r in self.regions:
            if r.uops:
                if r.name in data:
                    raise isa.AsmError(f"line {r.lineno}: region {r.name!r} is a micro-op "
                                       "kernel; it cannot also be given as data")
                addr[r.name] = b.add_uops(r.name, list(r.uops)).addr
                continue
            contents = r.data
            if r.name in data:
                if contents is not None or r.file is not None:
                    raise isa.AsmError(f"line {r.lineno}: region {r.name!r} has contents in "
                                       "the program; it cannot also be given as data")
                contents = data.pop(r.name)
            elif r.file is not None:
                contents = _read_file(r, base_dir)
            if contents is None:
                raise isa.AsmError(f"line {r.lineno}: region {r.name!r} has no contents: give "
                                   f"them with --data {r.name}=FILE (or file=PATH in the "
                                   "program)")
            if not contents:
                raise isa.AsmError(f"line {r.lineno}: region {r.name!r} is empty")
            addr[r.name] = b.add(r.name, contents, dtype=r.dtype,
                                 shape=(len(contents) // _dtype_bytes(r.dtype),)).addr
        for name, contents in data.items():  # regions only the command line names
            if not _NAME.match(name):
                raise isa.AsmError(f"data region name {name!r} is not an identifier")
            if not contents:
                raise isa.AsmError(f"data region {name!r} is empty")
            addr[name] = b.add(name, contents).addr
        if not self.lines or not isinstance(self.lines[-1].insn, isa.Finish):
            raise isa.AsmError("a runnable program must end with FINISH")
        insns = [self._resolve(ln, addr) for ln in self.lines]
        for ln, insn in zip(self.lines, insns, strict=True):
            _checked(insn, self.cfg, ln.lineno)
        b.set_program(insns)
        return b.build(meta={"source": "vta asm"})

    def _resolve(self, ln: AsmLine, addr: Mapping[str, int]) -> isa.Insn:
        if ln.ref is None:
            return ln.insn
        name, offset = ln.ref
        if name not in addr:
            raise isa.AsmError(f"line {ln.lineno}: no region named {name!r}; declared: "
                               f"{sorted(addr) or 'none'}")
        e = isa.elem_bytes(self.cfg, ln.insn.mem)  # type: ignore[attr-defined]
        if addr[name] % e:
            raise isa.AsmError(f"line {ln.lineno}: region {name!r} at byte {addr[name]} is not "
                               f"aligned to {e}-byte elements")
        value = addr[name] // e + offset
        f = isa.formats(self.cfg)[ln.insn.opcode].field("dram_base")
        if not f.min <= value <= f.max:
            raise isa.AsmError(f"line {ln.lineno}: dram_base=@{name}{offset:+d} is {value}, "
                               f"outside the field's range {f.min}..{f.max}")
        return dataclasses.replace(ln.insn, dram_base=value)


def _dtype_bytes(dtype: str) -> int:
    return INLINE_TYPES.get(dtype, (1, False))[0]


def _read_file(r: RegionDecl, base_dir: str | Path | None) -> bytes:
    p = Path(r.file or "")
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    if p.is_dir():
        raise isa.AsmError(f"line {r.lineno}: region {r.name!r}: {str(p)!r} is a directory")
    try:
        return p.read_bytes()
    except OSError as e:
        raise isa.AsmError(f"line {r.lineno}: region {r.name!r}: cannot read {str(p)!r} "
                           f"({e.strerror})") from None


def _checked(insn: isa.Insn, cfg: HwConfig, lineno: int) -> None:
    try:
        isa.check(insn, cfg)
    except isa.IsaError as e:
        raise isa.AsmError(f"line {lineno}: {str(e).removeprefix('instruction: ')}") from None


def _int(text: str, where: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise isa.AsmError(f"{where}: {text!r} is not an integer") from None


def _directive(words: list[str], lineno: int) -> RegionDecl:
    where = f"line {lineno}"
    kind = words[0]
    if kind not in DIRECTIVES:
        raise isa.AsmError(f"{where}: unknown directive {kind!r}; expected one of "
                           f"{list(DIRECTIVES)}")
    if len(words) < 2 or not _NAME.match(words[1]):
        raise isa.AsmError(f"{where}: {kind} needs a region name (an identifier)")
    name, rest = words[1], words[2:]
    if kind == ".uops":
        if rest:
            raise isa.AsmError(f"{where}: .uops takes only a name; UOP lines follow it")
        return RegionDecl(name, lineno)
    if kind == ".zeros":
        if len(rest) != 1:
            raise isa.AsmError(f"{where}: .zeros NAME NBYTES")
        n = _int(rest[0], where)
        if n <= 0:
            raise isa.AsmError(f"{where}: .zeros size must be positive, got {n}")
        return RegionDecl(name, lineno, data=bytes(n))
    if not rest:
        return RegionDecl(name, lineno)
    if rest[0].startswith("file="):
        if len(rest) != 1 or rest[0] == "file=":
            raise isa.AsmError(f"{where}: .data NAME file=PATH (one path, no spaces)")
        return RegionDecl(name, lineno, file=rest[0][len("file="):])
    dtype = rest[0]
    if dtype not in INLINE_TYPES:
        raise isa.AsmError(f"{where}: .data contents are file=PATH or a type "
                           f"({', '.join(INLINE_TYPES)}) and values, got {dtype!r}")
    if len(rest) < 2:
        raise isa.AsmError(f"{where}: .data {name} {dtype} needs at least one value")
    nbytes, signed = INLINE_TYPES[dtype]
    out = bytearray()
    for v in rest[1:]:
        iv = _int(v, where)
        try:
            out += iv.to_bytes(nbytes, "little", signed=signed)
        except OverflowError:
            raise isa.AsmError(f"{where}: {iv} does not fit {dtype}") from None
    return RegionDecl(name, lineno, data=bytes(out), dtype=dtype)


def _uop(words: list[str], lineno: int, cfg: HwConfig) -> isa.Uop:
    where = f"line {lineno}"
    fields = {f.name: f for f in isa.uop_format(cfg).fields}
    values: dict[str, int] = {}
    for tok in words[1:]:
        key, eq, val = tok.partition("=")
        if not eq or key not in fields:
            raise isa.AsmError(f"{where}: UOP takes {', '.join(f'{k}=N' for k in fields)}; "
                               f"got {tok!r}")
        if key in values:
            raise isa.AsmError(f"{where}: field {key!r} given twice")
        iv = _int(val, where)
        if not fields[key].min <= iv <= fields[key].max:
            raise isa.AsmError(f"{where}: UOP {key}={iv} does not fit {fields[key].width} "
                               f"bits ({fields[key].min}..{fields[key].max})")
        values[key] = iv
    return isa.Uop(**values)


def parse_program(text: str, cfg: HwConfig) -> AsmProgram:
    """Parse a whole program with directives; AsmError names the first bad line."""
    regions: list[RegionDecl] = []
    names: dict[str, int] = {}
    lines: list[AsmLine] = []
    kernel: RegionDecl | None = None  # the .uops region that UOP lines extend
    for lineno, raw in enumerate(text.splitlines(), 1):
        code = raw.split("#", 1)[0].strip()
        if not code:
            continue
        words = code.split()
        if words[0].upper() == "UOP":
            if kernel is None:
                raise isa.AsmError(f"line {lineno}: UOP outside a micro-op kernel: put the "
                                   "UOP lines right after `.uops NAME`")
            kernel = dataclasses.replace(kernel, uops=kernel.uops + (_uop(words, lineno, cfg),))
            regions[-1] = kernel
            continue
        if kernel is not None and not kernel.uops:
            raise isa.AsmError(f"line {kernel.lineno}: micro-op kernel {kernel.name!r} has no "
                               "UOP lines")
        kernel = None
        if code.startswith("."):
            decl = _directive(words, lineno)
            if decl.name in names:
                raise isa.AsmError(f"line {lineno}: region {decl.name!r} already declared on "
                                   f"line {names[decl.name]}")
            names[decl.name] = lineno
            regions.append(decl)
            if words[0] == ".uops":
                kernel = decl
            continue
        ref = None
        m = _REF.search(code)
        if m:
            ref = (m.group(1), int(m.group(2) or 0))
            code = code[:m.start()] + "dram_base=0" + code[m.end():]
        insn = isa.assemble_line(code, cfg, lineno)
        assert insn is not None  # code is not blank
        if ref is not None and not isinstance(insn, isa.Load | isa.Store):
            raise isa.AsmError(f"line {lineno}: only LOAD and STORE have a dram_base")
        _checked(insn, cfg, lineno)
        lines.append(AsmLine(lineno, insn, ref))
    if kernel is not None and not kernel.uops:
        raise isa.AsmError(f"line {kernel.lineno}: micro-op kernel {kernel.name!r} has no UOP "
                           "lines")
    if not lines:
        raise isa.AsmError("the program has no instructions")
    return AsmProgram(cfg, tuple(regions), tuple(lines))


__all__ = ["AsmProgram", "AsmLine", "RegionDecl", "parse_program", "DIRECTIVES", "INLINE_TYPES"]
