"""Quantized :mod:`opset` operators for the GPU: the same contract as :mod:`.quantized`
(inputs named and ordered as ``op.inputs()``, int8 output ``y`` equal to
:func:`opset.reference.run` bit for bit), with GPU schedules where the CPU's would starve a
GPU.

* Conv2d and Dense: the shared-memory tiled GEMM of :mod:`.gpu_gemm` (implicit GEMM for the
  convolution, reading ``op.pad_value`` in the padding) writes the raw int32 accumulators,
  bias included, into a scratch buffer; the opset epilogue (:func:`.quantized.requantize_plan`,
  the hardware's wrapping requantization ending in int8 saturation) follows as an
  element-wise kernel, one GPU thread per element.
* DepthwiseConv2d: the CPU's raw kernels (one task per output row), then the epilogue kernel
  with one GPU thread per element.
* Elementwise: the CPU's element-wise kernel with one element per parallel task (one GPU
  thread each) instead of a row.
* Pool2d, GlobalAvgPool: the CPU plans themselves.  Their
  kernels are one ``parallel`` loop of independent tasks (an output row, a chunk of a row),
  which the NVPTX renderer maps to one GPU thread each, so the arithmetic, and hence the
  bits, are those of the CPU kernels the tests check against the reference.

:func:`gpu_capable` is the one list of what the GPU runs; the partitioner prices and the
runtime launches exactly these.
"""

from __future__ import annotations

from dataclasses import replace

from opset import Conv2d, Dense, DepthwiseConv2d, Elementwise, GlobalAvgPool, Pool2d

from .depthwise import depthwise_conv2d_plan
from .gpu_gemm import gpu_conv2d_plan, gpu_dense_plan
from .plan import OpPlan
from .quantized import _elementwise_plan, _with_epilogue, op_plan, rename

PER_THREAD = 1  # element-wise kernels: elements per GPU thread

GPU_OPS = (Conv2d, Dense, DepthwiseConv2d, Elementwise, Pool2d, GlobalAvgPool)


def gpu_capable(op: object) -> bool:
    """Whether :func:`gpu_op_plan` has a GPU plan for ``op``."""
    return isinstance(op, GPU_OPS)


def gpu_op_plan(op: object) -> OpPlan:
    """The GPU plan of a quantized opset operator (module docstring)."""
    if isinstance(op, Conv2d):
        raw = gpu_conv2d_plan((op.n, op.c, op.h, op.w), (op.o, op.c, op.kh, op.kw), "i8",
                              op.stride, op.pad, 1, op.epilogue.bias, None,
                              pad_value=op.pad_value)
        raw = rename(raw, {"y": "acc"}, frozenset({"acc"}))
        plan = _with_epilogue(raw, op, (op.n, op.o, op.ho, op.wo), 1, PER_THREAD)
    elif isinstance(op, Dense):
        raw = gpu_dense_plan(op.n, op.i, op.o, "i8", op.epilogue.bias, transpose_b=True)
        raw = rename(raw, {"a": "x", "b": "w", "out": "acc"}, frozenset({"acc"}))
        plan = _with_epilogue(raw, op, (op.n, op.o), 1, PER_THREAD)
    elif isinstance(op, DepthwiseConv2d):
        raw = depthwise_conv2d_plan((op.n, op.c, op.h, op.w), (op.c, 1, op.kh, op.kw), "i8",
                                    op.stride, op.pad, 1, op.epilogue.bias, None, op.pad_value)
        raw = rename(raw, {"y": "acc"}, frozenset({"acc"}))
        plan = _with_epilogue(raw, op, (op.n, op.c, op.ho, op.wo), 1, PER_THREAD)
    elif isinstance(op, Elementwise):
        plan = _elementwise_plan(op, PER_THREAD)
    elif isinstance(op, GPU_OPS):
        plan = op_plan(op)
    else:
        raise TypeError(f"gpu_op_plan: no GPU plan for {type(op).__name__}; the GPU runs "
                        f"{', '.join(t.__name__ for t in GPU_OPS)}")
    return replace(plan, name=f"gpu_{plan.name}")


__all__ = ["GPU_OPS", "gpu_capable", "gpu_op_plan"]
