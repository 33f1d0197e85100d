"""The register-blocked micro-kernel shared by dense/matmul and conv2d.

A tile of ``rows x (nv * vl)`` outputs lives in ``rows * nv`` vector accumulators for the whole
reduction.  Each reduction step loads ``nv`` vectors from the packed "B" side and broadcasts
one scalar per row from the "A" side, then issues ``rows * nv`` fused multiply-adds (fp32) or
widening pairwise multiply-adds (int8 -> int32, two reduction steps at once, the ``vpmaddwd``
shape), or with AVX-512 VNNI unsigned-by-signed byte quads (four reduction steps at once,
``vpdpbusd``: the "A" side is stored as ``a + 128`` in u8 and the packing step folds
``-128 * sum(B)`` into the accumulators' initial values, so the result is the signed product).
Keeping the accumulators as explicit vector variables is what lets LLVM keep them in registers;
the auto-vectorizer alone does not find this blocking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .. import dtypes as dt
from ..jit_cpu import host_info
from ..kernel_ir import (
    Assign,
    Broadcast,
    Const,
    Decl,
    Expr,
    Fma,
    Let,
    Load,
    Loop,
    MulAddPairs,
    MulAddQuads,
    Stmt,
    Var,
)


@dataclass(frozen=True)
class TileShape:
    """rows: broadcast side (MR).  nv: vectors per row.  vl: 32-bit lanes per vector.
    int8: accumulate int8 pairs (operands stored as i16 pairs) into i32 instead of fp32.
    quads (int8 only): accumulate byte quads instead (A stored as u8 ``a + 128``, B as i8)."""

    rows: int
    nv: int
    vl: int
    int8: bool = False
    quads: bool = False

    def __post_init__(self) -> None:
        if self.quads and not self.int8:
            raise ValueError("TileShape: quads needs int8")

    @property
    def group(self) -> int:
        """Reduction steps per multiply-add instruction (the packed K grouping)."""
        return 4 if self.quads else 2 if self.int8 else 1

    @property
    def a_type(self) -> dt.DType:
        """Element type of the packed broadcast ("A") side."""
        return dt.u8 if self.quads else dt.i16 if self.int8 else dt.f32

    @property
    def b_type(self) -> dt.DType:
        """Element type of the packed vector ("B") side."""
        return dt.i8 if self.quads else dt.i16 if self.int8 else dt.f32

    @property
    def cols(self) -> int:
        return self.nv * self.vl

    @property
    def acc_type(self) -> dt.DType:
        return dt.i32 if self.int8 else dt.f32


def has_vnni() -> bool:
    """AVX-512 VNNI (``vpdpbusd``) on the host: the int8 kernels then use byte quads."""
    info = host_info()
    return info.vector_bits >= 512 and "avx512vnni" in info.feature_set


def default_tile(int8: bool, rows: int | None = None) -> TileShape:
    """Register budget of the host: 32 vector registers with AVX-512, 16 otherwise."""
    vl = host_info().vector_bits // 32
    if vl >= 16:
        # 14x32 (28 accumulators) measured best for fp32 and for the VNNI quads (3-5% faster
        # than 12x32 on int8 GEMM 512/1024, Zen 4); the vpmaddwd pairs kernel 12x32
        quads = int8 and has_vnni()
        return TileShape(rows or (12 if int8 and not quads else 14), 2, vl, int8, quads)
    return TileShape(rows or 6, 2, vl, int8)


def acc_name(prefix: str, r: int, v: int) -> str:
    return f"{prefix}{r}_{v}"


def micro_tile(
    t: TileShape,
    prefix: str,
    k_loops: list[tuple[str, int | Expr, str] | tuple[str, int | Expr, str, int | Expr]],
    a_buf: str,
    a_index: Callable[[int], Expr],
    b_buf: str,
    b_index: Callable[[int], Expr],
    init: Callable[[int, int], Expr],
) -> list[Stmt]:
    """Statements that leave the finished tile in variables ``{prefix}{r}_{v}``.

    k_loops: the reduction loop nest, outermost first, as ``(var, stop, kind)`` or
    ``(var, stop, kind, start)``.
    a_index(r): element index of row ``r``'s scalar (fp32), i16 pair (int8) or u8 quad
    (quads) in ``a_buf``.
    b_index(v): element index of vector ``v`` (``vl`` f32, ``2 vl`` i16 or ``4 vl`` i8) in
    ``b_buf``.
    init(r, v): initial accumulator value (zeros, or the bias).
    """
    acc_ty = t.acc_type
    body: list[Stmt] = []
    g = t.group
    for v in range(t.nv):
        body.append(Let(f"{prefix}b{v}", Load(b_buf, b_index(v), t.b_type, g * t.vl)))
    for r in range(t.rows):
        body.append(Let(f"{prefix}a{r}", Broadcast(Load(a_buf, a_index(r), t.a_type, g), t.vl)))
        for v in range(t.nv):
            name = acc_name(prefix, r, v)
            acc = Var(name, acc_ty, t.vl)
            if t.quads:
                new: Expr = MulAddQuads(acc, Var(f"{prefix}a{r}", dt.u8, 4 * t.vl),
                                        Var(f"{prefix}b{v}", dt.i8, 4 * t.vl))
            elif t.int8:
                b = Var(f"{prefix}b{v}", dt.i16, 2 * t.vl)
                new = acc + MulAddPairs(Var(f"{prefix}a{r}", dt.i16, 2 * t.vl), b)
            else:
                b = Var(f"{prefix}b{v}", dt.f32, t.vl)
                new = Fma(Var(f"{prefix}a{r}", dt.f32, t.vl), b, acc)
            body.append(Assign(name, new))
    nest: tuple[Stmt, ...] = tuple(body)
    for var, stop, kind, *start in reversed(k_loops):
        nest = (Loop(var, stop, nest, kind, start[0] if start else 0),)
    decls: list[Stmt] = [Decl(acc_name(prefix, r, v), init(r, v))
                         for r in range(t.rows) for v in range(t.nv)]
    return [*decls, *nest]


def zeros(t: TileShape) -> Callable[[int, int], Expr]:
    return lambda r, v: Const(0, t.acc_type, t.vl)
