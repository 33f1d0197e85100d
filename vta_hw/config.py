"""HwConfig: the one description of an accelerator instance.

Every layer -- ISA encoder, simulator, RTL generator, compiler, runtime -- takes a HwConfig
explicitly; nothing reads a global "current" configuration.  Powers of two are stored as
log2 primaries (``log_block_in = 4`` means 16) so they are legal by construction; everything
else is a derived property.  ``__post_init__`` rejects inconsistent combinations with a
message that names the field, and ``config_hash`` identifies the hardware contract so that a
program bundle, a compiled module or a bitstream built for one configuration is never run on
another.

This module is part of the spec layer: it imports only the standard library.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from vta_hw import isa
from vta_hw.errors import VtaError


class ConfigError(VtaError, ValueError):
    """An HwConfig (or a config file) is inconsistent; the message names the field."""


# Fields that describe the configuration but not the hardware: excluded from the hash.
_DESCRIPTIVE_FIELDS = ("name",)
_SHOWN_KEYS = ("config", "derived", "config_hash")  # the JSON object `vta config show` prints

# Lane widths in bits that the ISA's arithmetic is defined for (``isa.AluOp``, docs/semantics.md):
# int8 inputs, weights and outputs, int32 accumulators.  HwConfig's log2 width fields must give
# these; code without a config at hand (per-lane helpers) uses them, code with one uses
# ``cfg.inp_width`` and so on.
INP_WIDTH = 8
WGT_WIDTH = 8
ACC_WIDTH = 32
OUT_WIDTH = 8


def int_range(bits: int) -> tuple[int, int]:
    """``(min, max)`` of a two's-complement ``bits``-bit integer (the saturation bounds)."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


