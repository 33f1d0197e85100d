"""Call compiled CPU kernels on numpy buffers, splitting the parallel loop over threads.

Each generated CPU function takes ``(params..., start, stop)``; ``[start, stop)`` is a slice of
its top-level parallel loop.  ctypes releases the GIL for the duration of a foreign call, so
plain Python threads run the slices truly in parallel.
"""

from __future__ import annotations

import ctypes
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .jit_cpu import c_type
from .kernel_ir import Const, Kernel, idx


@dataclass(frozen=True)
class CpuKernel:
    """A compiled kernel: the IR it came from and a ctypes entry point."""

    kernel: Kernel
    fn: object  # ctypes function pointer
    engine: object  # keeps the machine code alive

    @property
    def parallel_extent(self) -> int:
        loop = self.kernel.parallel_loop
        if loop is None:
            return 1
        stop = idx(loop.stop)
        if not isinstance(stop, Const):
            raise ValueError(f"kernel {self.kernel.name}: parallel loop bound must be constant")
        return int(stop.value)

    def c_args(self, args: list) -> list:
        """ctypes arguments for ``args`` (arrays for pointers, numbers for scalars)."""
        out = []
        for p, a in zip(self.kernel.params, args, strict=True):
            if p.is_ptr:
                if not isinstance(a, np.ndarray):
                    raise TypeError(f"kernel {self.kernel.name}: parameter {p.name!r} needs a "
                                    f"numpy array, got {type(a).__name__}")
                if a.dtype != p.ty.np or not a.flags.c_contiguous:
                    raise TypeError(f"kernel {self.kernel.name}: parameter {p.name!r} needs a "
                                    f"C-contiguous {p.ty.np} array, got {a.dtype}")
                out.append(ctypes.c_void_p(a.ctypes.data))
            else:
                out.append(c_type(p.ty)(a))
        return out


def make_cfunc(kernel: Kernel, addr: int) -> object:
    argtypes = [ctypes.c_void_p if p.is_ptr else c_type(p.ty) for p in kernel.params]
    return ctypes.CFUNCTYPE(None, *argtypes, ctypes.c_int64, ctypes.c_int64)(addr)


class ThreadPoolLauncher:
    """Runs a kernel's parallel loop in ``threads`` contiguous chunks.

    The pool is created on first use and owned by this launcher (one per backend instance)."""

    def __init__(self, threads: int) -> None:
        self.threads = max(1, threads)
        self._pool: ThreadPoolExecutor | None = None

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="cpu-kernel")
        return self._pool

    def run(self, k: CpuKernel, args: list, threads: int | None = None) -> None:
        cargs = k.c_args(args)
        n = k.parallel_extent
        t = min(self.threads if threads is None else max(1, threads), n)
        if t <= 1:
            k.fn(*cargs, 0, n)
            return
        bounds = [n * i // t for i in range(t + 1)]
        futs = [self._executor().submit(k.fn, *cargs, bounds[i], bounds[i + 1])
                for i in range(1, t)]
        k.fn(*cargs, bounds[0], bounds[1])  # the caller's thread takes the first chunk
        for f in futs:
            f.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
