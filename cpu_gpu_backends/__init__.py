"""CPU and GPU backends: generated LLVM code for the operators that do not run on the
accelerator.

Operator-level API (what the graph-level compiler calls).  Every CPU builder specialises the
kernels to the given shapes, compiles them for the host (llvmlite, opt level 3, IR-hash cache)
and returns a :class:`CompiledOp`: ``op(*arrays) -> array``.  Weights can be bound once with
``op.bind(w=..., bias=...)``, which also runs their packing kernels ahead of time.

The ``gpu_*`` builders return a :class:`GpuProgram` (PTX text + per-step grid/block) that
:class:`runtime.gpu_device.GpuDevice` loads and launches.

Layers, in the order data flows: ``kernel_ir`` (IR, printer, verifier) -> ``ops/*`` (operator
plans) -> ``render_llvm`` (LLVM IR text from the ``dtypes`` table) -> ``jit_cpu`` (host
compile + cache) / ``ptx`` (NVPTX -> PTX) -> ``launcher`` (thread pool) -> ``backend``
(stages + registry).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache

from opset import ActLayout, Epilogue, Op

from .backend import BACKENDS, CompiledOp, CpuBackend, CpuOptions, get_backend
from .kernel_ir import Expr
from .ops import conv2d as _conv
from .ops import depthwise as _dw
from .ops import elementwise as _ew
from .ops import gemm as _gemm
from .ops import gpu_gemm as _gpu
from .ops import gpu_quantized as _gpu_q
from .ops import layout as _layout
from .ops import pooling as _pool
from .ops import quantize as _q
from .ops import quantized as _quantized
from .ops import softmax as _softmax
from .ops.elementwise import cast, clip, exp, relu, round_even, shift_left, shift_right, sigmoid
from .ops.plan import OpPlan
from .ptx import GpuProgram, NvptxBackend, NvptxOptions, PtxError, assemble_ptx


@cache
def default_cpu_backend() -> CpuBackend:
    """The process-wide CPU backend (2 threads here); created on first use."""
    return CpuBackend(CpuOptions())


def _cpu(plan: OpPlan, backend: CpuBackend | None) -> CompiledOp:
    return (backend or default_cpu_backend()).compile(plan)


# ----------------------------------------------------------------------------- CPU operators
def conv2d(x_shape: Sequence[int], w_shape: Sequence[int], *, dtype: str = "f32",
           stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
           dilation: int | Sequence[int] = 1, groups: int = 1, bias: bool = False,
           activation: str | None = None, residual: bool = False,
           in_layout: ActLayout | None = None, out_layout: ActLayout | None = None,
           res_layout: ActLayout | None = None,
           backend: CpuBackend | None = None) -> CompiledOp:
    """NCHW conv2d; ``groups`` is 1 or C (depthwise).  Inputs ``(x, w[, bias][,
    residual])``; with ``residual`` (f32, groups 1) ``act(conv + bias + residual)``.
    ``in_layout`` / ``out_layout`` / ``res_layout``: that operand blocked instead of NCHW
    (f32; :func:`.ops.conv2d.conv2d_plan`)."""
    c = x_shape[1] if len(x_shape) == 4 else None
    if groups != 1:
        if groups != c:
            raise ValueError(f"conv2d: groups must be 1 or the channel count {c}, got {groups}")
        if residual:
            raise ValueError("conv2d: a residual input needs groups=1")
        return depthwise_conv2d(x_shape, w_shape, dtype=dtype, stride=stride, padding=padding,
                                dilation=dilation, bias=bias, activation=activation,
                                in_layout=in_layout, out_layout=out_layout, backend=backend)
    return _cpu(_conv.conv2d_plan(x_shape, w_shape, dtype, stride, padding, dilation, bias,
                                  activation, residual=residual, in_layout=in_layout,
                                  out_layout=out_layout, res_layout=res_layout), backend)


def depthwise_conv2d(x_shape: Sequence[int], w_shape: Sequence[int], *, dtype: str = "f32",
                     stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                     dilation: int | Sequence[int] = 1, bias: bool = False,
                     activation: str | None = None, in_layout: ActLayout | None = None,
                     out_layout: ActLayout | None = None,
                     backend: CpuBackend | None = None) -> CompiledOp:
    return _cpu(_dw.depthwise_conv2d_plan(x_shape, w_shape, dtype, stride, padding, dilation,
                                          bias, activation, in_layout=in_layout,
                                          out_layout=out_layout), backend)


def dense(m: int, k: int, n: int, *, dtype: str = "f32", bias: bool = False,
          transpose_b: bool = False, activation: str | None = None,
          backend: CpuBackend | None = None) -> CompiledOp:
    """``a[m,k] @ b[k,n] (+ bias[n])``; ``transpose_b`` takes b as ``[n,k]``."""
    return _cpu(_gemm.dense_plan(m, k, n, dtype, bias, transpose_b, activation), backend)


def matmul(a_shape: Sequence[int], b_shape: Sequence[int], *, dtype: str = "f32",
           backend: CpuBackend | None = None) -> CompiledOp:
    """2-D matmul ``a @ b`` (int8 inputs accumulate exactly into int32)."""
    if len(a_shape) != 2 or len(b_shape) != 2 or a_shape[1] != b_shape[0]:
        raise ValueError(f"matmul: need a [m,k] and b [k,n], got {tuple(a_shape)} and "
                         f"{tuple(b_shape)}")
    return dense(a_shape[0], a_shape[1], b_shape[1], dtype=dtype, backend=backend)


def max_pool2d(x_shape: Sequence[int], kernel: int | Sequence[int],
               stride: int | Sequence[int] | None = None, padding: int | Sequence[int] = 0, *,
               dtype: str = "f32", backend: CpuBackend | None = None) -> CompiledOp:
    return _cpu(_pool.pool2d_plan(x_shape, "max", kernel, stride, padding, dtype=dtype),
                backend)


def avg_pool2d(x_shape: Sequence[int], kernel: int | Sequence[int],
               stride: int | Sequence[int] | None = None, padding: int | Sequence[int] = 0, *,
               count_include_pad: bool = False,
               backend: CpuBackend | None = None) -> CompiledOp:
    return _cpu(_pool.pool2d_plan(x_shape, "avg", kernel, stride, padding, count_include_pad),
                backend)


def global_avg_pool2d(x_shape: Sequence[int], *,
                      backend: CpuBackend | None = None) -> CompiledOp:
    return _cpu(_pool.global_avg_pool_plan(x_shape), backend)


def blocked_max_pool2d(in_layout: ActLayout, kernel: int | Sequence[int],
                       stride: int | Sequence[int] | None, padding: int | Sequence[int],
                       out_layout: ActLayout, *, dtype: str = "f32",
                       backend: CpuBackend | None = None) -> CompiledOp:
    """Max pooling from blocked ``in_layout`` into blocked ``out_layout``; ``dtype`` f32,
    or i16 (the int8 values int8 convolutions keep blocked)."""
    return _cpu(_pool.blocked_max_pool_plan(in_layout, kernel, stride, padding, out_layout,
                                            _vector_lanes(), dtype), backend)


def blocked_global_avg_pool2d(in_layout: ActLayout, *,
                              backend: CpuBackend | None = None) -> CompiledOp:
    """f32 global average pooling of a blocked activation, NCHW ``[N, C, 1, 1]`` out."""
    return _cpu(_pool.blocked_global_avg_pool_plan(in_layout, _vector_lanes()), backend)


def _vector_lanes() -> int:
    from .ops.microkernel import default_tile

    return default_tile(False).vl


def softmax(shape: Sequence[int], *, backend: CpuBackend | None = None) -> CompiledOp:
    """Softmax over the last axis (f32)."""
    return _cpu(_softmax.softmax_plan(shape), backend)


def elementwise(fn: Callable[..., Expr], shapes: Sequence[Sequence[int]],
                dtypes: Sequence[str], *, name: str = "ew",
                backend: CpuBackend | None = None) -> CompiledOp:
    """A fused element-wise chain as one kernel, e.g.
    ``elementwise(lambda x, b: relu(x + b), [(1,64,8,8), (1,64,1,1)], ["f32", "f32"])``."""
    return _cpu(_ew.elementwise_plan(fn, shapes, dtypes, name), backend)


def binary(op: str, a_shape: Sequence[int], b_shape: Sequence[int], *, dtype: str = "f32",
           backend: CpuBackend | None = None) -> CompiledOp:
    """add, sub, mul, div, max, min, shl, shr with numpy broadcasting."""
    return _cpu(_ew.binary_plan(op, a_shape, b_shape, dtype), backend)


def unary(op: str, shape: Sequence[int], *, dtype: str = "f32",
          backend: CpuBackend | None = None) -> CompiledOp:
    """relu, neg, abs, exp, sigmoid, sqrt, round (half to even)."""
    return _cpu(_ew.unary_plan(op, shape, dtype), backend)


def clip_op(shape: Sequence[int], lo: float, hi: float, *, dtype: str = "f32",
            backend: CpuBackend | None = None) -> CompiledOp:
    return _cpu(_ew.clip_plan(shape, lo, hi, dtype), backend)


def quantize(shape: Sequence[int], *, axis: int | None = None,
             backend: CpuBackend | None = None) -> CompiledOp:
    """Inputs ``(x f32, scale f32, zero_point i8)``; ONNX QuantizeLinear semantics."""
    return _cpu(_q.quantize_plan(shape, axis), backend)


def dequantize(shape: Sequence[int], *, axis: int | None = None, dtype: str = "i8",
               backend: CpuBackend | None = None) -> CompiledOp:
    """Inputs ``(x, scale f32, zero_point)``; ``(x - zp) * scale``."""
    return _cpu(_q.dequantize_plan(shape, axis, dtype), backend)


def requantize(shape: Sequence[int], epilogue: Epilogue, *, axis: int = 1,
               backend: CpuBackend | None = None) -> CompiledOp:
    """int32 -> int8 by an :class:`opset.Epilogue` (the hardware's requantization).  Inputs
    ``(acc i32[, bias][, multiplier, shift][, residual i8])``; per-channel along ``axis``."""
    return _cpu(_quantized.requantize_plan(shape, epilogue, axis), backend)


def quantized_op(op: Op, *, in_layout: ActLayout | None = None,
                 out_layout: ActLayout | None = None, res_layout: ActLayout | None = None,
                 backend: CpuBackend | None = None) -> CompiledOp:
    """A quantized :mod:`opset` operator (the description the accelerator compiler takes):
    inputs as ``op.inputs()``, int8 output equal to :func:`opset.reference.run` bit for bit.
    ``in_layout`` / ``out_layout`` / ``res_layout`` (a Conv2d): that operand blocked, as i16
    values (:func:`.ops.quantized.op_plan`)."""
    return _cpu(_quantized.op_plan(op, in_layout=in_layout, out_layout=out_layout,
                                   res_layout=res_layout), backend)


def blocked_quantized_elementwise(op: Op, in_layouts: Sequence[ActLayout],
                                  out_layout: ActLayout, *,
                                  backend: CpuBackend | None = None) -> CompiledOp:
    """An :class:`opset.Elementwise` on blocked i16 operands (``in_layouts``, in
    ``op.inputs()`` order) into blocked ``out_layout``: the same int8 values as
    :func:`quantized_op`, widened to i16."""
    return _cpu(_quantized.blocked_elementwise_plan(op, tuple(in_layouts), out_layout,
                                                    _vector_lanes()), backend)


def blocked_quantized_global_avg_pool(op: Op, in_layout: ActLayout, *,
                                      backend: CpuBackend | None = None) -> CompiledOp:
    """An :class:`opset.GlobalAvgPool` from blocked i16 ``in_layout``: int8 NCHW out, equal
    to :func:`quantized_op`'s."""
    return _cpu(_quantized.blocked_global_avg_pool_plan(op, in_layout, _vector_lanes()),
                backend)


def nchw_to_blocked(layout: ActLayout, *, dtype: str = "i8", pad_value: int = 0,
                    backend: CpuBackend | None = None) -> CompiledOp:
    """NCHW -> the shared blocked layout (:class:`opset.layout.ActLayout`)."""
    return _cpu(_layout.nchw_to_blocked_plan(layout, dtype, pad_value), backend)


def blocked_to_nchw(layout: ActLayout, *, dtype: str = "i8",
                    backend: CpuBackend | None = None) -> CompiledOp:
    return _cpu(_layout.blocked_to_nchw_plan(layout, dtype), backend)


# ----------------------------------------------------------------------------- GPU (PTX)
def gpu_compile(plan: OpPlan, arch: str = "sm_80") -> GpuProgram:
    """PTX + launch geometry for any plan (1-D grid over its parallel loops)."""
    return NvptxBackend(NvptxOptions(arch)).compile(plan)


def gpu_dense(m: int, k: int, n: int, *, dtype: str = "f32", bias: bool = False,
              transpose_b: bool = False, activation: str | None = None,
              arch: str = "sm_80") -> GpuProgram:
    """Shared-memory tiled GEMM (64x64 block tiles, 16x16 threads, 4x4 per thread)."""
    return gpu_compile(_gpu.gpu_dense_plan(m, k, n, dtype, bias, transpose_b, activation), arch)


def gpu_conv2d(x_shape: Sequence[int], w_shape: Sequence[int], *, dtype: str = "f32",
               stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
               dilation: int | Sequence[int] = 1, bias: bool = False,
               activation: str | None = None, arch: str = "sm_80") -> GpuProgram:
    """Implicit-GEMM conv2d with the same shared-memory tiling."""
    return gpu_compile(_gpu.gpu_conv2d_plan(x_shape, w_shape, dtype, stride, padding,
                                            dilation, bias, activation), arch)


def gpu_quantized_op(op: Op, arch: str = "sm_80") -> GpuProgram:
    """A quantized :mod:`opset` operator for the GPU (:mod:`.ops.gpu_quantized`): inputs as
    ``op.inputs()``, int8 output equal to :func:`opset.reference.run` bit for bit."""
    return gpu_compile(_gpu_q.gpu_op_plan(op), arch)


def gpu_softmax(shape: Sequence[int], *, arch: str = "sm_80") -> GpuProgram:
    """Softmax over the last axis (f32), one GPU thread per row."""
    return gpu_compile(_softmax.softmax_plan(shape), arch)


gpu_capable = _gpu_q.gpu_capable


__all__ = [
    "BACKENDS", "CompiledOp", "CpuBackend", "CpuOptions", "GpuProgram", "NvptxBackend",
    "NvptxOptions", "OpPlan", "PtxError", "assemble_ptx", "avg_pool2d", "binary",
    "blocked_global_avg_pool2d", "blocked_max_pool2d", "blocked_quantized_elementwise",
    "blocked_quantized_global_avg_pool",
    "blocked_to_nchw", "cast", "clip", "clip_op", "conv2d", "default_cpu_backend", "dense",
    "depthwise_conv2d", "dequantize", "elementwise", "exp", "get_backend",
    "global_avg_pool2d", "gpu_capable", "gpu_compile", "gpu_conv2d", "gpu_dense",
    "gpu_quantized_op", "gpu_softmax", "matmul", "max_pool2d",
    "nchw_to_blocked", "quantize", "quantized_op", "relu", "requantize", "round_even", "shift_left",
    "shift_right", "sigmoid", "softmax", "unary",
]
