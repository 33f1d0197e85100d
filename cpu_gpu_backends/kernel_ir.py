"""A small loop-level kernel IR: frozen dataclasses, a readable printer and a verifier.

Why an IR of our own rather than building LLVM directly in each operator: the operator library
describes *what* a kernel computes (loops, loads, stores, vector accumulators) once, and the
renderers decide how that maps to a target (a CPU function split over a thread pool, or an
NVPTX kernel mapped onto a grid).  The printer output is stable and readable, so it works as a
golden in tests; :func:`verify` runs before rendering so a malformed kernel is reported with
the offending node instead of crashing LLVM.

Conventions
-----------
* Every index is ``i64`` and counts elements of the buffer's dtype.
* A vector value has ``lanes > 1``; ``Load``/``Store`` of a vector touch ``lanes`` consecutive
  elements.  Vector accumulators are ordinary mutable variables (``Decl``/``Assign``).
* A ``Loop`` of kind ``parallel`` is split across threads on the CPU (the function receives the
  ``[start, stop)`` iteration range) and mapped to ``blockIdx * blockDim + threadIdx`` on a GPU.
  Kinds ``block.x``/``thread.x`` (and ``y``/``z``) bind a loop to one GPU grid axis.
* ``unroll`` loops are expanded by the renderer: register blocking without hand-written copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from . import dtypes as dt
from .dtypes import DType

ARITH_OPS = ("add", "sub", "mul", "div", "mod", "min", "max", "and", "or", "xor", "shl", "shr")
CMP_OPS = ("lt", "le", "gt", "ge", "eq", "ne")
UNARY_OPS = ("neg", "exp", "sqrt", "abs", "roundeven", "floor", "not")
LOOP_KINDS = ("serial", "unroll", "parallel", "block.x", "block.y", "block.z",
              "thread.x", "thread.y", "thread.z")
SPECIAL_REGS = ("tid.x", "tid.y", "tid.z", "ctaid.x", "ctaid.y", "ctaid.z",
                "ntid.x", "ntid.y", "ntid.z")


class IRError(ValueError):
    """A kernel violates the IR's rules (undefined name, type mismatch, bad loop kind)."""


# ----------------------------------------------------------------------------- expressions
@dataclass(frozen=True)
class Expr:
    """Base of all expressions; arithmetic operators build :class:`Binary` nodes."""

    @property
    def dtype(self) -> DType:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    @property
    def lanes(self) -> int:
        return 1

    def __add__(self, o: Expr | int | float) -> Expr:
        return binary("add", self, o)

    def __radd__(self, o: Expr | int | float) -> Expr:
        return binary("add", o, self)

    def __sub__(self, o: Expr | int | float) -> Expr:
        return binary("sub", self, o)

    def __rsub__(self, o: Expr | int | float) -> Expr:
        return binary("sub", o, self)

    def __mul__(self, o: Expr | int | float) -> Expr:
        return binary("mul", self, o)

    def __rmul__(self, o: Expr | int | float) -> Expr:
        return binary("mul", o, self)

    def __floordiv__(self, o: Expr | int) -> Expr:
        return binary("div", self, o)

    def __mod__(self, o: Expr | int) -> Expr:
        return binary("mod", self, o)

    def __neg__(self) -> Expr:
        return Unary("neg", self)


@dataclass(frozen=True)
class Const(Expr):
    """A literal, splatted when ``lanes > 1``."""

    value: int | float
    ty: DType
    n: int = 1

    @property
    def dtype(self) -> DType:
        return self.ty

    @property
    def lanes(self) -> int:
        return self.n


@dataclass(frozen=True)
class Var(Expr):
    """A reference to a loop variable, a ``Let``/``Decl`` name or a scalar parameter."""

    name: str
    ty: DType = dt.i64
    n: int = 1

    @property
    def dtype(self) -> DType:
        return self.ty

    @property
    def lanes(self) -> int:
        return self.n


@dataclass(frozen=True)
class Load(Expr):
    """``lanes`` consecutive elements of buffer ``buf`` starting at element ``index``."""

    buf: str
    index: Expr
    ty: DType
    n: int = 1

    @property
    def dtype(self) -> DType:
        return self.ty

    @property
    def lanes(self) -> int:
        return self.n


