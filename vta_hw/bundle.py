"""Program bundles: instructions + DRAM image + config, in one file.

A bundle is what every device runs: the simulator (``vta sim``), the RTL co-simulation
(``vta rtl-sim``) and the FPGA board all take one and return the final DRAM image and the
cycle count.  The instructions live *in* the DRAM image (fetch reads them from there) at
``insn_addr``; ``symbols`` name the regions a caller reads or writes (inputs, outputs).

File format (``.vtab``): a zip archive with ``manifest.json`` (format version, config JSON,
config hash, insn_addr, insn_count, symbols, meta) and ``dram.bin``.  Loading checks the
version and that the stored hash matches the stored config, so a corrupted or hand-edited
bundle is rejected instead of run on the wrong hardware.

Relocation: a bundle is one relocatable segment.  Its image is laid out from address 0, and
the only absolute addresses in it are the DRAM fields of its LOAD and STORE instructions
(``dram_base``, in elements of the memory type: :func:`vta_hw.isa.elem_bytes`; micro-op
LOADs in micro-op words).  :meth:`Bundle.linked` moves the whole image to a byte address
``base`` by adding ``base / elem_bytes`` to each of those fields (``insn_addr`` and every
symbol move by ``base`` too), after checking that every access stays inside the image (so
a program linked next to another can never touch it).  ``base`` must be a multiple of
:func:`link_align`, which makes every symbol's new address a whole number of elements of
any memory type.  The same type therefore serves as the absolute image ``vta sim`` runs
from a ``.vtab`` file (linked at 0) and as the relocatable program a device links into
memory it allocated: no second program format, no relocation table to keep in step with
the instructions, and every ``.vtab`` ever written stays loadable.

Arena: a program of a compiled module also addresses ``arena_bytes`` bytes *past* its image,
the addresses ``[len(dram), len(dram) + arena_bytes)`` of its address space: the activation
tensors the module's memory plan places in one arena that every program of the module
shares (tensors whose lifetimes do not overlap share bytes).  :meth:`Bundle.linked` then
takes a second base, ``arena_base``: an access below ``len(dram)`` moves by ``base``, one
in the arena by ``arena_base - len(dram)`` (an access may not straddle the two), which the
address alone decides, so there is still no relocation table.  The image of an arena
bundle is padded to :func:`link_align`; linked with its arena right after its image
(the default, :meth:`Bundle.standalone_image`) it is a plain image with ``arena_bytes``
of zeros appended.

Part of the spec layer: standard library only.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vta_hw import isa
from vta_hw.config import ConfigError, HwConfig
from vta_hw.errors import VtaError

BUNDLE_FORMAT = "vta-bundle"
BUNDLE_VERSION = 1


class BundleError(VtaError, ValueError):
    """A bundle file is unreadable, corrupt or inconsistent."""


class ConfigMismatchError(BundleError):
    """A bundle was built for another hardware configuration than the one asked for."""


def link_align(cfg: HwConfig) -> int:
    """The byte alignment of a base a bundle may be linked at: a multiple of every memory
    type's element size, of an instruction and of 64 bytes (a DRAM burst)."""
    sizes = [isa.elem_bytes(cfg, m) for m in isa.MemType] + [isa.INSN_BYTES, 64]
    return math.lcm(*sizes)


@dataclass(frozen=True)
class Region:
    """A named byte range of the DRAM image (an input, an output, a weight blob)."""

    addr: int
    nbytes: int
    dtype: str = "uint8"
    shape: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"addr": self.addr, "nbytes": self.nbytes, "dtype": self.dtype,
                "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Region:
        return cls(int(d["addr"]), int(d["nbytes"]), str(d.get("dtype", "uint8")),
                   tuple(int(x) for x in d.get("shape", ())))


