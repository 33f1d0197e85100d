"""Small float models for the quantization tests, written with the graph builder."""

from __future__ import annotations

import numpy as np

from compiler.frontend.builder import GraphBuilder
from compiler.graph.ir import Graph
from compiler.graph.pipeline import run_passes
from tests.compiler.graph.onnx_util import he_weight


def resnet_block_model(seed: int = 0, channels: int = 8, classes: int = 10,
                       outlier: float = 1.0, dead_channel: bool = False) -> Graph:
    """conv-bn-relu -> maxpool -> conv-bn-relu -> conv-bn + residual add -> relu ->
    depthwise conv -> avgpool -> add -> mul -> gap -> flatten -> dense -> softmax.

    ``outlier`` scales output channel 0 of the first conv (its other channels become hard to
    represent in a per-tensor activation scale); ``dead_channel`` gives output channel 0 of
    the first conv 100x larger weights and a bias that keeps it below zero, so its ReLU
    output is always 0 (a dead channel: harmless in float, but one per-tensor weight scale
    then leaves the other channels a few levels; per-channel weights are needed)."""
    rng = np.random.default_rng(seed)
    c = channels
    b = GraphBuilder("resnetish")
    x = b.input("x", (2, 3, 16, 16))

    def bn(v, gamma=None, beta=None):
        g = np.ones(c, np.float32) if gamma is None else gamma
        shift = rng.standard_normal(c).astype(np.float32) * 0.1
        return b.batch_norm(v, g, shift if beta is None else beta,
                            rng.standard_normal(c).astype(np.float32) * 0.1,
                            rng.uniform(0.5, 1.5, c).astype(np.float32))

    w1 = he_weight(rng, c, 3, 3, 3)
    gamma1 = rng.uniform(0.5, 1.5, c).astype(np.float32)
    beta1 = rng.standard_normal(c).astype(np.float32) * 0.1
    if dead_channel:
        w1[0] *= 100.0
        beta1[0] = -1e4
    gamma1[0] *= outlier
    h = b.relu(bn(b.conv2d(x, w1, padding=1, name="conv1"), gamma1, beta1), name="relu1")
    h = b.max_pool(h, 2, 2, name="pool1")
    w2 = he_weight(rng, c, c, 3, 3)
    if outlier != 1.0:
        w2[:, 0] /= outlier  # the next layer hardly reads the outlier channel
    r = b.relu(bn(b.conv2d(h, w2, padding=1, name="conv2")), name="relu2")
    r = bn(b.conv2d(r, he_weight(rng, c, c, 3, 3), padding=1, name="conv3"))
    h = b.relu(b.add(r, h, name="residual"), name="relu3")
    d = b.conv2d(h, he_weight(rng, c, 1, 3, 3), rng.standard_normal(c).astype(np.float32) * 0.1,
                 padding=1, groups=c, name="dwconv")
    d = b.clip(d, 0.0, 6.0, name="relu6")
    p = b.avg_pool(d, 2, 2, name="avgpool")
    q = b.max_pool(h, 2, 2, name="pool2")
    s = b.add(p, q, name="add2")
    m = b.mul(s, b.relu(q, name="relu4"), name="gate")
    g = b.flatten(b.global_avg_pool(m, name="gap"))
    y = b.dense(g, he_weight(rng, classes, c),
                rng.standard_normal(classes).astype(np.float32) * 0.1, name="fc")
    b.output(y, b.softmax(y, name="softmax"))
    return run_passes(b.build())


def samples(graph: Graph, count: int, seed: int = 1) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    name = graph.inputs[0]
    shape = graph.types[name].shape
    return [{name: rng.standard_normal(shape).astype(np.float32)} for _ in range(count)]


def mobilenet_block_model(seed: int = 0) -> Graph:
    """MobileNet-v2 shaped: stem conv stride 2 + ReLU6, an inverted residual (1x1 expand +
    ReLU6, 3x3 depthwise + ReLU6, 1x1 linear project + residual add), a strided block
    (depthwise stride 2), global average, dense."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("mobilenetish")
    x = b.input("x", (1, 3, 16, 16))

    def bias(n):
        return (rng.standard_normal(n) * 0.1).astype(np.float32)

    def relu6(v, name):
        return b.clip(v, 0.0, 6.0, name=name)

    h = relu6(b.conv2d(x, he_weight(rng, 8, 3, 3, 3), bias(8), stride=2, padding=1, name="stem"),
              "stem_relu6")
    e = relu6(b.conv2d(h, he_weight(rng, 24, 8, 1, 1), bias(24), name="expand"), "expand_relu6")
    d = relu6(b.conv2d(e, he_weight(rng, 24, 1, 3, 3), bias(24), padding=1, groups=24, name="dw"),
              "dw_relu6")
    p = b.conv2d(d, he_weight(rng, 8, 24, 1, 1), bias(8), name="project")
    h = b.add(p, h, name="block_add")
    e = relu6(b.conv2d(h, he_weight(rng, 16, 8, 1, 1), bias(16), name="expand2"), "expand2_relu6")
    d = relu6(b.conv2d(e, he_weight(rng, 16, 1, 3, 3), bias(16), stride=2, padding=1, groups=16,
                       name="dw2"), "dw2_relu6")
    p = b.conv2d(d, he_weight(rng, 16, 16, 1, 1), bias(16), name="project2")
    g = b.flatten(b.global_avg_pool(p, name="gap"))
    b.output(b.dense(g, he_weight(rng, 10, 16), bias(10), name="fc"))
    return run_passes(b.build())