@dataclass(frozen=True)
class Binary(Expr):
    """Arithmetic (result has the operands' type) or comparison (result is ``bool``)."""

    op: str
    a: Expr
    b: Expr

    @cached_property
    def dtype(self) -> DType:
        return dt.bool_ if self.op in CMP_OPS else self.a.dtype

    @property
    def lanes(self) -> int:
        return self.a.lanes


@dataclass(frozen=True)
class Unary(Expr):
    """Negation, transcendental and rounding functions (``exp`` is lowered to a polynomial
    by the renderer so that CPU and NVPTX need no math library)."""

    op: str
    a: Expr

    @property
    def dtype(self) -> DType:
        return self.a.dtype

    @property
    def lanes(self) -> int:
        return self.a.lanes


@dataclass(frozen=True)
class Cast(Expr):
    """Numeric conversion (sign-extends signed integers, float->int truncates toward 0)."""

    a: Expr
    ty: DType

    @property
    def dtype(self) -> DType:
        return self.ty

    @property
    def lanes(self) -> int:
        return self.a.lanes


@dataclass(frozen=True)
class Bitcast(Expr):
    """Reinterpret the bits of ``a`` as ``ty`` with ``n`` lanes (same total width)."""

    a: Expr
    ty: DType
    n: int = 1

    @property
    def dtype(self) -> DType:
        return self.ty

    @property
    def lanes(self) -> int:
        return self.n


@dataclass(frozen=True)
class Select(Expr):
    """``cond ? a : b`` lane-wise."""

    cond: Expr
    a: Expr
    b: Expr

    @property
    def dtype(self) -> DType:
        return self.a.dtype

    @property
    def lanes(self) -> int:
        return self.a.lanes


@dataclass(frozen=True)
class Fma(Expr):
    """``a * b + c`` with one rounding: the GEMM micro-kernels' inner operation."""

    a: Expr
    b: Expr
    c: Expr

    @property
    def dtype(self) -> DType:
        return self.a.dtype

    @property
    def lanes(self) -> int:
        return self.a.lanes


@dataclass(frozen=True)
class Broadcast(Expr):
    """``a`` (a scalar or a short vector) repeated ``times`` times."""

    a: Expr
    times: int

    @property
    def dtype(self) -> DType:
        return self.a.dtype

    @property
    def lanes(self) -> int:
        return self.a.lanes * self.times


@dataclass(frozen=True)
class MulAddPairs(Expr):
    """Widening pairwise multiply-add: ``out[i] = a[2i]*b[2i] + a[2i+1]*b[2i+1]`` in i32.

    Operands are ``2n``-lane i8/i16 vectors.  The renderer emits sext/mul/shuffle/add, the
    shape LLVM's x86 backend turns into ``vpmaddwd`` (or ``vpdpwssd`` with VNNI)."""

    a: Expr
    b: Expr

    @property
    def dtype(self) -> DType:
        return dt.i32

    @property
    def lanes(self) -> int:
        return self.a.lanes // 2


@dataclass(frozen=True)
class Shuffle(Expr):
    """Lanes picked from two vectors of one type: ``out[i] = (a ++ b)[mask[i]]`` (LLVM's
    ``shufflevector``; a register transpose is a few stages of these)."""

    a: Expr
    b: Expr
    mask: tuple[int, ...]

    @property
    def dtype(self) -> DType:
        return self.a.dtype

    @property
    def lanes(self) -> int:
        return len(self.mask)


@dataclass(frozen=True)
class MulAddQuads(Expr):
    """Accumulate unsigned-by-signed byte quads: ``acc[i] + sum_j a[4i+j] * b[4i+j]`` in i32.

    ``acc``: ``n``-lane i32; ``a``: ``4n``-lane u8; ``b``: ``4n``-lane i8.  Every product fits
    16 bits and the four are summed in 32 bits, so the result is exact.  This is one AVX-512
    VNNI ``vpdpbusd`` per 16 lanes (64 multiply-adds per instruction, twice ``vpdpwssd``):
    the renderer calls it when the target has ``avx512vnni`` and spells it out otherwise."""

    acc: Expr
    a: Expr
    b: Expr

    @property
    def dtype(self) -> DType:
        return dt.i32

    @property
    def lanes(self) -> int:
        return self.acc.lanes


@dataclass(frozen=True)
class Special(Expr):
    """A GPU special register (``tid.x``, ``ctaid.x``, ``ntid.x``...) as an i64."""

    reg: str

    @property
    def dtype(self) -> DType:
        return dt.i64


