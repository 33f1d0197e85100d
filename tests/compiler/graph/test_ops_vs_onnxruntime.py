"""Every supported ONNX op, built with onnx.helper at the opsets where its form or meaning
changed, imported, run through the float pipeline and evaluated by the reference: the result
equals onnxruntime's (float32: 1e-5 relative; integer outputs: exactly)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from compiler.frontend import import_onnx
from compiler.graph.pipeline import run_passes
from compiler.graph.reference import evaluate
from tests.compiler.graph.onnx_util import init, make_model, run_ort, tensor

CURRENT = onnx.defs.onnx_opset_version()
RNG = np.random.default_rng(2026)

_ELEM = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int64): TensorProto.INT64,
         np.dtype(np.uint8): TensorProto.UINT8, np.dtype(np.int8): TensorProto.INT8,
         np.dtype(np.int32): TensorProto.INT32}


def f32(*shape, lo=-1.0, hi=1.0):
    return RNG.uniform(lo, hi, shape).astype(np.float32)


def check(op: str, feeds: dict, consts: dict | None = None, attrs: dict | None = None, *,
          opset: int = 13, order: list[str] | None = None, n_out: int = 1,
          passes: bool = True) -> None:
    """One ``op`` node over ``feeds`` (graph inputs) and ``consts`` (initializers); ``order``
    gives the node's input names (default: feeds then consts; '' = omitted)."""
    consts = consts or {}
    names = order if order is not None else list(feeds) + list(consts)
    outs = [f"y{i}" for i in range(n_out)]
    node = helper.make_node(op, names, outs, name="the_node", **(attrs or {}))
    model = make_model([node], [tensor(k, v.shape, _ELEM[v.dtype]) for k, v in feeds.items()],
                       [onnx.ValueInfoProto(name=o)
                        for o in outs],
                       [init(k, v) for k, v in consts.items()], opset=opset)
    want = run_ort(model, feeds)
    graph = import_onnx(model)
    if passes:
        graph = run_passes(graph)
    got = evaluate(graph, feeds)
    for name, w in zip(outs, want, strict=True):
        g = got[name]
        assert g.shape == w.shape, (name, g.shape, w.shape)
        if w.dtype.kind == "f":
            assert g.dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(w).max()))
        else:
            np.testing.assert_array_equal(g, w)


# --- convolution, matmul ----------------------------------------------------------------

@pytest.mark.parametrize("opset", [7, 11, 13, CURRENT])
@pytest.mark.parametrize("attrs,cin,cout", [
    (dict(pads=[1, 1, 1, 1]), 4, 6),
    (dict(strides=[2, 2], dilations=[2, 2], pads=[2, 1, 0, 3]), 4, 6),
    (dict(group=2, pads=[1, 0, 1, 0]), 4, 6),
    (dict(group=4, strides=[2, 1]), 4, 4),  # depthwise
    (dict(auto_pad="SAME_UPPER", strides=[2, 2]), 3, 5),
    (dict(auto_pad="SAME_LOWER", strides=[2, 2]), 3, 5),
    (dict(auto_pad="VALID"), 3, 5),
])
def test_conv(opset, attrs, cin, cout):
    g = attrs.get("group", 1)
    check("Conv", {"x": f32(2, cin, 9, 8)}, {"w": f32(cout, cin // g, 3, 3), "b": f32(cout)},
          {**attrs, "kernel_shape": [3, 3]}, opset=opset)


def test_conv_no_bias_1x1():
    check("Conv", {"x": f32(1, 8, 5, 5)}, {"w": f32(16, 8, 1, 1)})


def test_conv_1d():
    check("Conv", {"x": f32(1, 3, 17)}, {"w": f32(4, 3, 5)}, dict(strides=[2], pads=[2, 1]))


@pytest.mark.parametrize("attrs", [
    dict(strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]),
    dict(strides=[2, 1], group=2),
    dict(strides=[3, 2], dilations=[2, 1], pads=[0, 1, 2, 0]),
    dict(strides=[2, 2], output_shape=[10, 8]),
    dict(strides=[2, 2], auto_pad="SAME_UPPER"),
    dict(strides=[2, 3], auto_pad="SAME_LOWER"),
    dict(strides=[1, 1], auto_pad="VALID"),
])
def test_conv_transpose(attrs):
    g = attrs.get("group", 1)
    check("ConvTranspose", {"x": f32(1, 4, 5, 4)}, {"w": f32(4, 6 // g, 3, 3), "b": f32(6)},
          attrs, opset=11)


@pytest.mark.parametrize("opset", [7, 9, 11, 13])
@pytest.mark.parametrize("ta,tb,alpha,beta,cshape", [
    (0, 0, 1.0, 1.0, (5,)), (1, 0, 0.5, 2.0, (3, 5)), (0, 1, 1.5, 0.0, (1, 5)),
    (1, 1, 1.0, 1.0, None)])
def test_gemm(opset, ta, tb, alpha, beta, cshape):
    a = f32(4, 3) if ta else f32(3, 4)
    b = f32(5, 4) if tb else f32(4, 5)
    consts = {"b": b} if cshape is None else {"b": b, "c": f32(*cshape)}
    if cshape is None and opset < 11:
        consts["c"] = f32(5)  # C is required before opset 11
    check("Gemm", {"a": a}, consts, dict(transA=ta, transB=tb, alpha=alpha, beta=beta),
          opset=opset)


@pytest.mark.parametrize("ashape,bshape", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)),
                                           ((2, 1, 3, 4), (5, 4, 2)), ((4,), (4, 5)),
                                           ((3, 4), (4,))])
