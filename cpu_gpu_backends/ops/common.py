"""Small helpers shared by the operator modules (argument checks, index arithmetic)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from .. import dtypes as dt
from ..dtypes import DType, dtype_of
from ..kernel_ir import Const, Expr, If, Stmt, idx


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def round_up(a: int, b: int) -> int:
    return ceil_div(a, b) * b


def positive(op: str, **values: int) -> None:
    """Raise a ValueError naming the first argument that is not a positive integer."""
    for name, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{op}: {name} must be a positive integer, got {v!r}")


def non_negative(op: str, **values: int) -> None:
    for name, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError(f"{op}: {name} must be a non-negative integer, got {v!r}")


def shape_of(op: str, name: str, shape: Sequence[int], rank: int | None = None) -> tuple:
    try:
        s = tuple(int(x) for x in shape)
    except TypeError as exc:
        raise TypeError(f"{op}: {name} must be a sequence of ints, got {shape!r}") from exc
    if rank is not None and len(s) != rank:
        raise ValueError(f"{op}: {name} must have rank {rank}, got shape {s}")
    if any(x < 1 for x in s):
        raise ValueError(f"{op}: {name} dimensions must be positive, got {s}")
    return s


def pick_dtype(op: str, name: str, value: object, allowed: Sequence[str]) -> DType:
    try:
        d = dtype_of(value)  # type: ignore[arg-type]
    except TypeError as exc:
        raise TypeError(f"{op}: {name}: {exc}") from exc
    if d.name not in allowed:
        raise TypeError(f"{op}: {name} must be one of {list(allowed)}, got {d.name}")
    return d


def pair2(op: str, name: str, v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    t = tuple(v)
    if len(t) != 2 or not all(isinstance(x, int) for x in t):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")
    return (int(t[0]), int(t[1]))


def tag(*parts: object) -> str:
    """A short stable suffix for kernel names derived from the op's parameters."""
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:10]


def when(cond: bool | Expr, then: list[Stmt], orelse: list[Stmt] | None = None) -> list[Stmt]:
    """``If`` that folds away when the condition is known while generating code."""
    if cond is True:
        return list(then)
    if cond is False:
        return list(orelse or [])
    return [If(cond, tuple(then), tuple(orelse or ()))]


def i64(v: int) -> Const:
    return Const(int(v), dt.i64)


__all__ = ["ceil_div", "round_up", "positive", "shape_of", "pick_dtype", "pair2", "tag",
           "when", "i64", "idx"]