# ----------------------------------------------------------------------------- statements
@dataclass(frozen=True)
class Stmt:
    """Base of all statements."""


@dataclass(frozen=True)
class Loop(Stmt):
    """``for var in range(start, stop, step)`` (``stop`` may be an expression)."""

    var: str
    stop: Expr | int
    body: tuple[Stmt, ...]
    kind: str = "serial"
    start: Expr | int = 0
    step: int = 1


@dataclass(frozen=True)
class Store(Stmt):
    """Write ``value`` (scalar or vector) to ``buf`` at element ``index``."""

    buf: str
    index: Expr
    value: Expr


@dataclass(frozen=True)
class Let(Stmt):
    """Bind an immutable name for the rest of the enclosing block."""

    name: str
    value: Expr


@dataclass(frozen=True)
class Decl(Stmt):
    """Declare a mutable variable (an accumulator) with an initial value."""

    name: str
    value: Expr


@dataclass(frozen=True)
class Assign(Stmt):
    """Overwrite a variable declared with :class:`Decl`."""

    name: str
    value: Expr


@dataclass(frozen=True)
class If(Stmt):
    """Conditional block."""

    cond: Expr
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...] = ()


@dataclass(frozen=True)
class Alloc(Stmt):
    """A scratch buffer: ``local`` (per thread, on the stack) or ``shared`` (GPU block)."""

    name: str
    ty: DType
    size: int
    scope: str = "local"


@dataclass(frozen=True)
class Barrier(Stmt):
    """GPU block-wide barrier (``bar.sync 0``); a no-op on the CPU."""


@dataclass(frozen=True)
class Param:
    """A kernel argument: a buffer pointer (``is_ptr``) or a scalar value."""

    name: str
    ty: DType
    is_ptr: bool = True


@dataclass(frozen=True)
class Kernel:
    """One generated function."""

    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]

    @property
    def parallel_loop(self) -> Loop | None:
        """The top-level ``parallel`` loop, if any (at most one, and it must be the last
        top-level statement so that each thread's iteration range is self-contained)."""
        loops = [s for s in self.body if isinstance(s, Loop) and s.kind == "parallel"]
        return loops[0] if loops else None

    def __str__(self) -> str:
        return print_kernel(self)


# ----------------------------------------------------------------------------- helpers
def idx(v: int | Expr) -> Expr:
    """An i64 index expression."""
    return v if isinstance(v, Expr) else Const(int(v), dt.i64)


def const(v: int | float, ty: DType, lanes: int = 1) -> Const:
    """A literal of type ``ty``; a fractional value for an integer type is an error, not a
    silent truncation."""
    if not ty.is_float and float(v) != int(v):
        raise IRError(f"literal {v!r} is not representable as {ty.name}")
    return Const(float(v) if ty.is_float else int(v), ty, lanes)


def _wrap(v: Expr | int | float, like: Expr) -> Expr:
    if isinstance(v, Expr):
        return v
    return const(v, like.dtype, like.lanes)


def binary(op: str, a: Expr | int | float, b: Expr | int | float) -> Expr:
    """Build ``a op b``; a Python number takes the other operand's type."""
    if not isinstance(a, Expr) and not isinstance(b, Expr):
        raise IRError(f"binary {op}: at least one operand must be an Expr")
    a = _wrap(a, b) if not isinstance(a, Expr) else a
    b = _wrap(b, a)
    return Binary(op, a, b)


def minimum(a: Expr, b: Expr | int | float) -> Expr:
    return binary("min", a, b)


def maximum(a: Expr, b: Expr | int | float) -> Expr:
    return binary("max", a, b)


def lt(a: Expr, b: Expr | int | float) -> Expr:
    return binary("lt", a, b)


def ge(a: Expr, b: Expr | int | float) -> Expr:
    return binary("ge", a, b)


def land(a: Expr, b: Expr) -> Expr:
    return binary("and", a, b)


def seq(*items: Stmt | list | tuple) -> tuple[Stmt, ...]:
    """Flatten nested statement lists into a tuple (generators build bodies with lists)."""
    out: list[Stmt] = []
    for it in items:
        if isinstance(it, list | tuple):
            out.extend(seq(*it))
        else:
            out.append(it)
    return tuple(out)