def test_matmul(ashape, bshape):
    check("MatMul", {"a": f32(*ashape)}, {"b": f32(*bshape)})


# --- normalization --------------------------------------------------------------------

@pytest.mark.parametrize("opset", [7, 9, 14, 15, CURRENT])
def test_batch_norm(opset):
    c = 5
    attrs = dict(epsilon=1e-3)
    if opset < 9:
        attrs["spatial"] = 1
    check("BatchNormalization", {"x": f32(2, c, 4, 3)},
          {"s": f32(c), "b": f32(c), "m": f32(c), "v": f32(c, lo=0.5, hi=2.0)}, attrs,
          opset=opset)


@pytest.mark.parametrize("axis", [-1, 1])
def test_layer_norm(axis):
    check("LayerNormalization", {"x": f32(2, 3, 4)},
          {"s": f32(*([3, 4] if axis == 1 else [4])), "b": f32(*([3, 4] if axis == 1 else [4]))},
          dict(axis=axis, epsilon=1e-4), opset=17)


@pytest.mark.parametrize("size", [3, 5])  # onnxruntime: odd sizes only
def test_lrn(size):
    check("LRN", {"x": f32(1, 7, 3, 3)}, attrs=dict(size=size, alpha=1e-2, beta=0.7, bias=2.0))


@pytest.mark.parametrize("opset,axis", [(7, 1), (11, 1), (11, 2), (11, -1), (13, 1), (13, -1),
                                        (CURRENT, 2)])
def test_softmax_axis_semantics(opset, axis):
    # before opset 13 the input is coerced to 2-D at `axis`; from 13 one axis
    check("Softmax", {"x": f32(2, 3, 4, 5, lo=-3, hi=3)}, attrs=dict(axis=axis), opset=opset)


# --- element-wise ---------------------------------------------------------------------

@pytest.mark.parametrize("op,attrs,opset,lo", [
    ("Relu", {}, 7, -1), ("Relu", {}, 14, -1), ("LeakyRelu", dict(alpha=0.2), 7, -1),
    ("Sigmoid", {}, 13, -8), ("HardSigmoid", dict(alpha=0.3, beta=0.4), 7, -4),
    ("HardSwish", {}, 14, -5), ("Erf", {}, 9, -2), ("Erf", {}, 13, -2), ("Sqrt", {}, 13, 0),
    ("Tanh", {}, 13, -3), ("Gelu", {}, 20, -3), ("Gelu", dict(approximate="tanh"), 20, -3),
    ("Identity", {}, 13, -1), ("Exp", {}, 13, -2), ("Neg", {}, 13, -1), ("Abs", {}, 13, -2),
    ("Reciprocal", {}, 13, 0.5)])
