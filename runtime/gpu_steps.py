"""Module steps on a GPU: which ops the GPU runs, their kernels, and one step's launch.

:func:`gpu_plan` is the single list of GPU-capable module ops, used by the partitioner's GPU
cost model (``compiler.partition.gpu_model``: what it prices), by the module check (a host
op may sit on the gpu only if it is here), by the executor (what it launches) and by the
PTX test (what must assemble):

* the quantized opset ops of :mod:`cpu_gpu_backends.ops.gpu_quantized` (Conv2d and Dense as
  tiled GEMMs, depthwise, element-wise, pooling), bit-exact against the reference like the
  CPU kernels;
* float32 ONNX host ops (:class:`~runtime.host_ops.OnnxHostOp`, :data:`FLOAT_OPS`): Conv
  (2-D; group 1 as the tiled implicit GEMM, depthwise as the CPU loop nest on a 1-D grid),
  Gemm (``a @ b`` or ``a @ bᵀ``, plus a bias row) and 2-D MatMul as the tiled GEMM,
  Softmax over the last axis, 2-D MaxPool, AveragePool and GlobalAveragePool (one thread
  per output row or plane), Reshape and Identity (a copy, so a run of GPU steps is not cut
  by a view), and the element-wise Relu, Sigmoid, Neg, Abs, Sqrt, Exp, Add, Sub, Mul, Div,
  Max, Min, Clip (numpy broadcasting), one thread per element.  They agree with the host's numpy
  kernels to float rounding (the GPU sums in another order; its exp is the kernel IR's
  polynomial), not bit for bit.

A module stores no PTX: the kernels are a function of the op description, so the executor
generates them at load (:mod:`runtime.gpu_runner`; the NVPTX code generator caches by IR
hash) for the architecture the device reports, and the driver JITs the PTX for the GPU
present.  This module is data about steps, like the module format: the compiler may import
it (``tests/spec/test_layering.py``); loading and running live in :mod:`runtime.gpu_runner`.
"""

from __future__ import annotations

import math
from typing import Any

from runtime.device import DeviceError
from runtime.host_ops import HostOp, OnnxHostOp

DEFAULT_ARCH = "sm_80"


class GpuStepError(DeviceError):
    """A module step the GPU cannot run (the message says which and why)."""


# float ONNX host ops the GPU runs: ONNX op type -> element-wise op of cpu_gpu_backends
_UNARY = {"Relu": "relu", "Sigmoid": "sigmoid", "Neg": "neg", "Abs": "abs", "Sqrt": "sqrt",
          "Exp": "exp"}
_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Max": "max", "Min": "min"}
_GEMMS = ("Conv", "Gemm", "MatMul")
_POOLS = ("MaxPool", "AveragePool", "GlobalAveragePool")
_MOVES = ("Reshape", "Identity")  # a copy on the GPU (Flatten, Squeeze... lower to Reshape)
FLOAT_OPS = ("Softmax", *_GEMMS, *_POOLS, *_UNARY, *_BINARY, "Clip", *_MOVES)


def _onnx_unsupported(op: OnnxHostOp) -> str | None:
    if op.op_type not in FLOAT_OPS:
        return f"no GPU kernel for the float ONNX op {op.op_type}"
    if any(d != "float32" for d in (*op.in_dtypes, op.dtype)):
        return f"{op.op_type} on {'/'.join(op.in_dtypes)}: the GPU kernels are float32"
    a, ins = op.attrs, op.in_shapes
    if op.op_type == "Softmax":
        axis = a.get("axis")
        if axis is not None and int(axis) not in (-1, len(op.shape) - 1):
            return f"Softmax over axis {axis}: the GPU kernel reduces the last axis"
    elif op.op_type == "Conv":
        group = a.get("group")
        depthwise = len(ins[0]) == 4 and group == ins[0][1] and ins[1][1] == 1
        if len(ins[0]) != 4 or not (group == 1 or depthwise):
            return ("a grouped (not depthwise) or non-2-D Conv: the GPU kernels are 2-D "
                    "group-1 and depthwise convolutions")
    elif op.op_type == "Gemm":
        if a.get("trans_a") or a.get("alpha") != 1.0 or a.get("beta") != 1.0:
            return "a Gemm with trans_a, alpha or beta: the GPU kernel is a @ b (+ c)"
        if len(ins) == 3 and math.prod(ins[2]) != ins[1][0 if a.get("trans_b") else 1]:
            return "a Gemm whose c is not one row: the GPU kernel adds a bias per column"
    elif op.op_type == "MatMul":
        if len(ins[0]) != 2 or len(ins[1]) != 2:
            return "a batched MatMul: the GPU kernel multiplies 2-D matrices"
    elif op.op_type in _POOLS:
        if len(ins[0]) != 4:
            return f"a {len(ins[0]) - 2}-D {op.op_type}: the GPU kernels pool 2-D maps"
        if op.op_type != "GlobalAveragePool" and (
                a.get("ceil_mode") or any(d != 1 for d in a.get("dilations") or (1, 1))
                or any(p >= k for p, k in zip(a.get("pads"), 2 * a.get("kernel_shape"),
                                              strict=True))):
            return (f"a {op.op_type} with ceil_mode, dilations or padding as large as the "
                    "window: the GPU kernel pools plain windows")
    elif op.op_type in _BINARY and len(ins) != 2:
        return f"{op.op_type} of {len(ins)} operands: the GPU kernel takes two"
    return None


