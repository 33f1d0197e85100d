"""Public entry points: compile one operator, place it in a bundle (the compiler's artifact).

The compiler never runs what it compiles: a bundle is run by a ``runtime`` device, and
``vta.api`` (above both layers) joins them into numpy-in, numpy-out calls:

>>> import numpy as np, vta.api
>>> x = np.random.randint(-128, 128, (1, 3, 32, 32), dtype=np.int8)   # doctest: +SKIP
>>> w = np.random.randint(-128, 128, (16, 3, 3, 3), dtype=np.int8)    # doctest: +SKIP
>>> r = vta.api.conv2d(x, w, stride=1, padding=1, shift=8, relu=True)  # doctest: +SKIP
>>> r.output.shape, r.cycles                                           # doctest: +SKIP

:func:`compile_op` returns a :class:`CompiledOp`: the instruction stream with DRAM addresses
relative to named tensors (inputs, constants, micro-ops, output), in blocked layouts.
:meth:`CompiledOp.place` lays them out in a :class:`~vta_hw.bundle.BundleBuilder` (under a
name prefix, so several operators can share one DRAM image) and :meth:`CompiledOp.link`
resolves the instructions at given addresses; :meth:`CompiledOp.bundle` does both for a
stand-alone run, or, with ``fed``, for a program whose constants (weights, requantization
tables, micro-ops) stay resident on a device while the fed operands are copied in per run.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from compiler.errors import LayoutError, OpError
from compiler.ir import Access, Instr, Program, TensorDecl
from compiler.layout import ConstLayout, Im2colLayout, LayoutOptions, UopLayout
from compiler.lower.dma import uop_words
from compiler.pipeline import PASSES, estimate_cycles, run_pipeline
from compiler.schedule import check_schedule, choose_schedule
from compiler.schedule.space import Schedule
from opset.layout import ActLayout
from vta_hw import isa
from vta_hw.bundle import Bundle, BundleBuilder
from vta_hw.config import DEFAULT, HwConfig
from vta_hw.errors import VtaError


@dataclass(frozen=True)
class CompiledOp:
    """One operator compiled for one configuration (see the module docstring)."""

    op: object
    cfg: HwConfig
    schedule: object
    options: LayoutOptions
    program: Program

    @property
    def instrs(self) -> tuple[Instr, ...]:
        return self.program.instrs()

    @property
    def tensors(self) -> tuple[TensorDecl, ...]:
        return self.program.tensors

    @property
    def output(self) -> TensorDecl:
        return self.program.tensor("y")

    @property
    def uop_count(self) -> int:
        return self.program.uop_count

    @property
    def estimated_cycles(self) -> int:
        return int(self.program.get_meta("estimated_cycles", 0))

    def pack(self, inputs: Mapping[str, np.ndarray], fed: Iterable[str] = ()
             ) -> dict[str, np.ndarray]:
        """Logical arrays (by operand name, see ``op.inputs()``) -> blocked DRAM data per
        tensor, including the generated micro-ops; the output is not included, nor the
        tensors of the operands named in ``fed`` (see :meth:`fed_tensors`)."""
        fed = frozenset(fed)
        specs = {s.name for s in self.op.inputs()}
        unknown = sorted(fed - specs)
        if unknown:
            raise LayoutError(f"{self.op.name}: cannot feed unknown operand(s) {unknown}; "
                              f"operands: {sorted(specs)}")
        specs -= fed
        missing = sorted(specs - set(inputs))
        if missing:
            raise LayoutError(f"{self.op.name}: missing input(s) {missing}; expected "
                              f"{sorted(specs)}")
        extra = sorted(set(inputs) - specs)
        if extra:
            raise LayoutError(f"{self.op.name}: unexpected input(s) {extra}; expected "
                              f"{sorted(specs)}")
        skip = {t.name for t in self.fed_tensors(fed)}
        return {t.name: self.pack_tensor(t, inputs) for t in self.tensors
                if t.role != "output" and t.name not in skip}

    def fed_tensors(self, fed: Iterable[str]) -> list[TensorDecl]:
        """The DRAM tensors packed from any of the operands ``fed`` (those a run copies in
        when the others are resident on the device)."""
        fed = frozenset(fed)
        return [t for t in self.tensors if t.role == "input" and fed & set(t.source)]

    def pack_tensor(self, t: TensorDecl, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Blocked DRAM data of one of this op's tensors from logical operand arrays."""
        if isinstance(t.layout, UopLayout):
            return uop_words(self.program)
        if isinstance(t.layout, ConstLayout):
            return t.layout.pack({r: inputs[r] for r in t.source})
        if t.name == "w":
            return t.layout.pack(inputs["w"])
        pad = getattr(self.op, "pad_value", 0) if t.name == "x" else 0
        return t.layout.pack(inputs[t.source[0]], pad_value=pad)

    def stream(self) -> list[Instr]:
        """The instruction stream without dependency flags, NOPs and FINISH (what the token
        pass started from, with micro-op kernels placed): the unit :func:`chain` joins."""
        return [replace(n, insn=replace(n.insn, **{f: False for f in isa.DEP_FLAGS}))
                if any(getattr(n.insn, f) for f in isa.DEP_FLAGS) else n
                for n in self.instrs if not isinstance(n.insn, (isa.Nop, isa.Finish))]

    @property
    def stream_length(self) -> int:
        """``len(self.stream())``, without building it."""
        return sum(not isinstance(n.insn, (isa.Nop, isa.Finish)) for n in self.instrs)

    def place(self, builder: BundleBuilder, data: Mapping[str, np.ndarray],
              prefix: str = "", fed: Iterable[str] = ()) -> dict[str, int]:
        """Add every tensor to ``builder`` as symbol ``prefix + name`` (inputs from
        ``data``, packed as by :meth:`pack`; outputs and the tensors of the operands
        ``fed`` zero) and return their addresses."""
        addrs = {}
        zero = {t.name for t in self.fed_tensors(fed)}
        for t in self.tensors:
            if t.role == "output" or t.name in zero:
                r = builder.alloc(prefix + t.name, t.layout.nbytes, dtype="int8",
                                  shape=t.layout.shape)
            else:
                arr = np.ascontiguousarray(data[t.name])
                if arr.nbytes != t.layout.nbytes:
                    raise LayoutError(f"tensor {t.name}: {arr.nbytes} bytes given, the layout "
                                      f"needs {t.layout.nbytes}")
                r = builder.add(prefix + t.name, arr.tobytes(), dtype=str(arr.dtype),
                                shape=tuple(arr.shape))
            addrs[t.name] = r.addr
        return addrs

    def link(self, addresses: Mapping[str, int]) -> list[isa.Insn]:
        """The instruction stream with DRAM addresses resolved (tensor name -> byte address)."""
        out = []
        for n in self.instrs:
            insn = n.insn
            if n.tensor is not None:
                eb = isa.elem_bytes(self.cfg, insn.mem)
                addr = addresses[n.tensor]
                if addr % eb:
                    raise LayoutError(f"tensor {n.tensor} at byte {addr} is not aligned to its "
                                      f"{eb}-byte elements")
                insn = replace(insn, dram_base=insn.dram_base + addr // eb)
            out.append(insn)
        return out

    def bundle(self, inputs: Mapping[str, np.ndarray], *, fed: Iterable[str] = ()) -> Bundle:
        """A stand-alone bundle running this operator on ``inputs`` (logical arrays).

        fed: operands left out of ``inputs``; their tensors (:meth:`fed_tensors`) are zero
        in the image, for the caller to pack and copy in before each run, so one bundle
        loaded once serves every run with the same constants."""
        fed = frozenset(fed)
        bb = BundleBuilder(self.cfg)
        addrs = self.place(bb, self.pack(inputs, fed), fed=fed)
        bb.set_program(self.link(addrs))
        return bb.build({"op": self.op.name, "schedule": repr(self.schedule)})

    def unpack_output(self, data: bytes | np.ndarray) -> np.ndarray:
        lay = self.output.layout
        arr = np.frombuffer(bytes(data), dtype=np.int8) if isinstance(data, bytes) else data
        y = lay.unpack(arr)
        return y.reshape(self.op.output().shape)

    def asm(self) -> str:
        """Golden-file text: tensors, kernels and the disassembled stream at canonical
        addresses (tensors laid out in declaration order from address 0)."""
        addrs, pos = {}, 0
        for t in self.tensors:
            pos = -(-pos // 256) * 256
            addrs[t.name] = pos
            pos += t.layout.nbytes
        lines = [f"# {self.op}", f"# schedule {self.schedule}", f"# config {self.cfg.name} "
                 f"({self.cfg.config_hash()})"]
        for t in self.tensors:
            lines.append(f"# tensor {t.name} {t.role} mem={t.mem.name.lower()} "
                         f"at={addrs[t.name]} shape={t.layout.shape}")
        for k, (off, kern) in enumerate(zip(self.program.kernel_offsets(),
                                            self.program.kernels, strict=True)):
            lines.append(f"# kernel k{k} at {off} n={len(kern)} (dst,src,wgt):")
            for a in range(0, len(kern), 12):
                lines.append("#   " + " ".join(f"{u.dst},{u.src},{u.wgt}"
                                                for u in kern[a:a + 12]))
        return "\n".join(lines) + "\n" + isa.disassemble_program(self.link(addrs), self.cfg)


ScheduleProvider = Callable[[object, HwConfig, LayoutOptions], "Schedule | None"]
"""Where a model compiler's schedules come from: ``(op, cfg, options) -> schedule`` or None
for the default (``compiler.autotune.log.log_provider`` serves a tuning log's best).  The
options it is given are resolved for the op (``im2col``, ``input_halo``), so the same
layer compiled with options that differ only in form asks for the same workload."""


class ScheduleFallbackWarning(UserWarning):
    """A schedule provider gave a schedule the op cannot use: the default is used instead."""


def compile_op(op, cfg: HwConfig = DEFAULT, schedule=None, options: LayoutOptions | None = None,
               *, dump: str | Path | None = None,
               schedules: ScheduleProvider | None = None) -> CompiledOp:
    """Compile ``op`` for ``cfg`` (default schedule unless one is given; checked first).

    schedules: asked for a schedule when none is given (a tuning log's best, say); one
    that is illegal for the op, or fails to compile, falls back to the default with a
    :class:`ScheduleFallbackWarning` naming the op and the reason.

    Compiling is deterministic, so results are kept (:func:`_compile_cached`): a model
    compiler asks for each op twice (the partitioner's cost estimate, then the module),
    often with options that differ only in form (``im2col=None`` that resolves to False,
    an ``input_halo`` of None that means the op's own padding)."""
    options = options or LayoutOptions()
    if schedule is None and schedules is not None:
        provided = schedules(op, cfg, canonical_options(op, cfg, options))
        if provided is not None:
            try:
                return compile_op(op, cfg, provided, options, dump=dump)
            except VtaError as e:
                warnings.warn(f"{getattr(op, 'name', op)}: the provided schedule {provided} "
                              f"cannot be used ({type(e).__name__}: {e}); using the default "
                              "schedule", ScheduleFallbackWarning, stacklevel=2)
    if dump is not None or os.environ.get("VTA_DUMP_IR"):
        return _compile(op, cfg, schedule, options, dump)
    try:
        key = (op, cfg, schedule, canonical_options(op, cfg, options))
        hash(key)
    except TypeError:  # an op with unhashable attributes: compile it afresh
        return _compile(op, cfg, schedule, options, None)
    c = _compile_cached(*key)
    if c.options != options:  # the same program, described with the caller's options
        c = replace(c, options=options, program=replace(c.program, options=options))
    return c


def planned_op(op, cfg: HwConfig = DEFAULT, options: LayoutOptions | None = None
               ) -> CompiledOp:
    """``op``'s tensors as :func:`compile_op` lays them out for ``cfg`` and ``options``,
    without a schedule or code: the ``layout`` pass alone (its ``program`` stops there).

    No later pass changes the tensors the layout pass declares (``dma`` only adds the
    micro-op tensor, ``uops``, which no other operator shares), so :func:`check_chainable`
    decides on a planned op as on the compiled one: a module builder asks before it
    searches a schedule for, and compiles, an op it would otherwise compile again with
    other options (:mod:`compiler.module_builder`)."""
    options = options or LayoutOptions()
    program = run_pipeline(op, cfg, None, options, passes=PASSES[:1], checked=False)
    return CompiledOp(op, cfg, None, options, program)


def default_schedule(op, cfg: HwConfig = DEFAULT, options: LayoutOptions | None = None,
                     virtual_threads: int = 2):
    """The default schedule of ``op``: the heuristic's ranking over the schedule space
    (``compiler.schedule.heuristic``), refined with the lowering's cycle estimate."""
    return choose_schedule(op, cfg, estimate_cycles, options, virtual_threads)


def _compile(op, cfg: HwConfig, schedule, options: LayoutOptions,
             dump: str | Path | None) -> CompiledOp:
    schedule = schedule if schedule is not None else default_schedule(op, cfg, options)
    check_schedule(op, schedule, cfg, options)
    program = run_pipeline(op, cfg, schedule, options, dump=dump)
    return CompiledOp(op, cfg, schedule, options, program)


@functools.lru_cache(maxsize=160)
def _compile_cached(op, cfg: HwConfig, schedule, options: LayoutOptions) -> CompiledOp:
    return _compile(op, cfg, schedule, options, None)


def canonical_options(op, cfg: HwConfig, options: LayoutOptions) -> LayoutOptions:
    """``options`` with its defaults resolved for ``op`` (the layout pass, the schedule
    space and the legality checks all read them resolved): ``im2col`` as
    :meth:`LayoutOptions.use_im2col` decides, ``input_halo`` None as the op's own padding
    where the op pads its input, and as None where it has no spatial input."""
    pad = getattr(op, "pad", None)
    halo = options.input_halo
    if pad is None:
        halo = None
    elif halo is None:
        halo = tuple(pad)
    return replace(options, input_halo=None if halo is None else tuple(halo),
                   im2col=options.use_im2col(op, cfg.block_in))


@dataclass(frozen=True)
class ChainedProgram:
    """Several compiled operators in one instruction stream and one DRAM image.

    tensors: global name -> (declaration, index of the op it was taken from).  An op's
    tensor ``t`` is called ``names[i].get(t, f"{i}.{t}")``; tensors several ops share (an
    output another op reads) must have identical layouts.  ``insns`` carry tensor-relative
    DRAM addresses like a :class:`CompiledOp`'s; :meth:`bundle` places and links them.
    halo_fills: global name -> (index of the op that reads it, its declaration there, pad
    value) for a tensor another op writes whose DRAM halo that reader takes as its padding
    with a non-zero pad value: the writer's stores fill only the interior, so the image
    must start with the pad value in the halo (see :func:`chain`).
    """

    ops: tuple[CompiledOp, ...]
    names: tuple[dict[str, str], ...]
    tensors: dict[str, tuple[TensorDecl, int]]
    program: Program
    halo_fills: dict[str, tuple[int, TensorDecl, int]] = field(default_factory=dict)

    @property
    def instrs(self) -> tuple[Instr, ...]:
        return self.program.instrs()

    def global_name(self, i: int, local: str) -> str:
        return self.names[i].get(local, f"{i}.{local}")

    @property
    def inputs(self) -> list[str]:
        """Global tensors no op writes (the caller provides them)."""
        written = {self.global_name(i, t.name) for i, op in enumerate(self.ops)
                   for t in op.tensors if t.role == "output"}
        return [g for g in self.tensors if g not in written]

    def users(self, g: str) -> list[int]:
        """Indices of the ops that read or write global tensor ``g``, in order."""
        return [i for i, op in enumerate(self.ops)
                if any(self.global_name(i, t.name) == g for t in op.tensors)]

    def transient(self, fed: Iterable[str] = ()) -> list[str]:
        """Global tensors whose bytes matter only from their first writer on: the ``fed``
        inputs (copied in before each run) and every tensor an op writes, except one whose
        DRAM halo a reader takes as its padding (its image must hold the pad value from
        the start).  Only these may live in an arena shared with other tensors."""
        fed = set(fed)
        written = {self.global_name(i, t.name) for i, op in enumerate(self.ops)
                   for t in op.tensors if t.role == "output"}
        halo_read = {self.global_name(i, t.name) for i, c in enumerate(self.ops)
                     for t in c.tensors if _halo_pad(c, t) is not None}
        return [g for g in self.tensors
                if g in fed or (g in written and g not in halo_read)]

    def bundle(self, inputs: Sequence[Mapping[str, np.ndarray]], *,
               fed: Iterable[str] = (), arena: Mapping[str, int] | None = None,
               arena_bytes: int = 0) -> Bundle:
        """inputs[i]: logical arrays of op i (operands produced by another op omitted).

        fed: global input tensors left zero in the image (their operands omitted from
        ``inputs``), for the caller to copy in before each run (:meth:`pack_tensor`) while
        the rest (weights, micro-ops) stays resident on the device.  arena: tensors (of
        :meth:`transient`) placed at these byte offsets of an ``arena_bytes`` arena past
        the image (:attr:`vta_hw.bundle.Bundle.arena_bytes`) instead of in it."""
        fed = frozenset(fed)
        arena = dict(arena or {})
        feeds = set(self.inputs)
        bad = sorted(g for g in fed if g not in feeds or self.tensors[g][0].role != "input")
        if bad:
            raise LayoutError(f"cannot feed {bad}: not input tensors of the chain; inputs: "
                              f"{sorted(g for g in feeds if self.tensors[g][0].role == 'input')}")
        bad = sorted(set(arena) - set(self.transient(fed)))
        if bad:
            raise LayoutError(f"tensor(s) {bad} cannot live in an arena: their initial bytes "
                              "matter (constants, or a halo read as padding)")
        bb = BundleBuilder(self.ops[0].cfg)
        addrs = {}
        for g, off in arena.items():
            t = self.tensors[g][0]
            bb.arena(g, off, t.layout.nbytes, dtype="int8", shape=t.layout.shape)
        for g, (t, i) in self.tensors.items():
            if g in arena:
                continue
            if g in fed:
                r = bb.alloc(g, t.layout.nbytes, dtype="int8", shape=t.layout.shape)
            elif g in feeds or g in self.halo_fills:
                data = (self._halo_image(g) if g not in feeds
                        else np.ascontiguousarray(self.ops[i].pack_tensor(t, inputs[i])))
                r = bb.add(g, data.tobytes(), dtype=str(data.dtype), shape=tuple(data.shape))
            else:
                r = bb.alloc(g, t.layout.nbytes, dtype="int8", shape=t.layout.shape)
            addrs[g] = r.addr
        start = bb.arena_start(len(self.instrs))
        addrs.update({g: start + off for g, off in arena.items()})
        linked = []
        for n in self.instrs:
            insn = n.insn
            if n.tensor is not None:
                eb = isa.elem_bytes(self.ops[0].cfg, insn.mem)
                insn = replace(insn, dram_base=insn.dram_base + addrs[n.tensor] // eb)
            linked.append(insn)
        bb.set_program(linked)
        return bb.build({"ops": [op.op.name for op in self.ops]},
                        arena_bytes=arena_bytes if arena else 0)

    def pack_tensor(self, g: str, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        """Blocked DRAM data of global tensor ``g`` from the logical operands ``arrays`` of
        the op it was taken from (what a run copies into a fed tensor)."""
        t, i = self.tensors[g]
        return np.ascontiguousarray(self.ops[i].pack_tensor(t, arrays))

    def _halo_image(self, g: str) -> np.ndarray:
        """Initial image of written tensor ``g``: zero interior, the reader's pad value in
        the halo (packed exactly as that reader packs a caller-provided input)."""
        j, t, _ = self.halo_fills[g]
        spec = next(s for s in self.ops[j].op.inputs() if s.name == t.source[0])
        data = np.ascontiguousarray(self.ops[j].pack_tensor(t, {spec.name: np.zeros(
            spec.shape, np.int8)}))
        producer, _ = self.tensors[g]
        if data.nbytes != producer.layout.nbytes:
            raise LayoutError(f"tensor {g!r}: the halo image has {data.nbytes} bytes, the "
                              f"layout {producer.layout.nbytes}")
        return data

    def read(self, result, bundle: Bundle, i: int, local: str = "y") -> np.ndarray:
        """Op ``i``'s output (logical layout) from a simulation result."""
        data = result.read(bundle, self.global_name(i, local))
        return self.ops[i].unpack_output(data)


def _same_layout(a: TensorDecl, b: TensorDecl) -> bool:
    """Whether two ops' views of one DRAM tensor hold the same bytes.  Im2col patches are
    never another op's plain activation, even when their blocked geometry matches (a
    1-channel 3x3 conv's 9 patch channels fill the one block a 1-channel output does)."""
    if isinstance(a.layout, Im2colLayout) != isinstance(b.layout, Im2colLayout):
        return False
    la, lb = getattr(a.layout, "act", a.layout), getattr(b.layout, "act", b.layout)
    if not (isinstance(la, ActLayout) and isinstance(lb, ActLayout)):
        return la == lb
    key = ("n_blocks", "c_blocks", "h", "w", "halo", "block", "batch")
    return all(getattr(la, k) == getattr(lb, k) for k in key)


def _halo_pad(c: CompiledOp, t: TensorDecl) -> int | None:
    """The value ``c`` reads from the DRAM halo of its tensor ``t`` as padding, or None when
    it reads no halo there (the activation input ``x`` stored with its padding, packed with
    the op's pad value as by :meth:`CompiledOp.pack_tensor`)."""
    if t.role != "input" or t.name != "x" or not any(getattr(t.layout, "halo", (0, 0))):
        return None
    return int(getattr(c.op, "pad_value", 0))


def _halo_fills(ops: tuple[CompiledOp, ...], gname) -> dict[str, tuple[int, TensorDecl, int]]:
    """Tensors one op writes and another reads with a non-zero pad value in their halo."""
    written = {gname(i, t.name) for i, c in enumerate(ops) for t in c.tensors
               if t.role == "output"}
    fills: dict[str, tuple[int, TensorDecl, int]] = {}
    pads: dict[str, tuple[int, int]] = {}
    for i, c in enumerate(ops):
        for t in c.tensors:
            g, pad = gname(i, t.name), _halo_pad(c, t)
            if g not in written or pad is None:
                continue
            if g in pads and pads[g][1] != pad:
                j, other = pads[g]
                raise LayoutError(f"operator {j} pads the halo of tensor {g!r} with {other}, "
                                  f"operator {i} with {pad}: give one of them input_halo=(0, "
                                  f"0) so its loads insert the padding")
            pads[g] = (i, pad)
            if pad:
                fills[g] = (i, t, pad)
    return fills


def chain(ops: Sequence[CompiledOp], names: Sequence[Mapping[str, str]] | None = None
          ) -> ChainedProgram:
    """Join compiled operators into one stream (see :class:`ChainedProgram`).

    The operators' sequential programs are concatenated; ``interleave`` and the token pass
    then run over the joined stream, so an op's loads can start while the previous op
    computes, waiting only for the stores of the op whose output they read (through a
    compute NOP) and for the SRAM slots they overwrite to be free.  Each op's micro-op LOAD
    refills the micro-op buffer after the previous op's last GEMM/ALU (same module).
    A tensor one op writes with a halo (``output_halo``) that the next op reads as its
    padding starts with that op's pad value in the halo (``halo_fills``); two readers that
    pad it differently are refused.
    """
    from compiler.lower.interleave import interleave
    from compiler.lower.races import check_program_races
    from compiler.lower.tokens import insert_tokens

    ops, names_t, tensors, fills = _join(ops, names)
    cfg = ops[0].cfg
    nodes: list[Instr] = []
    for i, op in enumerate(ops):
        g = {t.name: names_t[i].get(t.name, f"{i}.{t.name}") for t in op.tensors}

        def ren(a: Access, g=g) -> Access:
            return Access(f"dram:{g[a.space[5:]]}") if a.space.startswith("dram:") else a

        base = len(nodes)  # an op's sequence numbers are 0..k-1: keep its logical order
        for n in op.stream():
            nodes.append(replace(n, tensor=g[n.tensor] if n.tensor else None,
                                 reads=tuple(map(ren, n.reads)),
                                 writes=tuple(map(ren, n.writes)), seq=base + n.seq))
    decls = tuple(replace(t, name=gname) for gname, (t, _) in tensors.items())
    prog = Program(cfg, op=tuple(op.op for op in ops), schedule=None, tensors=decls,
                   nodes=tuple(sorted(nodes, key=lambda n: n.seq)), stage="emit")
    prog = replace(insert_tokens(interleave(prog)), stage="emit")
    check_program_races(prog, {g: ops[i].pack_tensor(t, {}) for g, (t, i) in tensors.items()
                               if isinstance(t.layout, UopLayout)})
    return ChainedProgram(ops, names_t, tensors, prog, fills)


def check_chainable(ops: Sequence[CompiledOp],
                    names: Sequence[Mapping[str, str]] | None = None) -> None:
    """Raise what :func:`chain` would raise about the operators' tensors (a
    :class:`LayoutError` for a shared tensor two ops lay out differently or pad
    differently) without building the stream: a module builder growing a chain op by op
    asks this, and schedules the joined stream once at the end (building it for every
    prefix made compiling a model quadratic in its length)."""
    _join(ops, names)


def _join(ops: Sequence[CompiledOp], names: Sequence[Mapping[str, str]] | None
          ) -> tuple[tuple[CompiledOp, ...], tuple[dict[str, str], ...],
                     dict[str, tuple[TensorDecl, int]], dict[str, tuple[int, TensorDecl, int]]]:
    """The chain's operators, name maps, global tensors (each with the op it was taken
    from) and halo fills; checks one config, one layout per shared tensor, one pad value per
    halo."""
    ops = tuple(ops)
    if not ops:
        raise OpError("chain needs at least one operator")
    cfg = ops[0].cfg
    names_t = tuple(dict(m) for m in (names or [{}] * len(ops)))
    if len(names_t) != len(ops):
        raise OpError(f"{len(ops)} operators but {len(names_t)} name maps")
    tensors: dict[str, tuple[TensorDecl, int]] = {}
    for i, op in enumerate(ops):
        if op.cfg.config_hash() != cfg.config_hash():
            raise OpError(f"operator {i} was compiled for {op.cfg.name!r}, not {cfg.name!r}")
        for t in op.tensors:
            gname = names_t[i].get(t.name, f"{i}.{t.name}")
            if gname not in tensors:
                tensors[gname] = (t, i)
                continue
            other, j = tensors[gname]
            if not _same_layout(other, t):
                raise LayoutError(
                    f"tensor {gname!r}: operator {j} lays it out as "
                    f"{type(other.layout).__name__}{other.layout.shape} "
                    f"({other.mem.name.lower()}), operator {i} as "
                    f"{type(t.layout).__name__}{t.layout.shape} ({t.mem.name.lower()}); "
                    f"a layout transform is needed between them")
    fills = _halo_fills(ops, lambda i, t: names_t[i].get(t, f"{i}.{t}"))
    return ops, names_t, tensors, fills


__all__ = ["CompiledOp", "ChainedProgram", "ScheduleFallbackWarning", "ScheduleProvider",
           "canonical_options", "chain", "check_chainable", "compile_op", "default_schedule",
           "planned_op"]