def test_unary(op, attrs, opset, lo):
    check(op, {"x": f32(2, 3, 4, lo=lo, hi=abs(lo) + 1)}, attrs=attrs, opset=opset)


@pytest.mark.parametrize("opset,lo,hi", [(7, -0.5, 0.25), (11, -0.5, 0.25), (11, None, 0.3),
                                         (13, 0.0, None), (CURRENT, -0.2, 0.6)])
def test_clip(opset, lo, hi):
    x = {"x": f32(3, 4)}
    if opset < 11:
        attrs = {k: v for k, v in (("min", lo), ("max", hi)) if v is not None}
        check("Clip", x, attrs=attrs, opset=opset)
        return
    consts, order = {}, ["x", "", ""]
    if lo is not None:
        consts["lo"], order[1] = np.array(lo, np.float32), "lo"
    if hi is not None:
        consts["hi"], order[2] = np.array(hi, np.float32), "hi"
    while order[-1] == "":
        order.pop()
    check("Clip", x, consts, opset=opset, order=order)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("opset", [7, 13, CURRENT])
def test_binary_broadcast(op, opset):
    check(op, {"a": f32(2, 3, 4, 5), "b": f32(3, 1, 5, lo=0.5, hi=2.0)}, opset=opset)


def test_div_by_constant():
    check("Div", {"a": f32(2, 3)}, {"b": np.array([2.0, 4.0, 8.0], np.float32)})


@pytest.mark.parametrize("exponent", [2.0, 0.5, 3.0])
def test_pow(exponent):
    check("Pow", {"a": f32(2, 3, lo=0.1, hi=2)}, {"b": np.array(exponent, np.float32)})


@pytest.mark.parametrize("opset", [7, 8, 13])
@pytest.mark.parametrize("n", [1, 2, 4])
def test_sum_n_ary(opset, n):
    check("Sum", {f"x{i}": f32(2, 3) for i in range(n)}, opset=opset)


# --- data movement --------------------------------------------------------------------

def test_concat_negative_axis():
    check("Concat", {"a": f32(2, 3, 2), "b": f32(2, 3, 4)}, {"c": f32(2, 3, 1)},
          dict(axis=-1))


@pytest.mark.parametrize("opset,split,n,axis", [(7, [2, 4], 2, 1), (11, None, 3, 1),
                                                (13, [1, 2, 3], 3, -1), (18, None, 4, 2)])
def test_split(opset, split, n, axis):
    x = {"x": f32(2, 6, 6)}
    attrs = {"axis": axis}
    if opset >= 18 and split is None:
        attrs["num_outputs"] = n
        x = {"x": f32(2, 6, 7)}  # 7 = 2 + 2 + 2 + 1
    if split is not None and opset < 13:
        attrs["split"] = split
    consts = {"s": np.array(split, np.int64)} if split is not None and opset >= 13 else {}
    check("Split", x, consts, attrs, opset=opset, n_out=n)


@pytest.mark.parametrize("opset,starts,ends,axes,steps", [
    (7, [1, 0], [3, -1], [0, 2], None),
    (10, [1, -3], [1000, -1], [1, 2], None),
    (11, [-1, 4], [-1000, 0], [1, 2], [-1, -2]),
    (13, [0], [2**62], None, [2]),
])
def test_slice(opset, starts, ends, axes, steps):
    x = {"x": f32(4, 5, 6)}
    if opset < 10:
        check("Slice", x, attrs=dict(starts=starts, ends=ends, axes=axes), opset=opset)
        return
    consts = {"st": np.array(starts, np.int64), "en": np.array(ends, np.int64)}
    if axes is not None:
        consts["ax"] = np.array(axes, np.int64)
    if steps is not None:
        consts["sp"] = np.array(steps, np.int64)
    check("Slice", x, consts, opset=opset)


