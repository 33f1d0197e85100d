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


class SlidingWindow:
    """What every op that slides a ``kh x kw`` window over an NCHW input with a stride and
    symmetric padding shares (convolutions and pooling): normalizing ``stride``/``pad`` to
    pairs, checking them, and the output size.  A mixin for frozen dataclasses with fields
    ``name, n, c, h, w, kh, kw, stride, pad``; ``window`` names the window in errors."""

    window = "kernel"

    def _check_window(self, **sizes: int) -> None:
        """Call from ``__post_init__``: ``sizes`` are the op's other positive dimensions."""
        object.__setattr__(self, "stride", pair(self.stride, "stride"))
        object.__setattr__(self, "pad", pair(self.pad, "pad"))
        positive(self.name, n=self.n, c=self.c, h=self.h, w=self.w, **sizes, kh=self.kh,
                 kw=self.kw, stride_h=self.stride[0], stride_w=self.stride[1])
        if min(self.pad) < 0:
            raise OpError(f"{self.name}: padding must be >= 0, got {self.pad}")
        self.ho, self.wo  # noqa: B018 - validates the output size

    def _out(self, size: int, k: int, s: int, p: int, what: str) -> int:
        o = (size + 2 * p - k) // s + 1
        if o < 1:
            raise OpError(f"{self.name}: {self.window} {what}={k} is larger than the padded "
                          f"input ({size} + 2*{p})")
        return o

    @property
    def ho(self) -> int:
        return self._out(self.h, self.kh, self.stride[0], self.pad[0], "height")

    @property
    def wo(self) -> int:
        return self._out(self.w, self.kw, self.stride[1], self.pad[1], "width")


__all__ = ["TensorSpec", "SlidingWindow", "pair", "positive"]