# ----------------------------------------------------------------------------- printer
def print_expr(e: Expr) -> str:
    """One-line rendering of an expression (``(a + b)``, ``x[i]:16``...)."""
    match e:
        case Const(v, ty, n):
            s = f"{v}{'' if ty is dt.i64 else ':' + ty.name}"
            return s if n == 1 else f"splat<{n}>({s})"
        case Var(name, _, _):
            return name
        case Load(buf, index, _, n):
            return f"{buf}[{print_expr(index)}]" + (f":{n}" if n > 1 else "")
        case Binary(op, a, b):
            sym = {"add": "+", "sub": "-", "mul": "*", "div": "/", "mod": "%", "lt": "<",
                   "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!=", "and": "&",
                   "or": "|", "xor": "^", "shl": "<<", "shr": ">>"}.get(op)
            if sym:
                return f"({print_expr(a)} {sym} {print_expr(b)})"
            return f"{op}({print_expr(a)}, {print_expr(b)})"
        case Unary(op, a):
            return f"{op}({print_expr(a)})"
        case Cast(a, ty):
            return f"{ty.name}({print_expr(a)})"
        case Bitcast(a, ty, n):
            return f"bitcast<{ty.name}x{n}>({print_expr(a)})"
        case Select(c, a, b):
            return f"select({print_expr(c)}, {print_expr(a)}, {print_expr(b)})"
        case Fma(a, b, c):
            return f"fma({print_expr(a)}, {print_expr(b)}, {print_expr(c)})"
        case Broadcast(a, t):
            return f"bcast<{t}>({print_expr(a)})"
        case Shuffle(a, b, mask):
            return f"shuffle({print_expr(a)}, {print_expr(b)}, {list(mask)})"
        case MulAddPairs(a, b):
            return f"muladd_pairs({print_expr(a)}, {print_expr(b)})"
        case MulAddQuads(acc, a, b):
            return f"muladd_quads({print_expr(acc)}, {print_expr(a)}, {print_expr(b)})"
        case Special(reg):
            return f"%{reg}"
    raise IRError(f"cannot print {e!r}")


def _print_stmts(stmts: tuple[Stmt, ...], ind: int, out: list[str]) -> None:
    pad = "  " * ind
    for s in stmts:
        match s:
            case Loop(var, stop, body, kind, start, step):
                rng = f"{print_expr(idx(start))}, {print_expr(idx(stop))}"
                rng += f", {step}" if step != 1 else ""
                tag = "" if kind == "serial" else f" [{kind}]"
                out.append(f"{pad}for {var} in range({rng}){tag}:")
                _print_stmts(body, ind + 1, out)
            case Store(buf, index, value):
                n = f":{value.lanes}" if value.lanes > 1 else ""
                out.append(f"{pad}{buf}[{print_expr(index)}]{n} = {print_expr(value)}")
            case Let(name, value):
                out.append(f"{pad}let {name} = {print_expr(value)}")
            case Decl(name, value):
                out.append(f"{pad}var {name}: {value.dtype.name}x{value.lanes} = "
                           f"{print_expr(value)}")
            case Assign(name, value):
                out.append(f"{pad}{name} = {print_expr(value)}")
            case If(cond, then, orelse):
                out.append(f"{pad}if {print_expr(cond)}:")
                _print_stmts(then, ind + 1, out)
                if orelse:
                    out.append(f"{pad}else:")
                    _print_stmts(orelse, ind + 1, out)
            case Alloc(name, ty, size, scope):
                out.append(f"{pad}{name} = alloc<{scope}>({ty.name}[{size}])")
            case Barrier():
                out.append(f"{pad}barrier()")
            case _:
                raise IRError(f"cannot print statement {s!r}")


def print_kernel(k: Kernel) -> str:
    """Readable, deterministic text of a kernel (used as a golden in tests)."""
    params = ", ".join(f"{p.name}: {p.ty.name}{'*' if p.is_ptr else ''}" for p in k.params)
    out = [f"kernel {k.name}({params}):"]
    _print_stmts(k.body, 1, out)
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- verifier
@dataclass
class _Scope:
    values: dict[str, tuple[DType, int]] = field(default_factory=dict)
    mutables: set[str] = field(default_factory=set)
    buffers: dict[str, DType] = field(default_factory=dict)

    def child(self) -> _Scope:
        return _Scope(dict(self.values), set(self.mutables), dict(self.buffers))