@pytest.mark.parametrize("opset,shape,allowzero", [(7, [0, -1], 0), (13, [2, 3, -1, 1], 0),
                                                   (14, [6, 0, 5], 0), (CURRENT, [-1], 0)])
def test_reshape(opset, shape, allowzero):
    attrs = {"allowzero": allowzero} if opset >= 14 else {}
    check("Reshape", {"x": f32(2, 3, 0 + 4, 5)[:, :, :, :] if 0 not in shape[1:2] else
                      f32(6, 4, 5)}, {"s": np.array(shape, np.int64)}, attrs, opset=opset)


@pytest.mark.parametrize("opset,axis", [(7, 0), (9, 2), (11, -1), (13, 1)])
def test_flatten(opset, axis):
    check("Flatten", {"x": f32(2, 3, 4)}, attrs=dict(axis=axis), opset=opset)


@pytest.mark.parametrize("perm", [None, [0, 2, 3, 1], [3, 1, 0, 2]])
def test_transpose(perm):
    check("Transpose", {"x": f32(2, 3, 4, 5)}, attrs={} if perm is None else {"perm": perm})


@pytest.mark.parametrize("opset", [7, 11, 13, CURRENT])
@pytest.mark.parametrize("axes", [None, [1], [-1, 1]])
def test_squeeze_unsqueeze(opset, axes):
    x = {"x": f32(2, 1, 3, 1)}
    if opset < 13:
        check("Squeeze", x, attrs={} if axes is None else {"axes": axes}, opset=opset)
        if axes is not None:
            check("Unsqueeze", {"x": f32(2, 3)}, attrs={"axes": axes}, opset=opset)
        return
    consts = {} if axes is None else {"a": np.array(axes, np.int64)}
    check("Squeeze", x, consts, opset=opset)
    if axes is not None:
        check("Unsqueeze", {"x": f32(2, 3)}, consts, opset=opset)


@pytest.mark.parametrize("opset,mode", [(7, "constant"), (7, "reflect"), (11, "constant"),
                                        (11, "edge"), (13, "reflect"), (18, "constant")])
def test_pad(opset, mode):
    x = {"x": f32(1, 2, 4, 5)}
    pads = [0, 0, 1, 2, 0, 1, 2, 1]
    if opset < 11:
        check("Pad", x, attrs=dict(pads=pads, mode=mode, value=0.5), opset=opset)
    elif opset < 18:
        check("Pad", x, {"p": np.array(pads, np.int64), "v": np.array(0.5, np.float32)},
              dict(mode=mode), opset=opset)
    else:  # axes input
        check("Pad", x, {"p": np.array([1, 2, 2, 1], np.int64), "v": np.array(-1, np.float32),
                         "ax": np.array([2, -1], np.int64)}, dict(mode=mode), opset=opset)


# --- pooling --------------------------------------------------------------------------

_MAX_POOLS = [
    dict(kernel_shape=[3, 3], strides=[2, 2]),
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    dict(kernel_shape=[2, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
    dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
    dict(kernel_shape=[2, 2], strides=[1, 1], dilations=[2, 2]),
]


@pytest.mark.parametrize(("opset", "attrs"), [  # ceil_mode and dilations arrived in opset 10
    (o, a) for a in _MAX_POOLS for o in (7, 10, 12, CURRENT)
    if o >= 10 or not {"ceil_mode", "dilations"} & set(a)])
def test_max_pool(opset, attrs):
    check("MaxPool", {"x": f32(1, 2, 8, 9)}, attrs=attrs, opset=opset)


_AVERAGE_POOLS = [
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1),
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 1, 0], ceil_mode=1),
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1,
         count_include_pad=1),
    dict(kernel_shape=[2, 2], auto_pad="SAME_LOWER"),
]


@pytest.mark.parametrize(("opset", "attrs"), [  # ceil_mode arrived in opset 10
    (o, a) for a in _AVERAGE_POOLS for o in (7, 11, CURRENT) if o >= 10 or "ceil_mode" not in a])
def test_average_pool(opset, attrs):
    check("AveragePool", {"x": f32(1, 2, 8, 9)}, attrs=attrs, opset=opset)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_global_pool(op):
    check(op, {"x": f32(2, 3, 5, 4)})


