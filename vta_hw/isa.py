"""The instruction set, declared once as data.

A VTA-style two-level ISA:

* 128-bit *task* instructions (LOAD, STORE, GEMM, ALU, FINISH, NOP) that the fetch unit
  dispatches to the load, compute and store modules.  Every instruction carries four
  dependency flags (pop_prev, pop_next, push_prev, push_next) that pop and push tokens on the
  queues between neighbouring modules.
* 32-bit *micro-ops* (acc index, inp-or-src index, wgt index), loaded into the micro-op
  buffer and iterated by GEMM and ALU instructions over two affine loops.

Each format is a table of named fields whose widths derive from an :class:`HwConfig`.  From
the tables come ``encode``/``decode``, the assembler and disassembler, the Amaranth layouts
the RTL decodes with (``vta_hw.rtl``) and the ISA table in ``docs/isa.md``.  No other module
writes down a bit offset.

This module is part of the spec layer: it imports only the standard library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from typing import TYPE_CHECKING, ClassVar

from vta_hw.errors import VtaError

if TYPE_CHECKING:
    from vta_hw.config import HwConfig

INSN_BITS = 128
INSN_BYTES = INSN_BITS // 8
UOP_BITS = 32
UOP_BYTES = UOP_BITS // 8
OPCODE_BITS = 3
LOOP_ITER_BITS = 14  # extent of each of the two affine loops of GEMM / ALU
MEM_SIZE_BITS = 16  # y_size, x_size, x_stride of a 2-D DMA
MEM_PAD_BITS = 4  # padding on each of the four sides
DRAM_ADDR_BITS = 32  # DRAM base, in elements of the memory type
ALU_IMM_BITS = 16
ALU_OP_BITS = 3
MEM_TYPE_BITS = 3
MODULE_BITS = 2
SHIFT_BITS = 6  # shift amounts use the low 6 bits of the operand, signed (-32..31)


class IsaError(VtaError, ValueError):
    """Base class for instruction-set errors."""


class EncodeError(IsaError):
    """A field value does not fit its format."""


class DecodeError(IsaError):
    """A bit pattern is not a valid instruction or micro-op."""


class AsmError(IsaError):
    """Assembly text could not be parsed; the message names the line."""


class Opcode(IntEnum):
    LOAD = 0
    STORE = 1
    GEMM = 2
    FINISH = 3
    ALU = 4
    NOP = 5


class MemType(IntEnum):
    """What a LOAD/STORE moves.  ACC8 loads int8 data sign-extended into the acc buffer."""

    UOP = 0
    WGT = 1
    INP = 2
    ACC = 3
    OUT = 4
    ACC8 = 5


class AluOp(IntEnum):
    """ALU operations on int32 accumulators: ``acc[dst] = op(acc[dst], operand)``.

    The operand is the sign-extended 16-bit immediate or ``acc[src]``.  Results wrap to 32
    bits; every write also updates ``out[dst]`` with the value saturated to int8.
    SHR/RSHR shift by the low 6 bits of the operand (signed; negative shifts left);
    RSHR rounds half up: ``(x + 2**(s-1)) >> s`` computed without overflow.
    MOV copies the operand.
    OUTMODE writes no accumulator: it sets the requantization of the GEMM out mirror
    (:func:`out_mode_fields`), which then runs for free alongside the GEMM instead of as
    ALU passes over the accumulators.
    """

    MIN = 0
    MAX = 1
    ADD = 2
    SHR = 3
    MUL = 4
    RSHR = 5
    MOV = 6
    OUTMODE = 7


ALU_LANE_OPS = tuple(op for op in AluOp if op != AluOp.OUTMODE)  # ops that compute on lanes

OUT_MODE_SHIFT_BITS = 5  # OUTMODE imm bits 0-4: the rounding right shift (0..31)
OUT_MODE_RELU_BIT = 5  # OUTMODE imm bit 5: lower bound 0 instead of -128


def out_mode_imm(shift: int, relu: bool) -> int:
    """The OUTMODE immediate for a rounding right shift by ``shift`` and optional ReLU."""
    if not 0 <= shift < 1 << OUT_MODE_SHIFT_BITS:
        raise EncodeError(f"OUTMODE shift={shift} must be in 0..{(1 << OUT_MODE_SHIFT_BITS) - 1}")
    return shift | (int(relu) << OUT_MODE_RELU_BIT)


def out_mode_fields(imm: int) -> tuple[int, bool]:
    """``(shift, relu)`` of an OUTMODE immediate (the other bits are ignored).

    While the mode is ``(s, relu)``, every GEMM write of ``acc[i]`` mirrors
    ``out[i] = clip(rshr(acc[i], s), 0 if relu else -128, 127)`` (``rshr`` exact, as RSHR;
    ``s = 0`` is the plain saturation).  LOAD and ALU writes always mirror the plain
    saturation.  The mode starts as ``(0, False)``.
    """
    return imm & ((1 << OUT_MODE_SHIFT_BITS) - 1), bool((imm >> OUT_MODE_RELU_BIT) & 1)


class Module(IntEnum):
    """The three execution modules fed by fetch (and the target field of NOP)."""

    LOAD = 0
    COMPUTE = 1
    STORE = 2


# ---------------------------------------------------------------------------- field tables
@dataclass(frozen=True)
class Field:
    name: str
    width: int
    doc: str
    signed: bool = False
    enum: type[IntEnum] | None = None

    @property
    def min(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1


@dataclass(frozen=True)
class Format:
    """An ordered table of fields, least-significant first."""

    name: str
    fields: tuple[Field, ...]
    total_bits_limit: int = INSN_BITS

    @property
    def total_bits(self) -> int:
        return sum(f.width for f in self.fields)

    @property
    def offsets(self) -> dict[str, tuple[int, int]]:
        """``name -> (lsb, width)``."""
        out, lsb = {}, 0
        for f in self.fields:
            out[f.name] = (lsb, f.width)
            lsb += f.width
        return out

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


_HEADER = (
    Field("opcode", OPCODE_BITS, "instruction kind", enum=Opcode),
    Field("pop_prev", 1, "pop a token from the previous module before executing"),
    Field("pop_next", 1, "pop a token from the next module before executing"),
    Field("push_prev", 1, "push a token to the previous module after finishing"),
    Field("push_next", 1, "push a token to the next module after finishing"),
)
DEP_FLAGS = ("pop_prev", "pop_next", "push_prev", "push_next")
_BOOL_FIELDS = ("reset", "use_imm", "overwrite")  # one-bit fields that are flags


def _loop_fields(cfg: HwConfig, src_bits: int, with_wgt: bool) -> tuple[Field, ...]:
    la, lw = cfg.log_acc_buff_depth, cfg.log_wgt_buff_depth
    fs = [
        Field("reset", 1, "write zero to acc[dst] instead of accumulating"),
        Field("uop_bgn", cfg.log_uop_buff_depth, "first micro-op"),
        Field("uop_end", cfg.log_uop_buff_depth + 1, "one past the last micro-op"),
        Field("iter_out", LOOP_ITER_BITS, "outer loop extent"),
        Field("iter_in", LOOP_ITER_BITS, "inner loop extent"),
        Field("dst_factor_out", la, "acc index step per outer iteration"),
        Field("dst_factor_in", la, "acc index step per inner iteration"),
        Field("src_factor_out", src_bits, "src index step per outer iteration"),
        Field("src_factor_in", src_bits, "src index step per inner iteration"),
    ]
    if with_wgt:
        fs += [
            Field("wgt_factor_out", lw, "wgt index step per outer iteration"),
            Field("wgt_factor_in", lw, "wgt index step per inner iteration"),
        ]
    return tuple(fs)


def sram_index_bits(cfg: HwConfig) -> int:
    """Width of a LOAD/STORE SRAM base: wide enough for the deepest buffer."""
    return max(cfg.log_uop_buff_depth, cfg.log_inp_buff_depth, cfg.log_wgt_buff_depth,
               cfg.log_acc_buff_depth, cfg.log_out_buff_depth)


@lru_cache(maxsize=64)
def formats(cfg: HwConfig) -> dict[Opcode, Format]:
    """The instruction formats of ``cfg``, keyed by opcode (LOAD and STORE share MEM)."""
    mem = Format("MEM", _HEADER + (
        Field("mem", MEM_TYPE_BITS, "memory type (uop, wgt, inp, acc, out, acc8)", enum=MemType),
        Field("sram_base", sram_index_bits(cfg), "first SRAM element"),
        Field("dram_base", DRAM_ADDR_BITS, "first DRAM element (in elements of the memory type)"),
        Field("y_size", MEM_SIZE_BITS, "rows"),
        Field("x_size", MEM_SIZE_BITS, "elements per row"),
        Field("x_stride", MEM_SIZE_BITS, "DRAM elements between row starts"),
        Field("y_pad_0", MEM_PAD_BITS, "pad rows before (LOAD only)"),
        Field("y_pad_1", MEM_PAD_BITS, "pad rows after (LOAD only)"),
        Field("x_pad_0", MEM_PAD_BITS, "pad elements before each row (LOAD only)"),
        Field("x_pad_1", MEM_PAD_BITS, "pad elements after each row (LOAD only)"),
        Field("pad_value", cfg.inp_width, "value of every padded lane, sign-extended",
              signed=True),
    ))
    gemm = Format("GEMM", _HEADER + _loop_fields(cfg, cfg.log_inp_buff_depth, with_wgt=True) + (
        Field("overwrite", 1, "acc[dst] = product, the old value ignored (a reduction's first "
              "step, without a reset pass)"),
    ))
    alu = Format("ALU", _HEADER + _loop_fields(cfg, cfg.log_acc_buff_depth, with_wgt=False) + (
        Field("alu_op", ALU_OP_BITS, "operation", enum=AluOp),
        Field("use_imm", 1, "operand is the immediate, not acc[src]"),
        Field("imm", ALU_IMM_BITS, "immediate operand, sign-extended", signed=True),
    ))
    finish = Format("FINISH", _HEADER)
    nop = Format("NOP", _HEADER + (
        Field("module", MODULE_BITS, "module that executes it (load, compute, store)",
              enum=Module),
    ))
    return {Opcode.LOAD: mem, Opcode.STORE: mem, Opcode.GEMM: gemm, Opcode.ALU: alu,
            Opcode.FINISH: finish, Opcode.NOP: nop}


@lru_cache(maxsize=64)
def uop_format(cfg: HwConfig) -> Format:
    """The 32-bit micro-op: dst (acc index), src (inp index for GEMM, acc index for ALU), wgt."""
    return Format("UOP", (
        Field("dst", cfg.log_acc_buff_depth, "acc index"),
        Field("src", cfg.uop_src_bits, "inp index (GEMM) or acc index (ALU)"),
        Field("wgt", cfg.log_wgt_buff_depth, "wgt index (GEMM)"),
    ), total_bits_limit=UOP_BITS)


# ---------------------------------------------------------------------------- instructions
@dataclass(frozen=True, kw_only=True)
class Insn:
    """Common part of every task instruction: the four dependency flags."""

    OPCODE: ClassVar[Opcode]
    pop_prev: bool = False
    pop_next: bool = False
    push_prev: bool = False
    push_next: bool = False

    @property
    def opcode(self) -> Opcode:
        return self.OPCODE

    @property
    def deps(self) -> tuple[bool, bool, bool, bool]:
        return (self.pop_prev, self.pop_next, self.push_prev, self.push_next)


@dataclass(frozen=True, kw_only=True)
class _Mem(Insn):
    mem: MemType
    sram_base: int = 0
    dram_base: int = 0
    y_size: int = 0
    x_size: int = 0
    x_stride: int = 0
    y_pad_0: int = 0
    y_pad_1: int = 0
    x_pad_0: int = 0
    x_pad_1: int = 0
    pad_value: int = 0

    @property
    def rows(self) -> int:
        """SRAM rows written (data rows plus pad rows)."""
        return self.y_pad_0 + self.y_size + self.y_pad_1

    @property
    def cols(self) -> int:
        """SRAM elements per row (data plus pad)."""
        return self.x_pad_0 + self.x_size + self.x_pad_1

    @property
    def sram_elems(self) -> int:
        return self.rows * self.cols

    @property
    def dram_elems(self) -> int:
        return self.y_size * self.x_size


@dataclass(frozen=True, kw_only=True)
class Load(_Mem):
    """2-D strided DMA from DRAM into an SRAM buffer, with padding."""

    OPCODE: ClassVar[Opcode] = Opcode.LOAD


@dataclass(frozen=True, kw_only=True)
class Store(_Mem):
    """2-D strided DMA from the out buffer to DRAM (no padding)."""

    OPCODE: ClassVar[Opcode] = Opcode.STORE
    mem: MemType = MemType.OUT


@dataclass(frozen=True, kw_only=True)
class _Loop(Insn):
    reset: bool = False
    uop_bgn: int = 0
    uop_end: int = 0
    iter_out: int = 0
    iter_in: int = 0
    dst_factor_out: int = 0
    dst_factor_in: int = 0
    src_factor_out: int = 0
    src_factor_in: int = 0

    @property
    def n_uops(self) -> int:
        return max(0, self.uop_end - self.uop_bgn)

    @property
    def n_iters(self) -> int:
        """Micro-op executions: iter_out x iter_in x (uop_end - uop_bgn)."""
        return self.iter_out * self.iter_in * self.n_uops


@dataclass(frozen=True, kw_only=True)
class Gemm(_Loop):
    """acc[dst] += inp[src] x wgt[wgt]^T over the micro-op loops; with ``overwrite`` the
    product replaces acc[dst], with ``reset`` acc[dst] = 0."""

    OPCODE: ClassVar[Opcode] = Opcode.GEMM
    wgt_factor_out: int = 0
    wgt_factor_in: int = 0
    overwrite: bool = False


@dataclass(frozen=True, kw_only=True)
class Alu(_Loop):
    """acc[dst] = op(acc[dst], imm or acc[src]) (or 0 with reset) over the micro-op loops."""

    OPCODE: ClassVar[Opcode] = Opcode.ALU
    alu_op: AluOp = AluOp.MIN
    use_imm: bool = False
    imm: int = 0


@dataclass(frozen=True, kw_only=True)
class Finish(Insn):
    """Signals completion when the compute module retires it."""

    OPCODE: ClassVar[Opcode] = Opcode.FINISH


@dataclass(frozen=True, kw_only=True)
class Nop(Insn):
    """Does nothing but pop and push tokens on ``module``: an explicit synchronisation."""

    OPCODE: ClassVar[Opcode] = Opcode.NOP
    module: Module = Module.COMPUTE


INSN_CLASSES: dict[Opcode, type[Insn]] = {
    c.OPCODE: c for c in (Load, Store, Gemm, Alu, Finish, Nop)
}


@dataclass(frozen=True)
class Uop:
    """One micro-op: indices into acc (dst), inp or acc (src) and wgt."""

    dst: int = 0
    src: int = 0
    wgt: int = 0


# ---------------------------------------------------------------------------- encode/decode
def _to_bits(f: Field, value: int, what: str) -> int:
    v = int(value)
    if not f.min <= v <= f.max:
        raise EncodeError(f"{what}: field {f.name}={v} does not fit {f.width} "
                          f"{'signed ' if f.signed else ''}bits ({f.min}..{f.max})")
    return v & ((1 << f.width) - 1)


@lru_cache(maxsize=64)
def _plans(cfg: HwConfig) -> dict[Opcode, tuple[tuple, int]]:
    """Per opcode, each field of its format with what encoding and decoding need worked
    out once -- (field, name, lsb, min, max, mask, kind) with kind 0 for an integer, 1 for
    a one-bit flag, 2 for an enum, 3 for the opcode -- and the format's bits.  A model's
    program is tens of thousands of instructions, each encoded or decoded several times
    on its way to a device (bundle, link, load checks, simulator), so the per-field
    properties and the formats' lookup by config are taken out of the loop."""
    out = {}
    for opcode, fmt in formats(cfg).items():
        plan, lsb = [], 0
        for f in fmt.fields:
            kind = (3 if f.name == "opcode" else 2 if f.enum is not None
                    else 1 if f.width == 1 and (f.name in DEP_FLAGS or f.name in _BOOL_FIELDS)
                    else 0)
            plan.append((f, f.name, lsb, f.min, f.max, (1 << f.width) - 1, kind))
            lsb += f.width
        out[opcode] = (tuple(plan), lsb)
    return out