def _check_expr(e: Expr, sc: _Scope, where: str) -> None:
    def fail(msg: str) -> None:
        raise IRError(f"{where}: {msg} in {print_expr(e)}")

    match e:
        case Const(_, ty, n):
            if n < 1:
                fail("lanes must be >= 1")
        case Var(name, ty, n):
            if name not in sc.values:
                fail(f"undefined name {name!r}")
            if sc.values[name] != (ty, n):
                got = sc.values[name]
                fail(f"{name!r} is {got[0].name}x{got[1]}, used as {ty.name}x{n}")
        case Load(buf, index, ty, _):
            if buf not in sc.buffers:
                fail(f"unknown buffer {buf!r}")
            if sc.buffers[buf] != ty:
                fail(f"buffer {buf!r} holds {sc.buffers[buf].name}, loaded as {ty.name}")
            _check_index(index, sc, where)
        case Binary(op, a, b):
            if op not in ARITH_OPS + CMP_OPS:
                fail(f"unknown binary op {op!r}")
            _check_expr(a, sc, where)
            _check_expr(b, sc, where)
            if (a.dtype, a.lanes) != (b.dtype, b.lanes):
                fail(f"operand types differ ({a.dtype.name}x{a.lanes} vs "
                     f"{b.dtype.name}x{b.lanes})")
            if op in ("shl", "shr", "and", "or", "xor") and a.dtype.is_float:
                fail(f"{op} needs integer operands")
        case Unary(op, a):
            if op not in UNARY_OPS:
                fail(f"unknown unary op {op!r}")
            _check_expr(a, sc, where)
            if op in ("exp", "sqrt", "roundeven", "floor") and not a.dtype.is_float:
                fail(f"{op} needs a float operand")
        case Cast(a, _) | Bitcast(a, _, _):
            _check_expr(a, sc, where)
            if isinstance(e, Bitcast) and a.dtype.bits * a.lanes != e.ty.bits * e.n:
                fail("bitcast changes the total width")
        case Select(c, a, b):
            for x in (c, a, b):
                _check_expr(x, sc, where)
            if c.dtype is not dt.bool_ or (a.dtype, a.lanes) != (b.dtype, b.lanes):
                fail("select needs a bool condition and equal branch types")
        case Fma(a, b, c):
            for x in (a, b, c):
                _check_expr(x, sc, where)
            if not a.dtype.is_float or len({(x.dtype, x.lanes) for x in (a, b, c)}) != 1:
                fail("fma needs three float operands of one type")
        case Broadcast(a, t):
            _check_expr(a, sc, where)
            if t < 1:
                fail("broadcast count must be >= 1")
        case Shuffle(a, b, mask):
            _check_expr(a, sc, where)
            _check_expr(b, sc, where)
            if (a.dtype, a.lanes) != (b.dtype, b.lanes) or not mask \
                    or not all(0 <= i < 2 * a.lanes for i in mask):
                fail("shuffle needs two vectors of one type and lane indices into both")
        case MulAddPairs(a, b):
            _check_expr(a, sc, where)
            _check_expr(b, sc, where)
            if a.dtype not in (dt.i8, dt.i16) or b.dtype not in (dt.i8, dt.i16) \
                    or a.lanes != b.lanes or a.lanes % 2:
                fail("muladd_pairs needs two i8/i16 vectors of the same even length")
        case MulAddQuads(acc, a, b):
            for x in (acc, a, b):
                _check_expr(x, sc, where)
            if acc.dtype is not dt.i32 or a.dtype is not dt.u8 or b.dtype is not dt.i8 \
                    or a.lanes != b.lanes or a.lanes != 4 * acc.lanes:
                fail("muladd_quads needs an n-lane i32 accumulator, 4n-lane u8 and 4n-lane i8")
        case Special(reg):
            if reg not in SPECIAL_REGS:
                fail(f"unknown special register {reg!r}")
        case _:
            raise IRError(f"{where}: unknown expression {e!r}")


def _check_index(index: Expr, sc: _Scope, where: str) -> None:
    _check_expr(index, sc, where)
    if index.dtype is not dt.i64 or index.lanes != 1:
        raise IRError(f"{where}: index {print_expr(index)} must be a scalar i64")


