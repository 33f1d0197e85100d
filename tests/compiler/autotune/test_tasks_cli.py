"""A model's tasks are its accelerator ops as ``vta compile`` compiles them, one per
workload; ``vta compile --tuning-log`` compiles each with its workload's best logged
schedule, so the module runs with the tuned cycles (and the same outputs); a log the op
cannot use falls back to the heuristic with a warning; a missing, empty or malformed log is
one ``error:`` line."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import helper

from compiler.api import compile_op, default_schedule
from compiler.autotune.log import TuningLog
from compiler.autotune.measure import MeasureResult, measure_one
from compiler.autotune.tasks import TaskError, extract_workloads
from compiler.frontend import import_onnx
from compiler.graph.lower import lower
from compiler.graph.pipeline import run_quantization
from compiler.graph.quantize import samples_from_arrays
from tests.compiler.graph.lower_models import calib, small_cnn
from tests.compiler.graph.onnx_util import he_weight, init, make_model, small_bias, tensor
from vta.cli import main
from vta_hw.config import TINY


def two_branch_model(seed: int = 0) -> onnx.ModelProto:
    """x -> conv_a -> relu, x -> conv_b -> relu (same shapes, other weights), added: two
    layers of one workload, and the add an accelerator op of its own."""
    rng = np.random.default_rng(seed)
    inits = [init(n, he_weight(rng, 16, 16, 3, 3)) for n in ("wa", "wb")]
    inits += [init(n, small_bias(rng, 16)) for n in ("ba", "bb")]
    nodes = [helper.make_node("Conv", ["x", "wa", "ba"], ["ca"], name="conv_a",
                              pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["ca"], ["ra"], name="relu_a"),
             helper.make_node("Conv", ["x", "wb", "bb"], ["cb"], name="conv_b",
                              pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["cb"], ["rb"], name="relu_b"),
             helper.make_node("Add", ["ra", "rb"], ["y"], name="add")]
    return make_model(nodes, [tensor("x", [1, 16, 8, 8])], [tensor("y", [1, 16, 8, 8])], inits)


def one_conv_model(seed: int = 1) -> onnx.ModelProto:
    """x -> conv -> relu: one accelerator op, alone in its program (so the program's
    cycles are the op's, with no neighbour overlapping it)."""
    rng = np.random.default_rng(seed)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    return make_model(nodes, [tensor("x", [1, 16, 8, 8])], [tensor("y", [1, 16, 8, 8])],
                      [init("w", he_weight(rng, 16, 16, 3, 3)), init("b", small_bias(rng, 16))])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tune")
    rng = np.random.default_rng(4)
    onnx.save(two_branch_model(), d / "m.onnx")
    onnx.save(one_conv_model(), d / "one.onnx")
    np.savez(d / "calib.npz", x=rng.standard_normal((4, 1, 16, 8, 8)).astype(np.float32))
    np.savez(d / "inputs.npz", x=rng.standard_normal((1, 1, 16, 8, 8)).astype(np.float32))
    onnx.save(small_cnn(), d / "cnn.onnx")
    np.savez(d / "cnn_calib.npz", **calib())
    return d


def _compile_and_run(files, tmp_path, *extra, model="m.onnx"):
    m, out, prof = tmp_path / "m.vtam", tmp_path / "out.npz", tmp_path / "p.json"
    assert main(["compile", str(files / model), "-o", str(m), "--preset", "tiny",
                 "--calib", str(files / "calib.npz"), "--targets", "vta", *extra]) == 0
    assert main(["run", str(m), "--inputs", str(files / "inputs.npz"), "-o", str(out),
                 "--profile", str(prof)]) == 0
    layers = json.loads(prof.read_text())["layers"]
    return {x["name"]: x.get("cycles") for x in layers}, np.load(out)["y"]


def test_tasks_are_the_accelerator_ops_deduplicated(files):
    tasks = extract_workloads(files / "m.onnx", TINY, calib=files / "calib.npz",
                              targets=("vta",))
    assert [t.layers for t in tasks] == [("conv_a", "conv_b"), ("add",)]
    assert [t.workload.op.kind for t in tasks] == ["conv2d", "elementwise"]
    assert len({t.key for t in tasks}) == 2
    # what vta compile compiles: the same graph lowered without a provider
    g = import_onnx(files / "m.onnx")
    q = run_quantization(g, samples_from_arrays(g, dict(np.load(files / "calib.npz"))))
    assert extract_workloads(q, TINY, targets=("vta",)) == tasks
    lowered = lower(q, TINY, targets=("vta",))
    on_acc = [n.step_name for n in lowered.nodes if n.device == "accelerator"]
    assert sorted(on_acc) == sorted(x for t in tasks for x in t.layers)


def test_tasks_follow_the_partition_and_chains(files):
    tasks = extract_workloads(files / "cnn.onnx", TINY, calib=files / "cnn_calib.npz",
                              targets=("vta",))
    layers = [x for t in tasks for x in t.layers]
    assert set(layers) >= {"conv1", "conv2", "conv3", "fc"}
    # conv2 reads pool1's output inside its chain: its loads insert the padding
    conv2 = next(t for t in tasks if "conv2" in t.layers)
    assert conv2.workload.options.input_halo == (0, 0)
    assert not extract_workloads(files / "cnn.onnx", TINY, calib=files / "cnn_calib.npz",
                                 targets=("cpu",))
    with pytest.raises(TaskError, match="float model"):
        extract_workloads(files / "cnn.onnx", TINY, targets=("vta",))


def _other_schedule(w):
    """The default's result and a legal schedule other than the default, measured (as a
    tuning run would have logged it)."""
    default = measure_one(w, default_schedule(w.op, TINY, w.options))
    other = next(r for s in w.space.sample(np.random.default_rng(3), 8)
                 if (r := measure_one(w, s)).ok and r.cycles != default.cycles)
    return default, other


def test_compile_with_tuning_log_reproduces_the_tuned_cycles(files, tmp_path, capsys):
    (task,) = extract_workloads(files / "one.onnx", TINY, calib=files / "calib.npz",
                                targets=("vta",))
    default, other = _other_schedule(task.workload)
    base_cycles, base_out = _compile_and_run(files, tmp_path, model="one.onnx")
    assert base_cycles["conv"] == default.cycles
    log = TuningLog(tmp_path / "log.jsonl")
    log.append(task.workload, MeasureResult(other.schedule, None, "error", "injected"))
    log.append(task.workload, other)
    capsys.readouterr()
    cycles, out = _compile_and_run(files, tmp_path, "--tuning-log", str(log.path),
                                   model="one.onnx")
    assert "tuned schedules: 1 of 1 accelerator ops" in capsys.readouterr().out
    assert cycles["conv"] == other.cycles != default.cycles
    assert np.array_equal(out, base_out)  # a schedule changes the cycles, not the bits
    # the partitioner priced the layer with the tuned schedule too
    layer = next(x for x in json.loads((tmp_path / "p.json").read_text())["layers"]
                 if x["name"] == "conv")
    w = task.workload
    tuned_estimate = compile_op(w.op, TINY, other.schedule, w.options).estimated_cycles
    assert round(layer["estimated_s"] * TINY.target_clock_mhz * 1e6) == tuned_estimate


def test_tuning_log_serves_every_layer_of_a_workload(files, tmp_path, capsys):
    (conv, add) = extract_workloads(files / "m.onnx", TINY, calib=files / "calib.npz",
                                    targets=("vta",))
    _, other = _other_schedule(conv.workload)
    base_cycles, base_out = _compile_and_run(files, tmp_path)
    TuningLog(tmp_path / "log.jsonl").append(conv.workload, other)
    capsys.readouterr()
    cycles, out = _compile_and_run(files, tmp_path, "--tuning-log", str(tmp_path / "log.jsonl"))
    text = capsys.readouterr().out
    assert "tuned schedules: 2 of 3 accelerator ops" in text and "(conv_a, conv_b)" in text
    assert "the others use the default heuristic" in text
    # one chained program: the layers overlap, so compare against the untuned module
    assert cycles["conv_a"] != base_cycles["conv_a"] and cycles["conv_b"] != base_cycles["conv_b"]
    assert np.array_equal(out, base_out)


def test_a_schedule_the_op_cannot_use_falls_back_with_a_warning(files, tmp_path, capsys):
    (task,) = extract_workloads(files / "one.onnx", TINY, calib=files / "calib.npz",
                                targets=("vta",))
    w = task.workload
    d = default_schedule(w.op, TINY, w.options)
    bad = d.replace(tile_co=4, tile_h=8, tile_w=8, virtual_threads=8)
    assert not w.space.is_legal(bad)
    TuningLog(tmp_path / "log.jsonl").append(w, MeasureResult(bad, 10))
    capsys.readouterr()
    cycles, _ = _compile_and_run(files, tmp_path, "--tuning-log", str(tmp_path / "log.jsonl"),
                                 model="one.onnx")
    err = capsys.readouterr().err
    assert err.startswith("warning: conv: the provided schedule") and "Traceback" not in err
    assert cycles["conv"] == measure_one(w, d).cycles


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("", "holds no measurements"),
    ("{}\n", "line 1: not a tuning record"),
    ("garbage\n", "line 1: not a tuning record"),
])
def test_a_bad_tuning_log_is_one_error_line(files, tmp_path, capsys, content, message):
    log = tmp_path / "log.jsonl"
    if content is not None:
        log.write_text(content)
    out = tmp_path / "m.vtam"
    rc = main(["compile", str(files / "m.onnx"), "-o", str(out), "--preset", "tiny",
               "--calib", str(files / "calib.npz"), "--tuning-log", str(log)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and message in err, err
    assert sum(line.startswith("error:") for line in err.splitlines()) == 1
    assert not out.exists()


def test_a_log_for_another_config_is_a_warning(files, tmp_path, capsys):
    (task,) = extract_workloads(files / "one.onnx", TINY, calib=files / "calib.npz",
                                targets=("vta",))
    _, other = _other_schedule(task.workload)
    TuningLog(tmp_path / "log.jsonl").append(task.workload, other)
    capsys.readouterr()
    m = tmp_path / "m.vtam"
    assert main(["compile", str(files / "one.onnx"), "-o", str(m), "--preset", "default",
                 "--calib", str(files / "calib.npz"), "--targets", "vta",
                 "--tuning-log", str(tmp_path / "log.jsonl")]) == 0
    cap = capsys.readouterr()
    assert "no record is for config 'default'" in cap.err and "tuned for tiny" in cap.err
    assert "tuned schedules: 0 of 1 accelerator ops" in cap.out
