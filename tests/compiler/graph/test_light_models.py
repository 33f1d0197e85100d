"""The model-zoo light models shipped in the onnx wheel (opset 9, IR 3: initializers listed
as inputs, weights built by ConstantOfShape, separate BatchNormalization, Sum, LRN, Dropout):
import, run the float pipeline, and evaluate with random weights against onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from compiler.frontend import import_onnx
from compiler.graph.ir import verify
from compiler.graph.pipeline import run_passes
from compiler.graph.reference import evaluate
from tests.compiler.graph.onnx_util import LIGHT, randomize_weights, run_ort

FAST = ["resnet50", "squeezenet", "shufflenet", "inception_v1", "inception_v2"]
SLOW = ["densenet121", "vgg19", "bvlc_alexnet", "zfnet512"]
ALL = FAST + [pytest.param(m, marks=pytest.mark.slow) for m in SLOW]


@pytest.mark.parametrize("name", ALL)
def test_light_model_matches_onnxruntime(name):
    model = randomize_weights(onnx.load(LIGHT / f"light_{name}.onnx"), seed=7)
    graph = import_onnx(model)
    # IR 3: the initializers listed among the inputs are constants; one real input remains
    assert len(graph.inputs) == 1 and len(model.graph.input) > 1
    verify(graph)
    folded = run_passes(graph)
    assert "Identity" not in {n.op for n in folded.nodes}
    x = np.random.default_rng(1).standard_normal(graph.type_of(graph.inputs[0]).shape)
    x = x.astype(np.float32)
    (want,) = run_ort(model, {graph.inputs[0]: x})
    got = evaluate(folded, {graph.inputs[0]: x})[folded.outputs[0]]
    assert got.shape == want.shape and np.isfinite(got).all()
    assert want.std() > 1e-4 * np.abs(want).max()  # random weights: not a uniform output
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * np.abs(want).max())
    # the unfolded graph (BN and all) agrees too
    raw = evaluate(graph, {graph.inputs[0]: x})[graph.outputs[0]]
    np.testing.assert_allclose(raw, want, rtol=1e-4, atol=1e-6 * np.abs(want).max())


def test_resnet50_batch_norm_folds_into_convs():
    graph = run_passes(import_onnx(LIGHT / "light_resnet50.onnx"))
    ops = [n.op for n in graph.nodes]
    assert ops.count("Conv") == 53 and "BatchNormalization" not in ops and "Mul" not in ops


def test_densenet_batch_norm_after_concat_becomes_scale_shift():
    graph = run_passes(import_onnx(LIGHT / "light_densenet121.onnx"))
    ops = [n.op for n in graph.nodes]
    assert "BatchNormalization" not in ops and ops.count("Mul") == ops.count("Add") > 0


@pytest.mark.parametrize("name,opset", [("squeezenet", 7), ("squeezenet", 13),
                                        ("squeezenet", 21), ("shufflenet", 21),
                                        pytest.param("inception_v1", 8, marks=pytest.mark.slow)])
def test_light_model_converted_to_other_opsets(name, opset):
    """The same architectures re-expressed at other opsets by onnx's version converter
    (e.g. at 21 Softmax's old 2-D coercion becomes Shape -> Flatten -> Softmax -> Reshape,
    Reshape's shape an input): same numbers as onnxruntime."""
    from onnx import version_converter
    model = randomize_weights(onnx.load(LIGHT / f"light_{name}.onnx"), seed=3)
    consts = {i.name for i in model.graph.initializer}
    real = [i for i in model.graph.input if i.name not in consts]
    del model.graph.input[:]
    model.graph.input.extend(real)
    model.ir_version = 4  # the converter needs initializers off the input list
    model = version_converter.convert_version(model, opset)
    model.ir_version = min(model.ir_version, 10)
    graph = run_passes(import_onnx(model))
    x = np.random.default_rng(2).standard_normal(graph.type_of(graph.inputs[0]).shape)
    x = x.astype(np.float32)
    (want,) = run_ort(model, {graph.inputs[0]: x})
    got = evaluate(graph, {graph.inputs[0]: x})[graph.outputs[0]]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * np.abs(want).max())
