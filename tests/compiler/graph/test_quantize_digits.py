"""Real data: a small CNN trained here (numpy, plain backprop with Adam) on scikit-learn's
bundled ``load_digits`` (no downloads), exported to ONNX with onnx.helper, imported,
calibrated on training images and evaluated in int8: test accuracy within 1 point of float
and at least 98% of predictions identical."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from compiler.frontend import import_onnx
from compiler.graph.pipeline import run_passes
from compiler.graph.quantize import evaluate_quantized, quantize_model
from compiler.graph.reference import evaluate
from tests.compiler.graph.onnx_util import init, make_model

BATCH = 50
CH = 16


def _im2col(x: np.ndarray) -> np.ndarray:
    """(N, 1, 8, 8) -> (N, 9, 64): the 3x3 windows of the zero-padded image."""
    xp = np.pad(x[:, 0], ((0, 0), (1, 1), (1, 1)))
    return np.stack([xp[:, u:u + 8, v:v + 8].reshape(len(x), 64)
                     for u in range(3) for v in range(3)], axis=1)


def _train(x: np.ndarray, y: np.ndarray, epochs: int = 25, seed: int = 0):
    """conv3x3(1->16, pad 1) + ReLU -> maxpool 2 -> flatten -> dense(256->10), softmax
    cross-entropy, Adam; returns (conv w, conv b, dense w, dense b)."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((CH, 9)) * np.sqrt(2 / 9), np.zeros(CH),
              rng.standard_normal((10, CH * 16)) * np.sqrt(1 / (CH * 16)), np.zeros(10)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    cols_all = _im2col(x)
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for i in range(0, len(x), 32):
            idx = order[i:i + 32]
            cols, n = cols_all[idx], len(idx)
            w1, b1, w2, b2 = params
            z = np.einsum("oc,nck->nok", w1, cols) + b1[None, :, None]
            a = np.maximum(z, 0).reshape(n, CH, 4, 2, 4, 2)
            p = a.max(axis=(3, 5))
            logits = p.reshape(n, -1) @ w2.T + b2
            e = np.exp(logits - logits.max(axis=1, keepdims=True))
            d = e / e.sum(axis=1, keepdims=True)
            d[np.arange(n), y[idx]] -= 1
            d /= n
            dp = (d @ w2).reshape(n, CH, 4, 1, 4, 1)
            da = (a == p[:, :, :, None, :, None]) * dp
            dz = da.reshape(n, CH, 64) * (z > 0)
            grads = [np.einsum("nok,nck->oc", dz, cols), dz.sum(axis=(0, 2)),
                     d.T @ p.reshape(n, -1), d.sum(axis=0)]
            step += 1
            for j, g in enumerate(grads):
                m[j] = 0.9 * m[j] + 0.1 * g
                v[j] = 0.999 * v[j] + 0.001 * g * g
                mh, vh = m[j] / (1 - 0.9 ** step), v[j] / (1 - 0.999 ** step)
                params[j] = params[j] - 0.01 * mh / (np.sqrt(vh) + 1e-8)
    return params


def _onnx_model(params):
    w1, b1, w2, b2 = (p.astype(np.float32) for p in params)
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c"], pads=[1, 1, 1, 1],
                              kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "w2", "b2"], ["logits"], transB=1)]
    x = helper.make_tensor_value_info("x", 1, ["N", 1, 8, 8])
    out = helper.make_tensor_value_info("logits", 1, ["N", 10])
    return make_model(nodes, [x], [out], [init("w1", w1.reshape(CH, 1, 3, 3)), init("b1", b1),
                                          init("w2", w2), init("b2", b2)], opset=13)


def test_digits_cnn_int8_accuracy():
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    y = digits.target
    order = np.random.default_rng(1).permutation(len(x))
    train, test = order[:-9 * BATCH], order[-9 * BATCH:]  # 1347 training, 450 test images
    params = _train(x[train].astype(np.float64), y[train])
    graph = run_passes(import_onnx(_onnx_model(params), input_shapes={"x": (BATCH, 1, 8, 8)}))
    calib = [{"x": x[train[i:i + BATCH]]} for i in range(0, 4 * BATCH, BATCH)]
    qgraph = quantize_model(graph, calib, method="percentile")
    assert [n.kind for n in qgraph.nodes].count("accel") == 3  # conv+relu, maxpool, dense
    float_pred, int8_pred = [], []
    for i in range(0, len(test), BATCH):
        batch = {"x": x[test[i:i + BATCH]]}
        float_pred.append(evaluate(graph, batch)["logits"].argmax(axis=1))
        int8_pred.append(evaluate_quantized(qgraph, batch)["logits"].argmax(axis=1))
    float_pred, int8_pred = np.concatenate(float_pred), np.concatenate(int8_pred)
    float_acc = np.mean(float_pred == y[test])
    int8_acc = np.mean(int8_pred == y[test])
    assert float_acc >= 0.95, float_acc  # the trained float model is a real classifier
    print(f"digits: float {float_acc:.4f} int8 {int8_acc:.4f} "
          f"identical {np.mean(int8_pred == float_pred):.4f}")
    assert abs(int8_acc - float_acc) <= 0.01, (float_acc, int8_acc)
    assert np.mean(int8_pred == float_pred) >= 0.98
