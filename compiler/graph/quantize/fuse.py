"""Quantization and fusion: a float graph and activation ranges -> a :class:`QuantizedGraph`.

One walk over the float graph in topological order.  Each compute node starts a pattern
that swallows the nodes the opset's fused epilogue can express after it:

- A grouped (not depthwise) Conv: an int8 host Split of its input channels, one Conv2d
  per group (the epilogue below, a residual split alike), an int8 host Concat.
- Conv (group 1 or depthwise, dilation 1, symmetric pads), Gemm/MatMul with constant
  weights: ``[+ bias] [+ residual Add] [Relu | Clip]*`` -> one Conv2d / DepthwiseConv2d /
  Dense with ``Epilogue(bias, requant, residual, relu, clip)``.  Weights are int8 per output
  channel (or per tensor), symmetric; the bias is int32 in the accumulator's scale
  ``s_x * s_w``; the requantization ``s_x * s_w / s_y`` is the hardware's (per channel when
  the weight scales differ).  A residual whose scale is not the output's is first rescaled
  by an Elementwise node.
- MatMul of two activations (attention's Q·Kᵀ and softmax·V) ``[* or / scalar]`` -> int8
  host reshapes/transpose/split, one Dense per head whose weight is the run-time slice of
  the second operand, an int8 host Concat (static per-tensor scales, zero points 0; with
  ``dynamic_matmul`` an operand the host quantizes gets its scale per run and the Dense a
  requantization table computed per run).  A
  first operand computed in float on the host (softmax probabilities: int8 gives them ~20
  dB at sequence 128) goes in as two int8 digits against the second operand and its 16x
  coarser copy (an Elementwise shift), side by side in one Dense (2k terms).
- A residual Add whose sum only float nodes read (Add -> LayerNorm) stays a float Add.
- MaxPool, AveragePool (pads counted as zeros or none), GlobalAveragePool -> Pool2d /
  GlobalAvgPool (the output keeps the input's scale: pooling cannot rescale); an average
  whose output range is at least 2x narrower -> a DepthwiseConv2d of ones with a
  requantizing epilogue instead (the mean rounded once, in the output's finer scale).
- Reshape/Transpose/Identity of an int8 value -> a ``host`` node moving the int8 data (the
  scale kept; no dequantize-quantize round trip); Concat of int8 values -> each input
  rescaled to the output's scale by an Elementwise where it differs, then a ``host`` concat.
- Add / Mul of two activations of one shape ``[Relu]``, at least one of them int8 (two
  float operands are combined in float on the host: exact, and no two quantizations, e.g.
  the last Mul of Gelu's erf form) -> one Elementwise in int32 (Add:
  the coarser operand rescaled into the finer one's units, the add, then the
  requantization into the output's scale; Mul: the product, then the requantization; the
  ReLU a max at the output's zero point), a lone Relu on an int8 value -> Elementwise max.

Everything else stays a float node on the host, its int8 inputs dequantized and its output
quantized where an accelerator op reads it.

Zero points.  Our calibrator's activations are symmetric (zero point 0) except lopsided
values the host quantizes that only constant-weight GEMMs read (``_State.as_int8``);
a QDQ model's may be asymmetric anywhere (``real = s * (q - z)``), and every pattern folds
them in exactly:

- conv/dense input ``z_x``: the convolution pads with ``pad_value = z_x`` (real 0) and the
  int32 bias becomes ``bias - z_x * sum(w[o])``, so the accumulator is the real one;
- output ``z_y``: the epilogue's ``offset`` (``z_y - z_r`` with a residual of zero point
  ``z_r``, see :mod:`opset.requant`); ReLU and clip bounds are integers of the output
  encoding (``max(x, z_y)`` for ReLU);
- rescales and Add: ``add -z`` before the multiply, ``add z'`` after it (ALU steps); a
  rescale keeps its input's zero point unless a Concat needs the output's;
- max pooling, plain averages, moves and concat keep the encoding; an average with padding
  and ``z != 0`` is the depthwise convolution of ones (its padding is ``z``, real 0);
- Mul of two activations needs one of them symmetric (else it stays float).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import numpy as np

from compiler.graph.errors import GraphError
from compiler.graph.ir import Graph, Node
from compiler.graph.quantize.qgraph import QNode, QuantizedGraph
from compiler.graph.quantize.requant import per_channel, rescale_steps
from opset import (
    AluStep,
    Conv2d,
    Dense,
    DepthwiseConv2d,
    Elementwise,
    Epilogue,
    GlobalAvgPool,
    Pool2d,
    Requant,
)
from opset.errors import OpError
from opset.requant import any_scale_pre_shift


class QuantizeError(GraphError):
    """A graph or quantization parameters the quantizer cannot use."""


@dataclass(frozen=True)
class WeightQuant:
    """Fixed int8 weights (a QDQ model's own): ``w = q * scale`` along ``axis`` (or None)."""

    q: np.ndarray
    scale: np.ndarray
    axis: int | None


@dataclass
class _State:
    graph: Graph
    act_scale: Mapping[str, float]
    per_channel: bool
    weights: Mapping[str, WeightQuant]
    avg_pool_requant: bool = True
    act_zero: Mapping[str, int] = field(default_factory=dict)  # float value -> zero point
    kept: frozenset[str] = frozenset()  # values the model quantizes itself (QDQ)
    two_digits: bool = False  # host-quantized Dense inputs in two int8 digits
    dynamic_matmul: bool = False  # activation-matmul operands quantized per run
    digit_pairs: dict[str, str] = field(default_factory=dict)  # float value -> [hi | lo]
    lowest: Mapping[str, float] = field(default_factory=dict)  # calibrated minimum
    readers: Mapping[str, list[Node]] = field(default_factory=dict)
    nodes: list[QNode] = field(default_factory=list)
    int8: dict[str, str] = field(default_factory=dict)    # float value -> its int8 value
    floats: dict[str, str] = field(default_factory=dict)  # float value -> its float value
    scales: dict[str, float] = field(default_factory=dict)
    zeros: dict[str, int] = field(default_factory=dict)   # int8 value -> its zero point
    source: dict[str, str] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)
    dynamic: set[str] = field(default_factory=set)  # int8 values whose scale is per run
    constants: dict[str, np.ndarray] = field(default_factory=dict)  # added by quantization

    def scale_of(self, value: str) -> float:
        s = self.act_scale.get(value)
        if s is None or not s > 0:
            raise QuantizeError(f"value {value!r} needs an int8 scale but has no calibrated "
                                f"range (calibrate on samples that reach it)" if s is None
                                else f"value {value!r} is all zeros on the calibration data")
        return float(s)

    def zero_of(self, value: str) -> int:
        """The zero point a float value is quantized with (0 unless a QDQ model says)."""
        return int(self.act_zero.get(value, 0))

    def zero(self, q: str) -> int:
        """The zero point of an int8 value of this graph."""
        return self.zeros.get(q, 0)

    def fresh(self, base: str) -> str:
        name, i = base, 1
        while name in self.taken or name in self.graph.types:
            name, i = f"{base}_{i}", i + 1
        self.taken.add(name)
        return name

    def add(self, node: QNode) -> None:
        self.nodes.append(node)

    def lopsided_gemm_input(self, value: str) -> bool:
        """Whether the host quantizes ``value`` (a node's float output, not a model input
        or output, not quantized by the model itself) over its calibrated ``[lowest,
        amax]`` with a zero point: its range is lopsided (``lowest >= -amax / 2``) and only
        convolutions and matmuls with constant weights read it (they fold the zero point
        exactly into their bias), e.g. a transformer's Gelu output (almost a bit gained)."""
        g = self.graph
        readers = self.readers.get(value, [])
        if (value not in self.lowest or value in self.kept or value in self.act_zero
                or value in g.inputs or value in g.outputs or not readers):
            return False
        if not all(r.inputs[0] == value and value not in r.inputs[1:]
                   and _gemm_weights(self, r) is not None for r in readers):
            return False
        return self.lowest[value] >= -ASYMMETRIC_BELOW * self.scale_of(value) * 127.0

    def as_int8(self, value: str) -> str:
        """The int8 version of a float graph value (a quantize node the first time)."""
        if value not in self.int8:
            s, z = self.scale_of(value), self.zero_of(value)
            if self.lopsided_gemm_input(value):
                s, z = asymmetric(self.lowest[value], s * 127.0)
            q = self.fresh(f"{value}:q")
            self.add(QNode(f"quantize_{value}", "quantize", (self.floats[value],), (q,),
                           shape=self.graph.types[value].shape, scale=s, zero_point=z))
            self.int8[value], self.scales[q], self.source[q] = q, s, value
            self.zeros[q] = z
        return self.int8[value]

    def as_float(self, value: str) -> str:
        if value not in self.floats:
            q = self.int8[value]
            f = self.fresh(f"{value}:f")
            self.add(QNode(f"dequantize_{value}", "dequantize", (q,), (f,),
                           shape=self.graph.types[value].shape, scale=self.scales[q],
                           zero_point=self.zero(q)))
            self.floats[value], self.source[f] = f, value
        return self.floats[value]

    def define_int8(self, value: str, scale: float, zero: int = 0) -> str:
        self.taken.add(value)
        self.int8[value], self.scales[value], self.source[value] = value, scale, value
        self.zeros[value] = zero
        return value

    def rescaled(self, value: str, scale: float, shape4: tuple[int, ...],
                 zero: int | None = None) -> str:
        """The int8 version of ``value`` in ``scale`` and zero point ``zero`` (default: its
        own, which keeps a rescale to a wider range inside int8): an Elementwise rescale
        ``(q - z) * ratio + zero`` if either differs."""
        q = self.as_int8(value)
        z_in = self.zero(q)
        zero = z_in if zero is None else zero
        ratio = self.scales[q] / scale
        if abs(ratio - 1.0) < 1e-9 and zero == z_in:
            return q
        out = self.fresh(f"{value}:rescaled")
        steps = rescale_with_zero_points(ratio, z_in, zero)
        op = Elementwise(shape4, steps or (AluStep("add", 0),), name=f"rescale_{value}")
        self.add(QNode(op.name, "accel", (q,), (out,), op=op, roles=("a",),
                       shape=self.graph.types[value].shape, scale=scale, zero_point=zero))
        self.scales[out], self.source[out], self.zeros[out] = scale, value, zero
        return out