@dataclass(frozen=True)
class HwConfig:
    """Parameters of one accelerator instance.

    GEMM core: ``batch x block_in x block_out`` int8 MACs per cycle (non-square allowed).
    Buffer depths count *elements* (one element is the unit a micro-op indexes: an
    ``inp`` element is a ``batch x block_in`` vector, a ``wgt`` element a
    ``block_out x block_in`` matrix, an ``acc``/``out`` element a ``batch x block_out`` vector,
    a ``uop`` element one 32-bit micro-op).
    """

    name: str = "default"
    # GEMM core shape
    log_batch: int = 0
    log_block_in: int = 4
    log_block_out: int = 4
    # operand widths in bits (log2)
    log_inp_width: int = INP_WIDTH.bit_length() - 1
    log_wgt_width: int = WGT_WIDTH.bit_length() - 1
    log_acc_width: int = ACC_WIDTH.bit_length() - 1
    log_out_width: int = OUT_WIDTH.bit_length() - 1
    # on-chip buffer depths in elements (log2)
    log_uop_buff_depth: int = 13
    log_inp_buff_depth: int = 11
    log_wgt_buff_depth: int = 10
    log_acc_buff_depth: int = 11
    log_out_buff_depth: int = 11
    # decoupling queues (log2 of entries)
    log_cmd_queue_depth: int = 5
    log_token_queue_depth: int = 4
    # DRAM model: fixed latency per request and data-bus width
    dram_latency: int = 32
    log_dram_bytes_per_cycle: int = 3
    # DRAM capacity (log2 bytes): what a compiled module (programs, weights and the
    # activation arena) may occupy; 2**25 = the ULX3S's 32 MB SDRAM
    log_dram_bytes: int = 25
    # pipeline depths (cycles from a micro-op's SRAM read to its accumulator write)
    gemm_pipeline_depth: int = 5
    alu_pipeline_depth: int = 4
    # clock target for the FPGA flow and for converting cycles to seconds
    target_clock_mhz: float = 100.0

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        def need(cond: bool, fld: str, msg: str) -> None:
            if not cond:
                raise ConfigError(f"HwConfig '{self.name}': {fld}: {msg}")

        for f in fields(self):
            if f.name.startswith("log_") or f.name in ("dram_latency", "gemm_pipeline_depth",
                                                       "alu_pipeline_depth"):
                v = getattr(self, f.name)
                need(isinstance(v, int) and not isinstance(v, bool), f.name,
                     f"must be an integer, got {v!r}")
                need(v >= 0, f.name, f"must be >= 0, got {v}")
        need(isinstance(self.name, str) and self.name != "", "name", "must be a non-empty string")
        need(self.log_batch <= 4, "log_batch", f"batch {2**self.log_batch} exceeds 16")
        need(1 <= self.log_block_in <= 6, "log_block_in",
             f"block_in {2**self.log_block_in} must be in 2..64")
        need(1 <= self.log_block_out <= 6, "log_block_out",
             f"block_out {2**self.log_block_out} must be in 2..64")
        for lane, width, what in (("inp", INP_WIDTH, "inputs"), ("wgt", WGT_WIDTH, "weights"),
                                  ("acc", ACC_WIDTH, "accumulators"),
                                  ("out", OUT_WIDTH, "outputs")):
            log = width.bit_length() - 1
            need(getattr(self, f"log_{lane}_width") == log, f"log_{lane}_width",
                 f"only int{width} {what} are supported ({log})")
        for buf in ("uop", "inp", "wgt", "acc", "out"):
            v = getattr(self, f"log_{buf}_buff_depth")
            need(1 <= v <= 16, f"log_{buf}_buff_depth", f"depth 2**{v} must be in 2..65536")
        need(self.log_out_buff_depth <= self.log_acc_buff_depth, "log_out_buff_depth",
             f"out buffer ({self.out_buff_depth}) cannot be deeper than the acc buffer "
             f"({self.acc_buff_depth}): out[i] mirrors acc[i]")
        need(1 <= self.log_cmd_queue_depth <= 10, "log_cmd_queue_depth", "must be in 1..10")
        need(1 <= self.log_token_queue_depth <= 10, "log_token_queue_depth", "must be in 1..10")
        need(1 <= self.dram_latency <= 4096, "dram_latency",
             f"must be in 1..4096 cycles, got {self.dram_latency}")
        need(self.log_dram_bytes_per_cycle <= 7, "log_dram_bytes_per_cycle",
             "bus wider than 128 bytes is not supported")
        need(10 <= self.log_dram_bytes <= isa.DRAM_ADDR_BITS, "log_dram_bytes",
             f"DRAM of 2**{self.log_dram_bytes} bytes must be in 1 KiB..4 GiB (2**10.."
             f"2**{isa.DRAM_ADDR_BITS})")
        need(2 <= self.gemm_pipeline_depth <= 32, "gemm_pipeline_depth", "must be in 2..32")
        need(2 <= self.alu_pipeline_depth <= 32, "alu_pipeline_depth", "must be in 2..32")
        need(isinstance(self.target_clock_mhz, (int, float)) and 1 <= self.target_clock_mhz <= 1000,
             "target_clock_mhz", f"must be in 1..1000, got {self.target_clock_mhz!r}")
        # one value, one hash: 60 (a JSON space's axis) equals 60.0 (a preset's), so both
        # must hash alike, or a compile cached for one is refused as built for the other
        object.__setattr__(self, "target_clock_mhz", float(self.target_clock_mhz))
        uop = self.log_acc_buff_depth + self.uop_src_bits + self.log_wgt_buff_depth
        need(uop <= isa.UOP_BITS, "buffer depths",
             f"a micro-op holds acc index ({self.log_acc_buff_depth} bits) + src index "
             f"({self.uop_src_bits} bits) + wgt index ({self.log_wgt_buff_depth} bits) = {uop} "
             f"bits, more than its {isa.UOP_BITS}; reduce log_acc/inp/wgt_buff_depth")
        # Instruction formats must fit 128 bits; isa.py owns the tables.
        for fmt in isa.formats(self).values():
            need(fmt.total_bits <= isa.INSN_BITS, "buffer depths",
                 f"{fmt.name} instruction needs {fmt.total_bits} bits, more than "
                 f"{isa.INSN_BITS}; reduce buffer depths")

    # ------------------------------------------------------------------ core shape
    @property
    def batch(self) -> int:
        return 1 << self.log_batch

    @property
    def block_in(self) -> int:
        return 1 << self.log_block_in

    @property
    def block_out(self) -> int:
        return 1 << self.log_block_out

    @property
    def macs_per_cycle(self) -> int:
        """MACs the GEMM core retires per cycle: batch x block_in x block_out."""
        return self.batch * self.block_in * self.block_out

    # ------------------------------------------------------------------ widths
    @property
    def inp_width(self) -> int:
        return 1 << self.log_inp_width

    @property
    def wgt_width(self) -> int:
        return 1 << self.log_wgt_width

    @property
    def acc_width(self) -> int:
        return 1 << self.log_acc_width

    @property
    def out_width(self) -> int:
        return 1 << self.log_out_width

    # ------------------------------------------------------------------ buffers
    @property
    def uop_buff_depth(self) -> int:
        return 1 << self.log_uop_buff_depth

    @property
    def inp_buff_depth(self) -> int:
        return 1 << self.log_inp_buff_depth

    @property
    def wgt_buff_depth(self) -> int:
        return 1 << self.log_wgt_buff_depth

    @property
    def acc_buff_depth(self) -> int:
        return 1 << self.log_acc_buff_depth

    @property
    def out_buff_depth(self) -> int:
        return 1 << self.log_out_buff_depth

    @property
    def uop_elem_bytes(self) -> int:
        return isa.UOP_BYTES

    @property
    def inp_elem_bits(self) -> int:
        """Bits of an inp element: ``batch x block_in`` lanes of ``inp_width``."""
        return self.batch * self.block_in * self.inp_width

    @property
    def wgt_elem_bits(self) -> int:
        """Bits of a wgt element: ``block_out x block_in`` lanes of ``wgt_width``."""
        return self.block_out * self.block_in * self.wgt_width

    @property
    def acc_elem_bits(self) -> int:
        """Bits of an acc element: ``batch x block_out`` lanes of ``acc_width``."""
        return self.batch * self.block_out * self.acc_width

    @property
    def out_elem_bits(self) -> int:
        """Bits of an out element: ``batch x block_out`` lanes of ``out_width``."""
        return self.batch * self.block_out * self.out_width

    @property
    def inp_elem_bytes(self) -> int:
        return self.inp_elem_bits // 8

    @property
    def wgt_elem_bytes(self) -> int:
        return self.wgt_elem_bits // 8

    @property
    def acc_elem_bytes(self) -> int:
        return self.acc_elem_bits // 8

    @property
    def out_elem_bytes(self) -> int:
        return self.out_elem_bits // 8

    @property
    def uop_buff_bytes(self) -> int:
        return self.uop_buff_depth * self.uop_elem_bytes

    @property
    def inp_buff_bytes(self) -> int:
        return self.inp_buff_depth * self.inp_elem_bytes

    @property
    def wgt_buff_bytes(self) -> int:
        return self.wgt_buff_depth * self.wgt_elem_bytes

    @property
    def acc_buff_bytes(self) -> int:
        return self.acc_buff_depth * self.acc_elem_bytes

    @property
    def out_buff_bytes(self) -> int:
        return self.out_buff_depth * self.out_elem_bytes

    @property
    def uop_src_bits(self) -> int:
        """Width of a micro-op's src field: an inp index (GEMM) or an acc index (ALU)."""
        return max(self.log_inp_buff_depth, self.log_acc_buff_depth)

    # ------------------------------------------------------------------ queues and DRAM
    @property
    def cmd_queue_depth(self) -> int:
        return 1 << self.log_cmd_queue_depth

    @property
    def token_queue_depth(self) -> int:
        return 1 << self.log_token_queue_depth

    @property
    def dram_bytes_per_cycle(self) -> int:
        return 1 << self.log_dram_bytes_per_cycle

    @property
    def dram_bytes(self) -> int:
        """DRAM capacity in bytes: the memory a device gives a loaded module."""
        return 1 << self.log_dram_bytes

    @property
    def peak_gops(self) -> float:
        """Peak int8 throughput at the target clock (2 ops per MAC)."""
        return 2 * self.macs_per_cycle * self.target_clock_mhz / 1e3

    # ------------------------------------------------------------------ identity
    def primaries(self) -> dict[str, Any]:
        """The stored fields (what the JSON file holds), in declaration order."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}

    def derived(self) -> dict[str, Any]:
        """Derived values, for display (``vta config show``) and the docs."""
        names = [n for n, v in vars(type(self)).items() if isinstance(v, property)]
        return {n: getattr(self, n) for n in names}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.primaries(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HwConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"a config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls) if f.init}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config field(s) {unknown}; known fields: {sorted(known)}")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> HwConfig:
        """A config from JSON: its primaries (:meth:`to_json`), or what ``vta config show``
        prints (``{"config": ..., "derived": ..., "config_hash": ...}``), whose derived values
        and hash must agree with the primaries: they cannot be set, only checked."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"config is not valid JSON: {e}") from None
        if isinstance(data, dict) and isinstance(data.get("config"), dict):
            return cls._from_shown(data)
        return cls.from_dict(data)

    @classmethod
    def _from_shown(cls, data: dict[str, Any]) -> HwConfig:
        extra = sorted(set(data) - set(_SHOWN_KEYS))
        if extra:
            raise ConfigError(f"unknown top-level field(s) {extra} next to 'config'; "
                              f"expected {list(_SHOWN_KEYS)}")
        cfg = cls.from_dict(data["config"])
        derived = data.get("derived", {})
        if not isinstance(derived, dict):
            raise ConfigError(f"'derived' must be a JSON object, got {type(derived).__name__}")
        actual = cfg.derived()
        for name, value in derived.items():
            if name not in actual:
                raise ConfigError(f"unknown derived value {name!r}; derived values: "
                                  f"{sorted(actual)}")
            if value != actual[name]:
                raise ConfigError(f"derived value {name}={value!r} disagrees with the config "
                                  f"fields, which give {actual[name]!r}: derived values cannot "
                                  "be set; change the fields under 'config' (or delete "
                                  "'derived')")
        stated = data.get("config_hash")
        if stated is not None and stated != cfg.config_hash():
            raise ConfigError(f"config_hash {stated!r} does not match the config fields (hash "
                              f"{cfg.config_hash()!r}): the file was edited after `vta config "
                              "show`; delete 'config_hash' to accept the edit")
        return cfg

    @classmethod
    def from_file(cls, path: str | Path) -> HwConfig:
        p = Path(path)
        if str(path) == "":
            raise ConfigError("config file: the path is empty")
        if p.is_dir():
            raise ConfigError(f"config file {str(p)!r} is a directory, not a file")
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} does not exist")
        try:
            text = p.read_bytes().decode("utf-8")
        except OSError as e:
            raise ConfigError(f"config file {str(p)!r} cannot be read: {e.strerror}") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"config file {str(p)!r} is not UTF-8 text (byte at offset "
                              f"{e.start}); expected JSON") from None
        try:
            return cls.from_json(text)
        except ConfigError as e:
            raise ConfigError(f"config file {str(p)!r}: {e}") from None

    def config_hash(self) -> str:
        """Stable 16-hex-digit identity of the hardware (the name is not part of it)."""
        hw = {k: v for k, v in self.primaries().items() if k not in _DESCRIPTIVE_FIELDS}
        canon = json.dumps(hw, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()[:16]

    def replace(self, **changes: Any) -> HwConfig:
        return replace(self, **changes)


DEFAULT = HwConfig()
"""VTA's default: 1x16x16 int8 GEMM, 32 KiB uop, 32 KiB inp, 256 KiB wgt, 128 KiB acc."""

TINY = replace(
    DEFAULT,
    name="tiny",
    log_block_in=2,
    log_block_out=2,
    log_uop_buff_depth=9,
    log_inp_buff_depth=8,
    log_wgt_buff_depth=6,
    log_acc_buff_depth=8,
    log_out_buff_depth=8,
    log_cmd_queue_depth=3,
    log_token_queue_depth=3,
    dram_latency=4,
    log_dram_bytes_per_cycle=2,
    gemm_pipeline_depth=4,
    alu_pipeline_depth=4,
    target_clock_mhz=60.0,
)
"""1x4x4 core with small buffers and a short DRAM latency: fast tests and small FPGA builds.

``alu_pipeline_depth=4`` puts a register inside the ALU's 32x32 multiply, and the 60 MHz
clock is met with margin on the ULX3S-85F (73.6 MHz measured, docs/fpga.md), so the tiny
bitstream is one a board can run."""

WIDE = replace(
    DEFAULT,
    name="wide",
    log_block_in=3,
    log_block_out=4,
    log_uop_buff_depth=11,
    log_inp_buff_depth=10,
    log_wgt_buff_depth=9,
    log_acc_buff_depth=10,
    log_out_buff_depth=10,
    log_cmd_queue_depth=4,
    dram_latency=16,
)
"""Non-square 1x8x16 core (block_in != block_out) with mid-sized buffers."""

DEFAULT_85F = replace(DEFAULT, name="default-85f", log_wgt_buff_depth=9)
"""VTA's 1x16x16 core with the weight buffer halved (128 KiB) so that it fits the ECP5-85F of
a ULX3S board: VTA's default buffers need 217 DP16KD block RAMs, the 85F has 208."""

PRESETS: dict[str, HwConfig] = {c.name: c for c in (DEFAULT, TINY, WIDE, DEFAULT_85F)}


def preset(name: str) -> HwConfig:
    """Return the preset called ``name`` or raise ConfigError listing the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; known presets: {sorted(PRESETS)}") from None


def resolve(preset_name: str | None = None, config_file: str | Path | None = None) -> HwConfig:
    """The config a CLI command was given: ``--preset P`` or ``--config F`` (not both)."""
    if preset_name is not None and config_file is not None:
        raise ConfigError("give either --preset or --config, not both")
    if config_file is not None:
        return HwConfig.from_file(config_file)
    return preset(preset_name or "default")


__all__ = ["HwConfig", "ConfigError", "INP_WIDTH", "WGT_WIDTH", "ACC_WIDTH", "OUT_WIDTH",
           "int_range", "DEFAULT", "TINY", "WIDE", "DEFAULT_85F", "PRESETS",
           "preset", "resolve"]
