"""Call compiled CPU kernels on numpy buffers, splitting the parallel loop over threads.

Each generated CPU function takes ``(params..., start, stop)``; ``[start, stop)`` is a slice of
its top-level parallel loop.  ctypes releases the GIL for the duration of a foreign call, so
plain Python threads run the slices truly in parallel.
"""

from __future__ import annotations

import ctypes
import queue
import threading
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .jit_cpu import c_type
from .kernel_ir import Const, Kernel, idx


@dataclass(frozen=True)
class CpuKernel:
    """A compiled kernel: the IR it came from and a ctypes entry point."""

    kernel: Kernel
    fn: object  # ctypes function pointer
    engine: object  # keeps the machine code alive

    @cached_property
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
        if len(args) != len(self.kernel.params):
            raise TypeError(f"kernel {self.kernel.name}: {len(self.kernel.params)} arguments "
                            f"expected, got {len(args)}")
        return [self.c_args_one(i, a) for i, a in enumerate(args)]

    def c_args_one(self, i: int, a: object) -> object:
        """The ctypes argument for parameter ``i`` (an array for a pointer, else a number)."""
        p = self.kernel.params[i]
        if not p.is_ptr:
            return c_type(p.ty)(a)
        if not isinstance(a, np.ndarray):
            raise TypeError(f"kernel {self.kernel.name}: parameter {p.name!r} needs a "
                            f"numpy array, got {type(a).__name__}")
        if a.dtype != p.ty.np or not a.flags.c_contiguous:
            raise TypeError(f"kernel {self.kernel.name}: parameter {p.name!r} needs a "
                            f"C-contiguous {p.ty.np} array, got {a.dtype}")
        return ctypes.c_void_p(a.ctypes.data)


def make_cfunc(kernel: Kernel, addr: int) -> object:
    argtypes = [ctypes.c_void_p if p.is_ptr else c_type(p.ty) for p in kernel.params]
    return ctypes.CFUNCTYPE(None, *argtypes, ctypes.c_int64, ctypes.c_int64)(addr)


class ThreadPoolLauncher:
    """Runs a kernel's parallel loop in ``threads`` contiguous chunks.

    The caller's thread runs the first chunk; ``threads - 1`` persistent daemon workers
    (created on first use, owned by this launcher, one per backend instance) run the others.
    Work is handed over through ``queue.SimpleQueue`` (a C-level queue): a launch costs a few
    microseconds of Python, where ``ThreadPoolExecutor`` futures cost tens."""

    def __init__(self, threads: int) -> None:
        self.threads = max(1, threads)
        self._workers: list[tuple[queue.SimpleQueue, queue.SimpleQueue]] | None = None
        self._lock = threading.Lock()

    def _start(self) -> list[tuple[queue.SimpleQueue, queue.SimpleQueue]]:
        if self._workers is None:
            workers = []
            for i in range(self.threads - 1):
                todo: queue.SimpleQueue = queue.SimpleQueue()
                done: queue.SimpleQueue = queue.SimpleQueue()
                threading.Thread(target=_worker, args=(todo, done), daemon=True,
                                 name=f"cpu-kernel-{i + 1}").start()
                workers.append((todo, done))
            self._workers = workers
        return self._workers

    def run(self, k: CpuKernel, args: list, threads: int | None = None) -> None:
        self.launch(k, k.c_args(args), threads)

    def launch(self, k: CpuKernel, cargs: list, threads: int | None = None) -> None:
        """Run ``k`` on arguments already converted by :meth:`CpuKernel.c_args` (callers
        that reuse buffers convert them once: a pointer conversion costs ~1.5 us)."""
        n = k.parallel_extent
        t = min(self.threads if threads is None else max(1, min(threads, self.threads)), n)
        if t <= 1:
            k.fn(*cargs, 0, n)
            return
        bounds = [n * i // t for i in range(t + 1)]
        with self._lock:  # one launch at a time uses the workers
            workers = self._start()[: t - 1]
            for i, (todo, _) in enumerate(workers, start=1):
                todo.put((k.fn, cargs, bounds[i], bounds[i + 1]))
            err = None
            try:
                k.fn(*cargs, bounds[0], bounds[1])
            finally:
                for _, done in workers:
                    e = done.get()
                    err = err or e
            if err is not None:
                raise err

    def close(self) -> None:
        with self._lock:
            for todo, _ in self._workers or []:
                todo.put(None)
            self._workers = None


def _worker(todo: queue.SimpleQueue, done: queue.SimpleQueue) -> None:
    while True:
        item = todo.get()
        if item is None:
            return
        fn, cargs, lo, hi = item
        try:
            fn(*cargs, lo, hi)
            done.put(None)
        except BaseException as exc:  # noqa: BLE001 - handed back to the launching thread
            done.put(exc)
