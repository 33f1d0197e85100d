"""A small CNN trained on scikit-learn's bundled digits, exported to ONNX: real data, no download.

``vta demo`` (and the notebooks) need a model whose accuracy means something, so that
"int8 on the accelerator against float" is a real comparison, yet that trains in a second
on two shared cores.  This is it: 8x8 grey images (``sklearn.datasets.load_digits``: 1797
images, 10 classes), two convolutions and a classifier::

    x (1, 1, 8, 8) -> Conv 3x3 (16, pad 1) -> Relu -> Conv 3x3 stride 2 (32, pad 1) -> Relu
      -> Flatten -> Gemm (512 -> 10) -> logits

trained in numpy (im2col, softmax cross-entropy, Adam, fixed seeds: the same weights on
every run), and written with ``onnx.helper`` as an exporter would write it.  The split is
seeded too: ``train`` images train the model and calibrate the quantizer, ``test`` images
are held out for the accuracy figures.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

C1, C2, CLASSES = 16, 32, 10
OPSET = 13


@dataclass(frozen=True)
class DigitsData:
    """Images (N, 1, 8, 8) float32 in [0, 1] and labels (N,) int64, split by a seeded draw."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class DigitsCnn:
    """Trained float32 parameters; ``predict`` is the float model in numpy."""

    w1: np.ndarray  # (C1, 1, 3, 3)
    b1: np.ndarray
    w2: np.ndarray  # (C2, C1, 3, 3)
    b2: np.ndarray
    w3: np.ndarray  # (CLASSES, C2 * 16)
    b3: np.ndarray

    def logits(self, x: np.ndarray) -> np.ndarray:
        """The float model's logits for images ``x`` (N, 1, 8, 8)."""
        a1 = np.maximum(_conv(x, self.w1, self.b1, stride=1), 0)
        a2 = np.maximum(_conv(a1, self.w2, self.b2, stride=2), 0)
        return a2.reshape(len(x), -1) @ self.w3.T + self.b3

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.logits(x).argmax(axis=1) == y))


