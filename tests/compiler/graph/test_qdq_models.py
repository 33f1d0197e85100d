"""QDQ models from onnxruntime.quantization.quantize_static (per tensor and per channel):
they import with their QuantizeLinear/DequantizeLinear kept (weights stay int8 with their
scales, for the quantization pass) and the reference equals onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

from compiler.frontend import import_onnx
from compiler.graph.pipeline import run_passes
from compiler.graph.reference import evaluate
from tests.compiler.graph.onnx_util import (
    init,
    make_model,
    quantize_static_file,
    run_ort,
    tensor,
)


def _float_model(rng) -> onnx.ModelProto:
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1)]
    f32 = np.float32
    return make_model(nodes, [tensor("x", [1, 3, 8, 8])], [tensor("y", [1, 4])],
                      [init("w", (rng.standard_normal((6, 3, 3, 3)) * 0.3).astype(f32)),
                       init("b", (rng.standard_normal(6) * 0.1).astype(f32)),
                       init("fw", rng.standard_normal((4, 6)).astype(f32)),
                       init("fb", np.zeros(4, f32))], opset=13)


@pytest.mark.parametrize("per_channel", [False, True])
def test_qdq_model_matches_onnxruntime(tmp_path, per_channel):
    from onnxruntime.quantization import QuantFormat, QuantType

    rng = np.random.default_rng(11)
    calib = [{"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)} for _ in range(8)]
    dst = quantize_static_file(_float_model(rng), calib, tmp_path,
                               quant_format=QuantFormat.QDQ, per_channel=per_channel,
                               activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    model = onnx.load(dst)
    graph = run_passes(import_onnx(dst))
    dq_w = [n for n in graph.nodes if n.op == "DequantizeLinear" and n.inputs[0] in
            graph.constants and graph.constants[n.inputs[0]].dtype == np.int8 and
            graph.constants[n.inputs[0]].ndim == 4]
    assert len(dq_w) == 1  # the conv weight stays int8 behind its DequantizeLinear
    assert (dq_w[0].attr("axis") == 0) == per_channel
    for x in (calib[0]["x"], rng.standard_normal((1, 3, 8, 8)).astype(np.float32)):
        (want,) = run_ort(model, {"x": x})
        np.testing.assert_allclose(evaluate(graph, {"x": x})["y"], want, rtol=1e-5,
                                   atol=1e-6 * np.abs(want).max())
