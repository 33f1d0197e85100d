"""A SIMT emulator of the kernel IR's GPU mapping: what a GPU computes, without a GPU.

Why: the GPU schedules (the shared-memory tiled GEMM with its grid/thread loops, barriers
and tail handling) cannot run on the CPU backend, and this project's machines have no GPU.
The PTX is LLVM's translation of the same IR; what can be wrong in *our* code is the IR:
index arithmetic, bounds, padding fills, the cooperation of threads through shared memory.
This module runs a plan's kernels with the GPU's semantics -- every thread of the launch
grid (``Step.grid`` x ``Step.block``) as one numpy lane, executed in lockstep, shared memory
one array per thread block, ``parallel`` loops mapped to the global thread index and every
GPU-bound loop guarded by ``var < stop`` as the NVPTX renderer does -- so a race-free kernel
gives the bits a GPU gives (lockstep is one legal interleaving; for a race-free kernel with
barriers every interleaving gives the same result).

It also checks what a GPU would not report: a load or store out of its buffer's bounds on
an active lane, two lanes storing different values to one element in one statement (a
race), and a barrier reached by part of a block (divergence).  Scalar kernels only (vector
lanes are the CPU micro-kernels' business); float ``exp`` is numpy's, so float kernels agree
with a GPU to rounding, integer kernels bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import dtypes as dt
from .kernel_ir import (
    Alloc,
    Assign,
    Barrier,
    Binary,
    Bitcast,
    Cast,
    Const,
    Decl,
    Expr,
    Fma,
    If,
    Kernel,
    Let,
    Load,
    Loop,
    Select,
    Special,
    Stmt,
    Store,
    Unary,
    Var,
    idx,
)
from .ops.plan import OpPlan, Step, check_array


class SimtError(RuntimeError):
    """A kernel did something a GPU run must not (out of bounds, race, divergent barrier),
    or uses IR the emulator does not model (the message names the kernel and the node)."""


class _Run:
    """One kernel launch: lane geometry, buffers, and the statement interpreter."""

    def __init__(self, kernel: Kernel, step: Step, buffers: dict[str, np.ndarray]) -> None:
        self.k = kernel
        gx, gy, gz = step.grid
        bx, by, bz = step.block
        nb, nt = gx * gy * gz, bx * by * bz
        self.lanes = nb * nt
        lane = np.arange(self.lanes, dtype=np.int64)
        block, thread = lane // nt, lane % nt
        self.block = block
        self.nblocks = nb
        self.threads_per_block = nt
        self.regs = {
            "ctaid.x": block % gx, "ctaid.y": (block // gx) % gy, "ctaid.z": block // (gx * gy),
            "tid.x": thread % bx, "tid.y": (thread // bx) % by, "tid.z": thread // (bx * by),
            "ntid.x": np.full(self.lanes, bx, np.int64), "ntid.y": np.full(self.lanes, by,
                                                                             np.int64),
            "ntid.z": np.full(self.lanes, bz, np.int64)}
        self.bufs: dict[str, tuple[np.ndarray, str]] = {}
        for p, name in zip(kernel.params, step.args, strict=True):
            if not p.is_ptr:
                raise SimtError(f"{kernel.name}: scalar parameter {p.name} is not emulated")
            self.bufs[p.name] = (buffers[name], "global")

    # ------------------------------------------------------------------ expressions
    def fail(self, what: str) -> SimtError:
        return SimtError(f"{self.k.name}: {what}")

    def expr(self, e: Expr, env: dict[str, np.ndarray], mask: np.ndarray) -> np.ndarray:
        if e.lanes != 1:
            raise self.fail(f"vector expression {type(e).__name__} ({e.lanes} lanes)")
        match e:
            case Const(value, ty):
                return np.full(self.lanes, value, ty.np)
            case Var(name):
                if name not in env:
                    raise self.fail(f"unbound variable {name!r}")
                v = env[name]
                return v[0] if isinstance(v, list) else v
            case Special(reg):
                return self.regs[reg]
            case Load(buf, index, ty):
                arr, where = self._buf(buf)
                i = self._index(buf, arr, self.expr(index, env, mask), mask, "load")
                out = arr[self.block, i] if where == "shared" else (
                    arr[np.arange(self.lanes), i] if where == "local" else arr[i])
                return out.astype(ty.np, copy=False)
            case Binary(op, a, b):
                return self._binary(op, self.expr(a, env, mask), self.expr(b, env, mask),
                                    a.dtype)
            case Unary(op, a):
                return self._unary(op, self.expr(a, env, mask), a.dtype)
            case Cast(a, ty):
                v = self.expr(a, env, mask)
                if ty is dt.bool_:
                    return v != 0
                if a.dtype.is_float and not ty.is_float:
                    v = np.where(mask, v, 0)  # inactive lanes: no undefined conversions
                return v.astype(ty.np)
            case Bitcast(a, ty):
                return self.expr(a, env, mask).view(ty.np)
            case Select(c, a, b):
                return np.where(self.expr(c, env, mask), self.expr(a, env, mask),
                                self.expr(b, env, mask))
            case Fma(a, b, c):
                va, vb, vc = (self.expr(x, env, mask) for x in (a, b, c))
                if a.dtype.is_float:  # one rounding: the product is exact in float64
                    return (va.astype(np.float64) * vb + vc).astype(a.dtype.np)
                return va * vb + vc
        raise self.fail(f"expression {type(e).__name__} is not emulated")

    def _binary(self, op: str, a: np.ndarray, b: np.ndarray, ty: dt.DType) -> np.ndarray:
        with np.errstate(all="ignore"):
            match op:
                case "add":
                    return a + b
                case "sub":
                    return a - b
                case "mul":
                    return a * b
                case "div" | "mod" if ty.is_float:
                    return a / b if op == "div" else np.fmod(a, b)
                case "div" | "mod":
                    safe = np.where(b == 0, 1, b).astype(a.dtype)
                    q = np.abs(a) // np.abs(safe)  # C: truncation toward zero
                    q = np.where((a < 0) != (safe < 0), -q, q).astype(a.dtype)
                    return q if op == "div" else (a - q * safe).astype(a.dtype)
                case "min":
                    return np.minimum(a, b)
                case "max":
                    return np.maximum(a, b)
                case "and":
                    return a & b
                case "or":
                    return a | b
                case "xor":
                    return a ^ b
                case "shl":
                    return np.left_shift(a, b.astype(a.dtype))
                case "shr":
                    return np.right_shift(a, b.astype(a.dtype))  # arithmetic for signed
                case "lt":
                    return a < b
                case "le":
                    return a <= b
                case "gt":
                    return a > b
                case "ge":
                    return a >= b
                case "eq":
                    return a == b
                case "ne":
                    return a != b
        raise self.fail(f"binary op {op!r} is not emulated")

    def _unary(self, op: str, a: np.ndarray, ty: dt.DType) -> np.ndarray:
        with np.errstate(all="ignore"):
            match op:
                case "neg":
                    return -a if ty.is_float else (np.zeros_like(a) - a)
                case "not":
                    return ~a
                case "abs":
                    return np.abs(a)
                case "exp":
                    return np.exp(np.clip(a, -87.3365447504, 88.3762626647949)).astype(ty.np)
                case "sqrt":
                    return np.sqrt(a)
                case "roundeven":
                    return np.rint(a)
                case "floor":
                    return np.floor(a)
        raise self.fail(f"unary op {op!r} is not emulated")

    def _buf(self, name: str) -> tuple[np.ndarray, str]:
        if name not in self.bufs:
            raise self.fail(f"unknown buffer {name!r}")
        return self.bufs[name]

    def _index(self, name: str, arr: np.ndarray, i: np.ndarray, mask: np.ndarray,
               what: str) -> np.ndarray:
        size = arr.shape[-1]
        bad = mask & ((i < 0) | (i >= size))
        if bad.any():
            lane = int(np.flatnonzero(bad)[0])
            raise self.fail(f"{what} {name}[{int(i[lane])}] out of bounds (size {size}) on "
                            f"lane {lane} (block {int(self.block[lane])})")
        return np.where(mask, i, 0)

    # ------------------------------------------------------------------ statements
    def run(self) -> None:
        self.stmts(self.k.body, {}, np.ones(self.lanes, bool))

    def stmts(self, body: Sequence[Stmt], env: dict, mask: np.ndarray) -> None:
        env = dict(env)  # Lets are scoped to their block; Decl cells are shared
        for s in body:
            self.stmt(s, env, mask)

    def stmt(self, s: Stmt, env: dict, mask: np.ndarray) -> None:
        match s:
            case Loop():
                self.loop(s, env, mask)
            case Let(name, value):
                env[name] = self.expr(value, env, mask)
            case Decl(name, value):  # a mutable cell: inner blocks' copies of env share it
                env[name] = [self.expr(value, env, mask)]
            case Assign(name, value):
                cell = env.get(name)
                if not isinstance(cell, list):
                    raise self.fail(f"assignment to {name!r}, which no Decl declared")
                cell[0] = np.where(mask, self.expr(value, env, mask), cell[0])
            case Store(buf, index, value):
                self.store(buf, self.expr(index, env, mask), self.expr(value, env, mask), mask)
            case If(cond, then, orelse):
                c = self.expr(cond, env, mask)
                if then:
                    self.stmts(then, env, mask & c)
                if orelse:
                    self.stmts(orelse, env, mask & ~c)
            case Alloc(name, ty, size, scope):
                rows = self.nblocks if scope == "shared" else self.lanes
                self.bufs[name] = (np.zeros((rows, size), ty.np),
                                   "shared" if scope == "shared" else "local")
            case Barrier():
                per_block = np.bincount(self.block[mask], minlength=self.nblocks)
                if np.any((per_block > 0) & (per_block < self.threads_per_block)):
                    raise self.fail("barrier reached by part of a thread block (divergence)")
            case _:
                raise self.fail(f"statement {type(s).__name__} is not emulated")

    def store(self, buf: str, i: np.ndarray, v: np.ndarray, mask: np.ndarray) -> None:
        arr, where = self._buf(buf)
        i = self._index(buf, arr, i, mask, "store")
        rows = self.block if where == "shared" else np.arange(self.lanes)
        flat = (rows * arr.shape[-1] + i)[mask] if where != "global" else i[mask]
        vals = v[mask].astype(arr.dtype)
        if flat.size > 1:
            order = np.argsort(flat, kind="stable")
            f, w = flat[order], vals[order]
            same = f[1:] == f[:-1]
            if np.any(same & (w[1:] != w[:-1])):
                at = int(f[1:][same & (w[1:] != w[:-1])][0])
                raise self.fail(f"race: lanes store different values to {buf}[{at}] in one "
                                "statement")
        arr.reshape(-1)[flat] = vals

    def loop(self, s: Loop, env: dict, mask: np.ndarray) -> None:
        inner = dict(env)
        if s.kind in ("serial", "unroll"):
            start, stop = (self.expr(idx(x), env, mask) for x in (s.start, s.stop))
            if not mask.any():
                return
            lo, hi = int(start[mask].min()), int(stop[mask].max())
            for i in range(lo, hi, s.step):
                inner[s.var] = np.full(self.lanes, i, np.int64)
                live = mask & (i >= start) & (i < stop) & ((i - start) % s.step == 0)
                if live.any():
                    self.stmts(s.body, inner, live)
            return
        if s.kind == "parallel":
            var = self.regs["ctaid.x"] * self.regs["ntid.x"] + self.regs["tid.x"]
        else:
            reg = ("ctaid." if s.kind.startswith("block") else "tid.") + s.kind[-1]
            var = self.regs[reg] + self.expr(idx(s.start), env, mask)
        inner[s.var] = var
        self.stmts(s.body, inner, mask & (var < self.expr(idx(s.stop), env, mask)))


def launch(kernel: Kernel, step: Step, buffers: dict[str, np.ndarray]) -> None:
    """Run one launch of ``kernel`` with ``step``'s grid, block and arguments; ``buffers``
    maps the step's argument names to flat arrays of the parameters' element types
    (written in place)."""
    _Run(kernel, step, buffers).run()


def run_plan(plan: OpPlan, *inputs: np.ndarray, seed: int = 0
             ) -> np.ndarray | tuple[np.ndarray, ...]:
    """Run every step of a GPU plan (launch geometry filled in: ``ptx.with_gpu_launch``)
    on ``inputs`` (the plan's inputs in order); outputs and scratch start as random bytes,
    so an element no thread writes shows."""
    specs = plan.inputs
    if len(inputs) != len(specs):
        raise TypeError(f"{plan.name}: expected {len(specs)} inputs "
                        f"{[b.name for b in specs]}, got {len(inputs)}")
    rng = np.random.default_rng(seed)
    env: dict[str, np.ndarray] = {}
    for spec, a in zip(specs, inputs, strict=True):
        env[spec.name] = check_array(spec, a, plan.name).reshape(-1).copy()
    for b in plan.buffers:
        if b.role != "input":
            raw = rng.integers(0, 256, b.size * b.ty.itemsize, dtype=np.uint8)
            env[b.name] = raw.view(b.ty.np).copy()
    for st in plan.steps:
        launch(plan.kernel(st.kernel), st, env)
    outs = tuple(env[b.name].reshape(b.shape) for b in plan.outputs)
    return outs[0] if len(outs) == 1 else outs


__all__ = ["SimtError", "launch", "run_plan"]
