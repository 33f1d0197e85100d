"""An operator as data: kernels, named buffers and the ordered steps that run them.

Why a plan rather than a Python function per operator: the same plan runs on the CPU (through
the JIT and the thread pool) and on a GPU (through PTX and a device), the graph-level compiler
can inspect it (buffer sizes, which steps depend only on weights), and constant inputs such as
weights can be bound once, running their packing steps ahead of time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..dtypes import DType
from ..kernel_ir import Kernel

ROLES = ("input", "output", "temp")


@dataclass(frozen=True)
class BufferSpec:
    """A named array of a plan.

    name: identifier used by steps (and as the keyword for :meth:`CompiledOp.bind`).
    ty: element type.
    shape: logical shape (inputs/outputs are checked against it).
    role: ``input`` (the caller passes it), ``output`` (returned) or ``temp`` (scratch).
    """

    name: str
    ty: DType
    shape: tuple[int, ...]
    role: str = "temp"

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Step:
    """Run ``kernel`` with ``args`` (buffer names, in the kernel's parameter order) and, for
    scalar parameters, ``scalars``.  ``grid``/``block`` are the GPU launch geometry."""

    kernel: str
    args: tuple[str, ...]
    grid: tuple[int, int, int] = (1, 1, 1)
    block: tuple[int, int, int] = (1, 1, 1)


@dataclass(frozen=True)
class OpPlan:
    """An operator ready to compile: its kernels, buffers and steps, in run order."""

    name: str
    kernels: tuple[Kernel, ...]
    buffers: tuple[BufferSpec, ...]
    steps: tuple[Step, ...]
    attrs: dict = field(default_factory=dict, compare=False, hash=False)

    def buffer(self, name: str) -> BufferSpec:
        for b in self.buffers:
            if b.name == name:
                return b
        raise KeyError(f"plan {self.name} has no buffer {name!r}")

    @property
    def inputs(self) -> tuple[BufferSpec, ...]:
        return tuple(b for b in self.buffers if b.role == "input")

    @property
    def outputs(self) -> tuple[BufferSpec, ...]:
        return tuple(b for b in self.buffers if b.role == "output")

    def kernel(self, name: str) -> Kernel:
        for k in self.kernels:
            if k.name == name:
                return k
        raise KeyError(f"plan {self.name} has no kernel {name!r}")


def check_array(spec: BufferSpec, arr: object, op: str) -> np.ndarray:
    """Validate one input array against its spec, with an error naming the argument."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{op}: argument {spec.name!r} must be a numpy array, got "
                        f"{type(arr).__name__}")
    if arr.dtype != spec.ty.np:
        raise TypeError(f"{op}: argument {spec.name!r} must have dtype {spec.ty.np}, got "
                        f"{arr.dtype}")
    if tuple(arr.shape) != spec.shape:
        raise ValueError(f"{op}: argument {spec.name!r} must have shape {spec.shape}, got "
                         f"{tuple(arr.shape)}")
    return np.ascontiguousarray(arr)