def gpu_unsupported(op: Any) -> str | None:
    """Why the GPU cannot run ``op`` (None when it can).  Cheap: no plan is built."""
    if isinstance(op, HostOp):
        return f"a host {op.kind} boundary runs on the cpu"
    if isinstance(op, OnnxHostOp):
        return _onnx_unsupported(op)
    from cpu_gpu_backends.ops.gpu_quantized import GPU_OPS

    if not isinstance(op, GPU_OPS):
        return f"no GPU kernel for {type(op).__name__}"
    return None


def _onnx_plan(op: OnnxHostOp):
    """The GPU plan of a float ONNX host op, its buffers renamed to the step's operands
    (``x0``, ``x1``, ...) and output (``y``)."""
    from cpu_gpu_backends.ops import elementwise as ew
    from cpu_gpu_backends.ops.depthwise import depthwise_conv2d_plan
    from cpu_gpu_backends.ops.gpu_gemm import gpu_conv2d_plan, gpu_dense_plan
    from cpu_gpu_backends.ops.pooling import global_avg_pool_plan, pool2d_plan
    from cpu_gpu_backends.ops.quantized import rename
    from cpu_gpu_backends.ops.softmax import softmax_plan

    ins, a, t = op.in_shapes, op.attrs, op.op_type
    if t == "Softmax":
        return rename(softmax_plan(op.shape), {"x": "x0"})
    if t == "Conv":
        build = gpu_conv2d_plan if a.get("group") == 1 else depthwise_conv2d_plan
        plan = build(ins[0], ins[1], "f32", a.get("strides"), a.get("pads"),
                     a.get("dilations"), len(ins) == 3)
        return rename(plan, {"x": "x0", "w": "x1", "bias": "x2"})
    if t in ("Gemm", "MatMul"):
        tb = bool(a.get("trans_b")) if t == "Gemm" else False
        (m, k), n = ins[0], ins[1][0 if tb else 1]
        plan = gpu_dense_plan(m, k, n, "f32", len(ins) == 3, tb)
        plan = rename(plan, {"a": "x0", "b": "x1", "bias": "x2", "out": "y"})
        return _reshaped(plan, {"x2": ins[2]} if len(ins) == 3 else {})
    if t == "GlobalAveragePool":
        return rename(global_avg_pool_plan(ins[0]), {"x": "x0"})
    if t in ("MaxPool", "AveragePool"):
        plan = pool2d_plan(ins[0], "max" if t == "MaxPool" else "avg", a.get("kernel_shape"),
                           a.get("strides"), a.get("pads"),
                           bool(a.get("count_include_pad")), "f32")
        return rename(plan, {"x": "x0"})
    if t in _MOVES:  # the data operand only (Reshape's shape is an attribute here)
        plan = ew.elementwise_plan(lambda v: v, [(max(1, math.prod(op.shape)),)], ["f32"],
                                   "copy", chunk=1)
        return _reshaped(plan, {"x0": ins[0], "y": op.shape})
    shapes = [s or (1,) for s in ins]  # a 0-d operand broadcasts like a 1-element one
    if t == "Clip":  # the bounds are attributes (None: unbounded on that side)
        lo, hi = a.get("min"), a.get("max")

        def fn(v):
            v = v if lo is None else ew.BINARY_OPS["max"](v, float(lo))
            return v if hi is None else ew.BINARY_OPS["min"](v, float(hi))
    else:
        fn = ew.UNARY_OPS[_UNARY[t]] if t in _UNARY else ew.BINARY_OPS[_BINARY[t]]
    return ew.elementwise_plan(fn, shapes, ["f32"] * len(shapes), t.lower(), chunk=1)


def _reshaped(plan, shapes: dict[str, tuple[int, ...]]):
    """The plan with buffers viewed in the step's operand shapes (same element counts)."""
    from dataclasses import replace

    return replace(plan, buffers=tuple(replace(b, shape=tuple(shapes[b.name]))
                                       if b.name in shapes else b for b in plan.buffers))


def gpu_plan(op: Any):
    """The kernel plan of a GPU-capable module op (:class:`cpu_gpu_backends.OpPlan`, inputs
    named as the op's operands, one output), with the GPU launch geometry filled in."""
    why = gpu_unsupported(op)
    if why is not None:
        raise GpuStepError(f"step {getattr(op, 'name', op)!r}: {why}")
    from cpu_gpu_backends.ops.gpu_quantized import gpu_op_plan
    from cpu_gpu_backends.ptx import with_gpu_launch

    plan = _onnx_plan(op) if isinstance(op, OnnxHostOp) else gpu_op_plan(op)
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


__all__ = ["GpuStepError", "FLOAT_OPS", "gpu_unsupported", "gpu_plan", "gpu_program",
           "gpu_programs", "DEFAULT_ARCH"]
