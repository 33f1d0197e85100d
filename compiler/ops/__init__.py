"""Operator definitions: the computation (shapes, parameters, quantized semantics).

How an operator is computed on the accelerator is a schedule (``compiler.schedule``) and the
lowering passes (``compiler.lower``); these classes say only *what* is computed.
"""

from compiler.ops.alu_ops import AluStep, Elementwise, GlobalAvgPool, Pool2d, avg_multiplier
from compiler.ops.base import TensorSpec
from compiler.ops.epilogue import Epilogue, Requant
from compiler.ops.gemm_ops import Conv2d, Dense, DepthwiseConv2d

Op = Conv2d | DepthwiseConv2d | Dense | Elementwise | Pool2d | GlobalAvgPool

__all__ = ["Conv2d", "DepthwiseConv2d", "Dense", "Elementwise", "AluStep", "Pool2d",
           "GlobalAvgPool", "Epilogue", "Requant", "TensorSpec", "avg_multiplier", "Op"]
