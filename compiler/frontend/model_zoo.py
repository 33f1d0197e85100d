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

    def const_i64(self, name: str, values: list[int]) -> str:
        """An int64 constant (shapes, axes)."""
        self.inits.append(numpy_helper.from_array(np.asarray(values, np.int64), name))
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


# LayerNormalization is opset 17, Gelu opset 20: the encoder declares 20 (ReduceMean then
# takes its axes as an input, as exporters of that opset write it)
ENCODER_OPSET = 20


@dataclass
class _Encoder:
    """The pieces of a BERT/ViT-style encoder layer as an exporter writes them."""

    net: _Net
    seq: int
    hidden: int
    heads: int
    layer_norm: str
    gelu: str

    def linear(self, x: str, cin: int, cout: int, name: str) -> str:
        """``x @ W + b`` as MatMul + Add (torch's nn.Linear export), ``W`` (cin, cout)."""
        r = self.net.rng
        w = self.net.const(f"{name}.weight", r.standard_normal((cin, cout)) / np.sqrt(cin))
        b = self.net.const(f"{name}.bias", r.standard_normal(cout) * 0.1)
        return self.net.node("Add", [self.net.node("MatMul", [x, w], f"{name}.matmul"), b],
                             f"{name}.add")

    def to_heads(self, x: str, name: str, *, transposed: bool = False) -> str:
        """(1, seq, hidden) -> (1, heads, seq, d), or (1, heads, d, seq) for Kᵀ."""
        d = self.hidden // self.heads
        shape = self.net.const_i64(f"{name}.shape", [1, self.seq, self.heads, d])
        r = self.net.node("Reshape", [x, shape], f"{name}.reshape")
        return self.net.node("Transpose", [r], f"{name}.transpose",
                             perm=[0, 2, 3, 1] if transposed else [0, 2, 1, 3])

    def attention(self, x: str, pre: str) -> str:
        net, h = self.net, self.hidden
        q = self.to_heads(self.linear(x, h, h, f"{pre}.query"), f"{pre}.q")
        k = self.to_heads(self.linear(x, h, h, f"{pre}.key"), f"{pre}.k", transposed=True)
        v = self.to_heads(self.linear(x, h, h, f"{pre}.value"), f"{pre}.v")
        scores = net.node("MatMul", [q, k], f"{pre}.scores")
        root = net.const(f"{pre}.sqrt_d", np.array(np.sqrt(h // self.heads)))
        probs = net.node("Softmax", [net.node("Div", [scores, root], f"{pre}.scale")],
                         f"{pre}.softmax", axis=-1)
        ctx = net.node("MatMul", [probs, v], f"{pre}.context")
        ctx = net.node("Transpose", [ctx], f"{pre}.context.transpose", perm=[0, 2, 1, 3])
        shape = net.const_i64(f"{pre}.context.shape", [1, self.seq, h])
        ctx = net.node("Reshape", [ctx, shape], f"{pre}.context.reshape")
        return self.linear(ctx, h, h, f"{pre}.output")

    def norm(self, x: str, name: str) -> str:
        """LayerNormalization over the hidden axis, or its decomposition (ReduceMean, Sub,
        Pow, Add eps, Sqrt, Div, Mul gamma, Add beta) as older exporters write it."""
        net, r = self.net, self.net.rng
        gamma = net.const(f"{name}.gamma", r.uniform(0.8, 1.2, self.hidden))
        beta = net.const(f"{name}.beta", r.standard_normal(self.hidden) * 0.1)
        if self.layer_norm == "op":
            return net.node("LayerNormalization", [x, gamma, beta], name, axis=-1,
                            epsilon=1e-5)
        axes = net.const_i64(f"{name}.axes", [-1])
        mean = net.node("ReduceMean", [x, axes], f"{name}.mean")
        d = net.node("Sub", [x, mean], f"{name}.sub")
        sq = net.node("Pow", [d, net.const(f"{name}.two", np.array(2.0))], f"{name}.pow")
        var = net.node("ReduceMean", [sq, axes], f"{name}.var")
        eps = net.const(f"{name}.eps", np.array(1e-5))
        std = net.node("Sqrt", [net.node("Add", [var, eps], f"{name}.add_eps")],
                       f"{name}.sqrt")
        y = net.node("Div", [d, std], f"{name}.div")
        return net.node("Add", [net.node("Mul", [y, gamma], f"{name}.mul"), beta],
                        f"{name}.shift")

    def activation(self, x: str, name: str) -> str:
        """Gelu (the opset 20 op) or its Erf form ``x * 0.5 * (1 + erf(x / sqrt(2)))``."""
        net = self.net
        if self.gelu == "op":
            return net.node("Gelu", [x], name)
        e = net.node("Erf", [net.node("Div", [x, net.const(f"{name}.sqrt2",
                                                          np.array(np.sqrt(2.0)))],
                                      f"{name}.div")], f"{name}.erf")
        one = net.node("Add", [e, net.const(f"{name}.one", np.array(1.0))], f"{name}.add")
        half = net.node("Mul", [x, net.const(f"{name}.half", np.array(0.5))], f"{name}.halved")
        return net.node("Mul", [half, one], f"{name}.mul")

    def layer(self, x: str, pre: str, ffn: int) -> str:
        """Post-norm (BERT): x + attention -> LayerNorm -> + FFN -> LayerNorm."""
        net = self.net
        a = net.node("Add", [x, self.attention(x, f"{pre}.attention")], f"{pre}.residual1")
        a = self.norm(a, f"{pre}.norm1")
        f = self.activation(self.linear(a, self.hidden, ffn, f"{pre}.ffn.in"),
                            f"{pre}.ffn.gelu")
        f = self.linear(f, ffn, self.hidden, f"{pre}.ffn.out")
        return self.norm(net.node("Add", [a, f], f"{pre}.residual2"), f"{pre}.norm2")


def encoder(layers: int = 2, seq: int = 128, hidden: int = 256, heads: int = 4,
            ffn: int | None = None, seed: int = 0, *, layer_norm: str = "op",
            gelu: str = "op") -> onnx.ModelProto:
    """A BERT/ViT-style transformer encoder (post-norm, as BERT): per layer, Q, K and V
    projections (MatMul + Add), Reshape/Transpose to ``heads`` heads (Kᵀ by the transpose),
    scores ``Q·Kᵀ / sqrt(d)`` (a MatMul of two activations, then Div), Softmax, the
    attention-weighted ``V`` (a MatMul of two activations), Transpose/Reshape back, the
    output projection, residual Add, LayerNorm, the FFN (``hidden -> ffn`` with Gelu, ``->
    hidden``), residual Add, LayerNorm.  Input ``input`` (1, seq, hidden), output
    ``output`` (1, seq, hidden).  ``layer_norm``: ``"op"`` (LayerNormalization) or
    ``"decomposed"`` (ReduceMean/Sub/Pow/Sqrt/Div); ``gelu``: ``"op"`` (Gelu) or ``"erf"``.
    ``ffn`` defaults to ``4 * hidden``."""
    if layers < 1 or seq < 1 or heads < 1 or hidden < 1 or hidden % heads:
        raise ValueError(f"encoder: layers, seq, heads must be positive and hidden a multiple "
                         f"of heads, got layers={layers} seq={seq} hidden={hidden} "
                         f"heads={heads}")
    if layer_norm not in ("op", "decomposed") or gelu not in ("op", "erf"):
        raise ValueError(f"encoder: layer_norm must be 'op' or 'decomposed' and gelu 'op' or "
                         f"'erf', got {layer_norm!r}, {gelu!r}")
    ffn = 4 * hidden if ffn is None else ffn
    enc = _Encoder(_Net(np.random.default_rng(seed)), seq, hidden, heads, layer_norm, gelu)
    x = "input"
    for i in range(layers):
        x = enc.layer(x, f"layer{i}", ffn)
    enc.net.nodes.append(helper.make_node("Identity", [x], ["output"], name="output"))
    graph = helper.make_graph(
        enc.net.nodes, "encoder",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, seq, hidden])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, seq, hidden])],
        initializer=enc.net.inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ENCODER_OPSET)],
                          producer_name="vta model_zoo")
    m.ir_version = 9  # opset 20's IR
    onnx.checker.check_model(m)
    return m


MODELS = {"resnet18": resnet18, "mobilenet_v2": mobilenet_v2, "encoder": encoder}


__all__ = ["MODELS", "encoder", "mobilenet_v2", "resnet18"]
