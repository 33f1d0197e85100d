"""Backends: a small base class, frozen options, ordered stages and an explicit registry.

A backend turns an :class:`~.ops.plan.OpPlan` into something runnable by passing its kernels
through a tuple of named stages (the Triton ``add_stages`` shape).  ``dump=True`` keeps every
stage's output so the IR can be inspected after each one.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import jit_cpu
from .kernel_ir import Kernel, buffer_access, print_kernel, verify
from .launcher import CpuKernel, ThreadPoolLauncher, make_cfunc
from .ops.plan import OpPlan, check_array
from .render_llvm import render_module

Stage = tuple[str, Callable[[Any], Any]]


class Backend:
    """Base: ``stages()`` lists ``(name, fn)`` pairs; ``lower`` runs them in order."""

    name = "backend"

    def stages(self) -> tuple[Stage, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def lower(self, kernels: tuple[Kernel, ...], dump: bool = False) -> tuple[Any, dict]:
        """Run every stage; returns the last stage's output and, with ``dump``, each
        stage's output keyed by stage name."""
        value: Any = kernels
        dumps: dict[str, Any] = {}
        for stage_name, fn in self.stages():
            value = fn(value)
            if dump:
                dumps[stage_name] = value
        return value, dumps


# ----------------------------------------------------------------------------- CPU
def _default_threads() -> int:
    return max(1, min(2, os.cpu_count() or 1))


@dataclass(frozen=True)
class CpuOptions:
    """threads: size of the pool the parallel loop is split over (2 on this machine).
    cache_dir: optional on-disk object cache (see :mod:`.jit_cpu`)."""

    threads: int = field(default_factory=_default_threads)
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError(f"CpuOptions.threads must be >= 1, got {self.threads}")


class CpuBackend(Backend):
    """verify -> render LLVM IR -> JIT (O3, host CPU, IR-hash cache) -> bind ctypes."""

    name = "cpu"

    def __init__(self, options: CpuOptions | None = None) -> None:
        self.options = options or CpuOptions()
        self.launcher = ThreadPoolLauncher(self.options.threads)

    def stages(self) -> tuple[Stage, ...]:
        return (
            ("verify", lambda ks: tuple(verify(k) for k in ks)),
            ("llvm", lambda ks: (ks, render_module(ks, jit_cpu.cpu_target()))),
            ("jit", lambda v: (v[0], jit_cpu.compile_ir(v[1], self.options.cache_dir))),
            ("bind", lambda v: {k.name: CpuKernel(k, make_cfunc(
                k, jit_cpu.function_address(v[1], k.name)), v[1]) for k in v[0]}),
        )

    def compile(self, plan: OpPlan) -> CompiledOp:
        kernels, _ = self.lower(plan.kernels)
        return CompiledOp(plan, kernels, self)

    def ir(self, plan: OpPlan) -> str:
        """The LLVM IR text of a plan (for inspection and tests)."""
        return render_module(plan.kernels, jit_cpu.cpu_target())


