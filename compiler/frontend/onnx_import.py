"""ONNX -> graph IR: every opset from 7 to current, into one canonical op set.

Why a translation (not an ONNX graph kept as is): ONNX moved attributes to inputs across
opsets (Clip min/max, Slice starts/ends, Pad pads, Squeeze/Unsqueeze axes, Split sizes,
ReduceMean axes, Resize scales/sizes), changed semantics (Softmax before opset 13 coerces its
input to 2-D) and allows implicit defaults (auto_pad, perm, kernel from the weight).  Here
each ONNX node becomes canonical nodes whose attributes are all explicit and resolved against
the input shapes (``compiler.graph.shapes``), so the passes see one op set.

- Old IR-3 exports list initializers among the graph inputs: they are constants.
- Constant subgraphs (``Shape``/``Gather``/``Unsqueeze``/``Concat``/``ConstantOfShape``/
  ``Cast``/...) are folded while importing, with the reference evaluator: attributes given as
  tensors need their values.  QuantizeLinear/DequantizeLinear are never folded: a QDQ
  model's weights stay int8 with their scales.
- ``Flatten``/``Squeeze``/``Unsqueeze`` become ``Reshape`` with an explicit shape, ``Sum`` a
  chain of ``Add``, ``Dropout`` an ``Identity``.
- Dynamic dimensions are fixed with ``input_shapes={name: (1, 3, 224, 224)}``; without it the
  error names the input and the dimension.
- A model with unsupported ops fails with ONE error listing every such node (type, name,
  domain, opset); a malformed or truncated file with one :class:`ModelError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from compiler.graph.errors import GraphError, ModelError, ShapeError, UnsupportedOpError
from compiler.graph.ir import Graph, Node, TensorType, constant_type, unique_name
from compiler.graph.passes import UNFOLDED_OPS
from compiler.graph.reference import evaluate_node
from compiler.graph.shapes import infer_node
from opset.onnx_kernels import KERNELS

MIN_OPSET = 7
# no tensor of a model we can run has more elements (4 GiB of float32): a corrupt dimension
# is an error, not an attempt to allocate petabytes
MAX_ELEMENTS = 1 << 30
ONNX_DOMAINS = ("", "ai.onnx")


def _onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as exc:  # pragma: no cover - onnx is a dependency
        raise ModelError("the ONNX frontend needs the 'onnx' package") from exc
    return onnx, helper, numpy_helper


# --- loading --------------------------------------------------------------------------

def load_model(source: str | Path | bytes | Any) -> Any:
    """A ModelProto from a path, bytes or a ModelProto; :class:`ModelError` if it is not a
    readable ONNX model (never a protobuf traceback)."""
    onnx, _, _ = _onnx()
    if isinstance(source, onnx.ModelProto):
        return source
    what = "bytes"
    if isinstance(source, (str, Path)):
        what = str(source)
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read model {what}: {exc.strerror or exc}") from None
    else:
        data = bytes(source)
    if not data:
        raise ModelError(f"model {what} is empty")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ModelError(f"model {what} is not a valid ONNX file (truncated or corrupt: "
                         f"{type(exc).__name__}: {exc})") from None
    if not model.HasField("graph") or not model.graph.output:
        raise ModelError(f"model {what} is not a valid ONNX file (no graph or no outputs; "
                         "truncated or not ONNX)")
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        if not isinstance(source, (str, Path)):
            raise ModelError("the model keeps its weights in external files: import it from "
                             "its path, not from bytes")
        from onnx.external_data_helper import load_external_data_for_model
        try:
            load_external_data_for_model(model, str(Path(source).parent))
        except Exception as exc:
            raise ModelError(f"model {what}: cannot read its external weights "
                             f"({type(exc).__name__}: {exc})") from None
    return model


def model_opset(model: Any) -> int:
    """The default-domain opset; 1 when the model declares none (IR < 3 had no imports)."""
    versions = [o.version for o in model.opset_import if o.domain in ONNX_DOMAINS]
    return max(versions) if versions else 1


# --- the import context ---------------------------------------------------------------

class _Importer:
    """Mutable state of ONE import (local to :func:`import_onnx`): the canonical nodes
    emitted so far, the constants (initializers and folded values) and every value's type."""

    def __init__(self, opset: int):
        self.opset = opset
        self.nodes: list[Node] = []
        self.consts: dict[str, np.ndarray] = {}
        self.types: dict[str, TensorType] = {}
        self.node_names: set[str] = set()
        self.value_names: set[str] = set()
        self.onnx_node: Any = None

    # values
    def type(self, name: str) -> TensorType:
        return self.types[name]

    def shape(self, name: str) -> tuple[int, ...]:
        return self.types[name].shape

    def const(self, name: str) -> np.ndarray | None:
        return self.consts.get(name) if name else None

    def need_const(self, name: str, what: str) -> np.ndarray:
        value = self.const(name)
        if value is None:
            n = self.onnx_node
            raise UnsupportedOpError(
                f"node {n.name!r} ({n.op_type}): {what} (input {name!r}) must be a constant "
                "(computed from initializers and static shapes), not data-dependent")
        return value

    def add_const(self, name: str, value: np.ndarray) -> None:
        value = np.asarray(value)
        self.consts[name] = value
        self.types[name] = constant_type(value)
        self.value_names.add(name)

    def fresh(self, base: str) -> str:
        name = unique_name(base, self.value_names)
        self.value_names.add(name)
        return name

    # nodes
    def emit(self, op: str, inputs: Sequence[str], outputs: Sequence[str],
             **attrs: Any) -> None:
        """Add a canonical node (typed); fold it when all its inputs are constants."""
        base = self.onnx_node.name or f"{self.onnx_node.op_type}_{len(self.nodes)}"
        if op != self.onnx_node.op_type:
            base = f"{base}/{op}" if self.onnx_node.name else base
        node = Node(unique_name(base, self.node_names), op, tuple(inputs), tuple(outputs),
                    attrs)
        in_types = [self.types[i] if i else None for i in inputs]
        out_types = infer_node(node, in_types)
        for name, t in zip(outputs, out_types, strict=False):
            _check_size(name, t.shape, node)
        present = [i for i in inputs if i]
        if present and all(i in self.consts for i in present) and op in KERNELS \
                and op not in UNFOLDED_OPS:
            values = evaluate_node(node, [self.consts[i] if i else None for i in inputs])
            for name, value in zip(outputs, values, strict=False):
                if name:
                    self.add_const(name, value)
            return
        self.node_names.add(node.name)
        self.nodes.append(node)
        for name, t in zip(outputs, out_types, strict=False):
            if name:
                self.types[name] = t
                self.value_names.add(name)