def _check_stmts(stmts: tuple[Stmt, ...], sc: _Scope, top: bool) -> None:
    for i, s in enumerate(stmts):
        where = type(s).__name__
        match s:
            case Loop(var, stop, body, kind, start, step):
                if kind not in LOOP_KINDS:
                    raise IRError(f"loop {var}: unknown kind {kind!r}")
                if kind == "parallel" and not (top and i == len(stmts) - 1):
                    raise IRError(f"loop {var}: a parallel loop must be the last top-level "
                                  "statement")
                if kind == "unroll" and not (isinstance(idx(stop), Const)
                                             and isinstance(idx(start), Const)):
                    raise IRError(f"loop {var}: unroll needs constant bounds")
                if step < 1:
                    raise IRError(f"loop {var}: step must be >= 1")
                _check_index(idx(start), sc, f"loop {var}")
                _check_index(idx(stop), sc, f"loop {var}")
                inner = sc.child()
                inner.values[var] = (dt.i64, 1)
                _check_stmts(body, inner, False)
            case Store(buf, index, value):
                if buf not in sc.buffers:
                    raise IRError(f"store: unknown buffer {buf!r}")
                _check_index(index, sc, f"store {buf}")
                _check_expr(value, sc, f"store {buf}")
                if value.dtype != sc.buffers[buf]:
                    raise IRError(f"store {buf}: value is {value.dtype.name}, buffer holds "
                                  f"{sc.buffers[buf].name}")
            case Let(name, value) | Decl(name, value):
                _check_expr(value, sc, f"{where} {name}")
                if name in sc.values or name in sc.buffers:
                    raise IRError(f"{where} {name}: name already defined")
                sc.values[name] = (value.dtype, value.lanes)
                if isinstance(s, Decl):
                    sc.mutables.add(name)
            case Assign(name, value):
                if name not in sc.mutables:
                    raise IRError(f"assign {name}: not declared with Decl")
                _check_expr(value, sc, f"assign {name}")
                if sc.values[name] != (value.dtype, value.lanes):
                    raise IRError(f"assign {name}: type changes")
            case If(cond, then, orelse):
                _check_expr(cond, sc, "if")
                if cond.dtype is not dt.bool_ or cond.lanes != 1:
                    raise IRError("if: condition must be a scalar bool")
                _check_stmts(then, sc.child(), False)
                _check_stmts(orelse, sc.child(), False)
            case Alloc(name, ty, size, scope):
                if scope not in ("local", "shared") or size < 1:
                    raise IRError(f"alloc {name}: bad scope {scope!r} or size {size}")
                if name in sc.buffers or name in sc.values:
                    raise IRError(f"alloc {name}: name already defined")
                sc.buffers[name] = ty
            case Barrier():
                pass
            case _:
                raise IRError(f"unknown statement {s!r}")


def verify(k: Kernel) -> Kernel:
    """Check names, types and loop rules; returns the kernel so it can sit in a pipeline."""
    sc = _Scope()
    seen: set[str] = set()
    for p in k.params:
        if p.name in seen:
            raise IRError(f"kernel {k.name}: duplicate parameter {p.name!r}")
        seen.add(p.name)
        if p.is_ptr:
            sc.buffers[p.name] = p.ty
        else:
            sc.values[p.name] = (p.ty, 1)
    if not k.name.isidentifier():
        raise IRError(f"kernel name {k.name!r} must be an identifier")
    _check_stmts(k.body, sc, True)
    return k


# ----------------------------------------------------------------------------- analysis
def _expr_loads(e: Expr, out: set[str]) -> None:
    if isinstance(e, Load):
        out.add(e.buf)
    for f in ("index", "a", "b", "c", "cond"):
        child = getattr(e, f, None)
        if isinstance(child, Expr):
            _expr_loads(child, out)


def buffer_access(k: Kernel) -> tuple[frozenset[str], frozenset[str]]:
    """Names of the buffers a kernel reads and writes (used to find weight-only steps)."""
    reads: set[str] = set()
    writes: set[str] = set()

    def walk(stmts: tuple[Stmt, ...]) -> None:
        for s in stmts:
            match s:
                case Loop(_, stop, body, _, start, _):
                    _expr_loads(idx(stop), reads)
                    _expr_loads(idx(start), reads)
                    walk(body)
                case Store(buf, index, value):
                    writes.add(buf)
                    _expr_loads(index, reads)
                    _expr_loads(value, reads)
                case Let(_, v) | Decl(_, v) | Assign(_, v):
                    _expr_loads(v, reads)
                case If(cond, then, orelse):
                    _expr_loads(cond, reads)
                    walk(then)
                    walk(orelse)

    walk(k.body)
    return frozenset(reads), frozenset(writes)