@pytest.mark.parametrize("opset,keepdims,axes", [(11, 1, [1]), (13, 0, [-1, 1]), (18, 1, [2]),
                                                 (18, 0, None)])
def test_reduce_mean(opset, keepdims, axes):
    x = {"x": f32(2, 3, 4)}
    if opset < 18:
        check("ReduceMean", x, attrs=dict(keepdims=keepdims, axes=axes), opset=opset)
    else:
        consts = {} if axes is None else {"a": np.array(axes, np.int64)}
        check("ReduceMean", x, consts, dict(keepdims=keepdims), opset=opset)


# --- resize ---------------------------------------------------------------------------

@pytest.mark.parametrize("opset", [7, 9])
def test_upsample(opset):
    scales = [1.0, 1.0, 2.0, 3.0]
    if opset < 9:
        check("Upsample", {"x": f32(1, 2, 3, 4)}, attrs=dict(scales=scales, mode="nearest"),
              opset=opset)
    else:
        check("Upsample", {"x": f32(1, 2, 3, 4)}, {"s": np.array(scales, np.float32)},
              dict(mode="nearest"), opset=opset)


@pytest.mark.parametrize("opset,ctm,nearest,scales,sizes", [
    (10, None, None, [1, 1, 2, 2], None),
    (11, "half_pixel", "round_prefer_floor", [1, 1, 2, 1.5], None),
    (11, "asymmetric", "floor", [1, 1, 0.5, 2], None),
    (13, "align_corners", "round_prefer_ceil", None, [1, 2, 5, 7]),
    (13, "pytorch_half_pixel", "ceil", None, [1, 2, 7, 3]),
    (CURRENT, "half_pixel", "round_prefer_ceil", [1, 1, 3, 0.5], None),
])
def test_resize_nearest(opset, ctm, nearest, scales, sizes):
    x = {"x": f32(1, 2, 4, 5)}
    attrs = {"mode": "nearest"}
    if ctm:
        attrs.update(coordinate_transformation_mode=ctm, nearest_mode=nearest)
    if opset == 10:
        check("Resize", x, {"s": np.array(scales, np.float32)}, attrs, opset=opset)
        return
    consts = {"roi": np.array([], np.float32)}
    order = ["x", "roi"]
    if scales is not None:
        consts["s"] = np.array(scales, np.float32)
        order.append("s")
    else:
        consts["z"] = np.array(sizes, np.int64)
        order += ["", "z"]
    check("Resize", x, consts, attrs, opset=opset, order=order)


# --- inference no-ops and casts ---------------------------------------------------------

@pytest.mark.parametrize("opset", [7, 10, 12, 13])
def test_dropout_is_identity(opset):
    if opset >= 12:
        check("Dropout", {"x": f32(2, 3)}, {"r": np.array(0.3, np.float32)}, opset=opset)
    else:
        check("Dropout", {"x": f32(2, 3)}, attrs=dict(ratio=0.3), opset=opset)


def test_cast():
    check("Cast", {"x": f32(2, 3, lo=-5, hi=5)}, attrs=dict(to=TensorProto.INT64))