def _check_size(name: str, shape: Sequence[int], node: Any) -> None:
    if any(d < 0 for d in shape) or math.prod(shape) > MAX_ELEMENTS:
        where = f"node {node.name!r} ({node.op})" if node is not None else "the model"
        raise ModelError(f"{where}: value {name!r} would have shape {list(shape)}, beyond "
                         f"{MAX_ELEMENTS} elements (corrupt model?)")


def _attrs(node: Any) -> dict[str, Any]:
    _, helper, _ = _onnx()
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, list) and v and isinstance(v[0], bytes):
            v = [s.decode() for s in v]
        out[a.name] = v
    return out


def _np_dtype(elem_type: int) -> np.dtype:
    _, helper, _ = _onnx()
    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))
    except Exception:
        raise ModelError(f"unsupported ONNX element type {elem_type}") from None


def _axis(axis: int, rank: int, node: Any) -> int:
    if not -rank <= axis < rank:
        raise ModelError(f"node {node.name!r} ({node.op_type}): axis {axis} is out of range "
                         f"for rank {rank}")
    return axis % rank


def _ins(node: Any, i: int) -> str:
    return node.input[i] if len(node.input) > i else ""


# --- handlers: one per ONNX op type ---------------------------------------------------

Handler = Callable[[_Importer, Any, dict[str, Any]], None]
HANDLERS: dict[str, Handler] = {}


