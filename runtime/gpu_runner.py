"""Module steps on a GPU at run time: load a step's kernels and constants, run it.

What a GPU step is (which ops, which kernels) is :mod:`runtime.gpu_steps`.  Constants
(weights, requantization tables) are copied to the GPU once, at load; each run copies the
step's activations in over PCIe, launches its kernels and copies the output back (the
executor runs steps one after another, so a GPU step is synchronous).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.device import Buffer, Device
from runtime.gpu_steps import DEFAULT_ARCH, GpuStepError, gpu_programs


@dataclass
class GpuKernel:
    """A step loaded on a GPU: the program handle, a buffer per plan input and output
    (constants filled once), and which inputs are fed per run (operand -> tensor)."""

    step: Any
    plan: Any
    handle: Any
    buffers: dict[str, Buffer]
    fed: dict[str, str]
    out: str
    resident_bytes: int


def load_gpu_steps(device: Device, steps: Mapping[int, Any],
                   constants: Mapping[str, np.ndarray], arch: str | None = None
                   ) -> dict[int, GpuKernel]:
    """Compile ``steps`` (index -> module step) for ``device`` -- one PTX module for all of
    them (:func:`runtime.gpu_steps.gpu_programs`) -- and upload their constants."""
    arch = arch or getattr(device, "arch", DEFAULT_ARCH)
    programs = gpu_programs([s.op for s in steps.values()], arch)
    return {i: _load(device, s, p, constants)
            for (i, s), p in zip(steps.items(), programs, strict=True)}


def _load(device: Device, step: Any, program: Any,
          constants: Mapping[str, np.ndarray]) -> GpuKernel:
    plan = program.plan
    handle = device.load(program)
    bufs: dict[str, Buffer] = {}
    fed: dict[str, str] = {}
    resident = 0
    for spec in (*plan.inputs, *plan.outputs):
        bufs[spec.name] = device.allocate(spec.size * spec.ty.itemsize)
    for spec in plan.inputs:
        tensor = step.inputs.get(spec.name)
        if tensor is None:
            raise GpuStepError(f"step {step.name!r}: operand {spec.name!r} is not wired")
        if tensor in constants:
            arr = np.ascontiguousarray(constants[tensor], spec.ty.np).reshape(-1)
            if arr.size != spec.size:
                raise GpuStepError(f"step {step.name!r}: constant {tensor!r} has {arr.size} "
                                   f"elements, operand {spec.name!r} takes {spec.size}")
            device.copy_in(bufs[spec.name], arr)
            resident += arr.nbytes
        else:
            fed[spec.name] = tensor
    return GpuKernel(step, plan, handle, bufs, fed, plan.outputs[0].name, resident)


def run_gpu_step(device: Device, k: GpuKernel, env: Mapping[str, np.ndarray],
                 out_dtype: str, out_shape: tuple[int, ...]
                 ) -> tuple[np.ndarray, float, int, int]:
    """(output, wall seconds of copies + kernels, bytes in, bytes out) of one run."""
    plan = k.plan
    t0 = time.perf_counter()
    nbytes_in = 0
    for name, tensor in k.fed.items():
        spec = plan.buffer(name)
        data = np.ascontiguousarray(env[tensor], spec.ty.np).reshape(-1)
        if data.size != spec.size:
            raise GpuStepError(f"step {k.step.name!r}: tensor {tensor!r} has {data.size} "
                               f"elements, operand {name!r} takes {spec.size}")
        device.copy_in(k.buffers[name], data)
        nbytes_in += data.nbytes
    device.launch(k.handle, *(k.buffers[b.name] for b in (*plan.inputs, *plan.outputs)))
    device.synchronize()
    raw = device.copy_out(k.buffers[k.out])
    secs = time.perf_counter() - t0
    out = np.frombuffer(raw, np.dtype(out_dtype)).reshape(out_shape).copy()
    return out, secs, nbytes_in, len(raw)


def free_gpu_step(device: Device, k: GpuKernel) -> None:
    for b in k.buffers.values():
        device.free(b)


def open_gpu() -> Device:
    """The first CUDA GPU (:class:`runtime.gpu_device.GpuDevice`); DeviceError saying why
    there is none (no cuda-python, no driver, no GPU)."""
    from runtime.gpu_device import GpuDevice

    return GpuDevice()


__all__ = ["GpuKernel", "load_gpu_steps", "run_gpu_step", "free_gpu_step", "open_gpu"]