def _encode_planned(insn: Insn, plans) -> int:
    word = 0
    for f, name, lsb, lo, hi, mask, kind in plans[insn.opcode][0]:
        v = int(insn.opcode if kind == 3 else getattr(insn, name))
        if not lo <= v <= hi:
            _to_bits(f, v, type(insn).__name__)  # raises, naming the field
        word |= (v & mask) << lsb
    return word


def encode_int(insn: Insn, cfg: HwConfig) -> int:
    """The instruction as a 128-bit integer."""
    return _encode_planned(insn, _plans(cfg))


def encode(insn: Insn, cfg: HwConfig) -> bytes:
    """The instruction as 16 little-endian bytes (the DRAM image format)."""
    return encode_int(insn, cfg).to_bytes(INSN_BYTES, "little")


def decode_int(word: int, cfg: HwConfig, index: int | None = None) -> Insn:
    """Decode a 128-bit integer; raises DecodeError naming the instruction index."""
    return _decode_planned(word, _plans(cfg), index)


def _decode_planned(word: int, plans, index: int | None) -> Insn:
    if not 0 <= word < (1 << INSN_BITS):
        raise DecodeError(f"{_where(index)}: value does not fit {INSN_BITS} bits")
    op_raw = word & ((1 << OPCODE_BITS) - 1)
    try:
        opcode = Opcode(op_raw)
    except ValueError:
        raise DecodeError(f"{_where(index)}: unknown opcode {op_raw} (0x{word:032x})") from None
    values: dict[str, object] = {}
    fields, total = plans[opcode]
    for f, name, lsb, _, _, mask, kind in fields:
        if kind == 3:
            continue
        v = (word >> lsb) & mask
        if f.signed and v >> (f.width - 1):
            v -= 1 << f.width
        if kind == 2:
            try:
                values[name] = f.enum(v)
            except ValueError:
                raise DecodeError(f"{_where(index)}: {opcode.name} field {name}={v} is not a "
                                  f"valid {f.enum.__name__} (0x{word:032x})") from None
        elif kind == 1:
            values[name] = bool(v)
        else:
            values[name] = v
    if word >> total:
        raise DecodeError(f"{_where(index)}: {opcode.name} has non-zero bits above bit "
                          f"{total - 1} (0x{word:032x})")
    return INSN_CLASSES[opcode](**values)