class CompiledOp:
    """A compiled operator callable on numpy arrays: ``op(*inputs) -> output(s)``.

    Scratch buffers are allocated once per instance; concurrent calls on the *same* instance
    fall back to fresh scratch, so the object stays thread-safe.
    """

    def __init__(self, plan: OpPlan, kernels: dict[str, CpuKernel], backend: CpuBackend,
                 bound: dict[str, np.ndarray] | None = None, skip: frozenset[int] = frozenset()):
        self.plan = plan
        self.kernels = kernels
        self.backend = backend
        self.bound = dict(bound or {})
        self.skip = skip
        self._temps: dict[str, np.ndarray] | None = None
        # per step: (kernel, ctypes args with the bound/scratch pointers filled in, the
        # (position, buffer name) slots filled per call); None: use the generic path
        self._launches: list[tuple[CpuKernel, list, list[tuple[int, str]]]] | None = None
        self._lock = threading.Lock()
        self._in_specs = tuple(b for b in plan.inputs if b.name not in self.bound)
        self._out_specs = plan.outputs

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.plan.inputs if b.name not in self.bound)

    def __repr__(self) -> str:
        return f"<CompiledOp {self.plan.name} inputs={self.input_names}>"

    def _alloc_temps(self) -> dict[str, np.ndarray]:
        return {b.name: np.empty(b.size, b.ty.np) for b in self.plan.buffers
                if b.role == "temp" and b.name not in self.bound}

    def _prepare_launches(self) -> list[tuple[CpuKernel, list, list[tuple[int, str]]]] | None:
        """Convert the pointers that never change between calls (bound inputs, this
        instance's scratch) once: per call only the inputs' and outputs' pointers are
        converted.  On small operators the per-call Python cost was ~30 us, as much as
        the kernels of a 1x1 ResNet convolution."""
        fixed = {**self.bound, **(self._temps or {})}
        launches = []
        for i, st in enumerate(self.plan.steps):
            if i in self.skip:
                continue
            k = self.kernels[st.kernel]
            if not all(p.is_ptr for p in k.kernel.params):
                return None
            cargs: list = [None] * len(st.args)
            slots = []
            for j, name in enumerate(st.args):
                if name in fixed:
                    cargs[j] = k.c_args_one(j, fixed[name].reshape(-1))
                else:
                    slots.append((j, name))
            launches.append((k, cargs, slots))
        return launches

    def _run_prepared(self, env: dict[str, np.ndarray], threads: int | None) -> None:
        launch = self.backend.launcher.launch
        ptrs: dict[str, int] = {}
        for k, cargs, slots in self._launches or ():
            args = list(cargs)
            for j, name in slots:
                p = ptrs.get(name)
                if p is None:
                    p = ptrs[name] = k.c_args_one(j, env[name])  # C-contiguous: checked
                args[j] = p
            launch(k, args, threads)

    def _run(self, env: dict[str, np.ndarray], threads: int | None,
             skip: frozenset[int]) -> None:
        for i, st in enumerate(self.plan.steps):
            if i in skip:
                continue
            k = self.kernels[st.kernel]
            self.backend.launcher.run(k, [env[a].reshape(-1) for a in st.args], threads)

    def __call__(self, *args: np.ndarray, threads: int | None = None,
                 out: np.ndarray | None = None) -> np.ndarray | tuple[np.ndarray, ...]:
        specs = self._in_specs
        if len(args) != len(specs):
            raise TypeError(f"{self.plan.name}: expected {len(specs)} inputs "
                            f"{self.input_names}, got {len(args)}")
        env: dict[str, np.ndarray] = dict(self.bound)
        for spec, a in zip(specs, args, strict=True):
            env[spec.name] = check_array(spec, a, self.plan.name)
        outs = []
        for b in self._out_specs:
            if out is not None and len(self._out_specs) == 1:
                o = check_array(b, out, self.plan.name + " (out=)")
                if o is not out:
                    raise ValueError(f"{self.plan.name}: out= must be C-contiguous")
            else:
                o = np.empty(b.shape, b.ty.np)
            env[b.name] = o
            outs.append(o)
        locked = self._lock.acquire(blocking=False)
        try:
            if locked:
                if self._temps is None:
                    self._temps = self._alloc_temps()
                    self._launches = self._prepare_launches()
                if self._launches is not None:
                    self._run_prepared(env, threads)
                    return outs[0] if len(outs) == 1 else tuple(outs)
                env.update(self._temps)
            else:
                env.update(self._alloc_temps())
            self._run(env, threads, self.skip)
        finally:
            if locked:
                self._lock.release()
        return outs[0] if len(outs) == 1 else tuple(outs)

    def prepare(self, **arrays: np.ndarray) -> PreparedCall:
        """This op's call on fixed arrays (every unbound input and the output, by name),
        with every kernel argument converted once: a whole model's host steps then run as
        a list of such calls on buffers allocated at load, with no per-call checks,
        allocation or pointer conversion.  The call owns its scratch buffers (two
        prepared calls of one op may run concurrently)."""
        want = (*self.input_names, *(b.name for b in self._out_specs))
        if sorted(arrays) != sorted(want):
            raise TypeError(f"{self.plan.name}: prepare needs arrays {list(want)}, got "
                            f"{sorted(arrays)}")
        env = dict(self.bound)
        for name, a in arrays.items():
            spec = self.plan.buffer(name)
            if check_array(spec, a, self.plan.name) is not a:  # a copy would not be used
                raise ValueError(f"{self.plan.name}: array {name!r} must be C-contiguous "
                                 "(the kernels read and write it in place)")
            env[name] = a
        env.update(self._alloc_temps())
        launches = []
        for i, st in enumerate(self.plan.steps):
            if i in self.skip:
                continue
            k = self.kernels[st.kernel]
            launches.append((k, [k.c_args_one(j, env[a].reshape(-1))
                                 for j, a in enumerate(st.args)]))
        return PreparedCall(self.plan.name, tuple(launches), self.backend.launcher, env)

    def bind(self, **consts: np.ndarray) -> CompiledOp:
        """Fix some inputs (typically weights) and run, once, every step that depends only
        on them (weight packing).  Returns a new op taking the remaining inputs."""
        known = dict(self.bound)
        for name, a in consts.items():
            spec = self.plan.buffer(name)
            if spec.role != "input":
                raise ValueError(f"{self.plan.name}: {name!r} is not an input")
            known[name] = check_array(spec, a, self.plan.name).copy()
        produced: set[str] = set(known)
        skip = set(self.skip)
        env = dict(known)
        temps = {b.name: b for b in self.plan.buffers if b.role == "temp"}
        for i, st in enumerate(self.plan.steps):
            k = self.kernels[st.kernel].kernel
            reads, writes = buffer_access(k)
            ins = [a for a, p in zip(st.args, k.params, strict=True)
                   if p.is_ptr and p.name in reads]
            outs = [a for a, p in zip(st.args, k.params, strict=True)
                    if p.is_ptr and p.name in writes]
            if i in skip or not ins or not all(a in produced for a in ins):
                continue
            if not all(o in temps for o in outs):
                continue
            for o in outs:
                env.setdefault(o, np.empty(temps[o].size, temps[o].ty.np))
            self.backend.launcher.run(self.kernels[st.kernel],
                                      [env[a].reshape(-1) for a in st.args])
            produced.update(outs)
            skip.add(i)
        bound = {n: v for n, v in env.items() if n in produced}
        return CompiledOp(self.plan, self.kernels, self.backend, bound, frozenset(skip))

    def kernel_text(self) -> str:
        return "\n".join(print_kernel(k) for k in self.plan.kernels)


