"""GEMM operators: conv2d, depthwise conv2d and dense (the computation, not the schedule).

Each is a frozen dataclass of shapes and parameters; tensors are passed separately (by
name, see ``inputs()``).  Quantized semantics: int8 inputs and weights, int32 accumulation
(wrapping), then the fused :class:`~opset.requant.Epilogue` down to int8.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from opset.base import SlidingWindow, TensorSpec, positive
from opset.errors import OpError
from opset.requant import Epilogue
from vta_hw.config import INP_WIDTH, int_range

_I8 = int_range(INP_WIDTH)  # a pad value is one input lane


def _epilogue_inputs(ep: Epilogue, channels: int, out_shape: tuple[int, ...]) -> list:
    specs = []
    if ep.bias:
        specs.append(TensorSpec("bias", (channels,), "int32"))
    if ep.per_channel:
        specs += [TensorSpec("multiplier", (channels,), "int32"),
                  TensorSpec("shift", (channels,), "int32")]
    if ep.residual:
        specs.append(TensorSpec("residual", out_shape, "int8"))
    return specs


@dataclass(frozen=True)
class Conv2d(SlidingWindow):
    """y[n,o,i,j] = epilogue(sum_{c,u,v} x[n, c, i*sh + u - ph, j*sw + v - pw] * w[o,c,u,v]).

    Out-of-image input pixels read ``pad_value`` (the input zero point; 0 for symmetric
    quantization).  Dilation is 1.
    """

    n: int
    c: int
    h: int
    w: int
    o: int
    kh: int
    kw: int
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int] = (0, 0)
    epilogue: Epilogue = field(default_factory=Epilogue)
    pad_value: int = 0
    name: str = "conv2d"

    kind = "conv2d"

    def __post_init__(self) -> None:
        self._check_window(o=self.o)
        if not _I8[0] <= self.pad_value <= _I8[1]:
            raise OpError(f"{self.name}: pad_value={self.pad_value} is not an int8")

    @property
    def out_channels(self) -> int:
        return self.o

    @property
    def macs(self) -> int:
        return self.n * self.o * self.ho * self.wo * self.c * self.kh * self.kw

    def inputs(self) -> tuple[TensorSpec, ...]:
        out = (self.n, self.o, self.ho, self.wo)
        return (TensorSpec("x", (self.n, self.c, self.h, self.w), "int8"),
                TensorSpec("w", (self.o, self.c, self.kh, self.kw), "int8"),
                *_epilogue_inputs(self.epilogue, self.o, out))

    def output(self) -> TensorSpec:
        return TensorSpec("y", (self.n, self.o, self.ho, self.wo), "int8")


@dataclass(frozen=True)
class DepthwiseConv2d(SlidingWindow):
    """y[n, c, i, j] = epilogue(sum_{u, v} x[n, c, i*sh + u - ph, j*sw + v - pw] * w[c, 0, u, v]).

    Weights have shape ``(C, 1, KH, KW)``.  On the GEMM core each weight element is a
    block-diagonal matrix, so this runs at 1/block_in of peak (the VTA approach).
    """

    n: int
    c: int
    h: int
    w: int
    kh: int
    kw: int
    stride: tuple[int, int] = (1, 1)
    pad: tuple[int, int] = (0, 0)
    epilogue: Epilogue = field(default_factory=Epilogue)
    pad_value: int = 0
    name: str = "depthwise_conv2d"

    kind = "depthwise_conv2d"

    def __post_init__(self) -> None:
        self._check_window()
        if not _I8[0] <= self.pad_value <= _I8[1]:
            raise OpError(f"{self.name}: pad_value={self.pad_value} is not an int8")

    @property
    def o(self) -> int:
        return self.c

    @property
    def out_channels(self) -> int:
        return self.c

    @property
    def macs(self) -> int:
        return self.n * self.c * self.ho * self.wo * self.kh * self.kw

    def inputs(self) -> tuple[TensorSpec, ...]:
        out = (self.n, self.c, self.ho, self.wo)
        return (TensorSpec("x", (self.n, self.c, self.h, self.w), "int8"),
                TensorSpec("w", (self.c, 1, self.kh, self.kw), "int8"),
                *_epilogue_inputs(self.epilogue, self.c, out))

    def output(self) -> TensorSpec:
        return TensorSpec("y", (self.n, self.c, self.ho, self.wo), "int8")


@dataclass(frozen=True)
class Dense:
    """y[n, o] = epilogue(sum_i x[n, i] * w[o, i]).

    Lowered as a 1x1 convolution whose "pixels" are the rows of ``x`` (grouped ``batch`` at
    a time into the lanes of an input element), so weights are reused across rows.
    """

    n: int
    i: int
    o: int
    epilogue: Epilogue = field(default_factory=Epilogue)
    name: str = "dense"

    kind = "dense"

    def __post_init__(self) -> None:
        positive(self.name, n=self.n, i=self.i, o=self.o)

    @property
    def out_channels(self) -> int:
        return self.o

    @property
    def macs(self) -> int:
        return self.n * self.i * self.o

    def inputs(self) -> tuple[TensorSpec, ...]:
        return (TensorSpec("x", (self.n, self.i), "int8"),
                TensorSpec("w", (self.o, self.i), "int8"),
                *_epilogue_inputs(self.epilogue, self.o, (self.n, self.o)))

    def output(self) -> TensorSpec:
        return TensorSpec("y", (self.n, self.o), "int8")


__all__ = ["Conv2d", "DepthwiseConv2d", "Dense"]