@dataclass(frozen=True)
class Bundle:
    """An executable program for one HwConfig."""

    config: HwConfig
    dram: bytes
    insn_addr: int
    insn_count: int
    symbols: dict[str, Region] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    arena_bytes: int = 0

    def __post_init__(self) -> None:
        if self.insn_addr % isa.INSN_BYTES:
            raise BundleError(f"insn_addr {self.insn_addr} is not {isa.INSN_BYTES}-byte aligned")
        end = self.insn_addr + self.insn_count * isa.INSN_BYTES
        if self.insn_count < 0 or end > len(self.dram):
            raise BundleError(f"instructions [{self.insn_addr}, {end}) lie outside the "
                              f"{len(self.dram)}-byte DRAM image")
        if self.arena_bytes < 0:
            raise BundleError(f"arena_bytes must be >= 0, got {self.arena_bytes}")
        if self.arena_bytes and len(self.dram) % link_align(self.config):
            raise BundleError(f"the image of a bundle with an arena must be a multiple of "
                              f"{link_align(self.config)} bytes, got {len(self.dram)}")
        n, total = len(self.dram), len(self.dram) + self.arena_bytes
        for name, r in self.symbols.items():
            if r.addr < 0 or r.addr + r.nbytes > total or r.addr < n < r.addr + r.nbytes:
                where = (f"the {n}-byte DRAM image" if not self.arena_bytes else
                         f"the {n}-byte image or the {self.arena_bytes}-byte arena after it")
                raise BundleError(f"symbol {name!r} [{r.addr}, {r.addr + r.nbytes}) lies "
                                  f"outside {where}")

    def in_arena(self, name: str) -> bool:
        """Whether symbol ``name`` lies in the arena (past the image)."""
        return self.symbols[name].addr >= len(self.dram) and self.arena_bytes > 0

    def standalone_image(self) -> bytes:
        """The image with its arena (zero) right after it: what a device runs when the
        bundle is linked alone, and what ``read`` reads arena symbols from by default."""
        return self.dram + bytes(self.arena_bytes)

    @property
    def config_hash(self) -> str:
        return self.config.config_hash()

    def instruction_bytes(self) -> bytes:
        return self.dram[self.insn_addr:self.insn_addr + self.insn_count * isa.INSN_BYTES]

    def instructions(self) -> list[isa.Insn]:
        return isa.decode_program(self.instruction_bytes(), self.config)

    def read(self, name: str, dram: bytes | None = None) -> bytes:
        """Bytes of symbol ``name`` in ``dram`` (default: this bundle's initial image)."""
        if name not in self.symbols:
            raise KeyError(f"bundle has no symbol {name!r}; symbols: {sorted(self.symbols)}")
        r = self.symbols[name]
        img = self.standalone_image() if dram is None else dram
        return bytes(img[r.addr:r.addr + r.nbytes])

    def linked(self, base: int, *, arena_base: int | None = None,
               check_ranges: bool = True) -> bytes:
        """This bundle's image as it must sit at byte address ``base`` of a device's DRAM:
        every LOAD/STORE ``dram_base`` moved by ``base``, or by ``arena_base -
        len(dram)`` when it addresses the arena (default: the arena right after the
        image; see the module docstring).

        Raises BundleError if a base is not a multiple of :func:`link_align`, if an
        instruction accesses DRAM outside the image and its arena, or straddles the two
        (it would touch memory the program does not own; ``check_ranges=False`` links such
        raw bits anyway, to exercise a device's own protections) or if a moved address no
        longer fits its field."""
        align = link_align(self.config)
        n = len(self.dram)
        arena_base = base + n if arena_base is None else arena_base
        bases = (("base", base), ("arena base", arena_base))
        for what, b in bases[:2 if self.arena_bytes else 1]:
            if b < 0 or b % align:
                raise BundleError(f"cannot link at byte {b}: the {what} must be a non-negative "
                                  f"multiple of {align} (link_align of {self.config.name!r})")
        insns = self.instructions()
        moved = []
        for i, insn in enumerate(insns):
            if isinstance(insn, isa.Load | isa.Store):
                eb = isa.elem_bytes(self.config, insn.mem)
                lo = insn.dram_base * eb
                if check_ranges and insn.y_size and insn.x_size:
                    hi = (insn.dram_base + (insn.y_size - 1) * insn.x_stride
                          + insn.x_size) * eb
                    if hi > n + self.arena_bytes or lo < n < hi:
                        where = (f"the bundle's {n}-byte image" if not self.arena_bytes else
                                 f"the bundle's {n}-byte image or lie within its "
                                 f"{self.arena_bytes}-byte arena")
                        raise BundleError(
                            f"instruction {i} ({type(insn).__name__.upper()}) accesses DRAM "
                            f"bytes [{lo}, {hi}), which exceed {where}: it cannot be linked "
                            "into device memory")
                shift = base if lo < n else arena_base - n
                insn = replace(insn, dram_base=insn.dram_base + shift // eb)
            moved.append(insn)
        if base == 0 and arena_base == n:
            return self.dram
        try:
            words = isa.encode_program(moved, self.config)
        except isa.EncodeError as e:
            raise BundleError(f"cannot link at byte {base}: {e}") from None
        image = bytearray(self.dram)
        image[self.insn_addr:self.insn_addr + len(words)] = words
        return bytes(image)

    def check_config(self, cfg: HwConfig) -> None:
        """Raise ConfigMismatchError unless this bundle was built for ``cfg``."""
        if cfg.config_hash() != self.config_hash:
            raise ConfigMismatchError(
                f"bundle was built for config {self.config.name!r} (hash {self.config_hash}) "
                f"but the device is {cfg.name!r} (hash {cfg.config_hash()})")

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        p = Path(path)
        manifest = {
            "format": BUNDLE_FORMAT,
            "version": BUNDLE_VERSION,
            "config": self.config.primaries(),
            "config_hash": self.config_hash,
            "insn_addr": self.insn_addr,
            "insn_count": self.insn_count,
            "dram_bytes": len(self.dram),
            "symbols": {k: v.to_dict() for k, v in self.symbols.items()},
            "meta": self.meta,
        }
        if self.arena_bytes:
            manifest["arena_bytes"] = self.arena_bytes
        with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("manifest.json", json.dumps(manifest, indent=2))
            z.writestr("dram.bin", self.dram)
        return p

    @classmethod
    def load(cls, path: str | Path) -> Bundle:
        p = Path(path)
        if p.is_dir():
            raise BundleError(f"bundle {str(p)!r} is a directory, not a bundle file")
        if not p.is_file():
            raise BundleError(f"bundle {str(p)!r} does not exist")
        try:
            with zipfile.ZipFile(p) as z:
                manifest = json.loads(z.read("manifest.json"))
                dram = z.read("dram.bin")
        except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError, zlib.error,
                NotImplementedError) as e:  # ValueError covers bad JSON and bad UTF-8
            why = str(e) or type(e).__name__
            raise BundleError(f"{p}: not a readable bundle ({why})") from None
        if not isinstance(manifest, dict):
            raise BundleError(f"{p}: not a {BUNDLE_FORMAT} file (the manifest is not a JSON "
                              "object)")
        if manifest.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"{p}: not a {BUNDLE_FORMAT} file")
        if manifest.get("version") != BUNDLE_VERSION:
            raise BundleError(f"{p}: bundle version {manifest.get('version')} is not supported "
                              f"(this toolkit reads version {BUNDLE_VERSION})")
        try:
            cfg = HwConfig.from_dict(manifest["config"])
        except (ConfigError, TypeError, KeyError) as e:
            raise BundleError(f"{p}: bundle config is invalid: {e}") from None
        if manifest.get("config_hash") != cfg.config_hash():
            raise ConfigMismatchError(
                f"{p}: stored config hash {manifest.get('config_hash')} does not match its "
                f"config (hash {cfg.config_hash()}); the bundle is corrupt or was edited")
        if manifest.get("dram_bytes", len(dram)) != len(dram):
            raise BundleError(f"{p}: DRAM image is {len(dram)} bytes, manifest says "
                              f"{manifest.get('dram_bytes')}")
        try:
            return cls(config=cfg, dram=dram, insn_addr=int(manifest["insn_addr"]),
                       insn_count=int(manifest["insn_count"]),
                       symbols={k: Region.from_dict(v)
                                for k, v in manifest.get("symbols", {}).items()},
                       meta=dict(manifest.get("meta", {})),
                       arena_bytes=int(manifest.get("arena_bytes", 0)))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            if isinstance(e, BundleError):
                raise
            raise BundleError(f"{p}: malformed manifest ({e})") from None


