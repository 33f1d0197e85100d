"""A small CNN for the lowering and ``vta compile`` tests, written with onnx.helper."""

from __future__ import annotations

from functools import partial

import numpy as np
import onnx
from onnx import helper

from tests.compiler.graph.onnx_util import he_weight, init, make_model, small_bias, tensor


def small_cnn(seed: int = 0, *, softmax: bool = False) -> onnx.ModelProto:
    """conv-relu -> maxpool -> conv-relu -> conv + residual add -> relu -> gap -> flatten ->
    dense (Gemm) [-> softmax], input ``x`` 1x3x16x16, output ``logits`` (or ``probs``)."""
    rng = np.random.default_rng(seed)

    w = partial(he_weight, rng)
    b = partial(small_bias, rng)

    c = 8
    inits = [init("w1", w(c, 3, 3, 3)), init("b1", b(c)), init("w2", w(c, c, 3, 3)),
             init("b2", b(c)), init("w3", w(c, c, 3, 3)), init("b3", b(c)),
             init("fc_w", w(10, c)), init("fc_b", b(10))]
    pads = [1, 1, 1, 1]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=pads),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", pads=pads),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"], name="conv3", pads=pads),
        helper.make_node("Add", ["c3", "p1"], ["s"], name="add"),
        helper.make_node("Relu", ["s"], ["r3"], name="relu3"),
        helper.make_node("GlobalAveragePool", ["r3"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["logits"], name="fc", transB=1),
    ]
    out = "logits"
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], name="softmax",
                                      axis=1))
        out = "probs"
    return make_model(nodes, [tensor("x", [1, 3, 16, 16])], [tensor(out, [1, 10])], inits)


def calib(count: int = 8, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((count, 1, 3, 16, 16)).astype(np.float32)}


def moves_cnn(seed: int = 2) -> onnx.ModelProto:
    """conv-relu -> maxpool -> Transpose(H, W) -> two conv-relu branches -> Concat on
    channels -> conv + residual add (the transposed value) -> relu -> gap -> flatten ->
    dense: int8 Transpose and Concat on the host between accelerator ops."""
    rng = np.random.default_rng(seed)

    w = partial(he_weight, rng)

    c = 8
    inits = [init("w1", w(c, 3, 3, 3)), init("wa", w(c, c, 3, 3)), init("wb", w(4, c, 1, 1)),
             init("w3", w(c, c + 4, 3, 3)), init("fc_w", w(10, c))]
    pads = [1, 1, 1, 1]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=pads),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("Transpose", ["p1"], ["t"], name="swap_hw", perm=[0, 1, 3, 2]),
        helper.make_node("Conv", ["t", "wa"], ["ca"], name="conv_a", pads=pads),
        helper.make_node("Relu", ["ca"], ["ra"], name="relu_a"),
        helper.make_node("Conv", ["t", "wb"], ["cb"], name="conv_b"),
        helper.make_node("Relu", ["cb"], ["rb"], name="relu_b"),
        helper.make_node("Concat", ["ra", "rb"], ["cat"], name="cat", axis=1),
        helper.make_node("Conv", ["cat", "w3"], ["c3"], name="conv3", pads=pads),
        helper.make_node("Add", ["c3", "t"], ["s"], name="add"),
        helper.make_node("Relu", ["s"], ["r3"], name="relu3"),
        helper.make_node("GlobalAveragePool", ["r3"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("MatMul", ["f", "fc_t"], ["logits"], name="fc"),
        helper.make_node("Transpose", ["fc_w"], ["fc_t"], name="fc_wt", perm=[1, 0]),
    ]
    nodes = nodes[:-2] + [nodes[-1], nodes[-2]]
    return make_model(nodes, [tensor("x", [1, 3, 16, 16])], [tensor("logits", [1, 10])],
                      inits)


def islands_cnn(seed: int = 3) -> onnx.ModelProto:
    """Accelerator convs around float islands and int8 moves: conv-relu -> Sigmoid (float)
    -> conv -> LRN (float) -> Split on channels (two outputs) -> conv on each half ->
    Concat -> LayerNormalization over (C, H, W) with constant scale and bias (float) ->
    conv-relu -> gap -> flatten -> dense -> Softmax.  Opset 17 (LayerNormalization)."""
    rng = np.random.default_rng(seed)

    w = partial(he_weight, rng)

    c = 8
    ln = (c, 8, 8)
    inits = [init("w1", w(c, 3, 3, 3)), init("w2", w(c, c, 3, 3)),
             init("wa", w(4, 4, 3, 3)), init("wb", w(4, 4, 1, 1)), init("w4", w(c, c, 3, 3)),
             init("ln_s", rng.uniform(0.5, 1.5, ln).astype(np.float32)),
             init("ln_b", (rng.standard_normal(ln) * 0.1).astype(np.float32)),
             init("halves", np.array([4, 4], np.int64)), init("fc_w", w(10, c))]
    pads = [1, 1, 1, 1]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=pads, strides=[2, 2]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Sigmoid", ["r1"], ["s1"], name="sigmoid"),
        helper.make_node("Conv", ["s1", "w2"], ["c2"], name="conv2", pads=pads),
        helper.make_node("LRN", ["c2"], ["n2"], name="lrn", size=3, alpha=1e-2, beta=0.75),
        helper.make_node("Split", ["n2", "halves"], ["h1", "h2"], name="split", axis=1),
        helper.make_node("Conv", ["h1", "wa"], ["ca"], name="conv_a", pads=pads),
        helper.make_node("Conv", ["h2", "wb"], ["cb"], name="conv_b"),
        helper.make_node("Concat", ["ca", "cb"], ["cat"], name="cat", axis=1),
        helper.make_node("LayerNormalization", ["cat", "ln_s", "ln_b"], ["ln"],
                         name="layernorm", axis=1),
        helper.make_node("Conv", ["ln", "w4"], ["c4"], name="conv4", pads=pads),
        helper.make_node("Relu", ["c4"], ["r4"], name="relu4"),
        helper.make_node("GlobalAveragePool", ["r4"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc_w"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1),
    ]
    return make_model(nodes, [tensor("x", [1, 3, 16, 16])], [tensor("probs", [1, 10])],
                      inits, opset=17)


def grouped_cnn(seed: int = 4) -> onnx.ModelProto:
    """conv-relu -> grouped conv (group 2, bias) + residual Add -> relu -> grouped 1x1 conv
    (group 4, no bias) -> gap -> flatten -> dense: grouped convolutions with and without a
    fused residual."""
    rng = np.random.default_rng(seed)

    w = partial(he_weight, rng)

    c = 8
    inits = [init("w1", w(c, 3, 3, 3)), init("wg", w(c, c // 2, 3, 3)),
             init("bg", (rng.standard_normal(c) * 0.1).astype(np.float32)),
             init("wp", w(c, c // 4, 1, 1)), init("fc_w", w(10, c))]
    pads = [1, 1, 1, 1]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=pads),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "wg", "bg"], ["cg"], name="gconv", pads=pads,
                         group=2),
        helper.make_node("Add", ["cg", "r1"], ["s"], name="add"),
        helper.make_node("Relu", ["s"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "wp"], ["cp"], name="pconv", group=4),
        helper.make_node("GlobalAveragePool", ["cp"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc_w"], ["logits"], name="fc", transB=1),
    ]
    return make_model(nodes, [tensor("x", [1, 3, 16, 16])], [tensor("logits", [1, 10])],
                      inits)