def _digits_array() -> np.ndarray:
    """The 1797 x 65 digits table (64 pixels 0..16, then the label).

    Read from the CSV that scikit-learn ships (what ``load_digits`` parses) without
    importing scikit-learn, which takes seconds on a busy machine; ``load_digits`` itself
    if that file moved."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        raise ImportError("the digits data set comes with scikit-learn: pip install "
                          "scikit-learn")
    for root in spec.submodule_search_locations or ():
        path = Path(root) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            return np.loadtxt(path, delimiter=",")
    from sklearn.datasets import load_digits

    data = load_digits()
    return np.concatenate([data.data, data.target[:, None]], axis=1)


def load_data(test_size: int = 360, seed: int = 0) -> DigitsData:
    """scikit-learn's digits (bundled with the wheel), scaled to [0, 1]; ``test_size``
    images held out, drawn by ``seed``."""
    table = _digits_array()
    x = (table[:, :64] / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = table[:, 64].astype(np.int64)
    if not 0 < test_size < len(x):
        raise ValueError(f"test_size must be between 1 and {len(x) - 1}, got {test_size}")
    order = np.random.default_rng(seed).permutation(len(x))
    test, train = order[:test_size], order[test_size:]
    return DigitsData(x[train], y[train], x[test], y[test])


def _cols(x: np.ndarray, stride: int) -> np.ndarray:
    """im2col of a 3x3, pad-1 convolution: (N, C, H, W) -> (N * Ho * Wo, C * 9) rows."""
    n, c, h, w = x.shape
    ho, wo = (h - 1) // stride + 1, (w - 1) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.stack([xp[:, :, u:u + stride * ho:stride, v:v + stride * wo:stride]
                     for u in range(3) for v in range(3)], axis=-1)  # (N, C, Ho, Wo, 9)
    return cols.transpose(0, 2, 3, 1, 4).reshape(n * ho * wo, c * 9)


def _uncols(d: np.ndarray, shape: tuple[int, int, int, int], stride: int) -> np.ndarray:
    """The adjoint of :func:`_cols`: scatter-add (N * Ho * Wo, C * 9) back onto (N, C, H, W)."""
    n, c, h, w = shape
    ho, wo = (h - 1) // stride + 1, (w - 1) // stride + 1
    d = d.reshape(n, ho, wo, c, 9).transpose(0, 3, 4, 1, 2)  # (N, C, 9, Ho, Wo)
    xp = np.zeros((n, c, h + 2, w + 2), d.dtype)
    for k in range(9):
        u, v = divmod(k, 3)
        xp[:, :, u:u + stride * ho:stride, v:v + stride * wo:stride] += d[:, :, k]
    return xp[:, :, 1:-1, 1:-1]


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    """3x3, pad-1 convolution as one GEMM: (N, C, H, W) -> (N, O, Ho, Wo)."""
    n, _, h, wd = x.shape
    ho, wo = (h - 1) // stride + 1, (wd - 1) // stride + 1
    y = _cols(x, stride) @ w.reshape(len(w), -1).T + b
    return y.reshape(n, ho, wo, len(w)).transpose(0, 3, 1, 2)


def train(data: DigitsData, *, epochs: int = 6, batch: int = 32, lr: float = 3e-3,
          seed: int = 0) -> DigitsCnn:
    """Train the CNN on ``data.x_train`` with Adam (float32 numpy, deterministic for a seed).

    Activations are kept as (images * positions, channels) rows so that every product is
    one float32 GEMM (BLAS), which is what makes this a second's work.  BLAS runs on one
    thread: these products are small, and with the other core busy OpenBLAS's threads
    spin-wait (measured: 1.5 s an epoch against 0.23 s)."""
    from threadpoolctl import threadpool_limits

    if epochs < 1 or batch < 1:
        raise ValueError(f"epochs and batch must be at least 1, got {epochs} and {batch}")
    with threadpool_limits(limits=1, user_api="blas"):
        return _train(data, epochs, batch, lr, seed)


def _train(data: DigitsData, epochs: int, batch: int, lr: float, seed: int) -> DigitsCnn:
    rng = np.random.default_rng(seed)
    f32 = np.float32

    def he(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(f32)

    # w1 (9, C1), w2 (C1 * 9, C2) with rows ordered (channel, tap), w3 (C2 * 16, 10) with
    # rows ordered (channel, position): the transposes of the ONNX weights
    params = [he((9, C1), 9), np.zeros(C1, f32), he((C1 * 9, C2), C1 * 9), np.zeros(C2, f32),
              he((C2 * 16, CLASSES), C2 * 16), np.zeros(CLASSES, f32)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    x, y = data.x_train, data.y_train
    cols1_all = _cols(x, 1).reshape(len(x), 64, 9)
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            n = len(idx)
            w1, b1, w2, b2, w3, b3 = params
            cols1 = cols1_all[idx].reshape(n * 64, 9)
            z1 = cols1 @ w1 + b1  # (n * 64, C1): rows (image, y, x)
            a1 = np.maximum(z1, 0).reshape(n, 8, 8, C1).transpose(0, 3, 1, 2)
            cols2 = _cols(a1, 2)  # (n * 16, C1 * 9)
            z2 = cols2 @ w2 + b2  # (n * 16, C2)
            a2 = np.maximum(z2, 0).reshape(n, 16, C2).transpose(0, 2, 1).reshape(n, -1)
            logits = a2 @ w3 + b3
            e = np.exp(logits - logits.max(axis=1, keepdims=True))
            d = e / e.sum(axis=1, keepdims=True)
            d[np.arange(n), y[idx]] -= 1
            d /= n
            dz2 = (d @ w3.T).reshape(n, C2, 16).transpose(0, 2, 1).reshape(n * 16, C2)
            dz2 *= z2 > 0
            da1 = _uncols(dz2 @ w2.T, (n, C1, 8, 8), 2)  # (n, C1, 8, 8)
            dz1 = da1.transpose(0, 2, 3, 1).reshape(n * 64, C1) * (z1 > 0)
            grads = [cols1.T @ dz1, dz1.sum(axis=0), cols2.T @ dz2, dz2.sum(axis=0),
                     a2.T @ d, d.sum(axis=0)]
            step += 1
            for j, g in enumerate(grads):
                m[j] = 0.9 * m[j] + 0.1 * g
                v[j] = 0.999 * v[j] + 0.001 * g * g
                mh, vh = m[j] / (1 - 0.9 ** step), v[j] / (1 - 0.999 ** step)
                params[j] = (params[j] - lr * mh / (np.sqrt(vh) + 1e-8)).astype(f32)
    w1, b1, w2, b2, w3, b3 = params
    return DigitsCnn(w1.T.reshape(C1, 1, 3, 3).copy(), b1, w2.T.reshape(C2, C1, 3, 3).copy(),
                     b2, w3.T.copy(), b3)


def to_onnx(model: DigitsCnn, batch: int = 1) -> onnx.ModelProto:
    """The trained CNN as an ONNX model (opset 13, input ``x`` of ``batch`` images, output
    ``logits``), node names ``conv1``, ``relu1``, ``conv2``, ``relu2``, ``flatten``, ``fc``."""
    inits = [numpy_helper.from_array(np.asarray(a, np.float32), name) for name, a in (
        ("conv1.weight", model.w1), ("conv1.bias", model.b1), ("conv2.weight", model.w2),
        ("conv2.bias", model.b2), ("fc.weight", model.w3), ("fc.bias", model.b3))]
    nodes = [
        helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["conv1"], name="conv1",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv1"], ["relu1"], name="relu1"),
        helper.make_node("Conv", ["relu1", "conv2.weight", "conv2.bias"], ["conv2"],
                         name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                         strides=[2, 2]),
        helper.make_node("Relu", ["conv2"], ["relu2"], name="relu2"),
        helper.make_node("Flatten", ["relu2"], ["flatten"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flatten", "fc.weight", "fc.bias"], ["logits"], name="fc",
                         transB=1),
    ]
    graph = helper.make_graph(
        nodes, "digits_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, CLASSES])],
        inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                          producer_name="vta-codesign digits")
    onnx.checker.check_model(m)
    return m


__all__ = ["DigitsData", "DigitsCnn", "load_data", "train", "to_onnx"]
