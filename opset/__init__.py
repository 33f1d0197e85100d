"""The operator vocabulary: one description of every quantized operator, shared by all
devices.

What an operator computes is said once, here: its shapes and parameters
(:mod:`~opset.gemm_ops`, :mod:`~opset.elementwise`, :mod:`~opset.pooling`), its
requantization (:mod:`~opset.requant`, the hardware's int32 arithmetic), the blocked layout
its activations cross device boundaries in (:mod:`~opset.layout`), its numpy integer
reference (:mod:`~opset.reference`) and its JSON form (:mod:`~opset.serialize`, what a
compiled module stores).  The accelerator compiler (``compiler``), the CPU/GPU
backends (``cpu_gpu_backends``) and the tests all take these descriptions, so a quantized op
gives the same bits on every device.  How an op is computed on a device is that device's
business (schedules, kernels); this package imports only the contract and numpy.
"""

from opset.base import TensorSpec
from opset.elementwise import AluStep, Elementwise
from opset.errors import LayoutError, OpError, OpsetError
from opset.gemm_ops import Conv2d, Dense, DepthwiseConv2d
from opset.layout import ActLayout
from opset.pooling import GlobalAvgPool, Pool2d, avg_multiplier
from opset.requant import Epilogue, Requant
from opset.serialize import op_from_json, op_to_json

Op = Conv2d | DepthwiseConv2d | Dense | Elementwise | Pool2d | GlobalAvgPool

__all__ = ["Conv2d", "DepthwiseConv2d", "Dense", "Elementwise", "AluStep", "Pool2d",
           "GlobalAvgPool", "Epilogue", "Requant", "TensorSpec", "avg_multiplier", "Op",
           "ActLayout", "OpError", "LayoutError", "OpsetError", "op_to_json", "op_from_json"]