class BundleBuilder:
    """Lays out a DRAM image: data regions, micro-op kernels and the instruction stream.

    Regions are aligned so that their address is a whole number of elements of any memory
    type that may DMA them (``align`` defaults to the largest element size of the config).
    """

    def __init__(self, cfg: HwConfig):
        self.cfg = cfg
        self._image = bytearray()
        self._symbols: dict[str, Region] = {}
        self._arena: dict[str, Region] = {}  # offsets into the arena
        self._insns: bytes | None = None
        self._insn_count = 0
        self.default_align = max(cfg.wgt_elem_bytes, cfg.acc_elem_bytes, cfg.inp_elem_bytes,
                                 isa.INSN_BYTES, 64)

    def _reserve(self, nbytes: int, align: int) -> int:
        addr = -(-len(self._image) // align) * align
        self._image.extend(b"\0" * (addr + nbytes - len(self._image)))
        return addr

    def add(self, name: str, data: bytes, *, dtype: str = "uint8",
            shape: tuple[int, ...] = (), align: int | None = None) -> Region:
        """Place ``data`` and name it; returns its region."""
        if name in self._symbols:
            raise BundleError(f"symbol {name!r} already placed")
        addr = self._reserve(len(data), align or self.default_align)
        self._image[addr:addr + len(data)] = data
        r = Region(addr, len(data), dtype, tuple(shape))
        self._symbols[name] = r
        return r

    def alloc(self, name: str, nbytes: int, *, dtype: str = "uint8",
              shape: tuple[int, ...] = (), align: int | None = None) -> Region:
        """Reserve ``nbytes`` of zeros (an output) and name it."""
        return self.add(name, bytes(nbytes), dtype=dtype, shape=shape, align=align)

    def arena(self, name: str, offset: int, nbytes: int, *, dtype: str = "uint8",
              shape: tuple[int, ...] = ()) -> None:
        """Name ``nbytes`` at ``offset`` of the arena (placed by the caller's memory plan;
        its address is :meth:`arena_start` + ``offset``)."""
        if name in self._symbols or name in self._arena:
            raise BundleError(f"symbol {name!r} already placed")
        if offset % link_align(self.cfg):
            raise BundleError(f"arena symbol {name!r}: offset {offset} is not a multiple of "
                              f"{link_align(self.cfg)}")
        self._arena[name] = Region(offset, nbytes, dtype, tuple(shape))

    def arena_start(self, insn_count: int) -> int:
        """Where the arena begins in the address space of the bundle :meth:`build` will
        make with ``insn_count`` instructions (the image, padded to link_align)."""
        insn_addr = -(-len(self._image) // isa.INSN_BYTES) * isa.INSN_BYTES
        end = insn_addr + insn_count * isa.INSN_BYTES
        align = link_align(self.cfg)
        return -(-end // align) * align

    def add_uops(self, name: str, uops: list[isa.Uop]) -> Region:
        return self.add(name, isa.encode_uops(uops, self.cfg), dtype=f"uint{isa.UOP_BITS}",
                        shape=(len(uops),))

    def set_program(self, insns: list[isa.Insn] | tuple[isa.Insn, ...]) -> None:
        self._insns = isa.encode_program(insns, self.cfg, checked=True)
        self._insn_count = len(insns)

    def build(self, meta: dict[str, Any] | None = None, *, arena_bytes: int = 0) -> Bundle:
        """The bundle; ``arena_bytes``: the size of the arena its arena symbols lie in
        (at least their extent; the image is then padded to :func:`link_align`)."""
        if self._insns is None:
            raise BundleError("no program: call set_program() before build()")
        need = max((r.addr + r.nbytes for r in self._arena.values()), default=0)
        if need > arena_bytes:
            raise BundleError(f"arena symbols reach byte {need} of a {arena_bytes}-byte arena")
        start = self.arena_start(self._insn_count)
        image = bytearray(self._image)
        insn_addr = -(-len(image) // isa.INSN_BYTES) * isa.INSN_BYTES
        image.extend(b"\0" * (insn_addr - len(image)))
        image.extend(self._insns)
        pad = start - len(image) if arena_bytes else (-len(image)) % 64
        image.extend(b"\0" * pad)
        symbols = dict(self._symbols)
        symbols.update({k: replace(r, addr=start + r.addr) for k, r in self._arena.items()})
        return Bundle(self.cfg, bytes(image), insn_addr, self._insn_count, symbols,
                      dict(meta or {}), arena_bytes)
