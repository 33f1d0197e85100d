"""Lowering a quantized graph to a module: run on the simulator, bit-exact against the
integer reference; the partition honoured; float islands and int8 moves as generic host
steps (the reference's kernels), checked when a module is loaded."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compiler.frontend import import_onnx
from compiler.graph.lower import LowerError, lower
from compiler.graph.pipeline import run_quantization
from compiler.graph.quantize import evaluate_quantized, samples_from_arrays
from runtime.devices import open_device
from runtime.executor import Executor
from runtime.host_ops import (
    HostOp,
    HostOpError,
    OnnxHostOp,
    host_op_from_json,
    host_op_to_json,
)
from runtime.module import load_module
from tests.compiler.graph.lower_models import (
    calib,
    grouped_cnn,
    islands_cnn,
    moves_cnn,
    small_cnn,
)
from vta_hw.config import preset


@pytest.fixture(scope="module")
def qgraph():
    g = import_onnx(small_cnn())
    return run_quantization(g, samples_from_arrays(g, calib()))


def _run(module, x):
    ex = Executor(module, open_device("sim", module.config))
    try:
        return ex.run({"x": x})
    finally:
        ex.close()


def _exact_with_every_mac_on_the_accelerator(module, q, out: str):
    """Run three samples on the simulator: the outputs equal the integer reference's and
    every MAC ran on the accelerator; returns the reference outputs and the profile's
    layers by name."""
    x = calib(3, seed=5)["x"]
    run = _run(module, x)
    ref = np.stack([evaluate_quantized(q, {"x": xi})[out] for xi in x])
    assert np.array_equal(run.outputs[out], ref)
    totals = run.profile["totals"]
    assert totals["macs_on_accelerator"] == totals["macs_total"] > 0
    return ref, {e["name"]: e for e in run.profile["layers"]}


@pytest.mark.parametrize("targets", [("vta",), ("vta", "cpu")])
def test_bit_exact_against_integer_reference(qgraph, targets, tmp_path):
    cfg = preset("tiny")
    low = lower(qgraph, cfg, targets=targets)
    path = low.module.save(tmp_path / "m.vtam")
    module = load_module(path)
    x = calib(3, seed=5)["x"]
    run = _run(module, x)
    ref = np.stack([evaluate_quantized(qgraph, {"x": xi})["logits"] for xi in x])
    assert run.outputs["logits"].dtype == np.float32
    assert np.array_equal(run.outputs["logits"], ref)
    kinds = {s.name: (s.device, type(s.op).__name__) for s in module.steps}
    assert kinds["quantize_x"] == ("cpu", "HostOp")
    assert kinds["dequantize_logits"] == ("cpu", "HostOp")
    if targets == ("vta",):
        assert all(d == "accelerator" for d, k in kinds.values() if k != "HostOp")
        totals = run.profile["totals"]
        assert totals["macs_on_accelerator"] == totals["macs_total"] > 0


def test_pin_moves_an_op_to_the_cpu_and_stays_exact(qgraph):
    low = lower(qgraph, preset("tiny"), targets=("vta", "cpu"), pins={"conv2": "cpu"})
    assert {s.name: s.device for s in low.module.steps}["conv2"] == "cpu"
    x = calib(2, seed=7)["x"]
    ref = np.stack([evaluate_quantized(qgraph, {"x": xi})["logits"] for xi in x])
    assert np.array_equal(_run(low.module, x).outputs["logits"], ref)


def test_unknown_pin_is_refused(qgraph):
    with pytest.raises(LowerError, match="no op named \\['nope'\\]"):
        lower(qgraph, preset("tiny"), pins={"nope": "cpu"})


@pytest.fixture(scope="module")
def islands():
    g = import_onnx(islands_cnn())
    return run_quantization(g, samples_from_arrays(g, calib()))


def test_float_islands_run_on_the_host_bit_exact(islands, tmp_path):
    """Sigmoid, LRN, Split (two outputs), LayerNorm (constant scale/bias) and a final
    Softmax between accelerator convs: host steps whose outputs equal the reference's."""
    kinds = {n.name: n.kind for n in islands.nodes}
    assert [kinds[k] for k in ("sigmoid", "lrn", "split", "layernorm", "softmax", "cat")] \
        == ["float"] * 5 + ["host"]
    low = lower(islands, preset("tiny"), targets=("vta",))
    module = load_module(low.module.save(tmp_path / "islands.vtam"))
    steps = {s.name: s for s in module.steps}
    assert {k: (steps[k].device, steps[k].op.kind) for k in
            ("sigmoid", "lrn", "split#0", "split#1", "layernorm", "softmax")} == {
        "sigmoid": ("cpu", "Sigmoid"), "lrn": ("cpu", "LRN"), "split#0": ("cpu", "Split"),
        "split#1": ("cpu", "Split"), "layernorm": ("cpu", "LayerNormalization"),
        "softmax": ("cpu", "Softmax")}
    assert (steps["split#0"].op.output_index, steps["split#1"].op.output_index) == (0, 1)
    ln = steps["layernorm"]
    assert [module.tensors[t].role for t in ln.inputs.values()] == [
        "activation", "const", "const"]
    ref, layers = _exact_with_every_mac_on_the_accelerator(module, islands, "probs")
    assert np.allclose(ref.sum(axis=-1), 1, atol=1e-6) and ref.std() > 1e-3
    assert layers["softmax"]["op"] == "Softmax" and layers["softmax"]["seconds"] > 0
    assert all(s.device == "accelerator" for s in module.steps
               if type(s.op).__name__ not in ("HostOp", "OnnxHostOp"))


