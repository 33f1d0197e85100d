"""An emulated NVIDIA GPU as a :class:`~runtime.device.Device`: the GPU's counterpart of
the accelerator's ``sim``.

It takes what :class:`~runtime.gpu_device.GpuDevice` takes -- a
:class:`cpu_gpu_backends.GpuProgram` (the PTX is kept but not run) and buffers ordered as
the plan's inputs then its output -- and runs every step of the program's plan with
:mod:`cpu_gpu_backends.simt`: each thread of the step's grid a numpy lane in lockstep,
shared memory per block, bounds, races and divergent barriers checked.  So a module's GPU
steps, the executor's GPU path and the GPU kernels' bits are tested on machines with no
GPU (``Executor(module, device, gpu=GpuSimDevice())``); integer kernels give a GPU's bits,
float ones agree to rounding.  Memory is host memory (byte arrays behind handles); copies
are modelled on a PCIe 4.0 x16 link (``link_profile``), like the GPU presets' link.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from cpu_gpu_backends.ptx import GpuProgram

from .device import DeviceError, LaunchResult
from .host_memory import HostMemoryDevice
from .links import GPU_LINKS


class GpuSimDevice(HostMemoryDevice):
    """The SIMT emulator behind the GPU device interface; ``arch``: the PTX target the
    executor generates for (the PTX is generated, not run)."""

    name = "gpu"
    link_profile = GPU_LINKS["pcie4x16"]

    def __init__(self, arch: str = "sm_80") -> None:
        super().__init__()
        self.arch = arch

    def load(self, program: Any) -> dict:
        if not isinstance(program, GpuProgram):
            raise DeviceError(f"gpu: cannot load {type(program).__name__}; expected a "
                              "GpuProgram from cpu_gpu_backends")
        temps = {b.name: self.allocate(b.size * b.ty.itemsize)
                 for b in program.plan.buffers if b.role == "temp"}
        return {"program": program, "temps": temps}

    def launch(self, handle: Any, *args: Any, **kwargs: Any) -> LaunchResult:
        """Run every step of the loaded program; buffers are its inputs then its output."""
        from cpu_gpu_backends.simt import SimtError, launch

        plan = handle["program"].plan
        names = [b.name for b in plan.inputs] + [b.name for b in plan.outputs]
        if len(args) != len(names):
            raise DeviceError(f"gpu: {plan.name} takes buffers {names}, got {len(args)}")
        env: dict[str, np.ndarray] = {}
        for n, buf in (*zip(names, args, strict=True), *handle["temps"].items()):
            spec = plan.buffer(n)
            need = spec.size * spec.ty.itemsize
            if buf.nbytes < need:
                raise DeviceError(f"gpu: buffer for {n!r} is too small ({buf.nbytes} bytes, "
                                  f"needs {need})")
            env[n] = self._array(buf)[:need].view(spec.ty.np)
        t0 = time.perf_counter()
        try:
            for st in plan.steps:
                launch(plan.kernel(st.kernel), st, env)
        except SimtError as e:
            raise DeviceError(f"gpu: {e}") from None
        return LaunchResult(self.name, None, time.perf_counter() - t0)

    def synchronize(self) -> None:
        return None



__all__ = ["GpuSimDevice"]
