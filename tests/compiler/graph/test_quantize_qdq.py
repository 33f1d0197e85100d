"""QDQ models from ``onnxruntime.quantization.quantize_static`` (per tensor and per channel,
symmetric int8): the quantizer takes the model's own scales and int8 weights, and the
integer evaluation matches onnxruntime's int8 execution within one output quantization
step."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

from compiler.frontend import import_onnx
from compiler.graph.pipeline import run_passes
from compiler.graph.quantize import QuantizeError, evaluate_quantized, quantize_model
from tests.compiler.graph.onnx_util import init, make_model, tensor


def _float_model(rng) -> onnx.ModelProto:
    f32 = np.float32
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c2", "r1"], ["s"]),
             helper.make_node("Relu", ["s"], ["r2"]),
             helper.make_node("MaxPool", ["r2"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("GlobalAveragePool", ["p"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1)]
    w1 = rng.standard_normal((8, 3, 3, 3)) * 0.3
    w1 *= np.logspace(-1, 0, 8).reshape(-1, 1, 1, 1)  # uneven channels: per channel matters
    return make_model(nodes, [tensor("x", [1, 3, 8, 8])], [tensor("y", [1, 5])],
                      [init("w1", w1.astype(f32)),
                       init("b1", (rng.standard_normal(8) * 0.1).astype(f32)),
                       init("w2", (rng.standard_normal((8, 8, 3, 3)) * 0.15).astype(f32)),
                       init("b2", (rng.standard_normal(8) * 0.1).astype(f32)),
                       init("fw", rng.standard_normal((5, 8)).astype(f32)),
                       init("fb", (rng.standard_normal(5) * 0.1).astype(f32))], opset=13)


def _quantize_static(tmp_path, rng, calib, per_channel: bool, symmetric: bool = True):
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(calib)

        def get_next(self):
            return next(self.it, None)

    src, dst = tmp_path / "f.onnx", tmp_path / "q.onnx"
    onnx.save(_float_model(rng), src)
    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=per_channel, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8,
                    extra_options={"ActivationSymmetric": symmetric,
                                   "WeightSymmetric": True})
    return dst


def _run_ort_optimized(path, x):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def _output_scale(model: onnx.ModelProto) -> float:
    """The scale of the QuantizeLinear that feeds the output's DequantizeLinear."""
    from onnx import numpy_helper
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    dq = producer["y"]
    assert dq.op_type == "DequantizeLinear"
    return float(inits[dq.input[1]])


@pytest.mark.parametrize("per_channel", [False, True])
def test_qdq_model_matches_onnxruntime_int8(tmp_path, per_channel):
    rng = np.random.default_rng(5)
    calib = [{"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)} for _ in range(8)]
    path = _quantize_static(tmp_path, rng, calib, per_channel)
    qgraph = quantize_model(run_passes(import_onnx(path)))  # no calibration: its own scales
    accel = [n for n in qgraph.nodes if n.kind == "accel"]
    assert accel[0].fused == (accel[0].name, "Relu_11")  # conv1 + relu
    assert accel[0].op.epilogue.per_channel == per_channel
    # conv1+relu, the residual's rescale, conv2+add+relu, maxpool, the global average (a
    # ones depthwise conv requantizing into the model's finer scale), gemm; Flatten moves int8
    assert len(accel) == 6
    assert [n.kind for n in qgraph.nodes].count("host") == 1
    assert not any(n.kind == "quantize" and n.inputs[0] != "x" for n in qgraph.nodes)
    step = _output_scale(onnx.load(path))
    codes = []
    for x in [c["x"] for c in calib] + [rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
                                         for _ in range(8)]:
        want = np.rint(_run_ort_optimized(path, x) / step)
        got = np.rint(evaluate_quantized(qgraph, {"x": x})["y"] / step)
        codes.append(np.abs(got - want).max())
    assert max(codes) <= 1, codes  # within one quantization step of the int8 output
    assert np.mean(np.array(codes) == 0) > 0.1  # and often identical


def test_asymmetric_qdq_activations_are_refused_by_name(tmp_path):
    rng = np.random.default_rng(6)
    calib = [{"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)} for _ in range(4)]
    path = _quantize_static(tmp_path, rng, calib, per_channel=False, symmetric=False)
    with pytest.raises(QuantizeError, match="activation 'x'.*zero point must be 0"):
        quantize_model(run_passes(import_onnx(path)))
