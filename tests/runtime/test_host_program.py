"""The compiled host program (runtime.host_program): a module's CPU steps as generated
kernels on buffers allocated at load, with Conv/Gemm + ReLU/ReLU6 and Add + ReLU fused.

Float modules are checked against onnxruntime (1e-4 relative) and against the numpy host
kernels each step would otherwise run; int8 modules bit for bit against the integer
reference; the thread count of the host device reaches the kernels."""

from __future__ import annotations

from functools import partial

import numpy as np
import onnx
import pytest
from onnx import helper

from compiler.frontend import import_onnx
from compiler.graph.lower import lower, lower_float
from compiler.graph.pipeline import run_passes, run_quantization
from compiler.graph.quantize import evaluate_quantized
from runtime.cpu_device import CpuDevice
from runtime.device import DeviceError
from runtime.devices import open_device
from runtime.executor import Executor
from tests.compiler.graph.lower_models import calib, small_cnn
from tests.compiler.graph.onnx_util import he_weight, init, make_model, run_ort, small_bias, tensor
from vta_hw.config import preset

CFG = preset("default")


def mixed_cnn(seed: int = 0) -> onnx.ModelProto:
    """Every float kernel kind and fusion: conv-relu, depthwise conv-clip(0,6) (relu6),
    a conv read twice (no fusion: a residual and a model output), residual add-relu, max
    and average pools, a broadcast Mul by a constant, global average pool, flatten,
    Gemm-relu, Gemm, Softmax (numpy).  Input ``x`` 1x3x12x12, outputs ``probs`` and
    ``c3``."""
    rng = np.random.default_rng(seed)

    w = partial(he_weight, rng)
    b = partial(small_bias, rng)

    c = 8
    inits = [init("w1", w(c, 3, 3, 3)), init("b1", b(c)), init("wd", w(c, 1, 3, 3) * 3),
             init("bd", b(c)), init("lo", np.float32(0.0)), init("hi", np.float32(6.0)),
             init("w3", w(c, c, 1, 1)), init("b3", b(c)),
             init("scale", (rng.random((1, c, 1, 1)) + 0.5).astype(np.float32)),
             init("fc1_w", w(16, c)), init("fc1_b", b(16)), init("fc2_w", w(16, 10)),
             init("fc2_b", b(10))]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "wd", "bd"], ["cd"], name="dw", pads=[1, 1, 1, 1],
                         group=c),
        helper.make_node("Clip", ["cd", "lo", "hi"], ["r6"], name="relu6"),
        helper.make_node("Conv", ["r6", "w3", "b3"], ["c3"], name="conv3"),
        helper.make_node("Add", ["c3", "r1"], ["s"], name="add"),
        helper.make_node("Relu", ["s"], ["r3"], name="relu3"),
        helper.make_node("MaxPool", ["r3"], ["p1"], name="maxpool", kernel_shape=[3, 3],
                         strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("AveragePool", ["p1"], ["p2"], name="avgpool", kernel_shape=[2, 2],
                         strides=[1, 1]),
        helper.make_node("Mul", ["p2", "scale"], ["m"], name="mul"),
        helper.make_node("GlobalAveragePool", ["m"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc1_w", "fc1_b"], ["h"], name="fc1", transB=1),
        helper.make_node("Relu", ["h"], ["hr"], name="fc1_relu"),
        helper.make_node("Gemm", ["hr", "fc2_w", "fc2_b"], ["logits"], name="fc2"),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1),
    ]
    return make_model(nodes, [tensor("x", [1, 3, 12, 12])],
                      [tensor("probs", [1, 10]), tensor("c3", [1, c, 12, 12])], inits)


def _float_module(model: onnx.ModelProto):
    return lower_float(run_passes(import_onnx(model)), CFG, targets=("cpu",)).module


def _run(module, feeds, threads: int | None = None):
    host = CpuDevice(threads=threads) if threads else None
    ex = Executor(module, open_device("sim", CFG), host=host)
    try:
        return ex.host_program, ex.run(feeds)
    finally:
        ex.close()


def _numpy_run(module, feeds) -> dict[str, np.ndarray]:
    """Every step by its numpy host kernel (the path the compiled kernels replace)."""
    env = {**module.constants, **feeds}
    for s in module.steps:
        env[s.output] = s.op.run(*(env[s.inputs[spec.name]] for spec in s.op.inputs()))
    return {n: env[n] for n in module.outputs}


@pytest.fixture(scope="module")
def mixed():
    model = mixed_cnn()
    m = _float_module(model)
    x = np.random.default_rng(1).standard_normal((1, 3, 12, 12)).astype(np.float32)
    prog, run = _run(m, {"x": x}, threads=1)
    return model, m, x, prog, run


def test_float_module_runs_compiled_kernels_with_fusion(mixed):
    _, m, _, prog, run = mixed
    by = {s.name: i for i, s in enumerate(m.steps)}
    # the activations are fused into their producers; conv3 is read twice, so it is not
    fused = {m.steps[j].name: m.steps[i].name for j, i in prog.fused_into.items()}
    assert fused == {"relu1": "conv1", "relu6": "dw", "relu3": "add", "fc1_relu": "fc1"}
    assert prog.calls[by["conv1"]].kind == "Conv+Relu"
    assert prog.calls[by["dw"]].kind == "Conv+Clip"
    assert prog.calls[by["add"]].kind == "Add+Relu"
    # everything but the Softmax runs as a generated kernel (Flatten as a view)
    numpy_steps = [s.op.kind for i, s in enumerate(m.steps) if not prog.compiled(i)]
    assert numpy_steps == ["Softmax"]
    assert prog.calls[by["flatten/Reshape"]].call is None
    assert prog.buffers["f"].base is not None  # a view of the pooled tensor's buffer
    layers = {e["name"]: e for e in run.profile["layers"]}
    assert layers["relu1"]["fused_into"] == "conv1" and layers["relu1"]["seconds"] == 0.0
    assert layers["conv1"]["fused"] == ["relu1"] and layers["conv1"]["seconds"] > 0


def test_float_module_matches_onnxruntime_and_the_numpy_kernels(mixed):
    model, m, x, _, run = mixed
    want = run_ort(model, {"x": x})
    ref = _numpy_run(m, {"x": x})
    for name, w in zip(("probs", "c3"), want, strict=True):
        got = run.outputs[name]
        assert got.shape == w.shape and w.std() > 0
        np.testing.assert_allclose(got, w, rtol=1e-4, atol=1e-5 * np.abs(w).max())
        np.testing.assert_allclose(got, ref[name], rtol=1e-4, atol=1e-5 * np.abs(w).max())


def test_outputs_are_copies_and_buffers_are_reused(mixed):
    """Host buffers are allocated once and reused per sample: a batch gives each
    sample's own outputs, equal to running them one at a time."""
    _, m, x, _, _ = mixed
    x2 = np.random.default_rng(5).standard_normal((1, 3, 12, 12)).astype(np.float32)
    ex = Executor(m, open_device("sim", CFG), host=CpuDevice(threads=1))
    try:
        buf = ex.host_program.buffers["c3"]
        a = ex.run({"x": x}).outputs["c3"]
        assert ex.host_program.buffers["c3"] is buf
        b = ex.run({"x": x2}).outputs["c3"]
        both = ex.run({"x": np.stack([x, x2])}).outputs["c3"]
    finally:
        ex.close()
    assert not np.array_equal(a, b) and not np.shares_memory(a, buf)
    np.testing.assert_array_equal(both[0], a)
    np.testing.assert_array_equal(both[1], b)


def test_one_and_two_threads_give_the_same_outputs(mixed):
    _, m, x, prog1, run1 = mixed
    prog2, run2 = _run(m, {"x": x}, threads=2)
    assert prog1.backend.launcher.threads == 1
    assert prog2.backend.launcher.threads == 2
    for n in m.outputs:
        np.testing.assert_allclose(run2.outputs[n], run1.outputs[n], rtol=1e-6, atol=1e-7)


def _host_slices(run) -> list[dict]:
    return sorted((ev for ev in run.events if ev.get("ph") == "X" and ev["pid"] == 1),
                  key=lambda ev: ev["ts"])


def test_each_run_reports_its_own_measurements_when_read_later(mixed):
    """A run's profile and trace are built on first read (runtime.executor.ModelRun), each
    once, from what that run measured: read after later runs on the same executor, they
    are still its own.  One sample's schedule is its stages back to back; a batch's
    second sample starts where the first ends (one host, no accelerator)."""
    _, m, x, _, _ = mixed
    ex = Executor(m, open_device("sim", CFG), host=CpuDevice(threads=1))
    try:
        first = ex.run({"x": x})
        later = [ex.run({"x": x}) for _ in range(3)]
        batch = ex.run({"x": np.stack([x, x])})
    finally:
        ex.close()
    p = first.profile
    assert first.profile is p and first.events is first.events
    assert [r.profile["totals"]["samples"] for r in later] == [1, 1, 1]
    host_s = p["totals"]["host_seconds"]
    assert host_s == sum(e["seconds"] for e in p["layers"] if "seconds" in e) > 0
    assert all(r.profile["totals"]["host_seconds"] != host_s for r in later)
    t = p["totals"]
    assert t["latency_ms"] == pytest.approx(host_s * 1e3)
    assert t["pipelined_ms"] == pytest.approx(t["sequential_ms"]) == pytest.approx(
        t["latency_ms"])
    for run, samples in ((first, [0]), (batch, [0, 1])):
        slices = _host_slices(run)
        assert [ev["args"]["sample"] for ev in slices] == sorted(
            k for k in samples for _ in range(len(slices) // len(samples)))
        assert slices[0]["ts"] == 0.0
        for a, b in zip(slices, slices[1:], strict=False):
            assert b["ts"] == pytest.approx(a["ts"] + a["dur"], abs=1e-6)
        assert sum(ev["dur"] for ev in slices) == pytest.approx(
            run.profile["totals"]["sequential_ms"] * 1e3)


def test_small_cnn_float_module_is_all_kernels():
    model = small_cnn()
    m = _float_module(model)
    x = np.random.default_rng(2).standard_normal((1, 3, 16, 16)).astype(np.float32)
    prog, run = _run(m, {"x": x}, threads=1)
    assert all(prog.compiled(i) for i in range(len(m.steps)))
    # the residual block: conv3 + Add(p1) + ReLU in one kernel (p1 is made before conv3)
    by = {s.name: i for i, s in enumerate(m.steps)}
    assert prog.calls[by["conv3"]].kind == "Conv+Add+Relu"
    assert {prog.fused_into[by["add"]], prog.fused_into[by["relu3"]]} == {by["conv3"]}
    want = run_ort(model, {"x": x})[0]
    np.testing.assert_allclose(run.outputs["logits"], want, rtol=1e-4,
                               atol=1e-5 * np.abs(want).max())


def test_int8_module_runs_int8_kernels_bit_exact():
    """An int8 module on the CPU: opset ops and the quantize/dequantize boundaries all
    run as generated kernels, bit for bit the integer reference, for a batch."""
    model = small_cnn()
    qg = run_quantization(import_onnx(model), [{"x": s} for s in calib()["x"]])
    m = lower(qg, CFG, targets=("cpu",)).module
    xs = np.random.default_rng(3).standard_normal((3, 1, 3, 16, 16)).astype(np.float32)
    prog, run = _run(m, {"x": xs}, threads=1)
    kinds = {s.op.kind for i, s in enumerate(m.steps) if prog.compiled(i)}
    assert {"quantize", "dequantize", "conv2d"} <= kinds
    assert all(prog.compiled(i) for i in range(len(m.steps)))
    for k, x in enumerate(xs):
        want = evaluate_quantized(qg, {"x": x})["logits"]
        np.testing.assert_array_equal(run.outputs["logits"][k], want)
    assert np.ptp(run.outputs["logits"]) > 0


def test_a_host_device_without_a_kernel_backend_is_refused(mixed):
    _, m, _, _, _ = mixed

    plain = CpuDevice()
    plain.backend = None
    with pytest.raises(DeviceError, match="no CPU kernel backend"):
        Executor(m, open_device("sim", CFG), host=plain)


def test_prepare_checks_its_arrays():
    import cpu_gpu_backends as cb

    op = cb.unary("relu", (4, 5))
    x, y = np.zeros((4, 5), np.float32), np.zeros((4, 5), np.float32)
    with pytest.raises(TypeError, match="prepare needs arrays"):
        op.prepare(x0=x)
    with pytest.raises(ValueError, match="C-contiguous"):
        op.prepare(x0=np.zeros((5, 4), np.float32).T, y=y)
    call = op.prepare(x0=x, y=y)
    x[...] = np.arange(20).reshape(4, 5) - 10
    call()
    np.testing.assert_array_equal(y, np.maximum(x, 0))


def test_vta_run_threads_option(tmp_path):
    """``vta run --threads 1`` runs a float module's kernels on a one-thread pool with the
    same outputs (within float tolerance) as onnxruntime."""
    from vta.cli import main

    model = small_cnn(seed=4)
    onnx.save(model, tmp_path / "m.onnx")
    x = np.random.default_rng(6).standard_normal((2, 1, 3, 16, 16)).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=x)
    mod, out = tmp_path / "m.vtam", tmp_path / "out.npz"
    assert main(["compile", str(tmp_path / "m.onnx"), "-o", str(mod), "--targets", "cpu"]) == 0
    assert main(["run", str(mod), "--inputs", str(tmp_path / "in.npz"), "-o", str(out),
                 "--threads", "1"]) == 0
    got = np.load(out)["logits"]
    for k in range(2):
        want = run_ort(model, {"x": x[k]})[0]
        np.testing.assert_allclose(got[k], want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
    with pytest.raises(SystemExit):
        main(["run", str(mod), "--inputs", str(tmp_path / "in.npz"), "-o", str(out),
              "--threads", "0"])
