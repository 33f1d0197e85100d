"""Every operator's NVPTX rendering becomes PTX that ptxas assembles for sm_80 and sm_90."""

from __future__ import annotations

import pytest

from cpu_gpu_backends.ops import conv2d as conv_ops
from cpu_gpu_backends.ops import depthwise as dw_ops
from cpu_gpu_backends.ops import elementwise as ew_ops
from cpu_gpu_backends.ops import gemm as gemm_ops
from cpu_gpu_backends.ops import gpu_gemm
from cpu_gpu_backends.ops import layout as layout_ops
from cpu_gpu_backends.ops import pooling as pool_ops
from cpu_gpu_backends.ops import quantize as q_ops
from cpu_gpu_backends.ops import quantized as quantized_ops
from cpu_gpu_backends.ops import softmax as softmax_ops
from cpu_gpu_backends.ptx import NvptxBackend, NvptxOptions, PtxError, assemble_ptx, emit_ptx
from opset import ActLayout, Conv2d, Epilogue, Requant

PLANS = {
    "gpu_dense_f32": lambda: gpu_gemm.gpu_dense_plan(70, 33, 65, "f32", True, False, "relu"),
    "gpu_dense_i8": lambda: gpu_gemm.gpu_dense_plan(9, 31, 17, "i8", True, True),
    "gpu_conv2d_f32": lambda: gpu_gemm.gpu_conv2d_plan((1, 3, 11, 11), (8, 3, 3, 3), "f32", 2,
                                                       1, 1, True, "relu"),
    "gpu_conv2d_i8": lambda: gpu_gemm.gpu_conv2d_plan((2, 4, 6, 6), (5, 4, 1, 1), "i8"),
    "cpu_schedule_dense": lambda: gemm_ops.dense_plan(20, 10, 40, "f32", True),
    "cpu_schedule_conv2d": lambda: conv_ops.conv2d_plan((1, 3, 8, 8), (16, 3, 3, 3), "f32", 1, 1),
    "depthwise": lambda: dw_ops.depthwise_conv2d_plan((1, 4, 8, 8), (4, 1, 3, 3), "i8", 1, 1),
    "maxpool": lambda: pool_ops.pool2d_plan((1, 3, 8, 8), "max", 3, 2, 1),
    "avgpool": lambda: pool_ops.pool2d_plan((1, 3, 8, 8), "avg", 2, 2, 0, True),
    "gap": lambda: pool_ops.global_avg_pool_plan((1, 5, 4, 4)),
    "softmax": lambda: softmax_ops.softmax_plan((4, 33)),
    "fused_chain": lambda: ew_ops.elementwise_plan(
        lambda a, b: ew_ops.sigmoid(ew_ops.relu(a + b)), [(2, 3, 4), (3, 1)], ["f32", "f32"]),
    "shift": lambda: ew_ops.binary_plan("shr", (8,), (8,), "i32"),
    "quantize": lambda: q_ops.quantize_plan((2, 3, 4), 1),
    "dequantize": lambda: q_ops.dequantize_plan((2, 3, 4)),
    "requantize": lambda: quantized_ops.requantize_plan(
        (2, 3, 4), Epilogue(bias=True, requant=Requant(per_channel=True, pre_shift=2),
                            relu=True), 1),
    "quantized_conv2d": lambda: quantized_ops.op_plan(Conv2d(
        1, 5, 6, 6, 8, 3, 3, pad=1, pad_value=-3,
        epilogue=Epilogue(bias=True, requant=Requant(300, 9, 1), residual=True, offset=-20,
                          clip=(-20, 127)))),
    "to_blocked": lambda: layout_ops.nchw_to_blocked_plan(
        ActLayout(3, 5, 3, 3, 4, 2, halo=(1, 1)), "f32", 0),
    "from_blocked": lambda: layout_ops.blocked_to_nchw_plan(ActLayout(1, 5, 3, 3, 4, 1), "i8"),
}


@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("name", sorted(PLANS))
def test_ptx_assembles(ptxas, name, arch):
    prog = NvptxBackend(NvptxOptions(arch)).compile(PLANS[name]())
    assert f".target {arch}" in prog.ptx
    for k in prog.plan.kernels:
        assert f".entry {k.name}" in prog.ptx
    for st in prog.plan.steps:
        assert all(g >= 1 for g in st.grid) and all(b >= 1 for b in st.block)
    assert len(assemble_ptx(prog.ptx, arch)) > 0


def test_tiled_gemm_uses_shared_memory_and_barriers():
    prog = NvptxBackend().compile(PLANS["gpu_dense_f32"]())
    assert ".shared" in prog.ptx and "bar.sync" in prog.ptx
    assert prog.plan.steps[0].block == (16, 16, 1)
    assert prog.plan.steps[0].grid == (2, 2, 1)


def test_bad_ir_fails_cleanly_in_subprocess():
    with pytest.raises(PtxError, match="NVPTX code generation failed"):
        emit_ptx("define void @f() {\n  ret i32 0\n}\n")


def test_ptxas_rejects_garbage(ptxas):
    with pytest.raises(PtxError, match="ptxas"):
        assemble_ptx(".version 8.0\n.target sm_80\nthis is not ptx", "sm_80")
