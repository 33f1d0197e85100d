"""Lowering a quantized graph to a module: run on the simulator, bit-exact against the
integer reference; the partition honoured; float islands refused by name."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.frontend import import_onnx
from compiler.graph.lower import LowerError, lower
from compiler.graph.pipeline import run_quantization
from compiler.graph.quantize import evaluate_quantized, samples_from_arrays
from runtime.devices import open_device
from runtime.executor import Executor
from runtime.host_ops import HostOp
from runtime.module import load_module
from tests.compiler.graph.lower_models import calib, moves_cnn, small_cnn
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


def test_float_islands_are_refused_by_name():
    g = import_onnx(small_cnn(softmax=True))
    q = run_quantization(g, samples_from_arrays(g, calib()))
    with pytest.raises(LowerError, match="softmax.*not built yet|not built yet.*softmax"):
        lower(q, preset("tiny"))


def test_int8_transpose_and_concat_run_on_the_host_bit_exact(tmp_path):
    g = import_onnx(moves_cnn())
    q = run_quantization(g, samples_from_arrays(g, calib()))
    assert {n.node.op for n in q.nodes if n.kind == "host"} >= {"Transpose", "Concat"}
    low = lower(q, preset("tiny"), targets=("vta",))
    module = load_module(low.module.save(tmp_path / "moves.vtam"))
    steps = {s.name: s for s in module.steps}
    assert (steps["swap_hw"].op.kind, steps["cat"].op.kind) == ("transpose", "concat")
    assert steps["cat"].op.axis == 1 and steps["swap_hw"].op.perm == (0, 1, 3, 2)
    x = calib(3, seed=5)["x"]
    run = _run(module, x)
    ref = np.stack([evaluate_quantized(q, {"x": xi})["logits"] for xi in x])
    assert np.array_equal(run.outputs["logits"], ref)
    totals = run.profile["totals"]
    assert totals["macs_on_accelerator"] == totals["macs_total"] > 0


def test_host_op_checks_its_description():
    with pytest.raises(ValueError, match="perm"):
        HostOp("transpose", "t", (1, 2, 3), ((1, 2, 3),), perm=(0, 2, 1))
    with pytest.raises(ValueError, match="concat"):
        HostOp("concat", "c", (1, 5), ((1, 2), (1, 2)), axis=1)
    c = HostOp("concat", "c", (1, 5), ((1, 2), (1, 3)), axis=1)
    got = c.run(np.array([[1, 2]], np.int8), np.array([3, 4, 5], np.int8))
    assert got.dtype == np.int8 and got.tolist() == [[1, 2, 3, 4, 5]]
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