def test_int8_transpose_and_concat_run_on_the_host_bit_exact(tmp_path):
    g = import_onnx(moves_cnn())
    q = run_quantization(g, samples_from_arrays(g, calib()))
    assert {n.node.op for n in q.nodes if n.kind == "host"} >= {"Transpose", "Concat"}
    low = lower(q, preset("tiny"), targets=("vta",))
    module = load_module(low.module.save(tmp_path / "moves.vtam"))
    steps = {s.name: s for s in module.steps}
    assert (steps["swap_hw"].op.kind, steps["cat"].op.kind) == ("Transpose", "Concat")
    assert steps["cat"].op.attrs["axis"] == 1 and steps["swap_hw"].op.attrs["perm"] == (
        0, 1, 3, 2)
    assert steps["cat"].op.in_dtypes == ("int8", "int8") and steps["cat"].op.dtype == "int8"
    ref, _ = _exact_with_every_mac_on_the_accelerator(module, q, "logits")


def test_grouped_convs_run_group_by_group_on_the_accelerator(tmp_path):
    """A grouped conv with bias, residual and ReLU, and a grouped 1x1 conv: an int8 Split,
    one Conv2d per group, an int8 Concat; bit-exact, every MAC on the accelerator, and the
    quantized graph close to the float model."""
    from compiler.graph.reference import evaluate

    g = import_onnx(grouped_cnn())
    q = run_quantization(g, samples_from_arrays(g, calib()))
    names = {n.name: n for n in q.nodes}
    assert [names[f"gconv/g{k}"].roles for k in range(2)] == [("x", "residual")] * 2
    assert names["gconv/g0"].op.epilogue.relu and names["gconv/g0"].op.o == 4
    assert [names[f"pconv/g{k}"].op.c for k in range(4)] == [2] * 4
    assert names["gconv/concat"].fused == ("gconv", "add", "relu2")
    module = load_module(lower(q, preset("tiny"), targets=("vta",)).module
                         .save(tmp_path / "g.vtam"))
    steps = {s.name: s for s in module.steps}
    assert steps["gconv/split_residual#1"].op.kind == "Split"
    assert steps["gconv/g1"].device == "accelerator"
    ref, _ = _exact_with_every_mac_on_the_accelerator(module, q, "logits")
    want = np.stack([evaluate(g, {"x": xi})["logits"] for xi in calib(3, seed=5)["x"]])
    assert np.abs(ref - want).max() < 0.1 * np.abs(want).max()


