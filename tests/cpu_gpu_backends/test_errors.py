"""Bad input gives a clear error naming the argument, never a crash or wrong numbers."""

from __future__ import annotations

import numpy as np
import pytest

import cpu_gpu_backends as cg
from opset import Epilogue


def test_wrong_dtype_shape_and_arity():
    op = cg.dense(4, 5, 6)
    a, b = np.zeros((4, 5), np.float32), np.zeros((5, 6), np.float32)
    with pytest.raises(TypeError, match="argument 'a' must have dtype float32, got float64"):
        op(a.astype(np.float64), b)
    with pytest.raises(ValueError, match=r"argument 'b' must have shape \(5, 6\)"):
        op(a, b.T.copy())
    with pytest.raises(TypeError, match="expected 2 inputs"):
        op(a)
    with pytest.raises(TypeError, match="must be a numpy array"):
        op(a, [[0.0] * 6] * 5)


def test_non_contiguous_input_is_handled():
    op = cg.dense(4, 5, 6)
    a = np.arange(40, dtype=np.float32).reshape(4, 10)[:, ::2]
    b = np.ones((5, 6), np.float32)
    np.testing.assert_allclose(op(a, b), a @ b)


@pytest.mark.parametrize("call, match", [
    (lambda: cg.conv2d((1, 3, 8, 8), (4, 2, 3, 3)), "w_shape\\[1\\]=2 must equal"),
    (lambda: cg.conv2d((1, 3, 2, 2), (4, 3, 5, 5)), "does not fit the padded input"),
    (lambda: cg.conv2d((1, 3, 8, 8), (4, 3, 3, 3), stride=0), "stride_h must be a positive"),
    (lambda: cg.conv2d((1, 3, 8, 8), (4, 3, 3, 3), padding=(1, 2, 3)), "padding must be"),
    (lambda: cg.conv2d((1, 3, 8, 8), (4, 3, 3, 3), dtype="f64"), "dtype must be one of"),
    (lambda: cg.conv2d((1, 3, 8, 8), (3, 1, 3, 3), groups=2), "groups must be 1 or"),
    (lambda: cg.conv2d((1, 3, 8), (4, 3, 3, 3)), "x_shape must have rank 4"),
    (lambda: cg.dense(0, 3, 3), "m must be a positive integer"),
    (lambda: cg.dense(2, 3, 3, activation="gelu"), "activation must be one of"),
    (lambda: cg.matmul((2, 3), (4, 5)), "need a \\[m,k\\] and b \\[k,n\\]"),
    (lambda: cg.binary("pow", (2,), (2,)), "unknown binary op 'pow'"),
    (lambda: cg.binary("add", (2, 3), (4,)), "do not broadcast"),
    (lambda: cg.avg_pool2d((1, 1, 4, 4), 2, padding=2), "padding .* must be smaller"),
    (lambda: cg.max_pool2d((1, 1, 4, 4), 2, dtype="i32"), "dtype must be one of"),
    (lambda: cg.quantize((2, 3), axis=5), "axis 5 out of range"),
    (lambda: cg.nchw_to_blocked((1, 3, 4, 4)), "layout must be an opset.layout.ActLayout"),
    (lambda: cg.quantized_op("conv2d"), "expected an opset operator"),
    (lambda: cg.requantize((2, 3), Epilogue(), axis=4), "axis 4 out of range"),
    (lambda: cg.elementwise(lambda x: x + 1.5, [(3,)], ["i32"]), "must be one of|bad expr"),
])
def test_bad_arguments(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_elementwise_type_error_names_the_problem():
    from cpu_gpu_backends.kernel_ir import IRError
    with pytest.raises((ValueError, IRError), match="operand types differ"):
        cg.elementwise(lambda x, y: x + y, [(3,), (3,)], ["f32", "i32"])
