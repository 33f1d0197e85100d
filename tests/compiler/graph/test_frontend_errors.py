"""Bad models give one clear graph-level error (a VtaError naming what is wrong), never a
protobuf traceback."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from compiler.frontend import import_onnx
from compiler.graph.errors import ModelError, ShapeError, UnsupportedOpError
from tests.compiler.graph.onnx_util import LIGHT, init, make_model, tensor
from vta_hw.errors import VtaError


def _relu_model(shape=(1, 3, 4, 4)):
    node = helper.make_node("Relu", ["x"], ["y"], name="r")
    return make_model([node], [tensor("x", shape)], [tensor("y", shape)])


def test_truncated_file(tmp_path):
    data = (LIGHT / "light_squeezenet.onnx").read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="cut.onnx.*(truncated|not a valid ONNX)"):
        import_onnx(path)


@pytest.mark.parametrize("data", [b"this is not an onnx model at all\n", b"\x00" * 64,
                                  bytes(range(256))])
def test_not_onnx_bytes(tmp_path, data):
    path = tmp_path / "junk.onnx"
    path.write_bytes(data)
    with pytest.raises(ModelError, match="junk.onnx") as info:
        import_onnx(path)
    assert isinstance(info.value, VtaError)


def test_missing_and_empty_file(tmp_path):
    with pytest.raises(ModelError, match="cannot read"):
        import_onnx(tmp_path / "nope.onnx")
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(ModelError, match="empty"):
        import_onnx(tmp_path / "empty.onnx")


def test_every_unsupported_op_is_listed():
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="ok"),
             helper.make_node("Einsum", ["a", "a"], ["b"], name="e1", equation="ij,ij->ij"),
             helper.make_node("Relu", ["b"], ["c"], name="ok2"),
             helper.make_node("NonMaxSuppression", ["c", "c"], ["d"], name="nms"),
             helper.make_node("FusedConv", ["d"], ["y"], name="ms", domain="com.microsoft")]
    model = make_model(nodes, [tensor("x", [2, 2])], [tensor("y", [2, 2])])
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    with pytest.raises(UnsupportedOpError) as info:
        import_onnx(model)
    msg = str(info.value)
    assert msg.startswith("3 unsupported op(s)")
    for part in ("Einsum (node 'e1', domain 'ai.onnx', opset 13)",
                 "NonMaxSuppression (node 'nms', domain 'ai.onnx', opset 13)",
                 "FusedConv (node 'ms', domain 'com.microsoft', opset 1)"):
        assert part in msg
    assert "'ok'" not in msg


def test_unsupported_attribute_variant_names_the_node():
    node = helper.make_node("Resize", ["x", "", "s"], ["y"], name="up", mode="linear")
    model = make_model([node], [tensor("x", [1, 1, 2, 2])], [tensor("y", [1, 1, 4, 4])],
                       [init("s", np.array([1, 1, 2, 2], np.float32))])
    with pytest.raises(UnsupportedOpError, match="'up'.*linear"):
        import_onnx(model)


def test_old_opset_rejected():
    model = _relu_model()
    model.opset_import[0].version = 6
    with pytest.raises(UnsupportedOpError, match="opset 6"):
        import_onnx(model)


def test_dynamic_dimension_needs_input_shapes():
    model = _relu_model(("batch", 3, "height", 4))
    with pytest.raises(ShapeError, match=r"input 'x': dimension 0 \('batch'\) is dynamic"):
        import_onnx(model)
    graph = import_onnx(model, input_shapes={"x": (2, 3, 5, 4)})
    assert graph.types["x"].shape == (2, 3, 5, 4) and graph.types["y"].shape == (2, 3, 5, 4)


def test_input_shapes_checked():
    model = _relu_model(("batch", 3, 4, 4))
    with pytest.raises(ShapeError, match="dimension 1, the model fixes it to 3"):
        import_onnx(model, input_shapes={"x": (1, 5, 4, 4)})
    with pytest.raises(ShapeError, match="rank 3"):
        import_onnx(model, input_shapes={"x": (1, 3, 4)})
    with pytest.raises(ShapeError, match="'z'.*not model inputs"):
        import_onnx(model, input_shapes={"z": (1,)})


def test_data_dependent_attribute_input_is_named():
    nodes = [helper.make_node("Reshape", ["x", "s"], ["y"], name="rs")]
    model = make_model(nodes, [tensor("x", [2, 3]), tensor("s", [2], TensorProto.INT64)],
                       [tensor("y", [3, 2])])
    with pytest.raises(UnsupportedOpError, match="'rs'.*the shape.*'s'.*constant"):
        import_onnx(model)


def test_undefined_value_is_a_model_error():
    model = _relu_model()
    model.graph.node[0].input[0] = "ghost"
    with pytest.raises(ModelError, match="'ghost'"):
        import_onnx(model)


def test_bad_shapes_are_shape_errors():
    node = helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")
    model = make_model([node], [tensor("a", [2, 3])], [tensor("y", [2, 5])],
                       [init("b", np.zeros((4, 5), np.float32))])
    with pytest.raises(ShapeError, match="'mm'.*inner dims"):
        import_onnx(model)


def test_errors_are_vta_errors():
    for cls in (ModelError, ShapeError, UnsupportedOpError):
        assert issubclass(cls, VtaError)
    assert onnx  # the module under test needs the onnx package


def test_corrupted_models_give_graph_errors_only():
    """Truncations at random points and random bit flips of a real model: each import either
    succeeds with a verified graph or raises a GraphError (never numpy/protobuf errors, never
    a huge allocation from a corrupt dimension)."""
    from compiler.graph.errors import GraphError
    from compiler.graph.ir import verify

    data = (LIGHT / "light_squeezenet.onnx").read_bytes()
    rng = np.random.default_rng(0)
    variants = [data[:c] for c in rng.integers(1, len(data), 40)]
    for _ in range(80):
        b = bytearray(data)
        for p in rng.integers(0, len(b), 3):
            b[p] ^= 1 << int(rng.integers(0, 8))
        variants.append(bytes(b))
    errors = 0
    for blob in variants:
        try:
            verify(import_onnx(blob))
        except GraphError:
            errors += 1
    assert errors > len(variants) // 2


def test_huge_constant_shape_is_refused():
    node = helper.make_node("ConstantOfShape", ["s"], ["y"], name="big")
    model = make_model([node], [], [tensor("y", [1 << 20, 1 << 20])],
                       [init("s", np.array([1 << 20, 1 << 20], np.int64))])
    with pytest.raises(ModelError, match="'y'.*beyond"):
        import_onnx(model)


def test_external_weights(tmp_path):
    w = np.arange(64 * 64, dtype=np.float32).reshape(64, 64) / 4096
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["y"])], [tensor("x", [1, 64])],
                       [tensor("y", [1, 64])], [init("w", w)])
    path = tmp_path / "m.onnx"
    onnx.save(model, path, save_as_external_data=True, location="m.weights",
              size_threshold=0)
    graph = import_onnx(path)
    np.testing.assert_array_equal(graph.constants["w"], w)
    with pytest.raises(ModelError, match="from its path"):
        import_onnx(path.read_bytes())
    (tmp_path / "m.weights").unlink()
    with pytest.raises(ModelError, match="external weights"):
        import_onnx(path)
