"""A transformer-style block as PyTorch exports it: dynamic batch and sequence dims, head
splitting through Shape -> Gather -> Unsqueeze -> Concat -> Reshape, LayerNormalization,
MatMul, Softmax, Gelu (as Erf), Expand.  With ``input_shapes`` the shape subgraphs fold and
the result equals onnxruntime; without, the error names the dynamic dimension."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from compiler.frontend import import_onnx
from compiler.graph.errors import ShapeError
from compiler.graph.pipeline import run_passes
from compiler.graph.reference import evaluate
from tests.compiler.graph.onnx_util import init, make_model, run_ort, tensor

D, H = 16, 4


def _attention_model():
    rng = np.random.default_rng(5)
    f = np.float32

    def w(*s):
        return (rng.standard_normal(s) / np.sqrt(s[0])).astype(f)

    i64 = np.int64
    n = helper.make_node
    nodes = [
        n("LayerNormalization", ["x", "ln_s", "ln_b"], ["ln"], axis=-1, epsilon=1e-5),
        # dims from the runtime shape: batch, seq
        n("Shape", ["ln"], ["shp"]),
        n("Gather", ["shp", "i0"], ["b"], axis=0),
        n("Gather", ["shp", "i1"], ["s"], axis=0),
        n("Unsqueeze", ["b", "ax0"], ["b1"]),
        n("Unsqueeze", ["s", "ax0"], ["s1"]),
        n("Concat", ["b1", "s1", "heads", "hdim"], ["split_shape"], axis=0),
        n("Concat", ["b1", "s1", "dmodel"], ["merge_shape"], axis=0),
    ]
    for name in ("q", "k", "v"):
        nodes += [n("MatMul", ["ln", f"w{name}"], [f"{name}0"]),
                  n("Reshape", [f"{name}0", "split_shape"], [f"{name}1"]),
                  n("Transpose", [f"{name}1"], [f"{name}h"], perm=[0, 2, 1, 3])]
    nodes += [
        n("Transpose", ["kh"], ["kt"], perm=[0, 1, 3, 2]),
        n("MatMul", ["qh", "kt"], ["att0"]),
        n("Div", ["att0", "sqrt_d"], ["att1"]),
        n("Add", ["att1", "mask"], ["att2"]),
        n("Softmax", ["att2"], ["att"], axis=-1),
        n("MatMul", ["att", "vh"], ["ctx0"]),
        n("Transpose", ["ctx0"], ["ctx1"], perm=[0, 2, 1, 3]),
        n("Reshape", ["ctx1", "merge_shape"], ["ctx"]),
        n("Add", ["ctx", "x"], ["r"]),
        # Gelu as exported before opset 20: x * 0.5 * (1 + erf(x / sqrt 2))
        n("Div", ["r", "sqrt2"], ["g0"]), n("Erf", ["g0"], ["g1"]),
        n("Add", ["g1", "one"], ["g2"]), n("Mul", ["r", "g2"], ["g3"]),
        n("Mul", ["g3", "half"], ["g4"]),
        n("ReduceMean", ["g4"], ["pooled"], axes=[1], keepdims=0),
        n("Shape", ["pooled"], ["pshape"]),
        n("Expand", ["bias"], ["bias_e"], ),
        n("Add", ["pooled", "bias_e"], ["y"]),
    ]
    nodes[-2].input.append("pshape")
    consts = [init("ln_s", rng.uniform(0.5, 1.5, D).astype(f)), init("ln_b", w(D)),
              init("i0", np.array(0, i64)), init("i1", np.array(1, i64)),
              init("ax0", np.array([0], i64)),
              init("heads", np.array([H], i64)), init("hdim", np.array([D // H], i64)),
              init("dmodel", np.array([D], i64)), init("wq", w(D, D)), init("wk", w(D, D)),
              init("wv", w(D, D)), init("sqrt_d", np.array(np.sqrt(D // H), f)),
              init("mask", np.array(0.0, f)), init("sqrt2", np.array(np.sqrt(2), f)),
              init("one", np.array(1, f)), init("half", np.array(0.5, f)),
              init("bias", w(1, D))]
    return make_model(nodes, [tensor("x", ["batch", "seq", D])],
                      [tensor("y", ["batch", D])], consts, opset=17)


def test_attention_block_with_input_shapes():
    model = _attention_model()
    graph = run_passes(import_onnx(model, input_shapes={"x": (2, 7, D)}))
    ops = [nd.op for nd in graph.nodes]
    assert "Shape" not in ops and "Gather" not in ops and "Concat" not in ops
    assert graph.type_of("y").shape == (2, D)
    x = np.random.default_rng(0).standard_normal((2, 7, D)).astype(np.float32)
    (want,) = run_ort(model, {"x": x})
    np.testing.assert_allclose(evaluate(graph, {"x": x})["y"], want, rtol=1e-5, atol=1e-6)


def test_attention_block_without_input_shapes_names_the_dimension():
    with pytest.raises(ShapeError, match=r"'x': dimension 0 \('batch'\).*--input-shape x="):
        import_onnx(_attention_model())
    assert TensorProto.FLOAT  # the model is float32
