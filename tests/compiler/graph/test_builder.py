"""The Python graph builder: the same model written with the builder and with onnx.helper
computes the same (the builder graph through the reference, the ONNX one in onnxruntime)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

from compiler.frontend import GraphBuilder
from compiler.graph.errors import ShapeError
from compiler.graph.pipeline import run_passes
from compiler.graph.reference import evaluate
from tests.compiler.graph.onnx_util import init, make_model, run_ort, tensor


def test_builder_block_matches_onnx_model():
    rng = np.random.default_rng(3)
    f = np.float32
    w1 = (rng.standard_normal((8, 8, 3, 3)) * 0.2).astype(f)
    w2 = (rng.standard_normal((8, 8, 3, 3)) * 0.2).astype(f)
    g, be, m, v = (rng.uniform(0.5, 1.5, 8).astype(f) for _ in range(4))
    fc = rng.standard_normal((5, 8)).astype(f)
    fcb = rng.standard_normal(5).astype(f)

    b = GraphBuilder("block")
    x = b.input("x", (2, 8, 10, 10))
    y = b.relu(b.batch_norm(b.conv2d(x, w1, padding=1), g, be, m, v))
    y = b.conv2d(y, w2, np.zeros(8, f), padding=(1, 1), stride=1)
    y = b.relu(b.add(y, x))
    y = b.max_pool(y, 3, 2, 1)
    y = b.dense(b.flatten(b.global_avg_pool(y)), fc, fcb)
    b.output(b.softmax(y))
    graph = run_passes(b.build())
    assert [n.op for n in graph.nodes] == ["Conv", "Relu", "Conv", "Add", "Relu", "MaxPool",
                                           "GlobalAveragePool", "Reshape", "Gemm", "Softmax"]

    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c1", "g", "be", "m", "v"], ["n1"]),
             helper.make_node("Relu", ["n1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c2", "x"], ["s"]),
             helper.make_node("Relu", ["s"], ["r2"]),
             helper.make_node("MaxPool", ["r2"], ["p"], kernel_shape=[3, 3], strides=[2, 2],
                              pads=[1, 1, 1, 1]),
             helper.make_node("GlobalAveragePool", ["p"], ["gp"]),
             helper.make_node("Flatten", ["gp"], ["fl"]),
             helper.make_node("Gemm", ["fl", "fc", "fcb"], ["o"], transB=1),
             helper.make_node("Softmax", ["o"], ["y"], axis=-1)]
    model = make_model(nodes, [tensor("x", [2, 8, 10, 10])], [onnx.ValueInfoProto(name="y")],
                       [init(k, a) for k, a in dict(w1=w1, w2=w2, g=g, be=be, m=m, v=v,
                                                      fc=fc, fcb=fcb).items()])
    xin = rng.standard_normal((2, 8, 10, 10)).astype(f)
    (want,) = run_ort(model, {"x": xin})
    got = evaluate(graph, {"x": xin})[graph.outputs[0]]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_builder_shape_error_names_the_node():
    b = GraphBuilder()
    x = b.input("x", (1, 3, 8, 8))
    with pytest.raises(ShapeError, match="'stem'.*weight \\[4, 5, 3, 3\\]"):
        b.conv2d(x, np.zeros((4, 5, 3, 3), np.float32), name="stem")


def test_builder_names_are_unique():
    b = GraphBuilder()
    x = b.input("x", (2, 3))
    y = b.relu(b.relu(x))
    b.output(y)
    g = b.build()
    assert [n.name for n in g.nodes] == ["relu", "relu_1"] and g.outputs == ("relu_1",)
