"""The host CPU as a :class:`~runtime.device.Device`, running generated LLVM kernels.

Memory is host memory owned by the device (byte arrays behind integer handles), so the graph
executor treats the CPU exactly like the accelerator: copy in, launch on buffers, copy out.
``load`` takes a compiled operator (:class:`cpu_gpu_backends.CompiledOp`) or a plan (compiled
here); ``launch(handle, *buffers)`` passes its unbound inputs, then its output, as buffers.
Launches run synchronously (the thread pool splits each kernel), so ``synchronize`` is a no-op.
"""

from __future__ import annotations

import time
from typing import Any

from cpu_gpu_backends.backend import CompiledOp, CpuBackend, CpuOptions
from cpu_gpu_backends.ops.plan import OpPlan

from .device import DeviceError, LaunchResult
from .host_memory import HostMemoryDevice


class CpuDevice(HostMemoryDevice):
    """Host CPU device; ``threads`` is the kernel thread-pool size."""

    name = "cpu"

    def __init__(self, threads: int | None = None) -> None:
        opts = CpuOptions() if threads is None else CpuOptions(threads=threads)
        super().__init__()
        self.backend = CpuBackend(opts)

    def load(self, program: Any) -> CompiledOp:
        if isinstance(program, CompiledOp):
            return program
        if isinstance(program, OpPlan):
            return self.backend.compile(program)
        raise DeviceError(f"cpu: cannot load {type(program).__name__}; expected a CompiledOp or "
                          "an OpPlan from cpu_gpu_backends")

    def launch(self, handle: Any, *args: Any, **kwargs: Any) -> LaunchResult:
        """Run ``handle`` on buffers: its unbound inputs in order, then its output.

        Returns a :class:`~runtime.device.LaunchResult` (wall time, no cycles)."""
        if not isinstance(handle, CompiledOp):
            raise DeviceError("cpu: launch needs a handle returned by load()")
        names = handle.input_names
        out_spec = handle.plan.outputs[0]
        if len(args) != len(names) + 1:
            raise DeviceError(f"cpu: {handle.plan.name} takes {len(names)} input buffers "
                              f"{names} and 1 output buffer, got {len(args)} buffers")
        arrays = []
        for spec_name, buf in zip((*names, out_spec.name), args, strict=True):
            spec = handle.plan.buffer(spec_name)
            need = spec.size * spec.ty.itemsize
            if buf.nbytes < need:
                raise DeviceError(f"cpu: buffer for {spec_name!r} has {buf.nbytes} bytes, "
                                  f"needs {need}")
            arrays.append(self._array(buf)[:need].view(spec.ty.np).reshape(spec.shape))
        t0 = time.perf_counter()
        handle(*arrays[:-1], out=arrays[-1], threads=kwargs.get("threads"))
        return LaunchResult(self.name, None, time.perf_counter() - t0)

    def synchronize(self) -> None:
        return None

