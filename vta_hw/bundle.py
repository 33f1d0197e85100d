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

    def __post_init__(self) -> None:
        if self.insn_addr % isa.INSN_BYTES:
            raise BundleError(f"insn_addr {self.insn_addr} is not {isa.INSN_BYTES}-byte aligned")
        end = self.insn_addr + self.insn_count * isa.INSN_BYTES
        if self.insn_count < 0 or end > len(self.dram):
            raise BundleError(f"instructions [{self.insn_addr}, {end}) lie outside the "
                              f"{len(self.dram)}-byte DRAM image")
        for name, r in self.symbols.items():
            if r.addr < 0 or r.addr + r.nbytes > len(self.dram):
                raise BundleError(f"symbol {name!r} [{r.addr}, {r.addr + r.nbytes}) lies "
                                  f"outside the {len(self.dram)}-byte DRAM image")

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
        img = self.dram if dram is None else dram
        return bytes(img[r.addr:r.addr + r.nbytes])

    def linked(self, base: int, *, check_ranges: bool = True) -> bytes:
        """This bundle's image as it must sit at byte address ``base`` of a device's DRAM:
        every LOAD/STORE ``dram_base`` moved by ``base`` (see the module docstring).

        Raises BundleError if ``base`` is not a multiple of :func:`link_align`, if an
        instruction accesses DRAM outside the image (it would touch memory the program
        does not own; ``check_ranges=False`` links such raw bits anyway, to exercise a
        device's own protections) or if a moved address no longer fits its field."""
        align = link_align(self.config)
        if base < 0 or base % align:
            raise BundleError(f"cannot link at byte {base}: the base must be a non-negative "
                              f"multiple of {align} (link_align of {self.config.name!r})")
        insns = self.instructions()
        moved = []
        for i, insn in enumerate(insns):
            if isinstance(insn, isa.Load | isa.Store):
                eb = isa.elem_bytes(self.config, insn.mem)
                if check_ranges and insn.y_size and insn.x_size:
                    lo = insn.dram_base * eb
                    hi = (insn.dram_base + (insn.y_size - 1) * insn.x_stride
                          + insn.x_size) * eb
                    if hi > len(self.dram):
                        raise BundleError(
                            f"instruction {i} ({type(insn).__name__.upper()}) accesses DRAM "
                            f"bytes [{lo}, {hi}), which exceed the bundle's {len(self.dram)}-"
                            "byte image: it cannot be linked into device memory")
                insn = replace(insn, dram_base=insn.dram_base + base // eb)
            moved.append(insn)
        if base == 0:
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
                       meta=dict(manifest.get("meta", {})))
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

    def add_uops(self, name: str, uops: list[isa.Uop]) -> Region:
        return self.add(name, isa.encode_uops(uops, self.cfg), dtype=f"uint{isa.UOP_BITS}",
                        shape=(len(uops),))

    def set_program(self, insns: list[isa.Insn] | tuple[isa.Insn, ...]) -> None:
        for i, insn in enumerate(insns):
            isa.check(insn, self.cfg, i)
        self._insns = isa.encode_program(insns, self.cfg)
        self._insn_count = len(insns)

    def build(self, meta: dict[str, Any] | None = None) -> Bundle:
        if self._insns is None:
            raise BundleError("no program: call set_program() before build()")
        image = bytearray(self._image)
        insn_addr = -(-len(image) // isa.INSN_BYTES) * isa.INSN_BYTES
        image.extend(b"\0" * (insn_addr - len(image)))
        image.extend(self._insns)
        image.extend(b"\0" * ((-len(image)) % 64))
        return Bundle(self.cfg, bytes(image), insn_addr, self._insn_count,
                      dict(self._symbols), dict(meta or {}))