def test_host_op_checks_its_description():
    with pytest.raises(HostOpError, match="gives int8\\[1, 3, 2\\].*declares int8\\[1, 2, 3\\]"):
        OnnxHostOp("t", "Transpose", {"perm": (0, 2, 1)}, ((1, 2, 3),), ("int8",), (1, 2, 3),
                   "int8")
    with pytest.raises(HostOpError, match="kernel fails"):
        OnnxHostOp("c", "Concat", {"axis": 1}, ((1, 2), (2, 2)), ("int8", "int8"), (1, 4),
                   "int8")
    with pytest.raises(HostOpError, match="no host kernel for ONNX op 'Frobnicate'"):
        OnnxHostOp("f", "Frobnicate", {}, ((1, 2),), ("float32",), (1, 2), "float32")
    with pytest.raises(HostOpError, match="dtype"):
        OnnxHostOp("r", "Relu", {}, ((1, 2),), ("complex64",), (1, 2), "complex64")
    with pytest.raises(HostOpError, match="output 2 asked, the op has 2"):
        OnnxHostOp("s", "Split", {"axis": 1, "split": (1, 1)}, ((1, 2),), ("int8",), (1, 1),
                   "int8", 2)
    with pytest.raises(HostOpError, match="bad Conv"):
        OnnxHostOp("k", "Conv", {"strides": (1, 1), "pads": (0, 0, 0, 0), "group": 1,
                                 "dilations": (1, 1)}, ((1, 3, 8, 8), (4, 2, 3, 3)),
                   ("float32", "float32"), (1, 4, 6, 6), "float32")
    c = OnnxHostOp("c", "Concat", {"axis": 1}, ((1, 2), (1, 3)), ("int8", "int8"), (1, 5),
                   "int8")
    got = c.run(np.array([[1, 2]], np.int8), np.array([3, 4, 5], np.int8))
    assert got.dtype == np.int8 and got.tolist() == [[1, 2, 3, 4, 5]]
    s1 = OnnxHostOp("s", "Split", {"axis": 1, "split": [1, 2]}, ((1, 3),), ("int8",), (1, 2),
                    "int8", 1)
    assert s1.run(np.array([[7, 8, 9]], np.int8)).tolist() == [[8, 9]]
    conv = OnnxHostOp("k", "Conv", {"strides": (2, 2), "pads": (1, 1, 1, 1), "group": 1,
                                    "dilations": (1, 1)}, ((1, 3, 8, 8), (4, 3, 3, 3), (4,)),
                      ("float32",) * 3, (1, 4, 4, 4), "float32")
    assert conv.macs == 4 * 4 * 4 * 3 * 9
    for op in (c, s1, conv):  # the manifest's JSON round trip
        back = host_op_from_json(json.loads(json.dumps(host_op_to_json(op))))
        assert back == op and hash(back) == hash(op)
    with pytest.raises(ValueError, match="kind"):
        HostOp("reshape", "r", (1, 2), scale=1.0)
    with pytest.raises(ValueError, match="scale"):
        HostOp("quantize", "q", (1, 2), scale=0.0)
    q = HostOp("quantize", "q", (1, 4), scale=0.5)
    assert q.run(np.array([[0.24, 0.26, 100.0, -100.0]], np.float32)).tolist() == [
        [0, 1, 127, -128]]


def test_host_quantize_steps_carry_a_zero_point():
    """real = scale * (q - zero_point): ReLU outputs of a QDQ model use -128 for real 0; the
    zero point survives the manifest's JSON and a bad one is refused."""
    from runtime.host_ops import host_op_from_json, host_op_to_json
    q = HostOp("quantize", "q", (1, 5), scale=0.5, zero_point=-128)
    assert q.run(np.array([[0.0, 0.26, 100.0, -1.0, 1e3]], np.float32)).tolist() == [
        [-128, -127, 72, -128, 127]]
    d = HostOp("dequantize", "d", (1, 3), scale=0.5, zero_point=3)
    assert d.run(np.array([[3, 4, -128]], np.int8)).tolist() == [[0.0, 0.5, -65.5]]
    assert host_op_from_json(host_op_to_json(q)) == q
    with pytest.raises(ValueError, match="zero point must be an int8"):
        HostOp("quantize", "q", (1, 2), scale=1.0, zero_point=128)


@pytest.mark.parametrize("edit, message", [
    (lambda op: op.update(kind="host.reshape"), "kind must be one of"),
    (lambda op: op.update(scale=-1.0), "scale must be positive"),
    (lambda op: op.update(zero_point=200), "zero point must be an int8"),
    (lambda op: op.pop("shape"), "shape"),
])
def test_a_corrupt_host_step_is_a_module_error(qgraph, tmp_path, edit, message):
    from runtime.module import ModuleError
    from tests.runtime.test_module import _edit_manifest

    path = lower(qgraph, preset("tiny"), targets=("vta",)).module.save(tmp_path / "m.vtam")

    def change(d):
        step = next(s for s in d["steps"] if s["name"] == "quantize_x")
        edit(step["op"])
    _edit_manifest(path, change)
    with pytest.raises(ModuleError, match=message):
        load_module(path)


@pytest.mark.parametrize("edit, message", [
    (lambda op: op.update(op_type="Nope"), "no host kernel for ONNX op 'Nope'"),
    (lambda op: op["attrs"].update(axis=7), "Softmax.*kernel fails"),
    (lambda op: op.update(shape=[1, 11]), "declares float32\\[1, 11\\]"),
    (lambda op: op.update(in_dtypes=["float32", "int8"]), "operand shape"),
    (lambda op: op["attrs"].update(axis={"a": 1}), "attribute value"),
])
def test_a_corrupt_onnx_host_step_is_a_module_error(islands, tmp_path, edit, message):
    from runtime.module import ModuleError
    from tests.runtime.test_module import _edit_manifest

    path = lower(islands, preset("tiny"), targets=("vta",)).module.save(tmp_path / "i.vtam")

    def change(d):
        step = next(s for s in d["steps"] if s["name"] == "softmax")
        assert step["op"]["kind"] == "host.onnx"
        edit(step["op"])
    _edit_manifest(path, change)
    with pytest.raises(ModuleError, match=message):
        load_module(path)