def test_shape_subgraph_folds_to_reshape():
    """PyTorch's flatten: Shape -> Gather -> Unsqueeze -> Concat -> Reshape; and weights from
    ConstantOfShape: both fold, the graph keeps the compute only."""
    nodes = [
        helper.make_node("Shape", ["x"], ["sh"]),
        helper.make_node("Gather", ["sh", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("ConstantOfShape", ["wshape"], ["w"],
                         value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.25])),
        helper.make_node("Cast", ["wshape"], ["wshape_f"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["flat", "w"], ["y0"]),
    ]
    model = make_model(nodes, [tensor("x", [2, 3, 4])],
                       [onnx.ValueInfoProto(name="y0")],
                       [init("zero", np.array(0, np.int64)), init("ax0", np.array([0])),
                        init("minus1", np.array([-1])), init("wshape", np.array([12, 5]))],
                       opset=13)
    x = f32(2, 3, 4)
    (want,) = run_ort(model, {"x": x})
    graph = run_passes(import_onnx(model))
    assert [n.op for n in graph.nodes] == ["Reshape", "MatMul"]
    assert graph.nodes[0].attr("shape") == (2, 12)
    np.testing.assert_allclose(evaluate(graph, {"x": x})["y0"], want, rtol=1e-5)


# --- quantized ops ----------------------------------------------------------------------

@pytest.mark.parametrize("opset,dtype,axis", [(10, np.uint8, None), (13, np.int8, 1),
                                              (21, np.int8, None)])
def test_quantize_dequantize(opset, dtype, axis):
    x = {"x": f32(2, 3, 4, lo=-3, hi=3)}
    if axis is None:
        s, z = np.array(0.02, np.float32), np.array(3, dtype)
        attrs = {}
    else:
        s, z = np.array([0.01, 0.02, 0.05], np.float32), np.array([0, 1, -2], dtype)
        attrs = {"axis": axis}
    check("QuantizeLinear", x, {"s": s, "z": z}, attrs, opset=opset)
    q = {"q": RNG.integers(np.iinfo(dtype).min, np.iinfo(dtype).max, (2, 3, 4)).astype(dtype)}
    check("DequantizeLinear", q, {"s": s, "z": z}, attrs, opset=opset)


def test_qlinear_conv_and_conv_integer():
    x = {"x": RNG.integers(0, 255, (1, 4, 6, 6)).astype(np.uint8)}
    # 7-bit weights: onnxruntime 1.32's QLinearConv on AVX2 without VNNI sums u8 x s8
    # products in saturating 16-bit pairs (even with session.x64quantprecision), exact only
    # while 2 * 255 * |w| fits int16 -- what its own reduce_range option is for
    w = RNG.integers(-63, 64, (6, 4, 3, 3)).astype(np.int8)
    consts = {"xs": np.array(0.05, np.float32), "xz": np.array(128, np.uint8), "w": w,
              "ws": RNG.uniform(0.001, 0.01, 6).astype(np.float32),
              "wz": np.zeros(6, np.int8), "ys": np.array(0.2, np.float32),
              "yz": np.array(100, np.uint8), "b": RNG.integers(-500, 500, 6).astype(np.int32)}
    check("QLinearConv", x, consts, dict(pads=[1, 1, 1, 1], strides=[2, 1]), opset=10)
    check("ConvInteger", x, {"w": RNG.integers(0, 255, (6, 4, 3, 3)).astype(np.uint8),
                             "xz": np.array(128, np.uint8)},
          dict(pads=[1, 1, 1, 1]), opset=10, order=["x", "w", "xz"])


def test_qlinear_matmul_and_matmul_integer():
    a = {"a": RNG.integers(0, 255, (3, 8)).astype(np.uint8)}
    b = RNG.integers(0, 255, (8, 5)).astype(np.uint8)
    consts = {"as": np.array(0.02, np.float32), "az": np.array(120, np.uint8), "b": b,
              "bs": np.array(0.03, np.float32), "bz": np.array(130, np.uint8),
              "ys": np.array(0.5, np.float32), "yz": np.array(90, np.uint8)}
    check("QLinearMatMul", a, consts, opset=10)
    check("MatMulInteger", a, {"b": b, "az": np.array(120, np.uint8),
                               "bz": np.array(130, np.uint8)}, opset=10)


# --- the rest of the canonical set: comparisons, selection, reductions, integer math ----

@pytest.mark.parametrize("op", ["Max", "Min"])
@pytest.mark.parametrize("n", [1, 3])
def test_max_min_n_ary(op, n):
    check(op, {f"x{i}": f32(2, 3) for i in range(n)}, {"k": f32(3)})


@pytest.mark.parametrize("op", ["Equal", "Less", "Greater"])
def test_compare_and_where(op):
    a = RNG.integers(-2, 3, (3, 4)).astype(np.float32)
    b = RNG.integers(-2, 3, (4,)).astype(np.float32)
    check(op, {"a": a}, {"b": b})
    nodes = [helper.make_node(op, ["a", "b"], ["c"]),
             helper.make_node("Where", ["c", "a", "z"], ["y0"])]
    model = make_model(nodes, [tensor("a", [3, 4])], [onnx.ValueInfoProto(name="y0")],
                       [init("b", b), init("z", f32(3, 1))])
    (want,) = run_ort(model, {"a": a})
    np.testing.assert_array_equal(evaluate(run_passes(import_onnx(model)), {"a": a})["y0"],
                                  want)


@pytest.mark.parametrize("xshape,shape", [((3, 1), [2, 1, 4]), ((2, 3), [1, 1]),
                                          ((4,), [3, 1, 4])])
def test_expand(xshape, shape):
    check("Expand", {"x": f32(*xshape)}, {"s": np.array(shape, np.int64)}, opset=13)


@pytest.mark.parametrize("op", ["Floor", "Ceil"])
def test_floor_ceil(op):
    check(op, {"x": f32(3, 4, lo=-3, hi=3)})


@pytest.mark.parametrize("op,opset", [("ReduceSum", 11), ("ReduceSum", 13), ("ReduceMax", 13),
                                      ("ReduceMin", 18), ("ReduceProd", 13)])
def test_other_reductions(op, opset):
    x = {"x": f32(2, 3, 4, lo=0.5, hi=1.5)}
    axes_as_input = opset >= 18 or (op == "ReduceSum" and opset >= 13)
    if axes_as_input:
        check(op, x, {"a": np.array([0, -1], np.int64)}, dict(keepdims=0), opset=opset)
    else:
        check(op, x, attrs=dict(axes=[0, -1], keepdims=0), opset=opset)


def test_gather_on_data():
    check("Gather", {"x": f32(5, 4)}, {"i": np.array([[0, -1], [3, 2]], np.int64)},
          dict(axis=0))
    check("Gather", {"x": f32(3, 5, 2)}, {"i": np.array([4, 0, -2], np.int64)}, dict(axis=-2))


def test_integer_shape_math_folds_like_onnxruntime():
    """Shape arithmetic in int64 (C division) folds at import to the same values."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Div", ["s", "two"], ["h"]),
             helper.make_node("Mul", ["h", "neg"], ["m"]),
             helper.make_node("Size", ["x"], ["n"]),
             helper.make_node("Range", ["zero", "n", "five"], ["r"]),
             helper.make_node("Cast", ["m"], ["mf"], to=TensorProto.FLOAT),
             helper.make_node("Add", ["x", "mf"], ["y0"])]
    model = make_model(nodes, [tensor("x", [7, 6, 3])], [onnx.ValueInfoProto(name="y0"),
                                                         onnx.ValueInfoProto(name="r")],
                       [init("two", np.array([2, 4, -2], np.int64)),
                        init("neg", np.array(-1, np.int64)), init("zero", np.array(0)),
                        init("five", np.array(50))], opset=13)
    x = f32(7, 6, 3)
    want = run_ort(model, {"x": x})
    graph = run_passes(import_onnx(model))
    assert [n.op for n in graph.nodes] == ["Add"]
    got = evaluate(graph, {"x": x})
    np.testing.assert_array_equal(got["y0"], want[0])
    np.testing.assert_array_equal(got["r"], want[1])


def test_float64_reference():
    """The reference also runs in float64 (closer to exact; same ops)."""
    model = make_model([helper.make_node("Conv", ["x", "w"], ["y0"], pads=[1, 1, 1, 1])],
                       [tensor("x", [1, 2, 5, 5])], [onnx.ValueInfoProto(name="y0")],
                       [init("w", f32(3, 2, 3, 3))])
    x = f32(1, 2, 5, 5)
    (want,) = run_ort(model, {"x": x})
    got = evaluate(import_onnx(model), {"x": x}, dtype="float64")["y0"]
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_pad_negative_crops():
    check("Pad", {"x": f32(1, 2, 6, 5)},
          {"p": np.array([0, 0, -1, 2, 0, 0, 1, -2], np.int64)}, dict(mode="constant"),
          opset=13)
