"""Modules with GPU steps: what may sit on the gpu (``runtime.gpu_steps``), how such a
module is compiled (the partitioner with a GpuSpec), saved and loaded, and how it runs.

On the emulated GPU (:class:`runtime.gpu_sim_device.GpuSimDevice`, every machine) and on a
real one (``-m gpu`` tier, skipped with the reason otherwise) the executor runs the GPU steps
and the outputs equal the quantized graph's reference bit for bit when the GPU steps are
opset ops (a float Softmax on the GPU agrees to float rounding, so the tests pin one and
compare within a tolerance).  Without a GPU, loading the module on the machine's GPU is one
DeviceError.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest

from compiler.frontend import import_onnx
from compiler.frontend.model_zoo import encoder
from compiler.graph.lower import LowerError, lower
from compiler.graph.pipeline import run_quantization
from compiler.graph.quantize import evaluate_quantized
from compiler.partition.gpu_model import gpu_spec
from runtime.device import DeviceError
from runtime.executor import Executor
from runtime.gpu_runner import open_gpu
from runtime.gpu_steps import GpuStepError, gpu_plan, gpu_unsupported
from runtime.host_ops import HostOp, OnnxHostOp
from runtime.module import ModuleError, load_module, save_module
from runtime.sim_device import SimDevice
from vta_hw.config import preset

LAYERS, SEQ, HIDDEN, HEADS = 1, 16, 32, 2
DENSE = LAYERS * (6 + 2 * HEADS)  # per layer: 6 projections, 2 attention matmuls per head


@pytest.fixture(scope="module")
def qgraph():
    graph = import_onnx(encoder(layers=LAYERS, seq=SEQ, hidden=HIDDEN, heads=HEADS))
    rng = np.random.default_rng(0)
    return run_quantization(graph, [{"input": rng.standard_normal((1, SEQ, HIDDEN))
                                     .astype(np.float32)} for _ in range(2)])


def _x(seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((1, SEQ, HIDDEN)).astype(np.float32)


def test_what_the_gpu_runs_is_one_list():
    sm = OnnxHostOp("sm", "Softmax", {"axis": -1}, ((4, 8),), ("float32",), (4, 8), "float32")
    assert gpu_unsupported(sm) is None
    plan = gpu_plan(sm)
    assert [b.name for b in plan.inputs] == ["x0"] and plan.steps[0].block == (4, 1, 1)
    q = HostOp("quantize", "q", (4, 8), scale=0.1)
    with pytest.raises(GpuStepError, match="step 'q': a host quantize boundary runs on the cpu"):
        gpu_plan(q)
    ln = OnnxHostOp("ln", "Erf", {}, ((4, 8),), ("float32",), (4, 8), "float32")
    assert gpu_unsupported(ln) == "no GPU kernel for the float ONNX op Erf"
    i8 = OnnxHostOp("t", "Relu", {}, ((4, 8),), ("int8",), (4, 8), "int8")
    assert gpu_unsupported(i8) == "Relu on int8: the GPU kernels are float32"


def test_a_gpu_module_is_compiled_saved_and_checked_on_load(qgraph, tmp_path):
    # the GPU the only target of the opset ops: every matmul on it (which ones the cost
    # model moves to the GPU among vta,cpu,gpu is test_gpu_model's business)
    low = lower(qgraph, preset("default"), targets=("gpu",), gpu=gpu_spec("a100"))
    kinds = Counter((s.device, s.op.kind) for s in low.module.steps)
    assert kinds[("gpu", "dense")] == DENSE  # every matmul
    assert not {d for d, k in kinds if k in ("quantize", "dequantize")} - {"cpu"}
    assert low.module.meta["gpu_spec"] == "a100"
    m = load_module(save_module(low.module, tmp_path / "enc.vtam"))
    assert [s.device for s in m.steps] == [s.device for s in low.module.steps]
    # a host boundary moved onto the gpu is refused when the module is loaded
    steps = list(m.steps)
    i = next(k for k, s in enumerate(steps) if s.op.kind == "quantize")
    steps[i] = dataclasses.replace(steps[i], device="gpu")
    with pytest.raises(ModuleError, match=rf"step '{steps[i].name}' is on the gpu, but a host "
                                          "quantize boundary runs on the cpu"):
        dataclasses.replace(m, steps=tuple(steps))


def test_gpu_targets_need_a_spec(qgraph):
    with pytest.raises(LowerError, match=r"--targets vta,cpu,gpu: .*--gpu-spec NAME"):
        lower(qgraph, preset("default"), targets=("vta", "cpu", "gpu"))
    with pytest.raises(LowerError, match=r"--pin .*=gpu: .*--gpu-spec"):
        lower(qgraph, preset("default"), pins={qgraph.nodes[3].name: "gpu"})


def _gpu_or_none():
    try:
        return open_gpu()
    except DeviceError:
        return None


def test_without_a_gpu_loading_it_for_execution_is_one_error(qgraph):
    if _gpu_or_none() is not None:
        pytest.skip("a GPU is present: the no-GPU error cannot be exercised")
    # the softmax pinned to the GPU: whether the cost model moves an op there by itself
    # depends on this host's measured CPU speed
    name = next(n.name for n in qgraph.nodes if n.kind == "float" and n.node.op == "Softmax")
    low = lower(qgraph, preset("default"), targets=("vta", "cpu", "gpu"),
                gpu=gpu_spec("l4"), pins={name: "gpu"})
    with pytest.raises(DeviceError, match=r"are assigned to the gpu, and there is no usable "
                                          r"GPU here \(GpuDevice needs cuda-python"):
        Executor(low.module, SimDevice(low.module.config))


def _run(module, gpu) -> dict:
    ex = Executor(module, SimDevice(module.config), gpu=gpu)
    try:
        run = ex.run({"input": _x()})
    finally:
        ex.close()
    return {"out": run.outputs["output"], "profile": run.profile, "loaded": ex.loaded_bytes}


def test_on_the_emulated_gpu_the_module_equals_the_reference(qgraph):
    from runtime.gpu_sim_device import GpuSimDevice

    low = lower(qgraph, preset("default"), targets=("gpu",), gpu=gpu_spec("a100"))
    got = _run(low.module, GpuSimDevice())
    want = evaluate_quantized(qgraph, {"input": _x()})["output"]
    np.testing.assert_array_equal(got["out"], want)
    on_gpu = [e for e in got["profile"]["layers"] if e["device"] == "gpu"]
    assert sum(e["op"] == "dense" for e in on_gpu) == DENSE  # every matmul
    steps = {s.name: s for s in low.module.steps}
    assert all(gpu_unsupported(steps[e["name"]].op) is None for e in on_gpu)
    assert all(e["bytes_in"] > 0 and e["bytes_out"] > 0 and e["seconds"] > 0 for e in on_gpu)
    # the weights of the projections went to the GPU once, at load (the attention matmuls'
    # second operands are activations, fed per run)
    weights = sum(low.module.constants[t].nbytes for s in low.module.steps
                  if s.device == "gpu" for t in s.inputs.values() if t in low.module.constants)
    assert got["loaded"] >= weights > 0


def test_a_softmax_on_the_emulated_gpu_agrees_to_float_rounding(qgraph):
    from runtime.gpu_sim_device import GpuSimDevice

    name = next(n.name for n in qgraph.nodes if n.kind == "float" and n.node.op == "Softmax")
    low = lower(qgraph, preset("default"), targets=("vta", "cpu", "gpu"),
                gpu=gpu_spec("a100"), pins={name: "gpu"})
    assert next(s for s in low.module.steps if s.name == name).device == "gpu"
    got = _run(low.module, GpuSimDevice())["out"]
    want = evaluate_quantized(qgraph, {"input": _x()})["output"]
    assert np.linalg.norm(got - want) / np.linalg.norm(want) < 0.02


@pytest.mark.gpu
def test_on_a_gpu_the_module_equals_the_reference(gpu, qgraph):
    low = lower(qgraph, preset("default"), targets=("vta", "cpu", "gpu"),
                gpu=gpu_spec("a100"))
    assert any(s.device == "gpu" for s in low.module.steps)
    ex = Executor(low.module, SimDevice(low.module.config), gpu=gpu)
    try:
        run = ex.run({"input": _x()})
    finally:
        ex.close()
    want = evaluate_quantized(qgraph, {"input": _x()})["output"]
    np.testing.assert_array_equal(run.outputs["output"], want)
    assert {e["device"] for e in run.profile["layers"]} >= {"gpu", "cpu"}


@pytest.mark.gpu
def test_a_softmax_pinned_to_the_gpu_agrees_to_float_rounding(gpu, qgraph):
    name = next(n.name for n in qgraph.nodes if n.kind == "float" and n.node.op == "Softmax")
    low = lower(qgraph, preset("default"), targets=("vta", "cpu", "gpu"),
                gpu=gpu_spec("a100"), pins={name: "gpu"})
    assert next(s for s in low.module.steps if s.name == name).device == "gpu"
    ex = Executor(low.module, SimDevice(low.module.config), gpu=gpu)
    try:
        got = ex.run({"input": _x()}).outputs["output"]
    finally:
        ex.close()
    want = evaluate_quantized(qgraph, {"input": _x()})["output"]
    # a softmax value that lands on an int8 rounding boundary may round the other way
    assert np.linalg.norm(got - want) / np.linalg.norm(want) < 0.02


def _f32(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


FLOAT_CASES = [  # (op type, attrs, operand shapes, output shape)
    ("Conv", {"strides": (2, 1), "pads": (1, 0, 1, 2), "dilations": (1, 2), "group": 1},
     ((1, 5, 9, 8), (7, 5, 3, 3), (7,)), None),
    ("Conv", {"strides": (1, 1), "pads": (0, 0, 0, 0), "dilations": (1, 1), "group": 1},
     ((2, 3, 6, 6), (4, 3, 1, 1)), None),
    ("Conv", {"strides": (2, 2), "pads": (1, 1, 1, 1), "dilations": (1, 1), "group": 6},
     ((1, 6, 9, 9), (6, 1, 3, 3), (6,)), None),  # depthwise
    ("Gemm", {"alpha": 1.0, "beta": 1.0, "trans_a": 0, "trans_b": 1},
     ((3, 40), (20, 40), (1, 20)), (3, 20)),
    ("Gemm", {"alpha": 1.0, "beta": 1.0, "trans_a": 0, "trans_b": 0},
     ((70, 33), (33, 65)), (70, 65)),
    ("MatMul", {}, ((5, 17), (17, 9)), (5, 9)),
    ("Softmax", {"axis": -1}, ((3, 7, 11),), (3, 7, 11)),
    ("MaxPool", {"ceil_mode": 0, "dilations": (1, 1), "kernel_shape": (3, 3),
                 "pads": (1, 1, 1, 1), "strides": (2, 2)}, ((1, 4, 9, 9),), (1, 4, 5, 5)),
    ("AveragePool", {"ceil_mode": 0, "dilations": (1, 1), "kernel_shape": (2, 3),
                     "pads": (1, 1, 0, 1), "strides": (1, 2), "count_include_pad": 1},
     ((1, 3, 6, 7),), None),
    ("GlobalAveragePool", {}, ((2, 3, 5, 4),), (2, 3, 1, 1)),
    ("Add", {}, ((2, 3, 4), (3, 1)), (2, 3, 4)),
    ("Div", {}, ((4, 5), ()), (4, 5)),
    ("Max", {}, ((4, 5), (4, 5)), (4, 5)),
    ("Sigmoid", {}, ((3, 8),), (3, 8)),
    ("Relu", {}, ((3, 8),), (3, 8)),
    ("Clip", {"min": -0.5, "max": 0.75}, ((3, 8),), (3, 8)),
    ("Clip", {"min": 0.0, "max": None}, ((3, 8),), (3, 8)),
    ("Reshape", {"shape": (2, 12)}, ((2, 3, 2, 2),), (2, 12)),
]


@pytest.mark.parametrize("case", FLOAT_CASES, ids=[f"{c[0]}{i}" for i, c in
                                                    enumerate(FLOAT_CASES)])
def test_float_ops_on_the_gpu_match_the_host_kernels(case):
    """Each float ONNX op's GPU plan, run on the SIMT emulator, equals the host step's
    numpy kernel (``OnnxHostOp.run``, the float reference's kernel) to float rounding."""
    from cpu_gpu_backends.simt import run_plan

    op_type, attrs, ins, out = case
    rng = np.random.default_rng(len(ins))
    xs = [_f32(rng, s) for s in ins]
    if op_type == "Div":
        xs[1] = np.float32(1.5) + np.abs(xs[1])
    if out is None:
        from opset.onnx_kernels import run_kernel

        out = run_kernel(op_type, attrs, xs)[0].shape
    op = OnnxHostOp("n", op_type, attrs, ins, ("float32",) * len(ins), out, "float32")
    assert gpu_unsupported(op) is None
    plan = gpu_plan(op)
    got = run_plan(plan, *[x.reshape(b.shape) for x, b in zip(xs, plan.inputs, strict=False)])
    np.testing.assert_allclose(got.reshape(out), op.run(*xs), rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("op_type, attrs, ins, why", [
    ("Conv", {"group": 2, "strides": (1, 1), "pads": (0,) * 4, "dilations": (1, 1)},
     ((1, 4, 5, 5), (4, 2, 3, 3)), "grouped (not depthwise)"),
    ("MatMul", {}, ((2, 3, 4), (2, 4, 5)), "batched MatMul"),
    ("Gemm", {"alpha": 2.0, "beta": 1.0, "trans_a": 0, "trans_b": 0}, ((3, 4), (4, 5)),
     "alpha"),
    ("MaxPool", {"ceil_mode": 1, "dilations": (1, 1), "kernel_shape": (2, 2),
                 "pads": (0,) * 4, "strides": (2, 2)}, ((1, 1, 5, 5),), "ceil_mode"),
    ("Erf", {}, ((2, 8),), "no GPU kernel for the float ONNX op Erf"),
])
def test_float_ops_the_gpu_does_not_run_say_why(op_type, attrs, ins, why):
    from opset.onnx_kernels import run_kernel

    out = run_kernel(op_type, attrs, [np.zeros(s, np.float32) for s in ins])[0].shape
    op = OnnxHostOp("n", op_type, attrs, ins, ("float32",) * len(ins), out, "float32")
    assert why in gpu_unsupported(op)


def test_a_float_module_runs_on_the_emulated_gpu(tmp_path):
    """``--targets cpu,gpu`` without calibration: a float module whose convolutions, pools,
    element-wise ops, classifier and softmax the partitioner puts on the GPU; on the
    emulated GPU it computes the float reference's outputs to rounding."""
    from compiler.graph.lower import lower_float
    from compiler.graph.pipeline import run_passes
    from compiler.graph.reference import evaluate
    from runtime.gpu_sim_device import GpuSimDevice
    from tests.compiler.graph.lower_models import small_cnn

    graph = run_passes(import_onnx(small_cnn(softmax=True)))
    low = lower_float(graph, preset("default"), targets=("cpu", "gpu"), gpu=gpu_spec("a100"))
    kinds = {s.op.kind for s in low.module.steps if s.device == "gpu"}
    assert {"Conv", "Relu", "MaxPool", "Add", "GlobalAveragePool", "Gemm"} <= kinds
    module = load_module(save_module(low.module, tmp_path / "f.vtam"))
    x = np.random.default_rng(0).standard_normal((2, 1, 3, 16, 16)).astype(np.float32)
    ex = Executor(module, SimDevice(module.config), gpu=GpuSimDevice())
    try:
        got = ex.run({"x": x}).outputs["probs"]
    finally:
        ex.close()
    want = np.stack([evaluate(graph, {"x": xi})["probs"] for xi in x])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
