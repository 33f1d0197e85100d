"""The one dtype table every renderer and operator reads.

Each entry ties a short name to its LLVM type, numpy dtype, width and signedness, so the CPU
and NVPTX renderers, the JIT's ctypes signatures and the operator library never spell a type
twice (the tinygrad ``renderer/llvmir.py`` idea).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DType:
    """A scalar element type.

    name: short name used in the kernel IR printer (``f32``, ``i8``...).
    llvm: the LLVM IR type spelling.
    np_name: numpy dtype name, for buffers passed in and out.
    bits: width in bits.
    is_float: floating point (``fadd``/``fcmp``) rather than integer arithmetic.
    signed: integer signedness (``sext``/``ashr``/``icmp slt``); floats are signed.
    """

    name: str
    llvm: str
    np_name: str
    bits: int
    is_float: bool
    signed: bool = True

    @property
    def np(self) -> np.dtype:
        return np.dtype(self.np_name)

    @property
    def itemsize(self) -> int:
        return max(self.bits // 8, 1)

    @property
    def is_int(self) -> bool:
        return not self.is_float and self.bits > 1

    def llvm_type(self, lanes: int = 1) -> str:
        """LLVM spelling of this type, as a vector when ``lanes > 1``."""
        return self.llvm if lanes == 1 else f"<{lanes} x {self.llvm}>"

    def min(self) -> int | float:
        if self.is_float:
            return float(np.finfo(self.np).min)
        return int(np.iinfo(self.np).min)

    def max(self) -> int | float:
        if self.is_float:
            return float(np.finfo(self.np).max)
        return int(np.iinfo(self.np).max)

    def __repr__(self) -> str:
        return self.name


bool_ = DType("bool", "i1", "bool", 1, False, False)
i8 = DType("i8", "i8", "int8", 8, False)
u8 = DType("u8", "i8", "uint8", 8, False, False)
i16 = DType("i16", "i16", "int16", 16, False)
i32 = DType("i32", "i32", "int32", 32, False)
i64 = DType("i64", "i64", "int64", 64, False)
f32 = DType("f32", "float", "float32", 32, True)
f64 = DType("f64", "double", "float64", 64, True)

DTYPES: dict[str, DType] = {d.name: d for d in (bool_, i8, u8, i16, i32, i64, f32, f64)}
_BY_NUMPY: dict[str, DType] = {d.np_name: d for d in DTYPES.values()}


def dtype_of(x: DType | str | np.dtype | type) -> DType:
    """Resolve a DType, a table name (``"f32"``) or anything numpy accepts (``np.int8``)."""
    if isinstance(x, DType):
        return x
    if isinstance(x, str) and x in DTYPES:
        return DTYPES[x]
    try:
        name = np.dtype(x).name
    except TypeError as exc:
        raise TypeError(f"unknown dtype {x!r}; expected one of {sorted(DTYPES)}") from exc
    if name not in _BY_NUMPY:
        raise TypeError(f"dtype {name} is not supported; expected one of {sorted(_BY_NUMPY)}")
    return _BY_NUMPY[name]
