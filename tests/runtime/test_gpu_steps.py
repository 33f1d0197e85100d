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
    ln = OnnxHostOp("ln", "Relu", {}, ((4, 8),), ("float32",), (4, 8), "float32")
    assert gpu_unsupported(ln) == "no GPU kernel for the float ONNX op Relu"


def test_a_gpu_module_is_compiled_saved_and_checked_on_load(qgraph, tmp_path):
    low = lower(qgraph, preset("default"), targets=("vta", "cpu", "gpu"),
                gpu=gpu_spec("a100"))
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
    low = lower(qgraph, preset("default"), targets=("vta", "cpu", "gpu"),
                gpu=gpu_spec("l4"))
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

    low = lower(qgraph, preset("default"), targets=("vta", "cpu", "gpu"),
                gpu=gpu_spec("a100"))
    got = _run(low.module, GpuSimDevice())
    want = evaluate_quantized(qgraph, {"input": _x()})["output"]
    np.testing.assert_array_equal(got["out"], want)
    on_gpu = [e for e in got["profile"]["layers"] if e["device"] == "gpu"]
    assert len(on_gpu) == DENSE and all(e["op"] == "dense" for e in on_gpu)
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


@pytest.fixture(scope="module")
def gpu():
    try:
        from runtime.gpu_device import GpuDevice

        return GpuDevice()
    except DeviceError as exc:
        pytest.skip(f"no usable GPU: {exc}")


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