def _handles(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = fn
        return fn
    return register


@_handles("Constant")
def _constant(ctx: _Importer, node, a):
    _, _, numpy_helper = _onnx()
    if "value" in a:
        value = numpy_helper.to_array(a["value"])
    elif "value_float" in a:
        value = np.array(a["value_float"], np.float32)
    elif "value_floats" in a:
        value = np.array(a["value_floats"], np.float32)
    elif "value_int" in a:
        value = np.array(a["value_int"], np.int64)
    elif "value_ints" in a:
        value = np.array(a["value_ints"], np.int64)
    else:
        raise UnsupportedOpError(f"node {node.name!r} (Constant): attributes {sorted(a)} are "
                                 "not supported (sparse or string constants)")
    ctx.add_const(node.output[0], value)


@_handles("ConstantOfShape")
def _constant_of_shape(ctx, node, a):
    _, _, numpy_helper = _onnx()
    shape = ctx.need_const(node.input[0], "the shape")
    _check_size(node.output[0], [int(d) for d in shape.reshape(-1)], None)
    fill = numpy_helper.to_array(a["value"]).reshape(-1) if "value" in a \
        else np.zeros(1, np.float32)
    ctx.add_const(node.output[0], np.full(tuple(int(d) for d in shape), fill[0], fill.dtype))


@_handles("Shape")
def _shape(ctx, node, a):
    shape = np.array(ctx.shape(node.input[0]), np.int64)
    start, end = a.get("start", 0), a.get("end")
    ctx.add_const(node.output[0], shape[start:end])


@_handles("Size")
def _size(ctx, node, a):
    ctx.add_const(node.output[0], np.array(ctx.type(node.input[0]).size, np.int64))


@_handles("Range")
def _range(ctx, node, a):
    start, limit, delta = (ctx.need_const(i, "a bound") for i in node.input[:3])
    if delta.item() == 0:
        raise ModelError(f"node {node.name!r} (Range): delta is 0")
    _check_size(node.output[0],
                [max(0, math.ceil((limit.item() - start.item()) / delta.item()))], None)
    ctx.add_const(node.output[0], np.arange(start.item(), limit.item(), delta.item(),
                                            dtype=start.dtype))


_UNARY = ("Relu", "Sigmoid", "Tanh", "Exp", "Sqrt", "Neg", "Abs", "Reciprocal", "Erf",
          "Floor", "Ceil", "HardSwish", "Identity", "GlobalAveragePool", "GlobalMaxPool")


@_handles(*_UNARY)
def _unary(ctx, node, a):
    ctx.emit(node.op_type, node.input[:1], node.output[:1])


@_handles("LeakyRelu")
def _leaky_relu(ctx, node, a):
    ctx.emit("LeakyRelu", node.input[:1], node.output[:1], alpha=float(a.get("alpha", 0.01)))


@_handles("HardSigmoid")
def _hard_sigmoid(ctx, node, a):
    ctx.emit("HardSigmoid", node.input[:1], node.output[:1], alpha=float(a.get("alpha", 0.2)),
             beta=float(a.get("beta", 0.5)))


@_handles("Gelu")
def _gelu(ctx, node, a):
    ctx.emit("Gelu", node.input[:1], node.output[:1], approximate=a.get("approximate", "none"))


@_handles("Dropout")
def _dropout(ctx, node, a):
    # inference: the identity; a used mask output is all true
    ctx.emit("Identity", node.input[:1], node.output[:1])
    if len(node.output) > 1 and node.output[1]:
        ctx.add_const(node.output[1], np.ones(ctx.shape(node.input[0]), bool))


@_handles("Clip")
def _clip(ctx, node, a):
    if ctx.opset < 11:
        lo, hi = a.get("min"), a.get("max")
    else:
        lo_v, hi_v = _ins(node, 1), _ins(node, 2)
        lo = None if not lo_v else ctx.need_const(lo_v, "min").item()
        hi = None if not hi_v else ctx.need_const(hi_v, "max").item()
    lo = None if lo is None or lo <= -3.4e38 else float(lo)
    hi = None if hi is None or hi >= 3.4e38 else float(hi)
    ctx.emit("Clip", node.input[:1], node.output[:1], min=lo, max=hi)


@_handles("Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "Greater")
def _binary(ctx, node, a):
    ctx.emit(node.op_type, node.input[:2], node.output[:1])


@_handles("Where")
def _where(ctx, node, a):
    ctx.emit("Where", node.input[:3], node.output[:1])


@_handles("Sum", "Max", "Min")
def _nary(ctx, node, a):
    """n-ary Sum/Max/Min: a chain of binary nodes (Sum -> Add)."""
    op = "Add" if node.op_type == "Sum" else node.op_type
    inputs = list(node.input)
    if len(inputs) == 1:
        ctx.emit("Identity", inputs, node.output[:1])
        return
    acc = inputs[0]
    for i, x in enumerate(inputs[1:], start=1):
        out = node.output[0] if i == len(inputs) - 1 else ctx.fresh(f"{node.output[0]}_{i}")
        ctx.emit(op, (acc, x), (out,))
        acc = out


@_handles("Cast")
def _cast(ctx, node, a):
    ctx.emit("Cast", node.input[:1], node.output[:1], to=_np_dtype(a["to"]).name)


def _resolve_pads(ctx, node, a, spatial: Sequence[int], kernel: Sequence[int],
                  strides: Sequence[int], dilations: Sequence[int]) -> tuple[int, ...]:
    """Explicit (begin..., end...) pads from ``pads`` or ``auto_pad``."""
    nd = len(kernel)
    auto = a.get("auto_pad", "NOTSET")
    if auto in ("NOTSET", ""):
        pads = tuple(int(p) for p in a.get("pads", (0,) * (2 * nd)))
        if len(pads) != 2 * nd:
            raise ModelError(f"node {node.name!r} ({node.op_type}): pads {list(pads)} must "
                             f"have {2 * nd} entries")
        return pads
    if auto == "VALID":
        return (0,) * (2 * nd)
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise ModelError(f"node {node.name!r} ({node.op_type}): unknown auto_pad {auto!r}")
    begin, end = [], []
    for n, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
        total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
        small, big = total // 2, total - total // 2
        begin.append(small if auto == "SAME_UPPER" else big)
        end.append(big if auto == "SAME_UPPER" else small)
    return tuple(begin + end)


def _conv_attrs(ctx, node, a, x: str, w: str) -> dict[str, Any]:
    kernel = tuple(ctx.shape(w)[2:])
    if "kernel_shape" in a and tuple(a["kernel_shape"]) != kernel:
        raise ModelError(f"node {node.name!r} ({node.op_type}): kernel_shape "
                         f"{a['kernel_shape']} does not match the weight {list(ctx.shape(w))}")
    nd = len(kernel)
    strides = tuple(a.get("strides", (1,) * nd))
    dilations = tuple(a.get("dilations", (1,) * nd))
    pads = _resolve_pads(ctx, node, a, ctx.shape(x)[2:], kernel, strides, dilations)
    return dict(strides=strides, pads=pads, dilations=dilations, group=int(a.get("group", 1)))


@_handles("Conv", "ConvInteger")
def _conv(ctx, node, a):
    ctx.emit(node.op_type, node.input, node.output[:1],
             **_conv_attrs(ctx, node, a, node.input[0], node.input[1]))


@_handles("QLinearConv")
def _qlinear_conv(ctx, node, a):
    ctx.emit("QLinearConv", node.input, node.output[:1],
             **_conv_attrs(ctx, node, a, node.input[0], node.input[3]))


@_handles("ConvTranspose")
def _conv_transpose(ctx, node, a):
    x, w = node.input[0], node.input[1]
    kernel = tuple(ctx.shape(w)[2:])
    nd = len(kernel)
    strides = tuple(a.get("strides", (1,) * nd))
    dil = tuple(a.get("dilations", (1,) * nd))
    out_pad = tuple(a.get("output_padding", (0,) * nd))
    auto = a.get("auto_pad", "NOTSET")
    if "output_shape" in a or auto in ("SAME_UPPER", "SAME_LOWER"):
        spatial = ctx.shape(x)[2:]
        target = tuple(a["output_shape"])[-nd:] if "output_shape" in a else \
            tuple(n * s for n, s in zip(spatial, strides, strict=True))
        begin, end = [], []
        for i in range(nd):
            total = strides[i] * (spatial[i] - 1) + out_pad[i] + (kernel[i] - 1) * dil[i] + 1 \
                - target[i]
            lower = auto != "SAME_UPPER"  # the spec: without auto_pad, extra pad goes first
            begin.append(total - total // 2 if lower else total // 2)
            end.append(total // 2 if lower else total - total // 2)
        pads = tuple(begin + end)
    elif auto == "VALID":
        pads = (0,) * (2 * nd)
    else:
        pads = tuple(a.get("pads", (0,) * (2 * nd)))
    ctx.emit("ConvTranspose", node.input, node.output[:1], strides=strides, pads=pads,
             dilations=dil, group=int(a.get("group", 1)), output_padding=out_pad)


@_handles("Gemm")
def _gemm(ctx, node, a):
    ctx.emit("Gemm", node.input, node.output[:1], alpha=float(a.get("alpha", 1.0)),
             beta=float(a.get("beta", 1.0)), trans_a=int(a.get("transA", 0)),
             trans_b=int(a.get("transB", 0)))


@_handles("MatMul", "MatMulInteger", "QLinearMatMul")
def _matmul(ctx, node, a):
    ctx.emit(node.op_type, node.input, node.output[:1])


@_handles("BatchNormalization")
def _batch_norm(ctx, node, a):
    if a.get("training_mode", 0) or any(o for o in node.output[1:]):
        raise UnsupportedOpError(f"node {node.name!r} (BatchNormalization): training mode "
                                 "(running statistics outputs) is not supported")
    c = ctx.shape(node.input[0])[1]
    for name in node.input[1:5]:
        if ctx.shape(name) != (c,):
            raise UnsupportedOpError(
                f"node {node.name!r} (BatchNormalization): parameter {name!r} has shape "
                f"{list(ctx.shape(name))}; only per-channel ({c},) (spatial=1) is supported")
    ctx.emit("BatchNormalization", node.input[:5], node.output[:1],
             epsilon=float(a.get("epsilon", 1e-5)))


@_handles("LayerNormalization")
def _layer_norm(ctx, node, a):
    if any(o for o in node.output[1:]):
        raise UnsupportedOpError(f"node {node.name!r} (LayerNormalization): the mean and "
                                 "inverse std outputs are not supported")
    rank = ctx.type(node.input[0]).rank
    ctx.emit("LayerNormalization", node.input[:3], node.output[:1],
             axis=_axis(int(a.get("axis", -1)), rank, node),
             epsilon=float(a.get("epsilon", 1e-5)))


@_handles("Softmax")
def _softmax(ctx, node, a):
    shape = ctx.shape(node.input[0])
    rank = len(shape)
    if ctx.opset >= 13:
        ctx.emit("Softmax", node.input[:1], node.output[:1],
                 axis=_axis(int(a.get("axis", -1)), rank, node))
        return
    # before opset 13: the input is coerced to 2-D at `axis`, softmax over the second dim
    axis = _axis(int(a.get("axis", 1)), rank, node)
    if axis == rank - 1:
        ctx.emit("Softmax", node.input[:1], node.output[:1], axis=axis)
        return
    flat = (int(np.prod(shape[:axis], dtype=np.int64)), int(np.prod(shape[axis:],
                                                                      dtype=np.int64)))
    x2 = ctx.fresh(f"{node.output[0]}_2d")
    y2 = ctx.fresh(f"{node.output[0]}_2d_softmax")
    ctx.emit("Reshape", node.input[:1], (x2,), shape=flat)
    ctx.emit("Softmax", (x2,), (y2,), axis=1)
    ctx.emit("Reshape", (y2,), node.output[:1], shape=shape)


@_handles("LRN")
def _lrn(ctx, node, a):
    ctx.emit("LRN", node.input[:1], node.output[:1], size=int(a["size"]),
             alpha=float(a.get("alpha", 1e-4)), beta=float(a.get("beta", 0.75)),
             bias=float(a.get("bias", 1.0)))


@_handles("Concat")
def _concat(ctx, node, a):
    rank = ctx.type(node.input[0]).rank
    ctx.emit("Concat", node.input, node.output[:1], axis=_axis(int(a["axis"]), rank, node))


@_handles("Split")
def _split(ctx, node, a):
    shape = ctx.shape(node.input[0])
    axis = _axis(int(a.get("axis", 0)), len(shape), node)
    n = len(node.output)
    if ctx.opset < 13 and "split" in a:
        split = tuple(a["split"])
    elif ctx.opset >= 13 and _ins(node, 1):
        split = tuple(int(s) for s in ctx.need_const(node.input[1], "split"))
    else:
        n = int(a.get("num_outputs", n))
        chunk = -(-shape[axis] // n)
        split = tuple(min(chunk, shape[axis] - i * chunk) for i in range(n))
    ctx.emit("Split", node.input[:1], node.output, axis=axis, split=split)


@_handles("Slice")
def _slice(ctx, node, a):
    shape = ctx.shape(node.input[0])
    if ctx.opset < 10:
        starts, ends = a["starts"], a["ends"]
        axes = a.get("axes", range(len(starts)))
        steps = [1] * len(starts)
    else:
        starts = ctx.need_const(node.input[1], "starts").tolist()
        ends = ctx.need_const(node.input[2], "ends").tolist()
        axes = ctx.need_const(node.input[3], "axes").tolist() if _ins(node, 3) \
            else range(len(starts))
        steps = ctx.need_const(node.input[4], "steps").tolist() if _ins(node, 4) \
            else [1] * len(starts)
    out = {"starts": [], "ends": [], "axes": [], "steps": []}
    for s, e, ax, st in zip(starts, ends, axes, steps, strict=True):
        ax = _axis(int(ax), len(shape), node)
        if st == 0:
            raise ModelError(f"node {node.name!r} (Slice): step 0")
        s, e, st = slice(int(s), int(e), int(st)).indices(shape[ax])
        for key, v in zip(("starts", "ends", "axes", "steps"), (s, e, ax, st), strict=True):
            out[key].append(v)
    ctx.emit("Slice", node.input[:1], node.output[:1], **out)


def _reshape_to(ctx, node, x: str, shape: Sequence[int], allowzero: bool = False) -> None:
    in_shape = ctx.shape(x)
    size = ctx.type(x).size
    shape = [int(d) for d in shape]
    if not allowzero:
        shape = [in_shape[i] if d == 0 else d for i, d in enumerate(shape)]
    if shape.count(-1) > 1:
        raise ModelError(f"node {node.name!r} ({node.op_type}): shape {shape} has two -1")
    if -1 in shape:
        rest = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        if rest == 0 or size % rest:
            raise ShapeError(f"node {node.name!r} ({node.op_type}): cannot reshape "
                             f"{list(in_shape)} to {shape}")
        shape[shape.index(-1)] = size // rest
    ctx.emit("Reshape", (x,), node.output[:1], shape=tuple(shape))


@_handles("Reshape")
def _reshape(ctx, node, a):
    shape = a["shape"] if ctx.opset < 5 else ctx.need_const(node.input[1], "the shape").tolist()
    _reshape_to(ctx, node, node.input[0], shape, bool(a.get("allowzero", 0)))


@_handles("Flatten")
def _flatten(ctx, node, a):
    shape = ctx.shape(node.input[0])
    axis = int(a.get("axis", 1))
    axis = axis + len(shape) if axis < 0 else axis
    _reshape_to(ctx, node, node.input[0],
                (int(np.prod(shape[:axis], dtype=np.int64)),
                 int(np.prod(shape[axis:], dtype=np.int64))), True)


def _axes_arg(ctx, node, a, name: str = "axes") -> list[int] | None:
    if ctx.opset < 13 or (node.op_type.startswith("Reduce") and node.op_type != "ReduceSum"
                          and ctx.opset < 18):
        return None if name not in a else list(a[name])
    return ctx.need_const(node.input[1], name).tolist() if _ins(node, 1) else None


@_handles("Squeeze")
def _squeeze(ctx, node, a):
    shape = ctx.shape(node.input[0])
    axes = _axes_arg(ctx, node, a)
    axes = [i for i, d in enumerate(shape) if d == 1] if axes is None else \
        [_axis(x, len(shape), node) for x in axes]
    for ax in axes:
        if shape[ax] != 1:
            raise ShapeError(f"node {node.name!r} (Squeeze): dim {ax} of {list(shape)} is "
                             "not 1")
    _reshape_to(ctx, node, node.input[0],
                [d for i, d in enumerate(shape) if i not in axes], True)


@_handles("Unsqueeze")
def _unsqueeze(ctx, node, a):
    shape = list(ctx.shape(node.input[0]))
    axes = _axes_arg(ctx, node, a)
    rank = len(shape) + len(axes)
    for ax in sorted(_axis(x, rank, node) for x in axes):
        shape.insert(ax, 1)
    _reshape_to(ctx, node, node.input[0], shape, True)


@_handles("Expand")
def _expand(ctx, node, a):
    """Expand's shape input broadcasts both ways; the canonical attribute is the result."""
    shape = ctx.need_const(node.input[1], "the shape").tolist()
    try:
        target = tuple(np.broadcast_shapes(ctx.shape(node.input[0]), tuple(shape)))
    except ValueError:
        raise ShapeError(f"node {node.name!r} (Expand): {list(ctx.shape(node.input[0]))} "
                         f"does not broadcast with {shape}") from None
    ctx.emit("Expand", node.input[:1], node.output[:1], shape=target)


@_handles("Transpose")
def _transpose(ctx, node, a):
    rank = ctx.type(node.input[0]).rank
    perm = tuple(a.get("perm", range(rank - 1, -1, -1)))
    ctx.emit("Transpose", node.input[:1], node.output[:1], perm=perm)


@_handles("Gather")
def _gather(ctx, node, a):
    rank = ctx.type(node.input[0]).rank
    ctx.emit("Gather", node.input[:2], node.output[:1],
             axis=_axis(int(a.get("axis", 0)), rank, node))


@_handles("Pad")
def _pad(ctx, node, a):
    rank = ctx.type(node.input[0]).rank
    mode = a.get("mode", "constant")
    if mode not in ("constant", "reflect", "edge"):
        raise UnsupportedOpError(f"node {node.name!r} (Pad): mode {mode!r} is not supported")
    if ctx.opset < 11:
        pads, value = list(a["pads" if "pads" in a else "paddings"]), float(a.get("value", 0.0))
    else:
        pads = ctx.need_const(node.input[1], "pads").tolist()
        value = ctx.need_const(node.input[2], "constant_value").item() if _ins(node, 2) else 0.0
        if _ins(node, 3):
            axes = [_axis(x, rank, node) for x in ctx.need_const(node.input[3], "axes")]
            full = [0] * (2 * rank)
            for i, ax in enumerate(axes):
                full[ax], full[ax + rank] = pads[i], pads[i + len(axes)]
            pads = full
    ctx.emit("Pad", node.input[:1], node.output[:1], pads=tuple(int(p) for p in pads),
             mode=mode, value=float(value))


def _pool_attrs(ctx, node, a) -> dict[str, Any]:
    kernel = tuple(a["kernel_shape"])
    nd = len(kernel)
    strides = tuple(a.get("strides", (1,) * nd))
    dil = tuple(a.get("dilations", (1,) * nd))
    pads = _resolve_pads(ctx, node, a, ctx.shape(node.input[0])[2:], kernel, strides, dil)
    return dict(kernel_shape=kernel, strides=strides, pads=pads, dilations=dil,
                ceil_mode=int(a.get("ceil_mode", 0)))


@_handles("MaxPool")
def _max_pool(ctx, node, a):
    if len(node.output) > 1 and node.output[1]:
        raise UnsupportedOpError(f"node {node.name!r} (MaxPool): the Indices output is not "
                                 "supported")
    ctx.emit("MaxPool", node.input[:1], node.output[:1], **_pool_attrs(ctx, node, a))


@_handles("AveragePool")
def _avg_pool(ctx, node, a):
    ctx.emit("AveragePool", node.input[:1], node.output[:1], **_pool_attrs(ctx, node, a),
             count_include_pad=int(a.get("count_include_pad", 0)))


@_handles("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd")
def _reduce(ctx, node, a):
    rank = ctx.type(node.input[0]).rank
    axes = _axes_arg(ctx, node, a)
    if not axes:
        if a.get("noop_with_empty_axes", 0):
            ctx.emit("Identity", node.input[:1], node.output[:1])
            return
        axes = list(range(rank))
    ctx.emit(node.op_type, node.input[:1], node.output[:1],
             axes=tuple(sorted(_axis(x, rank, node) for x in axes)),
             keepdims=int(a.get("keepdims", 1)))


@_handles("Upsample", "Resize")
def _resize(ctx, node, a):
    mode = a.get("mode", "nearest")
    if mode != "nearest":
        raise UnsupportedOpError(f"node {node.name!r} ({node.op_type}): mode {mode!r} is not "
                                 "supported (nearest only)")
    shape = ctx.shape(node.input[0])
    rank = len(shape)
    if node.op_type == "Upsample" and ctx.opset < 9:
        scales = list(a["scales"])
    elif node.op_type == "Upsample" or ctx.opset == 10:
        scales = ctx.need_const(node.input[1], "scales").tolist()
    else:
        scales = ctx.need_const(node.input[2], "scales").tolist() if _ins(node, 2) else []
    sizes = ctx.need_const(node.input[3], "sizes").tolist() if _ins(node, 3) else []
    axes = list(a["axes"]) if "axes" in a else list(range(rank))
    if a.get("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise UnsupportedOpError(f"node {node.name!r} (Resize): keep_aspect_ratio_policy "
                                 f"{a['keep_aspect_ratio_policy']!r} is not supported")
    full_scales = [1.0] * rank
    size = list(shape)
    if sizes:
        for ax, s in zip(axes, sizes, strict=True):
            size[ax] = int(s)
            full_scales[ax] = s / shape[ax]
    else:
        for ax, s in zip(axes, scales, strict=True):
            full_scales[ax] = float(s)
            size[ax] = int(math.floor(shape[ax] * s))
    if node.op_type == "Upsample" or ctx.opset < 11:
        ctm, nearest = "asymmetric", "floor"
    else:
        ctm = a.get("coordinate_transformation_mode", "half_pixel")
        nearest = a.get("nearest_mode", "round_prefer_floor")
    if ctm not in ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"):
        raise UnsupportedOpError(f"node {node.name!r} (Resize): coordinate mode {ctm!r} is "
                                 "not supported")
    ctx.emit("Resize", node.input[:1], node.output[:1], size=tuple(size),
             scales=tuple(full_scales), coordinate_transformation_mode=ctm,
             nearest_mode=nearest)


def _quant_axis(ctx, node, a, rank: int) -> int | None:
    """The quantization axis when the scale is per axis (more than one value), else None
    (per tensor: ONNX ignores ``axis`` then)."""
    if ctx.type(node.input[1]).size <= 1:
        return None
    return _axis(int(a.get("axis", 1)), rank, node)


@_handles("QuantizeLinear")
def _quantize(ctx, node, a):
    if a.get("block_size", 0):
        raise UnsupportedOpError(f"node {node.name!r} (QuantizeLinear): blocked quantization")
    rank = ctx.type(node.input[0]).rank
    if _ins(node, 2):
        dtype = ctx.type(node.input[2]).dtype
    elif "output_dtype" in a and a["output_dtype"]:
        dtype = _np_dtype(a["output_dtype"]).name
    else:
        dtype = "uint8"
    ctx.emit("QuantizeLinear", node.input[:3], node.output[:1],
             axis=_quant_axis(ctx, node, a, rank), dtype=dtype)


@_handles("DequantizeLinear")
def _dequantize(ctx, node, a):
    if a.get("block_size", 0):
        raise UnsupportedOpError(f"node {node.name!r} (DequantizeLinear): blocked quantization")
    rank = ctx.type(node.input[0]).rank
    ctx.emit("DequantizeLinear", node.input[:3], node.output[:1],
             axis=_quant_axis(ctx, node, a, rank))


SUPPORTED_ONNX_OPS: frozenset[str] = frozenset(HANDLERS)


# --- the entry point ------------------------------------------------------------------

def _unsupported(model: Any, opset: int) -> list[str]:
    out = []
    for i, node in enumerate(model.graph.node):
        domain = node.domain or ""
        if domain not in ONNX_DOMAINS or node.op_type not in HANDLERS:
            version = next((o.version for o in model.opset_import if o.domain == domain), opset)
            out.append(f"{node.op_type} (node {node.name or '#' + str(i)!r}, domain "
                       f"{domain or 'ai.onnx'!r}, opset {version})")
    return out


def _input_types(model: Any, constants: set[str],
                 input_shapes: Mapping[str, Sequence[int]]) -> dict[str, TensorType]:
    out: dict[str, TensorType] = {}
    real = [v for v in model.graph.input if v.name not in constants]
    unknown = set(input_shapes) - {v.name for v in real}
    if unknown:
        raise ShapeError(f"input_shapes names {sorted(unknown)}, which are not model inputs "
                         f"(inputs: {[v.name for v in real]})")
    for v in real:
        tt = v.type.tensor_type
        if not v.type.HasField("tensor_type"):
            raise UnsupportedOpError(f"input {v.name!r} is not a tensor")
        dtype = _np_dtype(tt.elem_type)
        dims = list(tt.shape.dim)
        given = input_shapes.get(v.name)
        if given is not None:
            given = tuple(int(d) for d in given)
            if tt.HasField("shape") and len(given) != len(dims):
                raise ShapeError(f"input {v.name!r}: input_shapes gives rank {len(given)} "
                                 f"{list(given)}, the model has rank {len(dims)}")
            for i, (d, g) in enumerate(zip(dims, given, strict=False)):
                if d.HasField("dim_value") and d.dim_value > 0 and d.dim_value != g:
                    raise ShapeError(f"input {v.name!r}: input_shapes gives {g} for dimension "
                                     f"{i}, the model fixes it to {d.dim_value}")
            if any(g <= 0 for g in given):
                raise ShapeError(f"input {v.name!r}: input_shapes {list(given)} must be "
                                 "positive")
            out[v.name] = TensorType(given, dtype)
            continue
        if not tt.HasField("shape"):
            raise ShapeError(f"input {v.name!r} has no shape in the model: give it with "
                             f"input_shapes={{'{v.name}': (...)}} (--input-shape "
                             f"{v.name}=1x3x224x224)")
        shape = []
        for i, d in enumerate(dims):
            if d.HasField("dim_value") and d.dim_value > 0:
                shape.append(d.dim_value)
                continue
            label = f" ({d.dim_param!r})" if d.dim_param else ""
            raise ShapeError(f"input {v.name!r}: dimension {i}{label} is dynamic; fix it with "
                             f"input_shapes={{'{v.name}': (...)}} (--input-shape "
                             f"{v.name}=" + "x".join(str(x.dim_value or 1) for x in dims) + ")")
        out[v.name] = TensorType(shape, dtype)
    for name, t in out.items():
        _check_size(name, t.shape, None)
    return out


def import_onnx(source: str | Path | bytes | Any, *,
                input_shapes: Mapping[str, Sequence[int]] | None = None,
                name: str | None = None) -> Graph:
    """Import an ONNX model (path, bytes or ModelProto) into a typed :class:`Graph`."""
    _, _, numpy_helper = _onnx()
    model = load_model(source)
    opset = model_opset(model)
    bad = _unsupported(model, opset)
    if bad:
        raise UnsupportedOpError(f"{len(bad)} unsupported op(s): " + "; ".join(bad))
    if opset < MIN_OPSET:
        raise UnsupportedOpError(f"ONNX opset {opset} is not supported (opsets {MIN_OPSET} and "
                                 "later)")
    ctx = _Importer(opset)
    for init in model.graph.initializer:
        try:
            ctx.add_const(init.name, numpy_helper.to_array(init))
        except Exception as exc:
            raise ModelError(f"initializer {init.name!r} cannot be read: {exc}") from None
    inputs = _input_types(model, set(ctx.consts), input_shapes or {})
    for n, t in inputs.items():
        ctx.types[n] = t
        ctx.value_names.add(n)
    for node in model.graph.node:
        ctx.onnx_node = node
        for i in node.input:
            if i and i not in ctx.types:
                raise ModelError(f"node {node.name!r} ({node.op_type}) reads {i!r}, which "
                                 "nothing defines before it (malformed or unsorted model)")
        try:
            HANDLERS[node.op_type](ctx, node, _attrs(node))
        except GraphError:
            raise
        except KeyError as exc:
            raise ModelError(f"node {node.name!r} ({node.op_type}): missing attribute or "
                             f"input {exc}") from None
        except (ValueError, TypeError, IndexError, AttributeError, OverflowError,
                MemoryError) as exc:
            # a corrupt model reaches numpy or protobuf with nonsense values: one clear error
            raise ModelError(f"node {node.name!r} ({node.op_type}): invalid model content "
                             f"({type(exc).__name__}: {str(exc)[:200]})") from None
    outputs = tuple(o.name for o in model.graph.output)
    for o in outputs:
        if o not in ctx.types:
            raise ModelError(f"graph output {o!r} is never computed")
    return Graph(name or model.graph.name or "model", tuple(inputs), outputs, tuple(ctx.nodes),
                 ctx.consts, ctx.types)


__all__ = ["import_onnx", "load_model", "SUPPORTED_ONNX_OPS", "MIN_OPSET"]
