"""Module steps on a GPU: which ops the GPU runs, their kernels, and one step's launch.

:func:`gpu_plan` is the single list of GPU-capable module ops, used by the partitioner's GPU
cost model (``compiler.partition.gpu_model``: what it prices), by the module check (a host
op may sit on the gpu only if it is here), by the executor (what it launches) and by the
PTX test (what must assemble):

* the quantized opset ops of :mod:`cpu_gpu_backends.ops.gpu_quantized` (Conv2d and Dense as
  tiled GEMMs, depthwise, element-wise, pooling), bit-exact against the reference like the
  CPU kernels;
* a float32 ``Softmax`` over the last axis (an :class:`~runtime.host_ops.OnnxHostOp`): the
  GPU's exp is the kernel IR's polynomial, so it agrees with the host's numpy softmax to
  float rounding (~1e-6 relative), not bit for bit.

A module stores no PTX: the kernels are a function of the op description, so the executor
generates them at load (:mod:`runtime.gpu_runner`; the NVPTX code generator caches by IR
hash) for the architecture the device reports, and the driver JITs the PTX for the GPU
present.  This module is data about steps, like the module format: the compiler may import
it (``tests/spec/test_layering.py``); loading and running live in :mod:`runtime.gpu_runner`.
"""

from __future__ import annotations

from typing import Any

from runtime.device import DeviceError
from runtime.host_ops import HostOp, OnnxHostOp

DEFAULT_ARCH = "sm_80"


class GpuStepError(DeviceError):
    """A module step the GPU cannot run (the message says which and why)."""


def gpu_unsupported(op: Any) -> str | None:
    """Why the GPU cannot run ``op`` (None when it can).  Cheap: no plan is built."""
    if isinstance(op, HostOp):
        return f"a host {op.kind} boundary runs on the cpu"
    if isinstance(op, OnnxHostOp):
        if op.op_type != "Softmax":
            return f"no GPU kernel for the float ONNX op {op.op_type}"
        axis = op.attrs.get("axis")
        if op.in_dtypes[0] != "float32" or op.dtype != "float32":
            return f"Softmax on {op.in_dtypes[0]}: the GPU kernel is float32"
        if axis is not None and int(axis) not in (-1, len(op.shape) - 1):
            return f"Softmax over axis {axis}: the GPU kernel reduces the last axis"
        return None
    from cpu_gpu_backends.ops.gpu_quantized import GPU_OPS

    if not isinstance(op, GPU_OPS):
        return f"no GPU kernel for {type(op).__name__}"
    return None


def gpu_plan(op: Any):
    """The kernel plan of a GPU-capable module op (:class:`cpu_gpu_backends.OpPlan`, inputs
    named as the op's operands, one output), with the GPU launch geometry filled in."""
    why = gpu_unsupported(op)
    if why is not None:
        raise GpuStepError(f"step {getattr(op, 'name', op)!r}: {why}")
    from cpu_gpu_backends.ops.gpu_quantized import gpu_op_plan
    from cpu_gpu_backends.ops.quantized import rename
    from cpu_gpu_backends.ops.softmax import softmax_plan
    from cpu_gpu_backends.ptx import with_gpu_launch

    if isinstance(op, OnnxHostOp):
        plan = rename(softmax_plan(op.shape), {"x": "x0"})
    else:
        plan = gpu_op_plan(op)
    return with_gpu_launch(plan)


def gpu_program(op: Any, arch: str = DEFAULT_ARCH):
    """PTX for ``op`` (:class:`cpu_gpu_backends.GpuProgram`)."""
    return gpu_programs([op], arch)[0]


def gpu_programs(ops: list[Any], arch: str = DEFAULT_ARCH) -> list:
    """One :class:`cpu_gpu_backends.GpuProgram` per op, all sharing one PTX module that
    holds every distinct kernel (a kernel's name hashes its parameters): LLVM runs once
    for a whole module's GPU steps, and the driver loads and JITs one PTX image."""
    from cpu_gpu_backends.ptx import GpuProgram, NvptxOptions, emit_ptx
    from cpu_gpu_backends.render_llvm import NVPTX_TARGET, render_module

    NvptxOptions(arch)  # validates the architecture
    plans = [gpu_plan(op) for op in ops]
    kernels: dict[str, Any] = {}
    for plan in plans:
        for k in plan.kernels:
            if kernels.setdefault(k.name, k) != k:
                raise GpuStepError(f"two different GPU kernels are named {k.name!r}")
    if not plans:
        return []
    ptx = emit_ptx(render_module(list(kernels.values()), NVPTX_TARGET), arch)
    return [GpuProgram(plan, ptx, arch) for plan in plans]


__all__ = ["GpuStepError", "gpu_unsupported", "gpu_plan", "gpu_program", "gpu_programs",
           "DEFAULT_ARCH"]
