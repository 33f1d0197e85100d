"""The graph IR (printer golden, verify) and the float passes on hand-built graphs."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.graph.errors import GraphVerifyError
from compiler.graph.ir import Graph, Node, QuantParams, TensorType, format_graph, verify
from compiler.graph.passes import (
    eliminate_dead,
    fold_batch_norm,
    fold_constants,
    infer_shapes,
    remove_identities,
)
from compiler.graph.pipeline import FLOAT_PASSES, run_passes
from compiler.graph.reference import evaluate

F = "float32"


def small_graph() -> Graph:
    """x -> Conv(w, b) -> BatchNormalization -> Relu -> Identity -> Add(c2) -> y, with a
    constant-only branch c2 = c0 * c1."""
    rng = np.random.default_rng(0)
    consts = {
        "w": rng.standard_normal((4, 3, 3, 3)).astype(F), "b": np.arange(4, dtype=F),
        "gamma": np.full(4, 2.0, F), "beta": np.full(4, 0.5, F), "mean": np.zeros(4, F),
        "var": np.ones(4, F), "c0": np.array([[[1.0]], [[2.0]], [[3.0]], [[4.0]]], F),
        "c1": np.array(0.5, F)}
    nodes = [
        Node("conv", "Conv", ("x", "w", "b"), ("t0",),
             dict(strides=(1, 1), pads=(1, 1, 1, 1), dilations=(1, 1), group=1)),
        Node("bn", "BatchNormalization", ("t0", "gamma", "beta", "mean", "var"), ("t1",),
             dict(epsilon=1e-5)),
        Node("relu", "Relu", ("t1",), ("t2",)),
        Node("id", "Identity", ("t2",), ("t3",)),
        Node("mul", "Mul", ("c0", "c1"), ("c2",)),
        Node("add", "Add", ("t3", "c2"), ("y",)),
    ]
    return Graph("small", ("x",), ("y",), nodes, consts, {"x": TensorType((1, 3, 5, 5))})


GOLDEN = """\
graph small(
  %x: float32[1x3x5x5],
) {
  const %b: float32[4]
  const %beta: float32[4]
  const %c0: float32[4x1x1]
  const %c1: float32[]
  const %gamma: float32[4]
  const %mean: float32[4]
  const %var: float32[4]
  const %w: float32[4x3x3x3]
  %t0: float32[1x4x5x5] = Conv(%x, %w, %b) {dilations=(1,1), group=1, pads=(1,1,1,1), \
strides=(1,1)}  # conv
  %t1: float32[1x4x5x5] = BatchNormalization(%t0, %gamma, %beta, %mean, %var) \
{epsilon=1e-05}  # bn
  %t2: float32[1x4x5x5] = Relu(%t1)  # relu
  %t3: float32[1x4x5x5] = Identity(%t2)  # id
  %c2: float32[4x1x1] = Mul(%c0, %c1)  # mul
  %y: float32[1x4x5x5] = Add(%t3, %c2)  # add
  return %y
}
"""


def test_printer_golden():
    assert format_graph(infer_shapes(small_graph())) == GOLDEN


def test_printer_shows_quant_layout_and_small_values():
    t = TensorType((2, 3), "int8", QuantParams((0.5,), (-3,)), "NCHW16c")
    assert str(t) == "int8[2x3] q(s=0.5,z=-3) @NCHW16c"
    g = Graph("g", ("x",), ("y",), [Node("n", "Add", ("x", "k"), ("y",))],
              {"k": np.array([1.5, 2.0], F)}, {"x": TensorType((2,))})
    assert "const %k: float32[2] = [1.5,2. ]" in format_graph(g, constant_values=True)


def test_ir_is_immutable():
    g = small_graph()
    with pytest.raises(ValueError):
        g.constants["w"][0, 0, 0, 0] = 1.0
    with pytest.raises(TypeError):
        g.constants["new"] = np.zeros(1)  # type: ignore[index]
    with pytest.raises(AttributeError):
        g.nodes[0].op = "Relu"  # type: ignore[misc]
    assert g.nodes[0].attr("group") == 1 and hash(g.nodes[0])


@pytest.mark.parametrize("breakage,message", [
    (lambda g: g.with_(nodes=g.nodes[1:]), "reads 't0' before it is defined"),
    (lambda g: g.with_(nodes=(g.nodes[1], g.nodes[0]) + g.nodes[2:]), "before it is defined"),
    (lambda g: g.with_(nodes=g.nodes + (Node("dup", "Relu", ("x",), ("t2",)),)), "not SSA"),
    (lambda g: g.with_(nodes=g.nodes + (Node("relu", "Relu", ("x",), ("z",)),)),
     "not unique"),
    (lambda g: g.with_(outputs=("nowhere",)), "output 'nowhere' is never defined"),
    (lambda g: g.with_(types={k: v for k, v in g.types.items() if k != "t2"}),
     "'t2' has no type"),
    (lambda g: g.with_(types={**g.types, "w": TensorType((4, 3))}), "constant 'w' is"),
    (lambda g: g.with_(inputs=("x", "w")), "both an input and a constant"),
])
def test_verify_catches_broken_graphs(breakage, message):
    good = infer_shapes(small_graph())
    verify(good)
    with pytest.raises(GraphVerifyError, match=message):
        verify(breakage(good), where="the_pass")


def test_verify_names_the_pass():
    with pytest.raises(GraphVerifyError, match="after broken_pass: output 'nope'"):
        run_passes(small_graph(), (("broken_pass", lambda g: g.with_(outputs=("nope",))),))


def test_fold_constants():
    g = fold_constants(infer_shapes(small_graph()))
    assert "mul" not in [n.name for n in g.nodes]
    np.testing.assert_array_equal(g.constants["c2"], np.array([[[0.5]], [[1]], [[1.5]], [[2]]]))
    verify(g)


def test_remove_identities_and_dead_code():
    g = remove_identities(infer_shapes(small_graph()))
    assert [n.op for n in g.nodes] == ["Conv", "BatchNormalization", "Relu", "Mul", "Add"]
    assert g.nodes[-1].inputs == ("t2", "c2")
    g = eliminate_dead(g.with_(outputs=("t0",)))
    assert [n.op for n in g.nodes] == ["Conv"] and set(g.constants) == {"w", "b"}
    verify(g)


def test_batch_norm_folds_into_conv():
    g = infer_shapes(small_graph())
    folded = fold_batch_norm(g)
    assert [n.op for n in folded.nodes] == ["Conv", "Relu", "Identity", "Mul", "Add"]
    conv = folded.nodes[0]
    assert conv.outputs == ("t1",)
    s = 2.0 / np.sqrt(1 + 1e-5)
    np.testing.assert_allclose(folded.constants[conv.inputs[1]], g.constants["w"] * s,
                               rtol=1e-6)
    np.testing.assert_allclose(folded.constants[conv.inputs[2]], np.arange(4) * s + 0.5,
                               rtol=1e-6)
    x = np.random.default_rng(1).standard_normal((1, 3, 5, 5)).astype(F)
    np.testing.assert_allclose(evaluate(folded, {"x": x})["y"], evaluate(g, {"x": x})["y"],
                               rtol=1e-5, atol=1e-5)


def _bn_after(op_node: Node, consts: dict, in_shape, trans_b: int = 0) -> Graph:
    rng = np.random.default_rng(3)
    c = 6
    consts = {**consts, "gamma": rng.uniform(0.5, 2, c).astype(F),
              "beta": rng.standard_normal(c).astype(F), "mean": rng.standard_normal(c).astype(F),
              "var": rng.uniform(0.5, 2, c).astype(F)}
    bn = Node("bn", "BatchNormalization", ("t0", "gamma", "beta", "mean", "var"), ("y",),
              dict(epsilon=1e-3))
    return infer_shapes(Graph("g", ("x",), ("y",), [op_node, bn], consts,
                              {"x": TensorType(in_shape)}))


@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("with_c", [True, False])
def test_batch_norm_folds_into_gemm(trans_b, with_c):
    rng = np.random.default_rng(4)
    w = rng.standard_normal((6, 5) if trans_b else (5, 6)).astype(F)
    consts = {"w": w, "c": rng.standard_normal(6).astype(F)} if with_c else {"w": w}
    gemm = Node("fc", "Gemm", ("x", "w", "c") if with_c else ("x", "w"), ("t0",),
                dict(alpha=0.5, beta=2.0, trans_a=0, trans_b=trans_b))
    g = _bn_after(gemm, consts, (3, 5))
    folded = verify(fold_batch_norm(g))
    assert [n.op for n in folded.nodes] == ["Gemm"] and folded.nodes[0].attr("beta") == 1.0
    x = rng.standard_normal((3, 5)).astype(F)
    np.testing.assert_allclose(evaluate(folded, {"x": x})["y"], evaluate(g, {"x": x})["y"],
                               rtol=1e-5, atol=1e-5)


def test_standalone_batch_norm_becomes_scale_and_shift():
    g = _bn_after(Node("r", "Relu", ("x",), ("t0",)), {}, (2, 6, 3, 3))
    folded = verify(fold_batch_norm(g))
    assert [n.op for n in folded.nodes] == ["Relu", "Mul", "Add"]
    assert folded.constants[folded.nodes[1].inputs[1]].shape == (6, 1, 1)
    x = np.random.default_rng(5).standard_normal((2, 6, 3, 3)).astype(F)
    np.testing.assert_allclose(evaluate(folded, {"x": x})["y"], evaluate(g, {"x": x})["y"],
                               rtol=1e-5, atol=1e-5)


def test_conv_with_two_readers_keeps_its_batch_norm():
    g = infer_shapes(small_graph())
    nodes = list(g.nodes) + [Node("other", "Relu", ("t0",), ("z",))]
    g = infer_shapes(g.with_(nodes=nodes, outputs=("y", "z")))
    folded = fold_batch_norm(g)
    assert "Conv" in [n.op for n in folded.nodes] and \
        [n.op for n in folded.nodes].count("Mul") == 2  # BN -> scale + shift, conv kept


def test_run_passes_dumps_every_pass(tmp_path):
    seen = []
    out = run_passes(small_graph(), dump=lambda name, g: seen.append((name, len(g.nodes))))
    assert [s[0] for s in seen] == ["input"] + [name for name, _ in FLOAT_PASSES]
    assert [n.op for n in out.nodes] == ["Conv", "Relu", "Add"]
    run_passes(small_graph(), dump=tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files[0] == "00_input.txt" and len(files) == len(FLOAT_PASSES) + 1
    assert "BatchNormalization" in (tmp_path / files[0]).read_text()
    assert "BatchNormalization" not in (tmp_path / files[-1]).read_text()


def test_evaluate_checks_inputs_and_can_keep_every_value():
    from compiler.graph.errors import ShapeError
    g = run_passes(small_graph())
    x = np.zeros((1, 3, 5, 5), F)
    with pytest.raises(ShapeError, match="no array for input 'x'"):
        evaluate(g, {})
    with pytest.raises(ShapeError, match=r"'x' has shape \[1, 3, 4, 4\].*\[1, 3, 5, 5\]"):
        evaluate(g, {"x": np.zeros((1, 3, 4, 4), F)})
    env = evaluate(g, {"x": x}, keep=True)
    assert set(env) >= {n.outputs[0] for n in g.nodes} | set(g.constants)
    np.testing.assert_array_equal(env["y"], evaluate(g, {"x": x})["y"])
