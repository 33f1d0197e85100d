"""The operator compiler's small immutable IR, its printer and its verifier.

A :class:`Program` is one operator on its way to an instruction stream: the hardware
config, the operator and schedule it came from, its DRAM tensors (with blocked layouts),
its SRAM regions (buffer slots), its micro-op kernels and a tuple of nodes.  Every pass is a
pure function ``Program -> Program`` (``compiler/pipeline.py``); nodes start as tile-level
operations and end as ISA instructions:

* tile level (made by ``tiling``): :class:`LoadTile`, :class:`StoreTile` (boxes of a DRAM
  tensor <-> an SRAM region), :class:`GemmTile` (a tensor contraction over named loop dims),
  :class:`AluTile` (an element-wise ALU op over loop dims), :class:`InitTile` and
  :class:`EpilogueTile` (accumulator initialisation and the fused epilogue).
* instruction level: :class:`Instr` -- one ISA instruction with the SRAM/DRAM resources it
  reads and writes (what the token pass orders), its DRAM tensor (``dram_base`` is relative
  to it until linking) and its micro-op kernel (``uop_bgn``/``uop_end`` relative to it until
  ``emit``).

``format_program`` prints a program one line per node (the IR dumps); ``verify`` checks the
invariants of a stage and raises :class:`~compiler.errors.VerifyError` naming the pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from compiler.errors import VerifyError
from compiler.layout import Layout
from vta_hw import isa
from vta_hw.config import HwConfig

BUFFERS = ("uop", "inp", "wgt", "acc")


# ---------------------------------------------------------------------------- declarations
@dataclass(frozen=True)
class TensorDecl:
    """A DRAM tensor: name (the bundle symbol), role, DMA memory type and blocked layout.

    role: "input" (the caller provides it), "output" (the op writes it) or "const" (the
    compiler generates it: micro-ops).  mem: the element type LOAD/STORE move it as.
    source: the logical operand(s) packed into it (e.g. ``("bias", "shift")`` for consts).
    """

    name: str
    role: str
    mem: isa.MemType
    layout: Layout
    source: tuple[str, ...] = ()


@dataclass(frozen=True)
class SramRegion:
    """``size`` elements of ``buf`` starting at ``base`` (a buffer slot or constant area)."""

    name: str
    buf: str
    base: int
    size: int

    @property
    def end(self) -> int:
        return self.base + self.size


@dataclass(frozen=True)
class Ref:
    """An SRAM position: ``offset`` elements into region ``region``."""

    region: str
    offset: int = 0


@dataclass(frozen=True)
class Dim:
    """One loop of a GEMM/ALU tile: extent and index step of each operand, and whether it
    is a reduction (repeats the same accumulator)."""

    name: str
    extent: int
    dst: int = 0
    src: int = 0
    wgt: int = 0
    reduce: bool = False


# ---------------------------------------------------------------------------- tile nodes
@dataclass(frozen=True)
class LoadTile:
    """Copy the box ``origin + step * [0, extent)`` of ``tensor`` into SRAM at ``dst``
    (dense, row major over the box dims; ``step`` defaults to 1 in every dim).
    Coordinates outside the stored tensor read ``pad_value``."""

    tensor: str
    dst: Ref
    origin: tuple[int, ...]
    extent: tuple[int, ...]
    pad_value: int = 0
    tag: str = ""
    step: tuple[int, ...] = ()


@dataclass(frozen=True)
class StoreTile:
    """Copy SRAM (out buffer) at ``src`` to the box ``origin + [0, extent)`` of ``tensor``."""

    src: Ref
    tensor: str
    origin: tuple[int, ...]
    extent: tuple[int, ...]
    tag: str = ""


@dataclass(frozen=True)
class GemmTile:
    """acc[dst] += inp[src] @ wgt[wgt]^T summed over the product of ``dims``; with
    ``overwrite`` the sum replaces acc[dst] (no :class:`InitTile` zeroes it first)."""

    acc: Ref
    inp: Ref
    wgt: Ref
    dims: tuple[Dim, ...]
    fold: str | None = None  # forced affine-loop pair "a,b" (schedule), None = automatic
    tag: str = ""
    overwrite: bool = False


@dataclass(frozen=True)
class AluTile:
    """acc[dst] = op(acc[dst], imm or acc[src]) over the product of ``dims`` (in order)."""

    op: isa.AluOp
    dst: Ref
    dims: tuple[Dim, ...]
    src: Ref | None = None
    imm: int = 0
    reset: bool = False
    tag: str = ""


@dataclass(frozen=True)
class InitTile:
    """Start an accumulator tile of ``co`` channel blocks x ``pix`` pixels: zero, or the
    per-channel bias from the constants at ``bias`` (one element per channel block)."""

    acc: Ref
    co: int
    pix: int
    bias: Ref | None = None
    tag: str = ""


@dataclass(frozen=True)
class EpilogueTile:
    """Apply ``epilogue`` (minus a bias already used by :class:`InitTile`) to an
    accumulator tile.  consts: first channel block of the tile in the constants region
    (rows ``const_stride`` elements apart, in ``epilogue.const_rows()`` order)."""

    acc: Ref
    co: int
    pix: int
    epilogue: Any
    consts: Ref | None = None
    const_stride: int = 0
    residual: Ref | None = None
    bias_done: bool = False
    tag: str = ""
    mirror: bool = False  # the tile's last writes are GEMM writes: the out mirror may requantize


# ---------------------------------------------------------------------------- instructions
@dataclass(frozen=True)
class Access:
    """A resource an instruction touches: SRAM elements ``[lo, hi)`` of a buffer, or a
    whole DRAM tensor (``space = "dram:<name>"``)."""

    space: str
    lo: int = 0
    hi: int = 0

    def overlaps(self, other: Access) -> bool:
        if self.space != other.space:
            return False
        if self.space.startswith("dram:"):
            return True
        return self.lo < other.hi and other.lo < self.hi

    def __str__(self) -> str:
        if self.space.startswith("dram:"):
            return self.space
        return f"{self.space}[{self.lo}:{self.hi}]"


@dataclass(frozen=True)
class Instr:
    """One ISA instruction and what it touches.

    tensor: DRAM symbol ``insn.dram_base`` is relative to (LOAD/STORE), until linking.
    kernel: micro-op kernel index; ``uop_bgn``/``uop_end`` are relative to it until emit.
    seq: position in the sequential (logical) order, fixed by ``interleave``.
    """

    insn: isa.Insn
    reads: tuple[Access, ...] = ()
    writes: tuple[Access, ...] = ()
    tensor: str | None = None
    kernel: int | None = None
    seq: int = -1
    tag: str = ""

    @cached_property
    def module(self) -> isa.Module:  # read by every scheduling pass: computed once
        return isa.module_of(self.insn)

    def with_seq(self, seq: int) -> Instr:
        """This instruction at logical position ``seq`` (``replace(self, seq=seq)`` without
        its per-field overhead: the list schedule renumbers every instruction it orders)."""
        new = object.__new__(Instr)
        new.__dict__.update(self.__dict__)  # the fields, and the module when computed
        new.__dict__["seq"] = seq
        return new


Node = LoadTile | StoreTile | GemmTile | AluTile | InitTile | EpilogueTile | Instr
TILE_NODES = (LoadTile, StoreTile, GemmTile, AluTile, InitTile, EpilogueTile)


# ---------------------------------------------------------------------------- program
@dataclass(frozen=True)
class Program:
    """One operator being compiled; see the module docstring."""

    cfg: HwConfig
    op: Any
    schedule: Any
    options: Any = None
    tensors: tuple[TensorDecl, ...] = ()
    regions: tuple[SramRegion, ...] = ()
    kernels: tuple[tuple[isa.Uop, ...], ...] = ()
    nodes: tuple[Node, ...] = ()
    stage: str = "op"
    meta: tuple[tuple[str, Any], ...] = field(default=())

    def tensor(self, name: str) -> TensorDecl:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(f"program has no tensor {name!r}; tensors: "
                       f"{[t.name for t in self.tensors]}")

    def region(self, name: str) -> SramRegion:
        for r in self.regions:
            if r.name == name:
                return r
        raise KeyError(f"program has no SRAM region {name!r}")

    def addr(self, ref: Ref) -> int:
        """Absolute SRAM index of ``ref``."""
        return self.region(ref.region).base + ref.offset

    def kernel_offsets(self) -> tuple[int, ...]:
        """Where each kernel starts in the micro-op buffer (kernels are concatenated)."""
        out, pos = [], 0
        for k in self.kernels:
            out.append(pos)
            pos += len(k)
        return tuple(out)

    @property
    def uop_count(self) -> int:
        return sum(len(k) for k in self.kernels)

    def instrs(self) -> tuple[Instr, ...]:
        return tuple(n for n in self.nodes if isinstance(n, Instr))

    def get_meta(self, key: str, default: Any = None) -> Any:
        return dict(self.meta).get(key, default)


# ---------------------------------------------------------------------------- printer
def _fmt_ref(r: Ref | None) -> str:
    return "-" if r is None else (f"{r.region}+{r.offset}" if r.offset else r.region)


def _fmt_dims(dims: tuple[Dim, ...]) -> str:
    parts = []
    for d in dims:
        coef = ",".join(f"{k}{v}" for k, v in (("d", d.dst), ("s", d.src), ("w", d.wgt)) if v)
        parts.append(f"{d.name}{'*' if d.reduce else ''}:{d.extent}({coef})")
    return " ".join(parts)


def format_node(n: Node, cfg: HwConfig) -> str:
    if isinstance(n, Instr):
        text = isa.disassemble(n.insn, cfg)
        extra = []
        if n.tensor:
            extra.append(f"@{n.tensor}")
        if n.kernel is not None:
            extra.append(f"k{n.kernel}")
        if n.reads:
            extra.append("r=" + ",".join(map(str, n.reads)))
        if n.writes:
            extra.append("w=" + ",".join(map(str, n.writes)))
        if n.tag:
            extra.append(f"#{n.tag}")
        return f"{text}  ; " + " ".join(extra) if extra else text
    if isinstance(n, LoadTile):
        step = f"/{list(n.step)}" if n.step and max(n.step) > 1 else ""
        return (f"load_tile {n.tensor}{list(n.origin)}+{list(n.extent)}{step} -> "
                f"{_fmt_ref(n.dst)}"
                f"{f' pad={n.pad_value}' if n.pad_value else ''}  #{n.tag}")
    if isinstance(n, StoreTile):
        return (f"store_tile {_fmt_ref(n.src)} -> {n.tensor}{list(n.origin)}"
                f"+{list(n.extent)}  #{n.tag}")
    if isinstance(n, GemmTile):
        return (f"gemm_tile acc={_fmt_ref(n.acc)} inp={_fmt_ref(n.inp)} wgt={_fmt_ref(n.wgt)} "
                f"[{_fmt_dims(n.dims)}]  #{n.tag}")
    if isinstance(n, AluTile):
        opnd = ("reset" if n.reset else
                (f"imm={n.imm}" if n.src is None else f"src={_fmt_ref(n.src)}"))
        return (f"alu_tile {n.op.name.lower()} dst={_fmt_ref(n.dst)} {opnd} "
                f"[{_fmt_dims(n.dims)}]  #{n.tag}")
    if isinstance(n, InitTile):
        return (f"init_tile acc={_fmt_ref(n.acc)} co={n.co} pix={n.pix} "
                f"bias={_fmt_ref(n.bias)}  #{n.tag}")
    if isinstance(n, EpilogueTile):
        return (f"epilogue_tile acc={_fmt_ref(n.acc)} co={n.co} pix={n.pix} {n.epilogue} "
                f"consts={_fmt_ref(n.consts)} residual={_fmt_ref(n.residual)}  #{n.tag}")
    return repr(n)  # pragma: no cover


def format_program(p: Program) -> str:
    """Readable text of a program (used for IR dumps and golden files)."""
    lines = [f"program {getattr(p.op, 'name', p.op)} stage={p.stage} config={p.cfg.name} "
             f"({p.cfg.config_hash()})",
             f"op {p.op}", f"schedule {p.schedule}"]
    for t in p.tensors:
        lines.append(f"tensor {t.name} {t.role} mem={t.mem.name.lower()} "
                     f"shape={t.layout.shape} elems={t.layout.elems}")
    for r in p.regions:
        lines.append(f"region {r.name} {r.buf}[{r.base}:{r.end}]")
    for i, k in enumerate(p.kernels):
        first = k[0] if k else None
        lines.append(f"kernel k{i} uops={len(k)} first={first}")
    for i, n in enumerate(p.nodes):
        lines.append(f"{i:5d}: {format_node(n, p.cfg)}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- verifier
_STAGE_FORBIDS: dict[str, tuple[type, ...]] = {
    "layout": TILE_NODES + (Instr,),
    "tiling": (Instr,),
    "tensorize": (GemmTile,),
    "alu_epilogue": (GemmTile, AluTile, InitTile, EpilogueTile),
    "dma": TILE_NODES,
    "interleave": TILE_NODES,
    "tokens": TILE_NODES,
    "emit": TILE_NODES,
}


def _depth(cfg: HwConfig, buf: str) -> int:
    return getattr(cfg, f"{buf}_buff_depth")


def verify(p: Program, stage: str | None = None) -> None:
    """Check the invariants of ``p`` after pass ``stage`` (default: ``p.stage``)."""
    stage = stage or p.stage
    where = f"after pass '{stage}'"

    def fail(msg: str) -> None:
        raise VerifyError(f"{where}: {msg}")

    names = [t.name for t in p.tensors]
    if len(set(names)) != len(names):
        fail(f"duplicate tensor names {names}")
    by_buf: dict[str, list[SramRegion]] = {}
    for r in p.regions:
        if r.buf not in BUFFERS:
            fail(f"region {r.name} is in unknown buffer {r.buf!r}")
        if r.base < 0 or r.end > _depth(p.cfg, r.buf):
            fail(f"region {r.name} {r.buf}[{r.base}:{r.end}] exceeds the {r.buf} buffer depth "
                 f"{_depth(p.cfg, r.buf)}")
        for o in by_buf.get(r.buf, []):
            if r.base < o.end and o.base < r.end:
                fail(f"regions {o.name} and {r.name} overlap in the {r.buf} buffer")
        by_buf.setdefault(r.buf, []).append(r)
    region_names = {r.name for r in p.regions}
    name_set = set(names)
    if p.cfg not in _LEGAL and len(_LEGAL) >= 16:
        _LEGAL.clear()
    legal = _LEGAL.setdefault(p.cfg, set())
    forbid = _STAGE_FORBIDS.get(stage, ())
    for i, n in enumerate(p.nodes):
        if forbid and isinstance(n, forbid):
            fail(f"node {i} ({type(n).__name__}) should have been lowered by now")
        for ref in (getattr(n, a, None) for a in ("dst", "src", "acc", "inp", "wgt", "bias",
                                                   "consts", "residual")):
            if isinstance(ref, Ref) and ref.region not in region_names:
                fail(f"node {i} refers to unknown SRAM region {ref.region!r}")
        tname = getattr(n, "tensor", None)
        if tname is not None and tname not in names:
            fail(f"node {i} refers to unknown tensor {tname!r}")
        if isinstance(n, Instr):
            _verify_instr(p, i, n, stage, fail, name_set, legal)
    if stage in ("interleave", "tokens", "emit"):
        seqs = [n.seq for n in p.instrs() if not isinstance(n.insn, (isa.Nop, isa.Finish))]
        if any(s < 0 for s in seqs) or len(set(seqs)) != len(seqs):
            fail("instructions need distinct logical sequence numbers")


# Instructions known to pass ``isa.check``, per config: the pipeline verifies after every
# pass and most passes keep most instructions, so each is encoded once, not once per pass
# (encoding was most of the time a model compile spent verifying).
_LEGAL: dict[HwConfig, set[isa.Insn]] = {}
_LEGAL_LIMIT = 1 << 16


def _check_insn(insn: isa.Insn, cfg: HwConfig, i: int, legal: set[isa.Insn]) -> None:
    """``isa.check`` unless ``insn`` already passed it for this config."""
    if insn in legal:
        return
    isa.check(insn, cfg, i)
    if len(legal) >= _LEGAL_LIMIT:
        legal.clear()
    legal.add(insn)


def _verify_instr(p: Program, i: int, n: Instr, stage: str, fail, names: set[str],
                  legal: set[isa.Insn]) -> None:
    insn = n.insn
    try:
        _check_insn(insn, p.cfg, i, legal)
    except isa.IsaError as e:
        fail(f"node {i}: {e}")
    for a in n.reads + n.writes:
        if a.space.startswith("dram:"):
            if a.space[5:] not in names:
                fail(f"node {i} accesses unknown DRAM tensor {a.space[5:]!r}")
        elif a.space not in BUFFERS or a.lo < 0 or a.hi > _depth(p.cfg, a.space) or a.lo > a.hi:
            fail(f"node {i} accesses {a}, outside the {a.space} buffer")
    if isinstance(insn, (isa.Gemm, isa.Alu)):
        if stage == "emit":
            if n.kernel is not None:
                fail(f"node {i}: micro-op kernel k{n.kernel} was not placed")
            if insn.uop_end > p.cfg.uop_buff_depth:
                fail(f"node {i}: micro-ops end at {insn.uop_end} > uop buffer depth "
                     f"{p.cfg.uop_buff_depth}")
        elif n.kernel is None and insn.uop_end == 0:
            pass  # no micro-ops (an ALU OUTMODE): nothing to place
        else:
            if n.kernel is None or not 0 <= n.kernel < len(p.kernels):
                fail(f"node {i}: missing or unknown micro-op kernel {n.kernel}")
            if insn.uop_end > len(p.kernels[n.kernel]):
                fail(f"node {i}: uop range [{insn.uop_bgn}, {insn.uop_end}) exceeds kernel "
                     f"k{n.kernel} ({len(p.kernels[n.kernel])} micro-ops)")
    if isinstance(insn, (isa.Load, isa.Store)) and n.tensor is None:
        fail(f"node {i}: DMA without a DRAM tensor")
    if stage not in ("tokens", "emit") and any(insn.deps):
        fail(f"node {i}: dependency flags set before the token pass")


__all__ = ["TensorDecl", "SramRegion", "Ref", "Dim", "LoadTile", "StoreTile", "GemmTile",
           "AluTile", "InitTile", "EpilogueTile", "Access", "Instr", "Node", "Program",
           "format_program", "format_node", "verify", "BUFFERS"]
