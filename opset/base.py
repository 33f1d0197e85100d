"""What every operator definition provides: named inputs/outputs with logical shapes."""

from __future__ import annotations

from dataclasses import dataclass

from opset.errors import OpError


@dataclass(frozen=True)
class TensorSpec:
    """A logical operand: name, shape (NCHW for activations, OIHW for weights) and dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # "int8" or "int32"


def pair(v: int | tuple[int, int], what: str) -> tuple[int, int]:
    """Normalize ``3`` or ``(3, 3)`` to a pair of ints."""
    if isinstance(v, int):
        return (v, v)
    t = tuple(int(x) for x in v)
    if len(t) != 2:
        raise OpError(f"{what} must be an int or a pair, got {v!r}")
    return t  # type: ignore[return-value]


def positive(op: str, **values: int) -> None:
    for k, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise OpError(f"{op}: {k} must be a positive integer, got {v!r}")


__all__ = ["TensorSpec", "pair", "positive"]
