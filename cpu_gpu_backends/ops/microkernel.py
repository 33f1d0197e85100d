"""The register-blocked micro-kernel shared by dense/matmul and conv2d.

A tile of ``rows x (nv * vl)`` outputs lives in ``rows * nv`` vector accumulators for the whole
reduction.  Each reduction step loads ``nv`` vectors from the packed "B" side and broadcasts
one scalar per row from the "A" side, then issues ``rows * nv`` fused multiply-adds (fp32) or
widening pairwise multiply-adds (int8 -> int32, two reduction steps at once, the ``vpmaddwd``
shape).  Keeping the accumulators as explicit vector variables is what lets LLVM keep them in
registers; the auto-vectorizer alone does not find this blocking.
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
    Stmt,
    Var,
)


@dataclass(frozen=True)
class TileShape:
    """rows: broadcast side (MR).  nv: vectors per row.  vl: 32-bit lanes per vector.
    int8: accumulate int8 pairs (operands stored as i16 pairs) into i32 instead of fp32."""

    rows: int
    nv: int
    vl: int
    int8: bool = False

    @property
    def cols(self) -> int:
        return self.nv * self.vl

    @property
    def acc_type(self) -> dt.DType:
        return dt.i32 if self.int8 else dt.f32


def default_tile(int8: bool, rows: int | None = None) -> TileShape:
    """Register budget of the host: 32 vector registers with AVX-512, 16 otherwise."""
    vl = host_info().vector_bits // 32
    if vl >= 16:  # 14x32 fp32 (28 accumulators) measured best; int8 12x32
        return TileShape(rows or (12 if int8 else 14), 2, vl, int8)
    return TileShape(rows or 6, 2, vl, int8)


def acc_name(prefix: str, r: int, v: int) -> str:
    return f"{prefix}{r}_{v}"


def micro_tile(
    t: TileShape,
    prefix: str,
    k_loops: list[tuple[str, int | Expr, str]],
    a_buf: str,
    a_index: Callable[[int], Expr],
    b_buf: str,
    b_index: Callable[[int], Expr],
    init: Callable[[int, int], Expr],
) -> list[Stmt]:
    """Statements that leave the finished tile in variables ``{prefix}{r}_{v}``.

    k_loops: the reduction loop nest, outermost first, as ``(var, extent, kind)``.
    a_index(r): element index of row ``r``'s scalar (fp32) or i16 pair (int8) in ``a_buf``.
    b_index(v): element index of vector ``v`` (``vl`` f32, or ``2 vl`` i16) in ``b_buf``.
    init(r, v): initial accumulator value (zeros, or the bias).
    """
    acc_ty = t.acc_type
    body: list[Stmt] = []
    for v in range(t.nv):
        if t.int8:
            body.append(Let(f"{prefix}b{v}", Load(b_buf, b_index(v), dt.i16, 2 * t.vl)))
        else:
            body.append(Let(f"{prefix}b{v}", Load(b_buf, b_index(v), dt.f32, t.vl)))
    for r in range(t.rows):
        if t.int8:
            a = Broadcast(Load(a_buf, a_index(r), dt.i16, 2), t.vl)
        else:
            a = Broadcast(Load(a_buf, a_index(r), dt.f32), t.vl)
        body.append(Let(f"{prefix}a{r}", a))
        for v in range(t.nv):
            name = acc_name(prefix, r, v)
            acc = Var(name, acc_ty, t.vl)
            if t.int8:
                b = Var(f"{prefix}b{v}", dt.i16, 2 * t.vl)
                new: Expr = acc + MulAddPairs(Var(f"{prefix}a{r}", dt.i16, 2 * t.vl), b)
            else:
                b = Var(f"{prefix}b{v}", dt.f32, t.vl)
                new = Fma(Var(f"{prefix}a{r}", dt.f32, t.vl), b, acc)
            body.append(Assign(name, new))
    nest: tuple[Stmt, ...] = tuple(body)
    for var, extent, kind in reversed(k_loops):
        nest = (Loop(var, extent, nest, kind),)
    decls: list[Stmt] = [Decl(acc_name(prefix, r, v), init(r, v))
                         for r in range(t.rows) for v in range(t.nv)]
    return [*decls, *nest]


def zeros(t: TileShape) -> Callable[[int, int], Expr]:
    return lambda r, v: Const(0, t.acc_type, t.vl)
