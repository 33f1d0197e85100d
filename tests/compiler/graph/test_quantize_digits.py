"""Real data: a small CNN trained here (numpy, plain backprop with Adam) on scikit-learn's
bundled ``load_digits`` (no downloads), exported to ONNX with onnx.helper, calibrated on
training images and evaluated in int8: test accuracy within 1 point of float and at least
98% of predictions identical -- once with the integer reference, and once through the CLI
(``vta compile --calib`` on training images, ``vta run`` on the simulator)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import onnx
import pytest
from onnx import helper

from compiler.frontend import import_onnx
from compiler.graph.pipeline import run_passes
from compiler.graph.quantize import evaluate_quantized, quantize_model
from compiler.graph.reference import evaluate
from tests.compiler.graph.onnx_util import init, make_model
from vta.cli import main

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


@dataclass(frozen=True)
class Digits:
    """The split data set, the trained model and its float predictions on the test set."""

    x: np.ndarray
    y: np.ndarray
    train: np.ndarray
    test: np.ndarray
    model: onnx.ModelProto
    graph: object  # the float graph at batch BATCH
    float_pred: np.ndarray


@pytest.fixture(scope="module")
def digits() -> Digits:
    datasets = pytest.importorskip("sklearn.datasets")
    data = datasets.load_digits()
    x = (data.images / 16.0).astype(np.float32)[:, None]
    y = data.target
    order = np.random.default_rng(1).permutation(len(x))
    train, test = order[:-9 * BATCH], order[-9 * BATCH:]  # 1347 training, 450 test images
    model = _onnx_model(_train(x[train].astype(np.float64), y[train]))
    graph = run_passes(import_onnx(model, input_shapes={"x": (BATCH, 1, 8, 8)}))
    float_pred = np.concatenate([evaluate(graph, {"x": b})["logits"].argmax(axis=1)
                                 for b in _batches(x[test])])
    assert np.mean(float_pred == y[test]) >= 0.95  # the trained float model is a real classifier
    return Digits(x, y, train, test, model, graph, float_pred)


def _batches(x: np.ndarray) -> np.ndarray:
    """(samples, BATCH, 1, 8, 8): the images in batches of BATCH."""
    return x.reshape(-1, BATCH, *x.shape[1:])


def _check_accuracy(d: Digits, int8_pred: np.ndarray, what: str) -> None:
    float_acc = np.mean(d.float_pred == d.y[d.test])
    int8_acc = np.mean(int8_pred == d.y[d.test])
    same = np.mean(int8_pred == d.float_pred)
    print(f"digits ({what}): float {float_acc:.4f} int8 {int8_acc:.4f} identical {same:.4f}")
    assert abs(int8_acc - float_acc) <= 0.01, (float_acc, int8_acc)
    assert same >= 0.98


def test_digits_cnn_int8_accuracy(digits):
    d = digits
    calib = [{"x": b} for b in _batches(d.x[d.train[:4 * BATCH]])]
    qgraph = quantize_model(d.graph, calib, method="percentile")
    assert [n.kind for n in qgraph.nodes].count("accel") == 3  # conv+relu, maxpool, dense
    int8_pred = np.concatenate([evaluate_quantized(qgraph, {"x": b})["logits"].argmax(axis=1)
                                for b in _batches(d.x[d.test])])
    _check_accuracy(d, int8_pred, "integer reference")


def test_digits_cnn_through_vta_compile_and_run_on_the_simulator(digits, tmp_path, capsys):
    """The same model as a user runs it: ``vta compile`` calibrated on training images
    (every op on the accelerator), ``vta run`` of the 450 test images on the simulator (in
    batches of BATCH: one launch per batch), with the profile."""
    d = digits
    onnx.save(d.model, tmp_path / "digits.onnx")
    np.savez(tmp_path / "calib.npz", x=_batches(d.x[d.train[:4 * BATCH]]))
    np.savez(tmp_path / "test.npz", x=_batches(d.x[d.test]))
    module, out, prof = tmp_path / "digits.vtam", tmp_path / "out.npz", tmp_path / "p.json"
    assert main(["compile", str(tmp_path / "digits.onnx"), "-o", str(module),
                 "--calib", str(tmp_path / "calib.npz"), "--calibrator", "percentile",
                 "--input-shape", f"x={BATCH}x1x8x8", "--targets", "vta"]) == 0
    assert main(["run", str(module), "--inputs", str(tmp_path / "test.npz"), "-o", str(out),
                 "--device", "sim", "--profile", str(prof)]) == 0
    capsys.readouterr()
    logits = np.load(out)["logits"]
    assert logits.shape == (len(d.test) // BATCH, BATCH, 10)
    _check_accuracy(d, logits.reshape(-1, 10).argmax(axis=1), "vta compile + vta run, sim")
    totals = json.loads(prof.read_text())["totals"]
    assert totals["macs_on_accelerator"] == totals["macs_total"] > 0
    assert totals["accelerator_cycles"] > 0