ASYMMETRIC_BELOW = 0.5  # [lo, hi] gets a zero point when lo >= -0.5 hi (>= 1.33x finer)


def asymmetric(lo: float, hi: float) -> tuple[float, int]:
    """(scale, zero point) mapping ``[lo, hi]`` (``lo <= 0 < hi``) onto the int8 range."""
    scale = (hi - lo) / 255.0
    return scale, int(np.clip(np.rint(-128.0 - lo / scale), -128, 127))


def rescale_with_zero_points(ratio: float, z_in: int, z_out: int, bound: int = 128
                             ) -> tuple[AluStep, ...]:
    """ALU steps taking ``q`` (``|q| <= bound``) of zero point ``z_in`` to ``(q - z_in) *
    ratio + z_out`` (``ratio`` 1: one add of the difference)."""
    if abs(ratio - 1.0) < 1e-9:
        return (AluStep("add", z_out - z_in),) if z_out != z_in else ()
    pre = (AluStep("add", -z_in),) if z_in else ()
    post = (AluStep("add", z_out),) if z_out else ()
    return pre + rescale_steps(ratio, bound + abs(z_in)) + post


def _shape4(shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """The (N, C, H, W) an Elementwise op sees a value as: 4-D as is, 2-D and 3-D (a
    transformer's (1, seq, hidden)) as rows of channels."""
    if len(shape) == 4:
        return shape  # type: ignore[return-value]
    if len(shape) in (2, 3):
        return (int(np.prod(shape[:-1])), shape[-1], 1, 1)
    return None


def _weight_scales(w: np.ndarray, per_channel: bool) -> np.ndarray:
    amax = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
    if not per_channel:
        amax = np.full_like(amax, amax.max())
    return np.where(amax > 0, amax / 127.0, 1.0)


def _quant_weight(st: _State, wname: str, w: np.ndarray, transpose: bool
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(int8 weights with output channels first, per-output-channel scales)."""
    fixed = st.weights.get(wname)
    if fixed is not None:
        q = fixed.q.T if transpose else fixed.q
        out_axis = (1 if transpose else 0)
        if fixed.axis is not None and fixed.axis != out_axis:
            raise QuantizeError(f"weight {wname!r} is quantized along axis {fixed.axis}, "
                                f"not its output channels")
        scale = np.broadcast_to(np.asarray(fixed.scale, np.float64).reshape(-1),
                                (q.shape[0],)).copy()
        return np.ascontiguousarray(q.astype(np.int8)), scale
    w = np.asarray(w, np.float64)
    w = w.T if transpose else w
    scale = _weight_scales(w, st.per_channel)
    q = np.clip(np.rint(w / scale.reshape((-1,) + (1,) * (w.ndim - 1))), -127, 127)
    return np.ascontiguousarray(q.astype(np.int8)), scale


def _single_reader(st: _State, value: str, consumers) -> Node | None:
    readers = consumers.get(value, [])
    if len(readers) != 1 or value in st.graph.outputs:
        return None
    return readers[0]


def _is_activation(st: _State, value: str) -> bool:
    return bool(value) and value not in st.graph.constants


def _gemm_weights(st: _State, node: Node) -> tuple[str, np.ndarray, bool, np.ndarray | None] | None:
    """(weight name, float weight (o, i) or OIHW, transpose?, float bias) of a conv/dense."""
    g = st.graph
    if node.op == "Conv":
        if len(node.inputs) < 2 or node.inputs[1] not in g.constants:
            return None
        b = node.inputs[2] if len(node.inputs) > 2 else ""
        if b and b not in g.constants:
            return None
        return node.inputs[1], g.constants[node.inputs[1]], False, g.constants.get(b)
    if node.op == "Gemm":
        if node.inputs[1] not in g.constants or node.attr("trans_a"):
            return None
        if node.attr("alpha", 1.0) != 1.0:
            return None
        c = node.inputs[2] if len(node.inputs) > 2 else ""
        if c and c not in g.constants:
            return None
        bias = None
        if c:
            o = g.types[node.outputs[0]].shape[1]
            bias = np.broadcast_to(np.asarray(g.constants[c], np.float64) *
                                   node.attr("beta", 1.0), (1, o)).reshape(o) \
                if g.constants[c].size in (1, o) else None
            if bias is None:
                return None
        return node.inputs[1], g.constants[node.inputs[1]], not node.attr("trans_b"), bias
    if node.op == "MatMul":
        if node.inputs[1] not in g.constants or g.constants[node.inputs[1]].ndim != 2:
            return None
        if g.types[node.inputs[0]].rank < 2:
            return None
        return node.inputs[1], g.constants[node.inputs[1]], True, None
    return None


@dataclass
class _Tail:
    """What follows a conv/dense and fits its epilogue (in epilogue order)."""

    chain: list[Node]
    out: str
    bias: np.ndarray | None
    residual: str | None = None
    relu: bool = False
    clip: tuple[float | None, float | None] | None = None


# ops the quantizer may turn into opset or int8 host ops (everything else stays float)
_INT8_OPS = ("Conv", "Gemm", "MatMul", "MaxPool", "AveragePool", "GlobalAveragePool", "Add",
             "Mul", "Relu", "Clip", "Concat", "Reshape", "Transpose", "Identity")


def _read_in_float(st: _State, value: str, consumers) -> bool:
    """Whether every reader of ``value`` runs in float (a transformer's residual sum feeding
    LayerNorm): then a residual Add is better done in float on the host, its float operand
    exact, than fused into the epilogue, which would round the sum (the residual stream, the
    widest range of the model) to int8 only to dequantize it again."""
    readers = consumers.get(value, [])
    return (bool(readers) and value not in st.graph.outputs
            and all(r.op not in _INT8_OPS for r in readers))


def _epilogue_tail(st: _State, node: Node, consumers, bias: np.ndarray | None) -> _Tail:
    """Swallow ``[+ bias (MatMul)] [+ residual] [Relu] [Clip]`` after ``node``, each read
    only by the next (a value someone else needs is never fused away) and none but a ReLU
    past a value a QDQ model quantizes itself."""
    g = st.graph
    tail = _Tail([node], node.outputs[0], bias)
    while (nxt := _single_reader(st, tail.out, consumers)) is not None:
        cur = tail.out
        if cur in st.kept and nxt.op != "Relu":
            break  # the model quantizes cur itself (QDQ): keep its rounding and saturation
        clean = tail.residual is None and not tail.relu and tail.clip is None
        other = (nxt.inputs[1] if nxt.inputs[0] == cur else nxt.inputs[0]) \
            if nxt.op == "Add" else ""
        if nxt.op == "Add" and clean and node.op == "MatMul" and tail.bias is None \
                and other in g.constants and g.constants[other].size == g.types[cur].shape[-1]:
            tail.bias = np.asarray(g.constants[other], np.float64).reshape(-1)
        elif (nxt.op == "Add" and clean and nxt.inputs[0] != nxt.inputs[1]
              and not _read_in_float(st, nxt.outputs[0], consumers)
              and _is_activation(st, other) and (other in st.int8 or other in st.floats)
              and g.types[other].shape == g.types[cur].shape == g.types[nxt.outputs[0]].shape):
            tail.residual = other
        elif nxt.op == "Relu" and tail.clip is None:
            tail.relu = True
        elif nxt.op == "Clip" and tail.clip is None:
            tail.clip = (nxt.attr("min"), nxt.attr("max"))
        else:
            break
        tail.chain.append(nxt)
        tail.out = nxt.outputs[0]
    return tail


def _requant_consts(wq: np.ndarray, bias_q: np.ndarray | None, ratios: np.ndarray
                    ) -> tuple[Requant, dict[str, np.ndarray]]:
    """The requantization of ``acc * ratios[o]`` (per tensor when all ratios are equal) for
    the largest accumulator these weights and bias can produce from int8 inputs."""
    channels = wq.shape[0]
    bound = 128 * np.abs(wq.astype(np.int64)).reshape(channels, -1).sum(axis=1)
    if bias_q is not None:
        bound = bound + np.abs(bias_q.astype(np.int64))
    acc_bound = int(bound.max())
    if np.allclose(ratios, ratios[0], rtol=1e-12, atol=0.0):
        return Requant.from_scale(float(ratios[0]), acc_bound), {}
    rq, mult, shift = per_channel(ratios, acc_bound)
    return rq, {"multiplier": mult, "shift": shift}


def _int_bounds(relu: bool, clip: tuple[float | None, float | None] | None, s_y: float,
                z_y: int) -> tuple[bool, tuple[int, int] | None]:
    """(integer ReLU, integer clip bounds) of a real ReLU / Clip on an output of scale
    ``s_y`` and zero point ``z_y``: with ``z_y = 0`` ReLU is the epilogue's ``max(x, 0)``,
    otherwise it is the lower bound ``z_y`` (real 0) of the clip."""
    if clip is None and not (relu and z_y):
        return relu, None
    lo, hi = -128, 127
    if clip is not None:
        if clip[0] is not None:
            lo = int(np.clip(np.rint(clip[0] / s_y) + z_y, -128, 127))
        if clip[1] is not None:
            hi = int(np.clip(np.rint(clip[1] / s_y) + z_y, -128, 127))
    if relu and z_y:
        lo, relu = max(lo, z_y), False
    return relu, (lo, max(lo, hi))


def _quantized_epilogue(wq: np.ndarray, bias: np.ndarray | None, acc_scale, s_y: float,
                        z_x: int, z_y: int, z_r: int, residual: bool, relu: bool,
                        clip: tuple[float | None, float | None] | None,
                        fold: int | None = None) -> tuple[dict[str, np.ndarray], Epilogue]:
    """The constants (``w``, ``bias``, per-channel requantization) and fused epilogue of a
    GEMM op with int8 weights ``wq`` (output channels first) and float ``bias``: the bias in
    the accumulator's scale ``acc_scale`` with the input zero point folded in
    (``sum((q - z_x) * w) = sum(q * w) - z_x * sum(w)``), requantization to ``s_y``, the
    residual (zero point ``z_r``), the output offset ``z_y - z_r`` and the clamp.  ``fold``:
    only the first ``fold`` input columns read the zero-pointed input (the others a
    symmetric second digit)."""
    channels = wq.shape[0]
    consts: dict[str, np.ndarray] = {"w": wq}
    bias_q = None
    if bias is not None or z_x:
        b = np.zeros(channels) if bias is None else np.asarray(bias, np.float64)
        w_in = wq.astype(np.int64).reshape(channels, -1)[:, :fold]
        b = np.rint(b / acc_scale) - z_x * w_in.sum(1)
        bias_q = np.clip(b, -(1 << 31), (1 << 31) - 1).astype(np.int32)
        consts["bias"] = bias_q
    rq, vectors = _requant_consts(wq, bias_q, acc_scale / s_y)
    consts.update(vectors)
    relu, bounds = _int_bounds(relu, clip, s_y, z_y)
    return consts, Epilogue(bias=bias_q is not None, requant=rq, residual=residual,
                            relu=relu, clip=bounds, offset=z_y - z_r)


def _fuse_gemm(st: _State, node: Node, consumers, done: set[str]) -> bool:
    g = st.graph
    got = _gemm_weights(st, node)
    if got is None:
        return False
    wname, w, transpose, bias = got
    x = node.inputs[0]
    xt = g.types[x]
    if node.op == "Conv":
        if xt.rank != 4 or any(d != 1 for d in node.attr("dilations", (1, 1))):
            return False
        pads = node.attr("pads", (0, 0, 0, 0))
        if len(pads) != 4 or pads[0] != pads[2] or pads[1] != pads[3]:
            return False
        group, c = node.attr("group", 1), xt.shape[1]
        if group > 1 and not (group == c and w.shape[0] == c and w.shape[1] == 1):
            return _fuse_grouped_conv(st, node, consumers, done, wname, w, bias)
    elif xt.rank != 2 and node.op != "MatMul":
        return False
    tail = _epilogue_tail(st, node, consumers, bias)
    chain, out, bias, residual, relu, clip = (tail.chain, tail.out, tail.bias, tail.residual,
                                              tail.relu, tail.clip)
    s_y, z_y = st.scale_of(out), st.zero_of(out)
    # host-quantized: no int8 op defines x (a quantize node makes its int8 version)
    digits = (st.two_digits and node.op != "Conv" and st.int8.get(x) != x
              and wname not in st.weights)
    xq = st.as_int8(x)
    s_x = st.scales[xq]  # an int8 input keeps the scale it was made in (pools: their input's)
    z_x = st.zero(xq)
    wq, s_w = _quant_weight(st, wname, w, transpose)
    channels = wq.shape[0]
    fold = None
    if digits:
        # x = s_x (hi - z_x + lo / R) and w ~ s_w round(w_q / R) for the low digit: one
        # Dense over both digits side by side, in the accumulator's units s_x s_w
        fold = wq.shape[1]
        if x not in st.digit_pairs:  # one pair for every Dense that reads x
            lo = _low_digit(st, x, xq)
            shape_x = xt.shape[:-1] + (2 * xt.shape[-1],)
            pair = _concat(st, f"{x}/digits", (xq, lo), shape_x, len(shape_x) - 1, s_x)
            st.zeros[pair] = z_x
            st.digit_pairs[x] = pair
        xq = st.digit_pairs[x]
        w_coarse = np.asarray(w, np.float64).T if transpose else np.asarray(w, np.float64)
        w_coarse = np.clip(np.rint(w_coarse / (s_w.reshape(-1, 1) * DIGIT_RADIX)), -127, 127)
        wq = np.concatenate([wq, w_coarse.astype(np.int8)], axis=1)
    shape = g.types[out].shape
    roles, inputs = ["x"], [xq]
    z_r = 0
    if residual is not None:
        roles.append("residual")
        inputs.append(st.rescaled(residual, s_y, _shape4(shape) or shape))
        z_r = st.zero(inputs[-1])
    consts, ep = _quantized_epilogue(wq, bias, s_x * s_w, s_y, z_x, z_y, z_r,
                                     residual is not None, relu, clip, fold)
    try:
        if node.op == "Conv":
            n, c, h, wd = xt.shape
            pads = node.attr("pads", (0, 0, 0, 0))
            common = dict(n=n, c=c, h=h, w=wd, kh=wq.shape[2], kw=wq.shape[3],
                          stride=tuple(node.attr("strides", (1, 1))),
                          pad=(pads[0], pads[1]), epilogue=ep, pad_value=z_x,
                          name=node.name)
            op = (DepthwiseConv2d(**common) if wq.shape[1] == 1 and node.attr("group", 1) > 1
                  else Conv2d(o=channels, **common))
        else:
            # a MatMul of a (..., rows, i) activation: every leading dimension is a row
            op = Dense(n=xt.size // xt.shape[-1], i=wq.shape[1], o=channels, epilogue=ep,
                       name=node.name)
    except OpError as e:
        raise QuantizeError(f"node {node.name!r}: {e}") from e
    st.define_int8(out, s_y, z_y)
    st.add(QNode(node.name, "accel", tuple(inputs), (out,), op=op, roles=tuple(roles),
                 consts=consts, shape=shape, scale=s_y, fused=tuple(n.name for n in chain),
                 zero_point=z_y))
    done.update(n.name for n in chain)
    return True


def _fuse_grouped_conv(st: _State, node: Node, consumers, done: set[str], wname: str,
                       w: np.ndarray, bias: np.ndarray | None) -> bool:
    """A grouped (not depthwise) convolution as one Conv2d per group on the accelerator:
    the int8 input split into its channel groups on the host (an int8 Split), each group's
    Conv2d on its slice of the weights, bias and requantization with the fused epilogue (a
    residual split the same way), and the group outputs concatenated on the host (an int8
    Concat; every group writes the output's scale, so no rescale)."""
    g = st.graph
    x = node.inputs[0]
    n, c, h, wd = g.types[x].shape
    group = int(node.attr("group"))
    tail = _epilogue_tail(st, node, consumers, bias)
    out, shape = tail.out, g.types[tail.out].shape
    s_y, z_y = st.scale_of(out), st.zero_of(out)
    xq = st.as_int8(x)
    s_x, z_x = st.scales[xq], st.zero(xq)
    wq, s_w = _quant_weight(st, wname, w, False)
    m = wq.shape[0]
    cg, mg = c // group, m // group
    acc_scale = np.broadcast_to(s_x * s_w, (m,))
    bias = None if tail.bias is None else np.broadcast_to(np.asarray(tail.bias), (m,))

    def split(role: str, value: str, channels: int, scale: float, base: str
              ) -> tuple[str, ...]:
        parts = tuple(st.fresh(f"{base}:g{k}") for k in range(group))
        name = f"{node.name}/split_{role}"
        st.add(QNode(name, "host", (value,), parts,
                     node=Node(name, "Split", (value,), parts,
                               {"axis": 1, "split": (channels,) * group}),
                     shape=(n, channels) + tuple(g.types[base].shape[2:]), scale=scale,
                     zero_point=st.zero(value)))
        for part in parts:
            st.scales[part] = scale
            st.zeros[part] = st.zero(value)
        return parts

    xs = split("x", xq, cg, s_x, x)
    rq_value = (st.rescaled(tail.residual, s_y, shape) if tail.residual is not None else None)
    residuals = (split("residual", rq_value, mg, s_y, tail.residual)
                 if rq_value is not None else (None,) * group)
    z_r = st.zero(rq_value) if rq_value is not None else 0
    pads = node.attr("pads", (0, 0, 0, 0))
    outs = []
    for k, (xk, rk) in enumerate(zip(xs, residuals, strict=True)):
        lo, hi = k * mg, (k + 1) * mg
        consts, ep = _quantized_epilogue(
            wq[lo:hi], None if bias is None else bias[lo:hi], acc_scale[lo:hi], s_y, z_x, z_y,
            z_r, rk is not None, tail.relu, tail.clip)
        try:
            op = Conv2d(n=n, c=cg, h=h, w=wd, o=mg, kh=wq.shape[2], kw=wq.shape[3],
                        stride=tuple(node.attr("strides", (1, 1))), pad=(pads[0], pads[1]),
                        epilogue=ep, pad_value=z_x, name=f"{node.name}/g{k}")
        except OpError as e:
            raise QuantizeError(f"node {node.name!r} (group {k}): {e}") from e
        ok = st.fresh(f"{out}:g{k}")
        st.scales[ok], st.zeros[ok] = s_y, z_y
        st.add(QNode(op.name, "accel", (xk,) if rk is None else (xk, rk), (ok,), op=op,
                     roles=("x",) if rk is None else ("x", "residual"), consts=consts,
                     shape=(shape[0], mg) + tuple(shape[2:]), scale=s_y, zero_point=z_y))
        outs.append(ok)
    st.define_int8(out, s_y, z_y)
    st.add(QNode(f"{node.name}/concat", "host", tuple(outs), (out,),
                 node=Node(f"{node.name}/concat", "Concat", tuple(outs), (out,), {"axis": 1}),
                 shape=shape, scale=s_y, fused=tuple(f.name for f in tail.chain),
                 zero_point=z_y))
    done.update(f.name for f in tail.chain)
    return True


def _average_as_depthwise(st: _State, node: Node, kernel: tuple[int, int],
                          stride: tuple[int, int], pad: tuple[int, int]) -> bool:
    """An average pool whose output scale is at least 2x finer than its input's: a
    depthwise convolution with a kernel of ones and a requantizing epilogue (the mean lands
    in the output's scale in one rounding; opset pooling can only keep the input's).  Also
    any padded average of an input with a zero point: the convolution pads with it (real 0,
    which opset pooling's zero padding is not)."""
    x, out = node.inputs[0], node.outputs[0]
    s_out = st.act_scale.get(out)
    xq = st.as_int8(x)
    s_x, z_x = st.scales[xq], st.zero(xq)
    forced = bool(z_x and any(pad))
    if not forced and (not st.avg_pool_requant or s_out is None or not 0 < s_out <= s_x / 2):
        return False
    z_out = st.zero_of(out) if s_out else z_x
    s_out = s_out or s_x
    n, c, h, w = st.graph.types[x].shape
    taps = kernel[0] * kernel[1]
    consts = {"w": np.ones((c, 1) + kernel, np.int8)}
    if z_x:
        consts["bias"] = np.full(c, -z_x * taps, np.int32)
    rq = Requant.from_scale(s_x / (taps * s_out), (128 + abs(z_x)) * taps)
    op = DepthwiseConv2d(n=n, c=c, h=h, w=w, kh=kernel[0], kw=kernel[1], stride=stride,
                         pad=pad, pad_value=z_x, name=node.name,
                         epilogue=Epilogue(bias=bool(z_x), requant=rq, offset=z_out))
    st.define_int8(out, s_out, z_out)
    st.add(QNode(node.name, "accel", (xq,), (out,), op=op, roles=("x",), consts=consts,
                 shape=st.graph.types[out].shape, scale=s_out, fused=(node.name,),
                 zero_point=z_out))
    return True


def _fuse_pool(st: _State, node: Node) -> bool:
    g = st.graph
    x = node.inputs[0]
    xt = g.types[x]
    if xt.rank != 4:
        return False
    n, c, h, w = xt.shape
    if node.op == "GlobalAveragePool":
        if _average_as_depthwise(st, node, (h, w), (1, 1), (0, 0)):
            return True
        op: object = GlobalAvgPool(n=n, c=c, h=h, w=w, name=node.name)
    else:
        kernel, pads = node.attr("kernel_shape"), node.attr("pads", (0, 0, 0, 0))
        if (len(kernel) != 2 or pads[0] != pads[2] or pads[1] != pads[3]
                or any(d != 1 for d in node.attr("dilations", (1, 1)))
                or node.attr("ceil_mode", 0)):
            return False
        avg = node.op == "AveragePool"
        if avg and any(pads) and not node.attr("count_include_pad", 0):
            return False
        if avg and _average_as_depthwise(st, node, tuple(kernel),
                                         tuple(node.attr("strides", (1, 1))),
                                         (pads[0], pads[1])):
            return True
        try:
            op = Pool2d(n=n, c=c, h=h, w=w, pool="avg" if avg else "max", kh=kernel[0],
                        kw=kernel[1], stride=tuple(node.attr("strides", (1, 1))),
                        pad=(pads[0], pads[1]), name=node.name)
        except OpError:
            return False
    xq = st.as_int8(x)
    out = node.outputs[0]
    s, z = st.scales[xq], st.zero(xq)  # pooling keeps the encoding (max and mean commute)
    st.define_int8(out, s, z)
    st.add(QNode(node.name, "accel", (xq,), (out,), op=op, roles=("x",),
                 shape=g.types[out].shape, scale=s, fused=(node.name,), zero_point=z))
    return True


def _fuse_elementwise(st: _State, node: Node, consumers, done: set[str]) -> bool:
    g = st.graph
    out = node.outputs[0]
    shape = g.types[out].shape
    shape4 = _shape4(shape)
    if shape4 is None:
        return False
    if node.op == "Relu":
        x = node.inputs[0]
        if x not in st.int8:
            return False
        xq = st.int8[x]
        z = st.zero(xq)  # real 0
        if z == -128:  # nothing below real 0 is representable: the ReLU is the identity
            st.int8[out] = xq
            return True
        st.define_int8(out, st.scales[xq], z)
        op = Elementwise(shape4, (AluStep("max", z),), name=node.name)
        st.add(QNode(node.name, "accel", (xq,), (out,), op=op, roles=("a",), shape=shape,
                     scale=st.scales[xq], fused=(node.name,), zero_point=z))
        return True
    a, b = node.inputs
    if not (_is_activation(st, a) and _is_activation(st, b)) or a == b:
        return False
    if g.types[a].shape != shape or g.types[b].shape != shape:
        return False
    if _read_in_float(st, out, consumers):
        return False  # an int8 result would only be dequantized again: add in float
    if a not in st.int8 and b not in st.int8:
        return False  # both computed in float on the host (Gelu's erf form): exact there
    fused = [node.name]
    relu = _single_reader(st, out, consumers)
    if relu is not None and relu.op == "Relu":  # fused: a clamp at the output's real 0
        out = relu.outputs[0]
        fused.append(relu.name)
        shape = g.types[out].shape
    s_y, z_y = st.scale_of(out), st.zero_of(out)
    if node.op == "Add":
        # in int32, never saturated in between: a into b's units (b: the finer operand),
        # plus b, minus both zero points, then into the output's encoding
        aq, bq = st.as_int8(a), st.as_int8(b)
        if st.scales[aq] < st.scales[bq]:
            aq, bq = bq, aq
        ratio = st.scales[aq] / st.scales[bq]
        steps = (rescale_with_zero_points(ratio, st.zero(aq), -st.zero(bq))
                 + (AluStep("add"),)
                 + rescale_with_zero_points(st.scales[bq] / s_y, 0, z_y,
                                            bound=int(256 * ratio) + 256))
    else:  # Mul: the product of the int8 values, then requantized
        def zero(v: str) -> int:
            return st.zero(st.int8[v]) if v in st.int8 else st.zero_of(v)
        if zero(b) and not zero(a):
            a, b = b, a
        if zero(b):
            return False  # (a - z_a) * (b - z_b) needs b - z_b, which need not fit int8
        aq, bq = st.as_int8(a), st.as_int8(b)
        z_a = st.zero(aq)
        steps = ((AluStep("add", -z_a),) if z_a else ()) + (AluStep("mul"),) + rescale_steps(
            st.scales[aq] * st.scales[bq] / s_y, acc_bound=(128 + abs(z_a)) * 128) + (
            (AluStep("add", z_y),) if z_y else ())
    if len(fused) > 1 and z_y > -128:
        steps += (AluStep("max", z_y),)
    op = Elementwise(shape4, steps, name=node.name)
    st.define_int8(out, s_y, z_y)
    st.add(QNode(node.name, "accel", (aq, bq), (out,), op=op, roles=("a", "b"), shape=shape,
                 scale=s_y, fused=tuple(fused), zero_point=z_y))
    done.update(fused)
    return True


def _scalar_scale(st: _State, node: Node, value: str) -> float | None:
    """The factor ``c`` when ``node`` multiplies ``value`` by (Mul) or divides it by (Div)
    a positive scalar constant (attention's ``1 / sqrt(d)``), else None."""
    g = st.graph
    if node.op not in ("Mul", "Div") or node.inputs[0] != value:
        if not (node.op == "Mul" and node.inputs[1:] == (value,)):
            return None
    other = node.inputs[1] if node.inputs[0] == value else node.inputs[0]
    c = g.constants.get(other)
    if c is None or c.size != 1 or not float(c.reshape(-1)[0]) > 0:
        return None
    c = float(c.reshape(-1)[0])
    return 1.0 / c if node.op == "Div" else c


def _host(st: _State, name: str, op: str, ins: tuple[str, ...], outs: tuple[str, ...],
          out_shape: tuple[int, ...], scale: float | None, fused: tuple[str, ...] = (),
          **attrs: object) -> None:
    """An int8 data-movement step on the host (outputs in ``scale``, zero point 0; scale
    None: a value quantized per run, whose scale is a run-time value)."""
    st.add(QNode(name, "host", ins, outs, node=Node(name, op, ins, outs, attrs),
                 shape=out_shape, scale=scale, fused=fused))
    for o in outs:
        st.zeros[o] = 0
        if scale is None:
            st.dynamic.add(o)
        else:
            st.scales[o] = scale


def _fuse_activation_matmul(st: _State, node: Node, consumers, done: set[str]) -> bool:
    """``A @ B`` of two activations (attention's ``Q·Kᵀ`` and ``softmax·V``), ``A`` of
    shape (..., m, k), ``B`` (..., k, n), the same batch dimensions (the heads): one Dense
    per batch entry on the accelerator whose weight is a run-time int8 tensor.

    ``B`` is loaded as the weight tile, so the host transposes it to the weight's (out,
    in) = (n, k) order and splits the batch; the module feeds each slice to the
    accelerator in the weight layout (the host packs it, as it packs any fed tensor).
    Both operands are int8 per tensor, symmetric (zero point 0: a zero point of ``B``
    would need a bias from the run-time column sums).  Their scales are the *calibrated*
    ones (static: the requantization ``s_a * s_b / s_y`` is an ALU immediate fixed at
    compile time), unless ``dynamic_matmul``: then an operand the host quantizes from
    float gets its scale per run (:func:`_dynamic_int8`), and the Dense's requantization
    is per channel with one compiled pre-shift and run-time ``multiplier``/``shift`` rows
    a host ``RequantTable`` step computes from the run-time scales (an operand an int8 op
    writes keeps the scale it was written in).  The output's scale is the calibrated one
    either way: the accelerator writes int8 in a scale fixed before it runs.  A
    following Mul/Div by a positive scalar (``1 / sqrt(d)``) folds into the
    requantization.  The slices' outputs are concatenated on the host.

    When ``A`` is computed in float on the host (softmax: probabilities mostly far below
    their range's top, which int8 resolves in a few levels), it is quantized in two
    digits, ``A ~ s_a (hi + lo / R)`` (``lo``: the remainder in a scale ``R = 16`` times
    finer), and ``B``'s coarse copy ``round(B_q / R)`` (scale ``R s_b``) is computed on the
    accelerator: ``sum(A B) ~ s_a s_b (sum(hi B_q) + sum(lo round(B_q / R)))``, so the
    two digits sit side by side along ``k`` in one Dense (one rounding, 2k terms)."""
    g = st.graph
    a, b = node.inputs
    if not (_is_activation(st, a) and _is_activation(st, b)) or a == b:
        return False
    sa, sb = g.types[a].shape, g.types[b].shape
    if len(sa) < 2 or len(sa) != len(sb) or sa[:-2] != sb[:-2] or sa[-1] != sb[-2]:
        return False
    if st.zero_of(a) or st.zero_of(b):
        return False
    (m, k), n = sa[-2:], sb[-1]
    batch = int(np.prod(sa[:-2], dtype=np.int64))
    chain, out, factor = [node], node.outputs[0], 1.0
    nxt = _single_reader(st, out, consumers)
    if nxt is not None and out not in st.kept and (c := _scalar_scale(st, nxt, out)):
        chain.append(nxt)
        out, factor = nxt.outputs[0], c
    s_y = st.scale_of(out)
    digits = a not in st.int8  # A computed in float on the host (softmax): two digits
    # per run: operands the host computes in float (a float node's output or a model
    # input; not a dequantized int8 value, which would only be rounded again)
    dyn_a = st.dynamic_matmul and st.floats.get(a) == a
    dyn_b = st.dynamic_matmul and st.floats.get(b) == b
    base = node.name
    if dyn_a:
        aq, s_a, a_lo = _dynamic_int8(st, a, f"{base}/a", digits)
    else:
        aq = st.as_int8(a)
        s_a = st.scales[aq]
    if dyn_b:
        bq, s_b, _ = _dynamic_int8(st, b, f"{base}/b", False)
    else:
        bq = st.as_int8(b)
        s_b = st.scales[bq]
    if st.zero(aq) or st.zero(bq):
        return False
    label_a = None if dyn_a else s_a  # the moves' scale (None: per run)
    label_b = None if dyn_b else s_b
    a3 = _rows(st, f"{base}/a_rows", aq, (batch, m, k))
    b3 = _rows(st, f"{base}/b_rows", bq, (batch, k, n))
    if digits:
        # A = s_a (hi + lo / R), B ~ (R s_b) round(B_q / R): sum(A B) ~ s_a s_b (sum(hi
        # B_q) + sum(lo round(B_q / R))), both in the accumulator's units, so one Dense
        # over the two digits side by side (2k terms) rounds once
        lo = a_lo if dyn_a else _low_digit(st, a, aq)
        coarse = (_coarse(st, bq, (batch * k, n, 1, 1)) if dyn_b
                  else st.rescaled(b, s_b * DIGIT_RADIX, (batch * k, n, 1, 1)))
        a_lo3 = _rows(st, f"{base}/a_lo_rows", lo, (batch, m, k))
        b_lo3 = _rows(st, f"{base}/b_coarse_rows", coarse, (batch, k, n))
        a3 = _concat(st, f"{base}/a_digits", (a3, a_lo3), (batch, m, 2 * k), 2, label_a)
        b3 = _concat(st, f"{base}/b_digits", (b3, b_lo3), (batch, 2 * k, n), 1, label_b)
    kk = 2 * k if digits else k
    bt = st.fresh(f"{base}:bt")
    _host(st, f"{base}/b_transpose", "Transpose", (b3,), (bt,), (batch, n, kk), label_b,
          perm=(0, 2, 1))
    a_parts = _split_heads(st, f"{base}/a_split", a3, batch, (1, m, kk), label_a, f"{base}:a")
    b_parts = _split_heads(st, f"{base}/b_split", bt, batch, (1, n, kk), label_b, f"{base}:w")
    if dyn_a or dyn_b:
        rq = Requant(per_channel=True, pre_shift=any_scale_pre_shift(128 * 128 * kk))
        table = _requant_table(st, base, s_a, s_b, factor / s_y, rq.pre_shift, n)
    else:
        rq = Requant.from_scale(s_a * s_b * factor / s_y, 128 * 128 * kk)
        table = ()
    outs = []
    for h, (ah, bh) in enumerate(zip(a_parts, b_parts, strict=True)):
        name = f"{base}/h{h}" if batch > 1 else base
        try:
            op = Dense(n=m, i=kk, o=n, epilogue=Epilogue(requant=rq), name=name)
        except OpError as e:
            raise QuantizeError(f"node {node.name!r}: {e}") from e
        oh = st.fresh(f"{out}:h{h}")
        st.scales[oh], st.zeros[oh] = s_y, 0
        st.add(QNode(name, "accel", (ah, bh, *table), (oh,), op=op,
                     roles=("x", "w", "multiplier", "shift")[:2 + len(table)],
                     shape=(1, m, n), scale=s_y))
        outs.append(oh)
    joined = outs[0]
    if batch > 1:
        joined = _concat(st, f"{base}/concat", tuple(outs), (batch, m, n), 0, s_y,
                         f"{out}:heads")
    st.define_int8(out, s_y, 0)
    shape = g.types[out].shape
    _host(st, f"{base}/out", "Reshape", (joined,), (out,), shape, s_y,
          tuple(f.name for f in chain), shape=shape)
    done.update(f.name for f in chain)
    return True


def _scalar_const(st: _State, base: str, value: float) -> str:
    """A float32 constant of shape (1,) in the quantized graph (a static scale beside a
    run-time one, the low digit's 1/16)."""
    name = st.fresh(base)
    st.constants[name] = np.full(1, value, np.float32)
    return name


def _float_step(st: _State, name: str, op: str, ins: tuple[str, ...], outs: tuple[str, ...],
                shape: tuple[int, ...], **attrs: object) -> None:
    """A host step of the quantized graph that is no float graph node (run-time scales)."""
    st.add(QNode(name, "float", ins, outs, node=Node(name, op, ins, outs, attrs),
                 shape=shape))


def _dynamic_int8(st: _State, value: str, base: str, digits: bool
                  ) -> tuple[str, str, str | None]:
    """``value`` (computed in float on the host) quantized per run: its scale ``s =
    max|x| / 127`` (``AbsMaxScale``, float32 of shape (1,)) and ``QuantizeLinear(x, s)``,
    symmetric int8 (ORT's DynamicQuantizeLinear takes the scale from the run's range too,
    asymmetric uint8; the accelerator's weight operand has no zero point).  With
    ``digits`` also the low digit: the remainder ``x - s q`` quantized in ``s / 16``.
    Returns (int8 value, scale value, low digit or None); all marked per run."""
    shape = st.graph.types[value].shape
    x = st.floats[value]
    scale = st.fresh(f"{value}:scale")
    _float_step(st, f"{base}_scale", "AbsMaxScale", (x,), (scale,), (1,), levels=127)
    q = st.fresh(f"{value}:dq")
    _float_step(st, f"{base}_quantize", "QuantizeLinear", (x, scale), (q,), shape,
                axis=1, dtype="int8")
    st.dynamic.add(q)
    st.source[q] = value
    if not digits:
        return q, scale, None
    approx, rem = st.fresh(f"{value}:dhi"), st.fresh(f"{value}:drem")
    _float_step(st, f"{base}_dequantize", "DequantizeLinear", (q, scale), (approx,), shape,
                axis=1)
    _float_step(st, f"{base}_remainder", "Sub", (x, approx), (rem,), shape)
    radix = _scalar_const(st, f"{value}:radix", 1.0 / DIGIT_RADIX)
    s_lo = st.fresh(f"{value}:scale_lo")
    _float_step(st, f"{base}_scale_lo", "Mul", (scale, radix), (s_lo,), (1,))
    lo = st.fresh(f"{value}:dlo")
    _float_step(st, f"{base}_quantize_lo", "QuantizeLinear", (rem, s_lo), (lo,), shape,
                axis=1, dtype="int8")
    st.dynamic.add(lo)
    st.source[lo] = value
    return q, scale, lo


def _coarse(st: _State, q: str, shape4: tuple[int, int, int, int]) -> str:
    """``round(q / 16)`` of an int8 value on the accelerator (an Elementwise rounding
    shift): the coarse copy of a second operand quantized per run, whatever its scale."""
    out = st.fresh(f"{q}:coarse")
    op = Elementwise(shape4, rescale_steps(1.0 / DIGIT_RADIX), name=f"coarse_{q}")
    st.add(QNode(op.name, "accel", (q,), (out,), op=op, roles=("a",),
                 shape=st.graph.types[st.source[q]].shape))
    st.dynamic.add(out)
    st.zeros[out] = 0
    return out


def _requant_table(st: _State, base: str, s_a: float | str, s_b: float | str,
                   factor: float, pre_shift: int, channels: int) -> tuple[str, str]:
    """The host step computing a Dense's per-channel ``multiplier`` and ``shift`` rows per
    run from its operands' scales (a run-time scale value, or a static one as a
    constant): ``s_a * s_b * factor`` under ``pre_shift`` (``RequantTable``)."""
    ins = tuple(v if isinstance(v, str) else _scalar_const(st, f"{base}:scale_{r}", v)
                for r, v in (("a", s_a), ("b", s_b)))
    mult, shift = st.fresh(f"{base}:multiplier"), st.fresh(f"{base}:shift")
    _float_step(st, f"{base}/requant_table", "RequantTable", ins, (mult, shift),
                (channels,), factor=float(factor), pre_shift=int(pre_shift),
                channels=int(channels), bits=15)
    return mult, shift


def _rows(st: _State, name: str, value: str, shape: tuple[int, ...]) -> str:
    """``value`` reshaped on the host (int8, its scale kept) to ``shape``."""
    out = st.fresh(f"{name.rsplit('/', 1)[0]}:{name.rsplit('/', 1)[1]}")
    _host(st, name, "Reshape", (value,), (out,), shape, st.scales.get(value), shape=shape)
    return out


def _concat(st: _State, name: str, values: tuple[str, ...], shape: tuple[int, ...],
            axis: int, scale: float | None, out: str | None = None) -> str:
    """An int8 host Concat of ``values`` along ``axis`` into ``shape`` (labelled
    ``scale``: the values' encodings need not match, the Dense that reads them knows)."""
    out = st.fresh(out or f"{name.rsplit('/', 1)[0]}:{name.rsplit('/', 1)[1]}")
    _host(st, name, "Concat", values, (out,), shape, scale, axis=axis)
    return out


def _split_heads(st: _State, name: str, value: str, batch: int, part: tuple[int, ...],
                 scale: float | None, base: str) -> tuple[str, ...]:
    """The ``batch`` slices of ``value`` along axis 0 (an int8 host Split; the value
    itself when there is one)."""
    if batch == 1:
        return (value,)
    parts = tuple(st.fresh(f"{base}{h}") for h in range(batch))
    _host(st, name, "Split", (value,), parts, part, scale, axis=0, split=(1,) * batch)
    return parts


DIGIT_RADIX = 16  # the low digit's scale is the high digit's / 16 (|low digit| <= 8)


def _low_digit(st: _State, value: str, high: str) -> str:
    """The second int8 digit of a float value whose first digit is ``high``: the host's
    remainder ``x - dequantize(high)`` (at most half a step) quantized in ``scale / R``."""
    shape = st.graph.types[value].shape
    s_hi = st.scales[high]
    approx, rem = st.fresh(f"{value}:hi"), st.fresh(f"{value}:rem")
    st.add(QNode(f"dequantize_{approx}", "dequantize", (high,), (approx,), shape=shape,
                 scale=s_hi, zero_point=st.zero(high)))
    st.source[approx] = value
    sub = f"{value}/remainder"
    st.add(QNode(sub, "float", (st.floats[value], approx), (rem,),
                 node=Node(sub, "Sub", (st.floats[value], approx), (rem,), {}), shape=shape))
    st.floats[rem] = rem
    low = st.fresh(f"{value}:lo")
    s_lo = s_hi / DIGIT_RADIX
    st.add(QNode(f"quantize_{low}", "quantize", (rem,), (low,), shape=shape, scale=s_lo))
    st.scales[low], st.zeros[low] = s_lo, 0
    return low


MOVES = ("Reshape", "Transpose", "Identity")  # data movement: int8 in, same int8 out


def _host_move(st: _State, node: Node) -> bool:
    """Reshape/Transpose/Identity of an int8 value: moved on the host as int8 (exact), the
    scale kept, instead of a dequantize-move-quantize round trip."""
    x = node.inputs[0]
    if x not in st.int8 or x in st.floats:
        return False
    xq = st.int8[x]
    out = node.outputs[0]
    st.define_int8(out, st.scales[xq], st.zero(xq))
    st.add(QNode(node.name, "host", (xq,), (out,),
                 node=Node(node.name, node.op, (xq,), (out,), node.attrs),
                 shape=st.graph.types[out].shape, scale=st.scales[xq], fused=(node.name,),
                 zero_point=st.zero(xq)))
    return True


def _host_concat(st: _State, node: Node) -> bool:
    """Concat of int8 values: each input rescaled to the output's scale (an Elementwise
    when it differs), then concatenated on the host as int8, instead of a float island."""
    ins = node.inputs
    out = node.outputs[0]
    if not ins or any(i not in st.int8 or i in st.floats for i in ins):
        return False
    shapes = [_shape4(st.graph.types[i].shape) for i in ins]
    if any(s is None for s in shapes):
        return False
    s_out, z_out = st.scale_of(out), st.zero_of(out)
    qs = tuple(st.rescaled(i, s_out, s, z_out) for i, s in zip(ins, shapes, strict=True))
    st.define_int8(out, s_out, z_out)
    st.add(QNode(node.name, "host", qs, (out,),
                 node=Node(node.name, node.op, qs, (out,), node.attrs),
                 shape=st.graph.types[out].shape, scale=s_out, fused=(node.name,),
                 zero_point=z_out))
    return True


def _float_node(st: _State, node: Node) -> None:
    ins = tuple(n if (not n or n in st.graph.constants) else st.as_float(n)
                for n in node.inputs)
    for o in node.outputs:
        if o:
            st.floats[o] = o
            st.source[o] = o
            st.taken.add(o)
    st.add(QNode(node.name, "float", tuple(n for n in ins if n), node.outputs,
                 node=Node(node.name, node.op, ins, node.outputs, node.attrs),
                 shape=st.graph.types[node.outputs[0]].shape if node.outputs[0] else (),
                 fused=(node.name,)))


def quantize_graph(graph: Graph, act_scales: Mapping[str, float], *, per_channel: bool = True,
                   weights: Mapping[str, WeightQuant] | None = None,
                   avg_pool_requant: bool = True,
                   act_zero_points: Mapping[str, int] | None = None,
                   model_quantized: Collection[str] = (),
                   two_digits: bool = False,
                   act_lowest: Mapping[str, float] | None = None,
                   dynamic_matmul: bool = False) -> QuantizedGraph:
    """Quantize and fuse ``graph`` (after the float passes) with the given activation scales
    (value -> int8 scale, e.g. ``amax / 127`` from :func:`calibrate`).

    per_channel: int8 weights with one scale per output channel (else one per tensor).
    weights: fixed int8 weights by constant name (a QDQ model's).  avg_pool_requant: an
    average pool whose output range is at least 2x narrower than its input's becomes a
    depthwise convolution of ones with a requantizing epilogue (one more bit or more of
    precision) instead of opset pooling, which keeps the input's scale.  act_zero_points:
    value -> int8 zero point (asymmetric activations; values not named have 0).
    model_quantized: values the model quantizes itself (a QDQ model's pairs): fusion keeps
    each such quantization, rounding and saturation included, as the model computes it
    (only a ReLU fuses past one: exact, the quantization clamps the same either way).
    two_digits: an activation the host quantizes (a float island's output or a model
    input) for a Gemm/MatMul with constant weights goes in as two int8 digits, ``hi`` and
    the remainder ``lo`` in a 16x finer scale, side by side against the weights and their
    16x coarser copy: about 12 bits of input for twice that matmul's MACs, one
    accumulator, one rounding (a transformer's LayerNorm and Gelu outputs feeding its
    projections and FFN).  act_lowest: value -> the lowest value calibration saw; with it,
    a lopsided value the host quantizes for constant-weight GEMMs only gets a zero point
    (``_State.lopsided_gemm_input``).  dynamic_matmul: a MatMul of two activations
    quantizes each operand the host computes in float (softmax probabilities) with a
    scale taken from that run's tensor (``max|x| / 127``), and the accelerator's
    requantization of that Dense is a per-channel table the host computes per run from
    the scales (:func:`_fuse_activation_matmul`); such values have no entry in the
    graph's ``scales``."""
    st = _State(graph, act_scales, per_channel, weights or {}, avg_pool_requant,
                dict(act_zero_points or {}), frozenset(model_quantized), two_digits,
                dynamic_matmul, lowest=dict(act_lowest or {}), readers=graph.consumers())
    for name in graph.inputs:
        st.floats[name], st.source[name] = name, name
        st.taken.add(name)
    consumers = graph.consumers()
    done: set[str] = set()
    for node in graph.nodes:
        if node.name in done:
            continue
        fused = False
        if node.op in ("Conv", "Gemm", "MatMul"):
            fused = _fuse_gemm(st, node, consumers, done)
            if not fused and node.op == "MatMul":
                fused = _fuse_activation_matmul(st, node, consumers, done)
        elif node.op in ("MaxPool", "AveragePool", "GlobalAveragePool"):
            fused = _fuse_pool(st, node)
        elif node.op in ("Add", "Mul", "Relu"):
            fused = _fuse_elementwise(st, node, consumers, done)
        elif node.op in MOVES and node.outputs[0] not in graph.outputs:
            fused = _host_move(st, node)
        elif node.op == "Concat" and node.outputs[0] not in graph.outputs:
            fused = _host_concat(st, node)
        if not fused:
            _float_node(st, node)
    outputs = tuple(st.as_float(o) if o not in st.floats else st.floats[o]
                    for o in graph.outputs)
    scales = {v: sc for v, sc in st.scales.items() if v not in st.dynamic}
    return QuantizedGraph(graph.name, graph.inputs, outputs, st.nodes, scales,
                          {**graph.constants, **st.constants}, st.source, graph, st.zeros)


__all__ = ["quantize_graph", "asymmetric", "QuantizeError", "WeightQuant", "ASYMMETRIC_BELOW"]