class PreparedCall:
    """A :class:`CompiledOp` call on fixed arrays (:meth:`CompiledOp.prepare`): its kernel
    launches with every argument converted.  ``call()`` runs them on the launcher's
    threads (``threads``: at most that many, as in :meth:`ThreadPoolLauncher.launch`).
    The arrays (``arrays``: inputs, output, bound constants and scratch by name) are kept
    alive by this object, so the pointers stay valid as long as it lives."""

    def __init__(self, name: str, launches: tuple[tuple[CpuKernel, list], ...],
                 launcher: ThreadPoolLauncher, arrays: dict[str, np.ndarray]) -> None:
        self.name = name
        self.launches = launches
        self.launcher = launcher
        self.arrays = arrays
        # one thread: each kernel called straight over its whole parallel range
        self._serial = tuple((k.fn, (*cargs, 0, k.parallel_extent)) for k, cargs in launches)

    def __call__(self, threads: int | None = None) -> None:
        if self.launcher.threads == 1 or threads == 1:
            for fn, args in self._serial:
                fn(*args)
            return
        launch = self.launcher.launch
        for k, cargs in self.launches:
            launch(k, cargs, threads)

    def __repr__(self) -> str:
        return f"<PreparedCall {self.name}: {len(self.launches)} kernel launch(es)>"


# ----------------------------------------------------------------------------- registry
def _nvptx_backend(**options: Any) -> Backend:
    from .ptx import NvptxBackend, NvptxOptions
    return NvptxBackend(NvptxOptions(**options))


def _cpu_backend(**options: Any) -> Backend:
    return CpuBackend(CpuOptions(**options))


BACKENDS: dict[str, Callable[..., Backend]] = {
    "cpu": _cpu_backend,
    "nvptx": _nvptx_backend,
}


def get_backend(name: str, **options: Any) -> Backend:
    """Instantiate a registered backend by name (``cpu`` or ``nvptx``)."""
    if name not in BACKENDS:
        raise KeyError(f"unknown backend {name!r}; registered: {sorted(BACKENDS)}")
    return BACKENDS[name](**options)
