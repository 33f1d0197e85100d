"""Render the kernel IR to LLVM IR text, for the host CPU or for NVPTX.

Why text rather than ``llvmlite.ir``: the text form lets us use opaque pointers, address
spaces, vector intrinsics and the ``ptx_kernel`` calling convention exactly as LLVM 22 spells
them, and the output doubles as a readable artifact for debugging.  All types come from the
dtype table (:mod:`.dtypes`).

Mutable variables live in entry-block ``alloca`` slots that LLVM's SROA/mem2reg promote to
registers at opt level 3; vector accumulators therefore stay in registers, which is what makes
the register-blocked micro-kernels fast.

CPU functions have the signature ``void name(params..., i64 start, i64 stop)``: ``[start,
stop)`` is the slice of the top-level ``parallel`` loop this call runs (the thread-pool launcher
splits it).  NVPTX kernels map that loop onto ``ctaid.x * ntid.x + tid.x``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from . import dtypes as dt
from .dtypes import DType
from .kernel_ir import (
    CMP_OPS,
    Alloc,
    Assign,
    Barrier,
    Binary,
    Bitcast,
    Broadcast,
    Cast,
    Const,
    Decl,
    Expr,
    Fma,
    If,
    IRError,
    Kernel,
    Let,
    Load,
    Loop,
    MulAddPairs,
    MulAddQuads,
    Select,
    Shuffle,
    Special,
    Stmt,
    Store,
    Unary,
    Var,
    idx,
    verify,
)


@dataclass(frozen=True)
class RenderTarget:
    """Where rendered IR will be compiled: ``cpu`` (host triple) or ``nvptx``."""

    kind: str
    triple: str
    datalayout: str = ""
    features: frozenset[str] = frozenset()  # CPU features the renderer may use (avx512vnni)


NVPTX_TARGET = RenderTarget("nvptx", "nvptx64-nvidia-cuda",
                            "e-p6:32:32-i64:64-i128:128-i256:256-v16:16-v32:32-n16:32:64")

_ICMP = {"lt": "slt", "le": "sle", "gt": "sgt", "ge": "sge", "eq": "eq", "ne": "ne"}
_UCMP = {"lt": "ult", "le": "ule", "gt": "ugt", "ge": "uge", "eq": "eq", "ne": "ne"}
_FCMP = {"lt": "olt", "le": "ole", "gt": "ogt", "ge": "oge", "eq": "oeq", "ne": "une"}


def _float_lit(v: float, ty: DType) -> str:
    if ty is dt.f32:
        v = float(np.float32(v))
    return f"0x{struct.unpack('<Q', struct.pack('<d', float(v)))[0]:016X}"


def _scalar_lit(v: int | float, ty: DType) -> str:
    if ty is dt.bool_:
        return "true" if v else "false"
    if ty.is_float:
        return _float_lit(v, ty)
    return str(int(v))


def _suffix(ty: DType, lanes: int) -> str:
    """Overload suffix for intrinsics: ``f32``, ``v16f32``, ``i32``, ``v8i16``."""
    base = ty.llvm if not ty.is_float else ("f32" if ty is dt.f32 else "f64")
    return base if lanes == 1 else f"v{lanes}{base}"


@dataclass
class _Val:
    """A rendered value: operand text plus its LLVM type."""

    ref: str
    ty: str


class _FunctionRenderer:
    def __init__(self, kernel: Kernel, target: RenderTarget) -> None:
        self.k = kernel
        self.t = target
        self.n = 0
        self.lines: list[str] = []
        self.allocas: list[str] = []
        self.decls: dict[str, str] = {}
        self.globals: list[str] = []
        self.block = "body0"  # first block after the alloca-only entry block
        self.buffers: dict[str, tuple[str, DType, str]] = {}  # name -> (ptr, dtype, ptr type)

    # -- plumbing
    def tmp(self, hint: str = "t") -> str:
        self.n += 1
        return f"%{hint}{self.n}"

    def label(self, hint: str) -> str:
        self.n += 1
        return f"{hint}{self.n}"

    def emit(self, line: str) -> None:
        self.lines.append("  " + line)

    def start_block(self, name: str) -> None:
        self.lines.append(f"{name}:")
        self.block = name

    def declare(self, name: str, sig: str) -> str:
        self.decls[name] = sig
        return f"@{name}"

    def intrinsic(self, base: str, ty: DType, lanes: int, args: list[_Val]) -> str:
        name = f"{base}.{_suffix(ty, lanes)}"
        lt = ty.llvm_type(lanes)
        arg_tys = ", ".join(a.ty for a in args)
        self.declare(name, f"declare {lt} @{name}({arg_tys})")
        out = self.tmp()
        self.emit(f"{out} = call {lt} @{name}({', '.join(f'{a.ty} {a.ref}' for a in args)})")
        return out

    # -- expressions
    def expr(self, e: Expr, env: dict) -> _Val:
        lt = e.dtype.llvm_type(e.lanes)
        match e:
            case Const(v, ty, n):
                lit = _scalar_lit(v, ty)
                if n == 1:
                    return _Val(lit, lt)
                return _Val("<" + ", ".join([f"{ty.llvm} {lit}"] * n) + ">", lt)
            case Var(name, _, _):
                if name not in env:
                    raise IRError(f"render: undefined name {name!r}")
                kind, ref, ty = env[name]
                if kind == "mut":
                    out = self.tmp("v")
                    self.emit(f"{out} = load {ty}, ptr {ref}")
                    return _Val(out, ty)
                return _Val(ref, ty)
            case Load(buf, index, ty, n):
                p = self.address(buf, index, env)
                out = self.tmp("ld")
                ptr_ty = self.buffers[buf][2]
                self.emit(f"{out} = load {lt}, {ptr_ty} {p}, align {ty.itemsize}")
                return _Val(out, lt)
            case Binary(op, a, b):
                return self.binary(op, self.expr(a, env), self.expr(b, env), a.dtype, a.lanes)
            case Unary(op, a):
                return self.unary(op, self.expr(a, env), a.dtype, a.lanes)
            case Cast(a, ty):
                return self.cast(self.expr(a, env), a.dtype, ty, a.lanes)
            case Bitcast(a, ty, n):
                va = self.expr(a, env)
                out = self.tmp()
                self.emit(f"{out} = bitcast {va.ty} {va.ref} to {lt}")
                return _Val(out, lt)
            case Select(c, a, b):
                vc, va, vb = self.expr(c, env), self.expr(a, env), self.expr(b, env)
                out = self.tmp()
                self.emit(f"{out} = select {vc.ty} {vc.ref}, {lt} {va.ref}, {lt} {vb.ref}")
                return _Val(out, lt)
            case Fma(a, b, c):
                args = [self.expr(x, env) for x in (a, b, c)]
                return _Val(self.intrinsic("llvm.fma", e.dtype, e.lanes, args), lt)
            case Broadcast(a, times):
                va = self.expr(a, env)
                return _Val(self.broadcast(va, a.dtype, a.lanes, times), lt)
            case MulAddPairs(a, b):
                return self.muladd_pairs(self.expr(a, env), self.expr(b, env), a, b)
            case Shuffle(a, b, mask):
                va, vb = self.expr(a, env), self.expr(b, env)
                out = self.tmp("sh")
                if len(mask) == 1:  # one lane is a scalar in this IR: extract it
                    src, i = (va, mask[0]) if mask[0] < a.lanes else (vb, mask[0] - a.lanes)
                    self.emit(f"{out} = extractelement {src.ty} {src.ref}, i32 {i}")
                    return _Val(out, lt)
                idx = ", ".join(f"i32 {i}" for i in mask)
                self.emit(f"{out} = shufflevector {va.ty} {va.ref}, {vb.ty} {vb.ref}, "
                          f"<{len(mask)} x i32> <{idx}>")
                return _Val(out, lt)
            case MulAddQuads(acc, a, b):
                return self.muladd_quads(*(self.expr(x, env) for x in (acc, a, b)), acc.lanes)
            case Special(reg):
                if self.t.kind != "nvptx":
                    raise IRError(f"special register {reg} exists only on GPU targets")
                return _Val(self.sreg(reg), "i64")
        raise IRError(f"render: unknown expression {e!r}")

    def sreg(self, reg: str) -> str:
        name = f"llvm.nvvm.read.ptx.sreg.{reg}"
        self.declare(name, f"declare i32 @{name}()")
        r = self.tmp("sr")
        self.emit(f"{r} = call i32 @{name}()")
        out = self.tmp("sr")
        self.emit(f"{out} = zext i32 {r} to i64")
        return out

    def address(self, buf: str, index: Expr, env: dict) -> str:
        if buf not in self.buffers:
            raise IRError(f"render: unknown buffer {buf!r}")
        ptr, ty, ptr_ty = self.buffers[buf]
        vi = self.expr(index, env)
        out = self.tmp("p")
        self.emit(f"{out} = getelementptr inbounds {ty.llvm}, {ptr_ty} {ptr}, i64 {vi.ref}")
        return out

    def broadcast(self, va: _Val, ty: DType, lanes: int, times: int) -> str:
        if times == 1:
            return va.ref
        total = lanes * times
        if lanes == 1:
            ins = self.tmp("bc")
            self.emit(f"{ins} = insertelement <1 x {ty.llvm}> poison, {ty.llvm} {va.ref}, i32 0")
            src, src_ty = ins, f"<1 x {ty.llvm}>"
        else:
            src, src_ty = va.ref, va.ty
        mask = ", ".join(f"i32 {i % lanes}" for i in range(total))
        out = self.tmp("bc")
        self.emit(f"{out} = shufflevector {src_ty} {src}, {src_ty} poison, "
                  f"<{total} x i32> <{mask}>")
        return out

    def muladd_pairs(self, va: _Val, vb: _Val, a: Expr, b: Expr) -> _Val:
        n2 = a.lanes
        wide = f"<{n2} x i32>"
        ea, eb, m = self.tmp("ma"), self.tmp("ma"), self.tmp("ma")
        self.emit(f"{ea} = sext {va.ty} {va.ref} to {wide}")
        self.emit(f"{eb} = sext {vb.ty} {vb.ref} to {wide}")
        self.emit(f"{m} = mul nsw {wide} {ea}, {eb}")
        half = f"<{n2 // 2} x i32>"
        ev, od, out = self.tmp("ma"), self.tmp("ma"), self.tmp("ma")
        even = ", ".join(f"i32 {2 * i}" for i in range(n2 // 2))
        odd = ", ".join(f"i32 {2 * i + 1}" for i in range(n2 // 2))
        self.emit(f"{ev} = shufflevector {wide} {m}, {wide} poison, {half} <{even}>")
        self.emit(f"{od} = shufflevector {wide} {m}, {wide} poison, {half} <{odd}>")
        self.emit(f"{out} = add nsw {half} {ev}, {od}")
        return _Val(out, half)

    def muladd_quads(self, vacc: _Val, va: _Val, vb: _Val, n: int) -> _Val:
        """``vpdpbusd`` when the target has it (16 lanes), else the same sum spelt
        out in zext/sext/mul/shuffle/add (correct on any target, but not one instruction:
        LLVM does not match this shape to ``vpdpbusd`` by itself)."""
        acc_ty, byte_ty = f"<{n} x i32>", f"<{4 * n} x i8>"
        if "avx512vnni" in self.t.features and n == 16:
            name = "llvm.x86.avx512.vpdpbusd.512"
            self.declare(name, f"declare <16 x i32> @{name}(<16 x i32>, <64 x i8>, <64 x i8>)")
            out = self.tmp("dp")
            self.emit(f"{out} = call <16 x i32> @{name}(<16 x i32> {vacc.ref}, "
                      f"<64 x i8> {va.ref}, <64 x i8> {vb.ref})")
            return _Val(out, acc_ty)
        wide = f"<{4 * n} x i32>"
        ea, eb, m = self.tmp("mq"), self.tmp("mq"), self.tmp("mq")
        self.emit(f"{ea} = zext {byte_ty} {va.ref} to {wide}")
        self.emit(f"{eb} = sext {byte_ty} {vb.ref} to {wide}")
        self.emit(f"{m} = mul nsw {wide} {ea}, {eb}")
        total = vacc.ref
        for j in range(4):
            lane = ", ".join(f"i32 {4 * i + j}" for i in range(n))
            part, out = self.tmp("mq"), self.tmp("mq")
            self.emit(f"{part} = shufflevector {wide} {m}, {wide} poison, {acc_ty} <{lane}>")
            self.emit(f"{out} = add {acc_ty} {total}, {part}")
            total = out
        return _Val(total, acc_ty)

    def binary(self, op: str, va: _Val, vb: _Val, ty: DType, lanes: int) -> _Val:
        lt = ty.llvm_type(lanes)
        out = self.tmp()
        if op in CMP_OPS:
            if ty.is_float:
                self.emit(f"{out} = fcmp {_FCMP[op]} {lt} {va.ref}, {vb.ref}")
            else:
                cmp = _ICMP if ty.signed else _UCMP
                self.emit(f"{out} = icmp {cmp[op]} {lt} {va.ref}, {vb.ref}")
            return _Val(out, dt.bool_.llvm_type(lanes))
        if op in ("min", "max"):
            if ty.is_float:
                base = "llvm.minnum" if op == "min" else "llvm.maxnum"
            else:
                base = f"llvm.{'s' if ty.signed else 'u'}{op}"
            return _Val(self.intrinsic(base, ty, lanes, [va, vb]), lt)
        if ty.is_float:
            inst = {"add": "fadd", "sub": "fsub", "mul": "fmul", "div": "fdiv",
                    "mod": "frem"}[op]
        else:
            s = ty.signed
            inst = {"add": "add", "sub": "sub", "mul": "mul", "div": "sdiv" if s else "udiv",
                    "mod": "srem" if s else "urem", "and": "and", "or": "or", "xor": "xor",
                    "shl": "shl", "shr": "ashr" if s else "lshr"}[op]
            if ty is dt.i64 and op in ("add", "sub", "mul"):
                inst += " nsw"  # index arithmetic never wraps; lets LLVM fold addressing
        self.emit(f"{out} = {inst} {lt} {va.ref}, {vb.ref}")
        return _Val(out, lt)

    def unary(self, op: str, va: _Val, ty: DType, lanes: int) -> _Val:
        lt = ty.llvm_type(lanes)
        if op == "neg":
            out = self.tmp()
            if ty.is_float:
                self.emit(f"{out} = fneg {lt} {va.ref}")
            else:
                zero = self.expr(Const(0, ty, lanes), {}).ref
                self.emit(f"{out} = sub {lt} {zero}, {va.ref}")
            return _Val(out, lt)
        if op == "not":
            out = self.tmp()
            ones = self.expr(Const(1 if ty is dt.bool_ else -1, ty, lanes), {}).ref
            self.emit(f"{out} = xor {lt} {va.ref}, {ones}")
            return _Val(out, lt)
        if op == "abs" and not ty.is_float:
            name = f"llvm.abs.{_suffix(ty, lanes)}"
            self.declare(name, f"declare {lt} @{name}({lt}, i1)")
            out = self.tmp()
            self.emit(f"{out} = call {lt} @{name}({lt} {va.ref}, i1 false)")
            return _Val(out, lt)
        if op == "exp":
            return self.exp(va, ty, lanes)
        base = {"sqrt": "llvm.sqrt", "abs": "llvm.fabs", "roundeven": "llvm.roundeven",
                "floor": "llvm.floor"}[op]
        return _Val(self.intrinsic(base, ty, lanes, [va]), lt)

    def exp(self, va: _Val, ty: DType, lanes: int) -> _Val:
        """Cephes-style expf: range reduction by ln2, degree-6 polynomial, 2^n by bit shift.

        Rendered inline (no libm call), so it vectorizes on the CPU and needs no libdevice on
        NVPTX.  Inputs are clamped to [-87.3, 88.4]: outputs stay normal floats."""
        if ty is not dt.f32:
            raise IRError("exp is implemented for f32 only; cast first")

        def c(v: float) -> Expr:
            return Const(v, dt.f32, lanes)

        x = Var("__x", dt.f32, lanes)
        env = {"__x": ("val", va.ref, va.ty)}
        x = Binary("max", Binary("min", x, c(88.3762626647949)), c(-87.3365447504))
        xv = self.expr(x, env)
        env["__x1"] = ("val", xv.ref, xv.ty)
        x1 = Var("__x1", dt.f32, lanes)
        fx = self.expr(Unary("floor", Fma(x1, c(1.44269504088896341), c(0.5))), env)
        env["__fx"] = ("val", fx.ref, fx.ty)
        f = Var("__fx", dt.f32, lanes)
        r = self.expr(Fma(f, c(2.12194440e-4), Fma(f, c(-0.693359375), x1)), env)
        env["__r"] = ("val", r.ref, r.ty)
        rv = Var("__r", dt.f32, lanes)
        y: Expr = c(1.9875691500e-4)
        for coef in (1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1,
                     5.0000001201e-1):
            y = Fma(y, rv, c(coef))
        y = Fma(y, rv * rv, rv) + c(1.0)
        pow2 = Bitcast(Binary("shl", Cast(f, dt.i32) + Const(127, dt.i32, lanes),
                              Const(23, dt.i32, lanes)), dt.f32, lanes)
        return self.expr(y * pow2, env)

    def cast(self, va: _Val, src: DType, dst: DType, lanes: int) -> _Val:
        if src == dst:
            return va
        st, dt_ = src.llvm_type(lanes), dst.llvm_type(lanes)
        out = self.tmp("cv")
        if dst is dt.bool_:
            zero = self.expr(Const(0, src, lanes), {}).ref
            if src.is_float:
                self.emit(f"{out} = fcmp une {st} {va.ref}, {zero}")
            else:
                self.emit(f"{out} = icmp ne {st} {va.ref}, {zero}")
            return _Val(out, dt_)
        if src.is_float and dst.is_float:
            inst = "fpext" if dst.bits > src.bits else "fptrunc"
        elif src.is_float:
            inst = "fptosi" if dst.signed else "fptoui"
        elif dst.is_float:
            inst = "sitofp" if src.signed and src is not dt.bool_ else "uitofp"
        elif dst.bits > src.bits:
            inst = "sext" if src.signed and src is not dt.bool_ else "zext"
        elif dst.bits < src.bits:
            inst = "trunc"
        else:
            return _Val(va.ref, dt_)  # i8 <-> u8: same bits
        self.emit(f"{out} = {inst} {st} {va.ref} to {dt_}")
        return _Val(out, dt_)

    # -- statements
    def stmts(self, body: tuple[Stmt, ...], env: dict) -> None:
        env = dict(env)
        for s in body:
            self.stmt(s, env)

    def stmt(self, s: Stmt, env: dict) -> None:
        match s:
            case Loop():
                self.loop(s, env)
            case Store(buf, index, value):
                v = self.expr(value, env)
                p = self.address(buf, index, env)
                ptr_ty = self.buffers[buf][2]
                self.emit(f"store {v.ty} {v.ref}, {ptr_ty} {p}, align "
                          f"{self.buffers[buf][1].itemsize}")
            case Let(name, value):
                v = self.expr(value, env)
                env[name] = ("val", v.ref, v.ty)
            case Decl(name, value):
                v = self.expr(value, env)
                slot = self.tmp(f"var_{name}_")
                self.allocas.append(f"{slot} = alloca {v.ty}, align 64")
                self.emit(f"store {v.ty} {v.ref}, ptr {slot}")
                env[name] = ("mut", slot, v.ty)
            case Assign(name, value):
                v = self.expr(value, env)
                _, slot, ty = env[name]
                self.emit(f"store {ty} {v.ref}, ptr {slot}")
            case If(cond, then, orelse):
                c = self.expr(cond, env)
                lt, le, lm = self.label("then"), self.label("else"), self.label("endif")
                self.emit(f"br i1 {c.ref}, label %{lt}, label %{le}")
                self.start_block(lt)
                self.stmts(then, env)
                self.emit(f"br label %{lm}")
                self.start_block(le)
                self.stmts(orelse, env)
                self.emit(f"br label %{lm}")
                self.start_block(lm)
            case Alloc(name, ty, size, scope):
                if scope == "shared" and self.t.kind == "nvptx":
                    g = f"@__shared_{self.k.name}_{name}"
                    self.globals.append(f"{g} = internal addrspace(3) global [{size} x {ty.llvm}]"
                                        " undef, align 16")
                    self.buffers[name] = (g, ty, "ptr addrspace(3)")
                else:
                    slot = self.tmp(f"buf_{name}_")
                    self.allocas.append(f"{slot} = alloca {ty.llvm}, i64 {size}, align 64")
                    self.buffers[name] = (slot, ty, "ptr")
            case Barrier():
                if self.t.kind == "nvptx":
                    self.declare("llvm.nvvm.barrier0", "declare void @llvm.nvvm.barrier0()")
                    self.emit("call void @llvm.nvvm.barrier0()")
            case _:
                raise IRError(f"render: unknown statement {s!r}")

    def loop(self, s: Loop, env: dict) -> None:
        if s.kind == "unroll":
            start, stop = idx(s.start), idx(s.stop)
            assert isinstance(start, Const) and isinstance(stop, Const)
            for i in range(int(start.value), int(stop.value), s.step):
                inner = dict(env)
                inner[s.var] = ("val", str(i), "i64")
                self.stmts(s.body, inner)
            return
        gpu = self.t.kind == "nvptx"
        if gpu and s.kind != "serial":
            if s.kind == "parallel":
                ctaid, ntid, tid = self.sreg("ctaid.x"), self.sreg("ntid.x"), self.sreg("tid.x")
                m, var = self.tmp(), self.tmp(s.var + "_")
                self.emit(f"{m} = mul nsw i64 {ctaid}, {ntid}")
                self.emit(f"{var} = add nsw i64 {m}, {tid}")
            else:
                reg = ("ctaid." if s.kind.startswith("block") else "tid.") + s.kind[-1]
                base = self.sreg(reg)
                var = self.tmp(s.var + "_")
                st = self.expr(idx(s.start), env)
                self.emit(f"{var} = add nsw i64 {base}, {st.ref}")
            stop = self.expr(idx(s.stop), env)
            c = self.tmp()
            self.emit(f"{c} = icmp slt i64 {var}, {stop.ref}")
            lb, le = self.label("gpu_body"), self.label("gpu_exit")
            self.emit(f"br i1 {c}, label %{lb}, label %{le}")
            self.start_block(lb)
            inner = dict(env)
            inner[s.var] = ("val", var, "i64")
            self.stmts(s.body, inner)
            self.emit(f"br label %{le}")
            self.start_block(le)
            return
        if s.kind == "parallel":
            if idx(s.start) != Const(0, dt.i64) or s.step != 1:
                raise IRError(f"parallel loop {s.var} must start at 0 with step 1")
            start, stop = _Val("%__start", "i64"), _Val("%__stop", "i64")
        else:
            start, stop = self.expr(idx(s.start), env), self.expr(idx(s.stop), env)
        pre = self.block
        head, body, latch, exit_ = (self.label(f"{s.var}_{x}")
                                    for x in ("head", "body", "latch", "exit"))
        self.emit(f"br label %{head}")
        self.start_block(head)
        var, nxt, c = self.tmp(s.var + "_"), self.tmp(s.var + "_next"), self.tmp()
        self.emit(f"{var} = phi i64 [ {start.ref}, %{pre} ], [ {nxt}, %{latch} ]")
        self.emit(f"{c} = icmp slt i64 {var}, {stop.ref}")
        self.emit(f"br i1 {c}, label %{body}, label %{exit_}")
        self.start_block(body)
        inner = dict(env)
        inner[s.var] = ("val", var, "i64")
        self.stmts(s.body, inner)
        self.emit(f"br label %{latch}")
        self.start_block(latch)
        self.emit(f"{nxt} = add nsw i64 {var}, {s.step}")
        self.emit(f"br label %{head}")
        self.start_block(exit_)

    # -- whole function
    def render(self) -> str:
        env: dict = {}
        args = []
        for p in self.k.params:
            if p.is_ptr:
                args.append(f"ptr noalias %{p.name}")
                self.buffers[p.name] = (f"%{p.name}", p.ty, "ptr")
            else:
                args.append(f"{p.ty.llvm} %{p.name}")
                env[p.name] = ("val", f"%{p.name}", p.ty.llvm)
        if self.t.kind == "nvptx":
            head = f"define ptx_kernel void @{self.k.name}({', '.join(args)}) #0 {{"
        else:
            args += ["i64 %__start", "i64 %__stop"]
            head = f"define void @{self.k.name}({', '.join(args)}) #0 {{"
        self.stmts(self.k.body, env)
        self.emit("ret void")
        body = ["entry:", *("  " + a for a in self.allocas), "  br label %body0", "body0:"]
        text = "\n".join(self.lines)
        return "\n".join([head, *body, text, "}"])


def render_module(kernels: list[Kernel] | tuple[Kernel, ...], target: RenderTarget) -> str:
    """LLVM IR text of a module holding ``kernels`` (each verified first)."""
    fns, decls, globs = [], {}, []
    for k in kernels:
        verify(k)
        r = _FunctionRenderer(k, target)
        fns.append(r.render())
        decls.update(r.decls)
        globs.extend(r.globals)
    header = []
    if target.datalayout:
        header.append(f'target datalayout = "{target.datalayout}"')
    header.append(f'target triple = "{target.triple}"')
    return "\n".join([*header, "", *globs, "", *fns, "", *decls.values(), "",
                      "attributes #0 = { nounwind }", ""])