def _where(index: int | None) -> str:
    return f"instruction {index}" if index is not None else "instruction"


def decode(data: bytes, cfg: HwConfig, index: int | None = None) -> Insn:
    if len(data) != INSN_BYTES:
        raise DecodeError(f"an instruction is {INSN_BYTES} bytes, got {len(data)}")
    return decode_int(int.from_bytes(data, "little"), cfg, index)


def encode_program(insns: list[Insn] | tuple[Insn, ...], cfg: HwConfig, *,
                   checked: bool = False) -> bytes:
    """The instructions as ``INSN_BYTES`` little-endian bytes each (the DRAM image format).
    ``checked``: also apply :func:`check`'s semantic rules, naming the first instruction
    that breaks one (each is still encoded once)."""
    if checked:
        words = (check(insn, cfg, k) for k, insn in enumerate(insns))
    else:
        plans = _plans(cfg)
        words = (_encode_planned(i, plans) for i in insns)
    return b"".join(w.to_bytes(INSN_BYTES, "little") for w in words)


def decode_program(data: bytes, cfg: HwConfig) -> list[Insn]:
    if len(data) % INSN_BYTES:
        raise DecodeError(f"instruction stream length {len(data)} is not a multiple of "
                          f"{INSN_BYTES} bytes")
    plans = _plans(cfg)
    return [_decode_planned(int.from_bytes(data[i:i + INSN_BYTES], "little"), plans,
                            i // INSN_BYTES)
            for i in range(0, len(data), INSN_BYTES)]


def encode_uop(uop: Uop, cfg: HwConfig) -> int:
    fmt = uop_format(cfg)
    word, lsb = 0, 0
    for f in fmt.fields:
        word |= _to_bits(f, getattr(uop, f.name), "Uop") << lsb
        lsb += f.width
    return word


def encode_uops(uops: list[Uop] | tuple[Uop, ...], cfg: HwConfig) -> bytes:
    """Micro-ops as ``UOP_BYTES`` little-endian bytes each (the DRAM image format)."""
    return b"".join(encode_uop(u, cfg).to_bytes(UOP_BYTES, "little") for u in uops)


UOP_DTYPE = f"<u{UOP_BYTES}"  # numpy dtype string of an encoded micro-op in DRAM


def decode_uop(word: int, cfg: HwConfig) -> Uop:
    if not 0 <= word < (1 << UOP_BITS):
        raise DecodeError(f"micro-op 0x{word:x} does not fit {UOP_BITS} bits")
    fmt = uop_format(cfg)
    values, lsb = {}, 0
    for f in fmt.fields:
        values[f.name] = (word >> lsb) & ((1 << f.width) - 1)
        lsb += f.width
    return Uop(**values)


# ---------------------------------------------------------------------------- semantics
def module_of(insn: Insn) -> Module:
    """Which module's command queue fetch dispatches ``insn`` to.

    LOADs of inp/wgt go to the load module; LOADs of uop/acc/acc8 go to compute (it owns
    those buffers), as do GEMM, ALU and FINISH; STOREs go to store; NOP names its module.
    """
    if isinstance(insn, Load):
        return Module.LOAD if insn.mem in (MemType.INP, MemType.WGT) else Module.COMPUTE
    if isinstance(insn, Store):
        return Module.STORE
    if isinstance(insn, Nop):
        return insn.module
    return Module.COMPUTE


# Each memory type names an SRAM buffer and a DRAM element format ("uop", "inp", "wgt", "acc",
# "out": the prefixes of HwConfig's *_buff_depth and *_elem_bytes); they differ only for
# ACC8, whose out-format (int8) elements are sign-extended into the acc buffer.
_SRAM_BUFFER = {m: m.name.lower() for m in MemType} | {MemType.ACC8: "acc"}
_DRAM_FORMAT = {m: m.name.lower() for m in MemType} | {MemType.ACC8: "out"}


def sram_buffer(mem: MemType) -> str:
    """The SRAM buffer a LOAD of ``mem`` writes or a STORE reads (ACC8 writes acc)."""
    return _SRAM_BUFFER[mem]


def dram_format(mem: MemType) -> str:
    """The element format of ``mem``'s data in DRAM (ACC8 moves out-format elements)."""
    return _DRAM_FORMAT[mem]


def elem_bytes(cfg: HwConfig, mem: MemType) -> int:
    """Bytes of one element of ``mem`` in DRAM (ACC8 is an acc element stored as int8)."""
    return getattr(cfg, f"{dram_format(mem)}_elem_bytes")


def sram_depth(cfg: HwConfig, mem: MemType) -> int:
    """Depth (elements) of the SRAM buffer ``mem`` reads or writes."""
    return getattr(cfg, f"{sram_buffer(mem)}_buff_depth")


# ---------------------------------------------------------------------------- token queues
# Neighbouring modules share two token queues, one each way: load<->compute (RAW on inp/wgt
# one way, WAR the other) and compute<->store (RAW on out, WAR).  A flag names a queue by
# direction: "prev" is the module numbered one lower, "next" one higher.  This is the one
# definition of the flag-to-queue mapping; the simulator, the RTL, the compiler and the
# program checkers all read it from here.
TOKEN_QUEUES: tuple[tuple[Module, Module], ...] = tuple(
    (a, b) for a in Module for b in Module if abs(a - b) == 1)


def queue_name(src: Module, dst: Module) -> str:
    """``"load->compute"`` and so on: the name traces, stats and errors use for a queue."""
    return f"{src.name.lower()}->{dst.name.lower()}"


TOKEN_QUEUE_NAMES: tuple[str, ...] = tuple(queue_name(a, b) for a, b in TOKEN_QUEUES)


def push_flag(src: Module, dst: Module) -> str:
    """The flag a ``src`` instruction sets to push a token to its neighbour ``dst``."""
    return "push_next" if dst == src + 1 else "push_prev"


def pop_flag(src: Module, dst: Module) -> str:
    """The flag a ``dst`` instruction sets to pop a token its neighbour ``src`` pushed."""
    return "pop_prev" if src == dst - 1 else "pop_next"


def token_queue(module: Module, flag: str) -> tuple[Module, Module] | None:
    """The (producer, consumer) queue that ``flag`` on ``module`` names; None when that
    neighbour does not exist (load has no previous module, store no next)."""
    k = module - 1 if flag.endswith("prev") else module + 1
    if k not in tuple(Module):
        return None
    other = Module(k)
    return (module, other) if flag.startswith("push") else (other, module)


def token_ops(insn: Insn) -> tuple[list[tuple[Module, Module]], list[tuple[Module, Module]]]:
    """The queues ``insn`` pops from (before it executes) and pushes to (after it retires).

    Flags that name no neighbour are skipped here; :func:`check` rejects them.
    """
    mod = module_of(insn)
    pops = [q for f in ("pop_prev", "pop_next") if getattr(insn, f)
            if (q := token_queue(mod, f)) is not None]
    pushes = [q for f in ("push_prev", "push_next") if getattr(insn, f)
              if (q := token_queue(mod, f)) is not None]
    return pops, pushes


_LEGAL_DEPS = {m: tuple(f for f in DEP_FLAGS if token_queue(m, f) is not None) for m in Module}


def check(insn: Insn, cfg: HwConfig, index: int | None = None) -> int:
    """Raise IsaError if ``insn`` is encodable but not executable (semantic rules); return
    its encoding (:func:`encode_int`, which checks the field ranges).

    Rules: STORE moves only ``out``; LOAD never targets ``out``; STORE has no padding;
    micro-op loads have no padding; dependency flags must name a neighbour of the module
    (load has no previous module, store no next); loop ranges must be ordered; OUTMODE uses
    its immediate.
    """
    where = f"instruction {index}" if index is not None else "instruction"
    name = type(insn).__name__.upper()
    word = encode_int(insn, cfg)  # field ranges
    mod = module_of(insn)
    for flag in DEP_FLAGS:
        if getattr(insn, flag) and flag not in _LEGAL_DEPS[mod]:
            raise IsaError(f"{where}: {name} runs on the {mod.name.lower()} module, which has "
                           f"no {'previous' if flag.endswith('prev') else 'next'} module "
                           f"({flag} set)")
    if isinstance(insn, Store):
        if insn.mem != MemType.OUT:
            raise IsaError(f"{where}: STORE moves only the out buffer, got mem={insn.mem.name}")
        if insn.y_pad_0 or insn.y_pad_1 or insn.x_pad_0 or insn.x_pad_1:
            raise IsaError(f"{where}: STORE cannot pad")
    if isinstance(insn, Load):
        if insn.mem == MemType.OUT:
            raise IsaError(f"{where}: LOAD cannot target the out buffer (it mirrors acc)")
        if insn.mem == MemType.UOP and (insn.y_pad_0 or insn.y_pad_1 or insn.x_pad_0
                                        or insn.x_pad_1):
            raise IsaError(f"{where}: micro-op LOADs cannot pad")
    if isinstance(insn, Alu) and insn.alu_op == AluOp.OUTMODE and not insn.use_imm:
        raise IsaError(f"{where}: ALU OUTMODE takes its mode from the immediate: set use_imm")
    if isinstance(insn, _Loop) and insn.uop_end < insn.uop_bgn:
        raise IsaError(f"{where}: {name} uop_end={insn.uop_end} < uop_bgn={insn.uop_bgn}")
    return word


# ---------------------------------------------------------------------------- assembly
def _field_text(f: Field, value: object) -> str:
    if f.enum is not None:
        return f"{f.name}={f.enum(value).name.lower()}"
    return f"{f.name}={int(value)}"


def disassemble(insn: Insn, cfg: HwConfig) -> str:
    """Canonical text: mnemonic, enum fields always, other fields when non-zero, deps last."""
    fmt = formats(cfg)[insn.opcode]
    parts = [insn.opcode.name]
    for f in fmt.fields:
        if f.name == "opcode" or f.name in DEP_FLAGS:
            continue
        v = getattr(insn, f.name)
        if f.enum is not None or int(v) != 0:
            parts.append(_field_text(f, v))
    deps = [d for d in DEP_FLAGS if getattr(insn, d)]
    if deps:
        parts.append("deps=" + ",".join(deps))
    return " ".join(parts)


def disassemble_program(insns: list[Insn] | tuple[Insn, ...], cfg: HwConfig) -> str:
    return "".join(disassemble(i, cfg) + "\n" for i in insns)


def disassemble_uop(uop: Uop) -> str:
    return f"UOP dst={uop.dst} src={uop.src} wgt={uop.wgt}"


_TOKEN = re.compile(r"^([a-z_0-9]+)=(\S+)$")


def assemble_line(line: str, cfg: HwConfig, lineno: int = 1) -> Insn | None:
    """Parse one line (``#`` starts a comment); returns None for a blank line."""
    text = line.split("#", 1)[0].strip()
    if not text:
        return None
    where = f"line {lineno}"
    head, *rest = text.split()
    try:
        opcode = Opcode[head.upper()]
    except KeyError:
        raise AsmError(f"{where}: unknown mnemonic {head!r}; expected one of "
                       f"{[o.name for o in Opcode]}") from None
    fmt = formats(cfg)[opcode]
    values: dict[str, object] = {}
    for tok in rest:
        m = _TOKEN.match(tok)
        if not m:
            raise AsmError(f"{where}: expected name=value, got {tok!r}")
        key, val = m.groups()
        if key in values:
            raise AsmError(f"{where}: field {key!r} given twice")
        if key == "deps":
            for d in val.split(","):
                if d not in DEP_FLAGS:
                    raise AsmError(f"{where}: unknown dependency flag {d!r}; expected "
                                   f"{list(DEP_FLAGS)}")
                values[d] = True
            continue
        try:
            f = fmt.field(key)
        except KeyError:
            names = [f.name for f in fmt.fields if f.name != "opcode" and f.name not in DEP_FLAGS]
            raise AsmError(f"{where}: {opcode.name} has no field {key!r}; fields: {names}"
                           ) from None
        if f.name == "opcode" or f.name in DEP_FLAGS:
            raise AsmError(f"{where}: {key!r} is not set this way (use deps=...)")
        if f.enum is not None:
            try:
                values[key] = f.enum[val.upper()]
            except KeyError:
                raise AsmError(f"{where}: {key}={val!r} is not one of "
                               f"{[e.name.lower() for e in f.enum]}") from None
        else:
            try:
                iv = int(val, 0)
            except ValueError:
                raise AsmError(f"{where}: {key}={val!r} is not an integer") from None
            if not f.min <= iv <= f.max:
                raise AsmError(f"{where}: {key}={iv} does not fit {f.width} bits "
                               f"({f.min}..{f.max})")
            values[key] = bool(iv) if key in _BOOL_FIELDS else iv
    cls = INSN_CLASSES[opcode]
    if cls in (Load, Store) and "mem" not in values:
        raise AsmError(f"{where}: {opcode.name} needs mem=...")
    return cls(**values)


def assemble(text: str, cfg: HwConfig) -> list[Insn]:
    """Parse a whole program; raises AsmError naming the first bad line."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        insn = assemble_line(line, cfg, n)
        if insn is not None:
            out.append(insn)
    return out


# ---------------------------------------------------------------------------- documentation
def markdown_table(cfg: HwConfig) -> str:
    """The ISA reference (docs/isa.md) for ``cfg``, generated from the field tables."""
    lines = [f"# ISA reference (generated for preset `{cfg.name}`, hash `{cfg.config_hash()}`)",
             "",
             "Generated by `vta docs isa`; do not edit. Bit 0 is the least-significant bit of "
             "the 128-bit little-endian instruction word.", ""]
    lines += ["## Opcodes", "", "| opcode | value | format | module |", "|---|---|---|---|"]
    mods = {Opcode.LOAD: "load (inp, wgt) / compute (uop, acc, acc8)", Opcode.STORE: "store",
            Opcode.GEMM: "compute", Opcode.ALU: "compute", Opcode.FINISH: "compute",
            Opcode.NOP: "the one in its `module` field"}
    fmts = formats(cfg)
    for op in Opcode:
        lines.append(f"| {op.name} | {op.value} | {fmts[op].name} | {mods[op]} |")
    seen = set()
    for op in Opcode:
        fmt = fmts[op]
        if fmt.name in seen:
            continue
        seen.add(fmt.name)
        lines += ["", f"## {fmt.name} ({fmt.total_bits} of {INSN_BITS} bits)", "",
                  "| bits | field | width | meaning |", "|---|---|---|---|"]
        for f in fmt.fields:
            lsb, w = fmt.offsets[f.name]
            sign = " (signed)" if f.signed else ""
            lines.append(f"| {lsb + w - 1}:{lsb} | `{f.name}` | {w} | {f.doc}{sign} |")
    uf = uop_format(cfg)
    lines += ["", f"## Micro-op ({uf.total_bits} of {UOP_BITS} bits)", "",
              "| bits | field | width | meaning |", "|---|---|---|---|"]
    for f in uf.fields:
        lsb, w = uf.offsets[f.name]
        lines.append(f"| {lsb + w - 1}:{lsb} | `{f.name}` | {w} | {f.doc} |")
    for enum in (MemType, AluOp, Module):
        lines += ["", f"## {enum.__name__}", "", "| name | value |", "|---|---|"]
        lines += [f"| {e.name} | {e.value} |" for e in enum]
    lines += ["", "## Semantics", "", (AluOp.__doc__ or "").strip(), ""]
    return "\n".join(lines) + "\n"


