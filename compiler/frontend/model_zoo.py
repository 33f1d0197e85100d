"""Reference model architectures written with ``onnx.helper``, with seeded random weights.

ResNet-18 and MobileNet-v2 shaped models, as ONNX exporters write them (Conv +
BatchNormalization + Relu, ReLU6 as ``Clip``, Flatten + Gemm at the head), so they exercise
the whole path a real export takes: import, batch-norm folding, calibration, fusion,
partitioning, lowering.  The tests (bit-exactness against the integer reference), the
benchmarks (``benchmarks/models.py``) and the CLI demo share them, so they live in the
compiler's frontend (every one of those may import the compiler; none of them may import the
tests).  Input size and width are parameters: the tests run small variants in seconds, the
benchmark runs the 224x224 originals.

Weights are He-initialized (``N(0, 2 / fan_in)``) and the batch norms get random statistics,
so activations stay O(1) through the depth and the outputs are not trivial.  Nothing is
trained: these models test arithmetic and plumbing, not accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


@dataclass
class _Net:
    """An ONNX graph under construction: nodes, initializers and a seeded generator."""

    rng: np.random.Generator
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: list[onnx.TensorProto] = field(default_factory=list)

    def const(self, name: str, array: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attrs: object) -> str:
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def conv(self, x: str, cin: int, cout: int, k: int, name: str, *, stride: int = 1,
             groups: int = 1, bias: bool = False) -> str:
        """A Conv with ``k // 2`` padding (what the torchvision models use)."""
        fan_in = cin // groups * k * k
        w = self.rng.standard_normal((cout, cin // groups, k, k)) * np.sqrt(2.0 / fan_in)
        inputs = [x, self.const(f"{name}.weight", w)]
        if bias:
            inputs.append(self.const(f"{name}.bias", self.rng.standard_normal(cout) * 0.1))
        p = k // 2
        return self.node("Conv", inputs, name, kernel_shape=[k, k], strides=[stride, stride],
                         pads=[p, p, p, p], group=groups)

    def bn(self, x: str, c: int, name: str) -> str:
        r = self.rng
        params = [self.const(f"{name}.{p}", v) for p, v in (
            ("scale", r.uniform(0.5, 1.5, c)), ("shift", r.standard_normal(c) * 0.1),
            ("mean", r.standard_normal(c) * 0.1), ("var", r.uniform(0.5, 1.5, c)))]
        return self.node("BatchNormalization", [x, *params], name, epsilon=1e-5)

    def relu6(self, x: str, name: str) -> str:
        lo = self.const(f"{name}.min", np.array(0.0))
        hi = self.const(f"{name}.max", np.array(6.0))
        return self.node("Clip", [x, lo, hi], name)

    def head(self, x: str, c: int, classes: int) -> str:
        """Global average pool -> Flatten -> Gemm (the classifier), output ``logits``."""
        g = self.node("GlobalAveragePool", [x], "gap")
        f = self.node("Flatten", [g], "flatten", axis=1)
        w = self.const("fc.weight", self.rng.standard_normal((classes, c)) * np.sqrt(1.0 / c))
        b = self.const("fc.bias", self.rng.standard_normal(classes) * 0.1)
        self.nodes.append(helper.make_node("Gemm", [f, w, b], ["logits"], name="fc",
                                           transB=1))
        return "logits"

    def model(self, name: str, size: int, classes: int) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, classes])],
            initializer=self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="vta model_zoo")
        m.ir_version = 7  # opset 13's IR: onnxruntime accepts it
        onnx.checker.check_model(m)
        return m


