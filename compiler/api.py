"""Public entry points: compile one operator, place it in a bundle, run it on the simulator.

>>> import numpy as np, compiler
>>> x = np.random.randint(-128, 128, (1, 3, 32, 32), dtype=np.int8)   # doctest: +SKIP
>>> w = np.random.randint(-128, 128, (16, 3, 3, 3), dtype=np.int8)    # doctest: +SKIP
>>> r = compiler.conv2d(x, w, stride=1, padding=1, shift=8, relu=True)   # doctest: +SKIP
>>> r.output.shape, r.cycles                                           # doctest: +SKIP

:func:`compile_op` returns a :class:`CompiledOp`: the instruction stream with DRAM addresses
relative to named tensors (inputs, constants, micro-ops, output), in blocked layouts.
:meth:`CompiledOp.place` lays them out in a :class:`~vta_hw.bundle.BundleBuilder` (under a
name prefix, so several operators can share one DRAM image) and :meth:`CompiledOp.link`
resolves the instructions at given addresses; :meth:`CompiledOp.bundle` does both for a
stand-alone run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from compiler.errors import LayoutError, OpError
from compiler.ir import Instr, Program, TensorDecl
from compiler.layout import ConstLayout, LayoutOptions, UopLayout
from compiler.lower.dma import uop_words
from compiler.ops import (
    AluStep,
    Conv2d,
    Dense,
    DepthwiseConv2d,
    Elementwise,
    Epilogue,
    GlobalAvgPool,
    Pool2d,
    Requant,
)
from compiler.pipeline import run_pipeline
from compiler.schedule import check_schedule, default_schedule
from vta_hw import isa
from vta_hw.bundle import Bundle, BundleBuilder
from vta_hw.config import DEFAULT, HwConfig


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

    def pack(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Logical arrays (by operand name, see ``op.inputs()``) -> blocked DRAM data per
        tensor, including the generated micro-ops; the output is not included."""
        specs = {s.name for s in self.op.inputs()}
        missing = sorted(specs - set(inputs))
        if missing:
            raise LayoutError(f"{self.op.name}: missing input(s) {missing}; expected "
                              f"{sorted(specs)}")
        extra = sorted(set(inputs) - specs)
        if extra:
            raise LayoutError(f"{self.op.name}: unexpected input(s) {extra}; expected "
                              f"{sorted(specs)}")
        out: dict[str, np.ndarray] = {}
        pad = getattr(self.op, "pad_value", 0)
        for t in self.tensors:
            if t.role == "output":
                continue
            if isinstance(t.layout, UopLayout):
                out[t.name] = uop_words(self.program)
            elif isinstance(t.layout, ConstLayout):
                out[t.name] = t.layout.pack({r: inputs[r] for r in t.source})
            elif t.name == "w":
                out[t.name] = t.layout.pack(inputs["w"])
            else:
                out[t.name] = t.layout.pack(inputs[t.source[0]],
                                            pad_value=pad if t.name == "x" else 0)
        return out

    def place(self, builder: BundleBuilder, data: Mapping[str, np.ndarray],
              prefix: str = "") -> dict[str, int]:
        """Add every tensor to ``builder`` as symbol ``prefix + name`` (inputs from
        ``data``, packed as by :meth:`pack`; outputs zero) and return their addresses."""
        addrs = {}
        for t in self.tensors:
            if t.role == "output":
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
                from dataclasses import replace

                insn = replace(insn, dram_base=insn.dram_base + addr // eb)
            out.append(insn)
        return out

    def bundle(self, inputs: Mapping[str, np.ndarray]) -> Bundle:
        """A stand-alone bundle running this operator on ``inputs`` (logical arrays)."""
        bb = BundleBuilder(self.cfg)
        addrs = self.place(bb, self.pack(inputs))
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
            body = " ".join(f"{u.dst},{u.src},{u.wgt}" for u in kern[:16])
            more = f" ... (+{len(kern) - 16})" if len(kern) > 16 else ""
            lines.append(f"# kernel k{k} at {off} n={len(kern)}: {body}{more}")
        return "\n".join(lines) + "\n" + isa.disassemble_program(self.link(addrs), self.cfg)


def compile_op(op, cfg: HwConfig = DEFAULT, schedule=None, options: LayoutOptions | None = None,
               *, dump: str | Path | None = None) -> CompiledOp:
    """Compile ``op`` for ``cfg`` (default schedule unless one is given; checked first)."""
    options = options or LayoutOptions()
    schedule = schedule if schedule is not None else default_schedule(op, cfg, options)
    check_schedule(op, schedule, cfg, options)
    program = run_pipeline(op, cfg, schedule, options, dump=dump)
    return CompiledOp(op, cfg, schedule, options, program)


@dataclass(frozen=True)
class RunResult:
    """An operator's output on the simulator, its cycle count and statistics."""

    output: np.ndarray
    cycles: int
    stats: object
    compiled: CompiledOp
    bundle: Bundle = field(repr=False)


def run_on_simulator(compiled: CompiledOp, inputs: Mapping[str, np.ndarray]) -> RunResult:
    """Run ``compiled`` on ``inputs`` (logical arrays by operand name) in ``vta_sim``."""
    from vta_sim import simulate

    b = compiled.bundle(inputs)
    r = simulate(b)
    y = compiled.unpack_output(r.read(b, "y"))
    return RunResult(y, r.cycles, r.stats, compiled, b)


# ---------------------------------------------------------------------------- numpy API
def _i8(a, what: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype != np.int8:
        raise OpError(f"{what} must be an int8 array, got {arr.dtype}")
    return arr


def _requant(requant, shift, multiplier, channels: int, inputs: dict) -> Requant | None:
    if requant is not None:
        if shift is not None or multiplier is not None:
            raise OpError("give either requant=Requant(...) or shift/multiplier, not both")
        return requant
    if shift is None and multiplier is None:
        return None
    s, m = np.asarray(0 if shift is None else shift), np.asarray(1 if multiplier is None
                                                                    else multiplier)
    if s.ndim == 0 and m.ndim == 0:
        return Requant(multiplier=int(m), shift=int(s))
    inputs["multiplier"] = np.broadcast_to(m, (channels,)).astype(np.int32)
    inputs["shift"] = np.broadcast_to(s, (channels,)).astype(np.int32)
    return Requant(per_channel=True)


def _gemm_epilogue(bias, requant, shift, multiplier, relu, clip, residual, channels,
                   inputs) -> Epilogue:
    rq = _requant(requant, shift, multiplier, channels, inputs)
    if bias is not None:
        inputs["bias"] = np.asarray(bias).astype(np.int32)
    if residual is not None:
        inputs["residual"] = _i8(residual, "residual")
    return Epilogue(bias=bias is not None, requant=rq, residual=residual is not None,
                    relu=relu, clip=None if clip is None else tuple(clip))


def run_op(op, inputs: dict, cfg: HwConfig, schedule=None,
           options: LayoutOptions | None = None) -> RunResult:
    return run_on_simulator(compile_op(op, cfg, schedule, options), inputs)


def conv2d(x, w, bias=None, *, stride=1, padding=0, shift=None, multiplier=None, requant=None,
           relu=False, clip=None, residual=None, pad_value=0, cfg: HwConfig = DEFAULT,
           schedule=None, options: LayoutOptions | None = None) -> RunResult:
    """Quantized conv2d on the simulated accelerator: x (N,C,H,W) int8, w (O,C,KH,KW) int8.

    bias: int32 (O,).  shift / multiplier: scalars (per-tensor) or (O,) arrays
    (per-channel) for ``rshr(x * multiplier, shift)``; or ``requant=Requant(...)``.
    relu, clip=(lo, hi), residual (N,O,Ho,Wo) int8: see :class:`~compiler.ops.Epilogue`.
    """
    x, w = _i8(x, "x"), _i8(w, "w")
    inputs = {"x": x, "w": w}
    ep = _gemm_epilogue(bias, requant, shift, multiplier, relu, clip, residual, w.shape[0],
                        inputs)
    n, c, h, wd = x.shape
    o, c2, kh, kw = w.shape
    if c2 != c:
        raise OpError(f"conv2d: weights have {c2} input channels, x has {c}")
    op = Conv2d(n, c, h, wd, o, kh, kw, stride, padding, ep, pad_value)
    return run_op(op, inputs, cfg, schedule, options)


def depthwise_conv2d(x, w, bias=None, *, stride=1, padding=0, shift=None, multiplier=None,
                     requant=None, relu=False, clip=None, residual=None, pad_value=0,
                     cfg: HwConfig = DEFAULT, schedule=None,
                     options: LayoutOptions | None = None) -> RunResult:
    """Depthwise conv2d: x (N,C,H,W) int8, w (C,1,KH,KW) int8; epilogue as conv2d."""
    x, w = _i8(x, "x"), _i8(w, "w")
    inputs = {"x": x, "w": w}
    ep = _gemm_epilogue(bias, requant, shift, multiplier, relu, clip, residual, w.shape[0],
                        inputs)
    n, c, h, wd = x.shape
    op = DepthwiseConv2d(n, c, h, wd, w.shape[2], w.shape[3], stride, padding, ep, pad_value)
    return run_op(op, inputs, cfg, schedule, options)


def dense(x, w, bias=None, *, shift=None, multiplier=None, requant=None, relu=False, clip=None,
          residual=None, cfg: HwConfig = DEFAULT, schedule=None) -> RunResult:
    """Dense layer: x (N,I) int8, w (O,I) int8 -> (N,O) int8; epilogue as conv2d."""
    x, w = _i8(x, "x"), _i8(w, "w")
    inputs = {"x": x, "w": w}
    ep = _gemm_epilogue(bias, requant, shift, multiplier, relu, clip, residual, w.shape[0],
                        inputs)
    if x.shape[1] != w.shape[1]:
        raise OpError(f"dense: weights have {w.shape[1]} inputs, x has {x.shape[1]}")
    return run_op(Dense(x.shape[0], x.shape[1], w.shape[0], ep), inputs, cfg, schedule)


def _nchw(a: np.ndarray) -> tuple[int, int, int, int]:
    if a.ndim > 4 or a.ndim == 0:
        raise OpError(f"element-wise operands need 1 to 4 dims, got shape {a.shape}")
    return tuple(a.shape) + (1,) * (4 - a.ndim)  # type: ignore[return-value]


def elementwise(a, steps, b=None, *, cfg: HwConfig = DEFAULT, schedule=None) -> RunResult:
    """``steps`` (AluStep or (op, operand) pairs; operand None = ``b``) applied to ``a``."""
    a = _i8(a, "a")
    st = tuple(s if isinstance(s, AluStep) else AluStep(*s) for s in steps)
    op = Elementwise(_nchw(a), st)
    inputs = {"a": a.reshape(op.shape)}
    if op.binary:
        if b is None:
            raise OpError("a step uses the tensor operand b, but b was not given")
        b = _i8(b, "b")
        if b.shape != a.shape:
            raise OpError(f"b has shape {b.shape}, a has {a.shape} (no broadcasting)")
        inputs["b"] = b.reshape(op.shape)
    r = run_op(op, inputs, cfg, schedule)
    return RunResult(r.output.reshape(a.shape), r.cycles, r.stats, r.compiled, r.bundle)


def add(a, b, **kw) -> RunResult:
    return elementwise(a, [("add", None)], b, **kw)


def mul(a, b, **kw) -> RunResult:
    return elementwise(a, [("mul", None)], b, **kw)


def minimum(a, b, **kw) -> RunResult:
    return elementwise(a, [("min", None)], b, **kw)


def maximum(a, b, **kw) -> RunResult:
    return elementwise(a, [("max", None)], b, **kw)


def shift_right(a, s: int, *, rounding: bool = True, **kw) -> RunResult:
    return elementwise(a, [("rshr" if rounding else "shr", s)], **kw)


def relu(a, **kw) -> RunResult:
    return elementwise(a, [("max", 0)], **kw)


def clip(a, lo: int, hi: int, **kw) -> RunResult:
    return elementwise(a, [("max", lo), ("min", hi)], **kw)


def max_pool2d(x, kernel, stride=None, padding=0, *, cfg: HwConfig = DEFAULT,
               schedule=None) -> RunResult:
    return _pool(x, "max", kernel, stride, padding, cfg, schedule)


def avg_pool2d(x, kernel, stride=None, padding=0, *, cfg: HwConfig = DEFAULT,
               schedule=None) -> RunResult:
    return _pool(x, "avg", kernel, stride, padding, cfg, schedule)


def _pool(x, kind, kernel, stride, padding, cfg, schedule) -> RunResult:
    x = _i8(x, "x")
    k = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    op = Pool2d(*x.shape, kind, k[0], k[1], stride if stride is not None else k, padding)
    return run_op(op, {"x": x}, cfg, schedule)


def global_avg_pool2d(x, *, cfg: HwConfig = DEFAULT, schedule=None) -> RunResult:
    x = _i8(x, "x")
    return run_op(GlobalAvgPool(*x.shape), {"x": x}, cfg, schedule)


__all__ = ["CompiledOp", "RunResult", "compile_op", "run_on_simulator", "run_op", "conv2d",
           "depthwise_conv2d", "dense", "elementwise", "add", "mul", "minimum", "maximum",
           "shift_right", "relu", "clip", "max_pool2d", "avg_pool2d", "global_avg_pool2d"]