def _scaled(channels: int, width: float) -> int:
    """``channels * width`` rounded to a multiple of 8 (at least 8)."""
    return max(8, int(channels * width + 4) // 8 * 8)


def resnet18(size: int = 224, width: float = 1.0, classes: int = 1000,
             seed: int = 0) -> onnx.ModelProto:
    """ResNet-18 (torchvision's layout): conv 7x7 stride 2 + BN + ReLU, max pool 3x3 stride
    2, four stages of two basic blocks (3x3 conv-BN-ReLU, 3x3 conv-BN, residual add, ReLU;
    the first block of stages 2-4 strides by 2 and its shortcut is a 1x1 conv + BN), global
    average pool, Flatten, Gemm.  Input ``input`` (1, 3, size, size), output ``logits``
    (1, classes).  ``width`` scales every channel count (64, 128, 256, 512 at 1.0)."""
    if size < 32 or size % 32:
        raise ValueError(f"resnet18: size must be a positive multiple of 32, got {size}")
    net = _Net(np.random.default_rng(seed))
    c = _scaled(64, width)
    h = net.node("Relu", [net.bn(net.conv("input", 3, c, 7, "conv1", stride=2), c, "bn1")],
                 "relu1")
    h = net.node("MaxPool", [h], "maxpool", kernel_shape=[3, 3], strides=[2, 2],
                 pads=[1, 1, 1, 1])
    cin = c
    for stage, base in enumerate((64, 128, 256, 512), start=1):
        cout = _scaled(base, width)
        for block in range(2):
            pre = f"layer{stage}.{block}"
            stride = 2 if stage > 1 and block == 0 else 1
            r = net.conv(h, cin, cout, 3, f"{pre}.conv1", stride=stride)
            r = net.node("Relu", [net.bn(r, cout, f"{pre}.bn1")], f"{pre}.relu1")
            r = net.bn(net.conv(r, cout, cout, 3, f"{pre}.conv2"), cout, f"{pre}.bn2")
            short = h
            if stride != 1 or cin != cout:
                short = net.bn(net.conv(h, cin, cout, 1, f"{pre}.downsample.0", stride=stride),
                               cout, f"{pre}.downsample.1")
            h = net.node("Relu", [net.node("Add", [r, short], f"{pre}.add")], f"{pre}.relu2")
            cin = cout
    net.head(h, cin, classes)
    return net.model("resnet18", size, classes)


# MobileNet-v2's inverted residual settings: expansion t, channels c, repeats n, stride s
_MBV2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
         (6, 160, 3, 2), (6, 320, 1, 1))


def mobilenet_v2(size: int = 224, width: float = 1.0, classes: int = 1000, seed: int = 0,
                 *, blocks: int | None = None) -> onnx.ModelProto:
    """MobileNet-v2 (torchvision's layout): conv 3x3 stride 2 + BN + ReLU6, seventeen
    inverted residual blocks (1x1 expand + BN + ReLU6 (``Clip``), depthwise 3x3 stride 1 or
    2 + BN + ReLU6, 1x1 linear project + BN, residual add when stride 1 and the channels
    match), 1x1 conv to 1280 + BN + ReLU6, global average pool, Flatten, Gemm.  Input
    ``input`` (1, 3, size, size), output ``logits`` (1, classes).  ``width`` scales the
    channel counts; ``blocks`` keeps only the first so many inverted residuals (a short
    variant for fast tests)."""
    if size < 32 or size % 32:
        raise ValueError(f"mobilenet_v2: size must be a positive multiple of 32, got {size}")
    net = _Net(np.random.default_rng(seed))
    c = _scaled(32, width)
    h = net.relu6(net.bn(net.conv("input", 3, c, 3, "stem", stride=2), c, "stem.bn"),
                  "stem.relu6")
    cin, index = c, 0
    for t, base, n, s in _MBV2:
        cout = _scaled(base, width)
        for i in range(n):
            if blocks is not None and index >= blocks:
                break
            pre, stride, hidden = f"block{index}", (s if i == 0 else 1), cin * t
            r = h
            if t != 1:
                r = net.conv(r, cin, hidden, 1, f"{pre}.expand")
                r = net.relu6(net.bn(r, hidden, f"{pre}.expand.bn"), f"{pre}.expand.relu6")
            r = net.conv(r, hidden, hidden, 3, f"{pre}.dw", stride=stride, groups=hidden)
            r = net.relu6(net.bn(r, hidden, f"{pre}.dw.bn"), f"{pre}.dw.relu6")
            r = net.bn(net.conv(r, hidden, cout, 1, f"{pre}.project"), cout,
                       f"{pre}.project.bn")
            h = net.node("Add", [r, h], f"{pre}.add") if stride == 1 and cin == cout else r
            cin, index = cout, index + 1
    last = _scaled(1280, max(width, 1.0))
    h = net.relu6(net.bn(net.conv(h, cin, last, 1, "last"), last, "last.bn"), "last.relu6")
    net.head(h, last, classes)
    return net.model("mobilenet_v2", size, classes)


MODELS = {"resnet18": resnet18, "mobilenet_v2": mobilenet_v2}


__all__ = ["MODELS", "mobilenet_v2", "resnet18"]
