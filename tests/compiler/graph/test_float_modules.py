"""fp32 models as float modules (``--targets cpu`` without calibration): the model-zoo light
models ResNet-50, SqueezeNet, ShuffleNet, Inception-v1 and DenseNet-121 (random weights)
compiled with every node a float host step, run by the runtime's executor, within 1e-4
relative of onnxruntime; one of them through ``vta compile`` / ``vta run``."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from compiler.frontend import import_onnx
from compiler.graph.lower import LowerError, lower_float
from compiler.graph.pipeline import run_passes
from runtime.devices import open_device
from runtime.executor import Executor
from runtime.host_ops import OnnxHostOp
from tests.compiler.graph.onnx_util import LIGHT, randomize_weights, run_ort
from vta_hw.config import preset

MODELS = ["resnet50", "squeezenet", "shufflenet", "inception_v1", "densenet121"]


def _model(name: str) -> onnx.ModelProto:
    return randomize_weights(onnx.load(LIGHT / f"light_{name}.onnx"), seed=7)


def _close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and np.isfinite(got).all()
    assert want.std() > 1e-4 * np.abs(want).max()  # random weights: not a uniform output
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * np.abs(want).max())


@pytest.mark.parametrize("name", MODELS)
def test_float_module_matches_onnxruntime(name):
    model = _model(name)
    graph = run_passes(import_onnx(model))
    low = lower_float(graph, preset("default"), targets=("cpu",))
    m = low.module
    assert m.programs == () and {s.device for s in m.steps} == {"cpu"}
    assert all(isinstance(s.op, OnnxHostOp) for s in m.steps)
    assert {s.op.kind for s in m.steps} >= {"Conv", "Relu"}
    inp = graph.inputs[0]
    x = np.random.default_rng(1).standard_normal(graph.types[inp].shape).astype(np.float32)
    ex = Executor(m, open_device("sim", m.config))
    try:
        run = ex.run({inp: x})
    finally:
        ex.close()
    _close(run.outputs[m.outputs[0]], run_ort(model, {inp: x})[0])
    totals = run.profile["totals"]
    convs = sum(s.macs for s in m.steps if s.op.kind in ("Conv", "Gemm"))
    assert totals["macs_total"] == convs > 0 and totals["macs_on_accelerator"] == 0
    assert totals["host_seconds"] > 0 and totals["accelerator_cycles"] == 0


def test_float_module_without_the_cpu_is_refused():
    graph = run_passes(import_onnx(_model("squeezenet")))
    with pytest.raises(LowerError, match="a float module runs on the cpu only"):
        lower_float(graph, preset("default"), targets=("vta",))


def test_vta_compile_and_run_a_float_model(tmp_path, capsys):
    """``vta compile --targets cpu`` without --calib writes a float module; ``vta run``
    gives onnxruntime's outputs (within 1e-4) for a batch of two samples."""
    from vta.cli import main

    model = _model("squeezenet")
    onnx.save(model, tmp_path / "squeezenet.onnx")
    graph = import_onnx(model)
    inp = graph.inputs[0]
    x = np.random.default_rng(2).standard_normal((2, *graph.types[inp].shape))
    x = x.astype(np.float32)
    np.savez(tmp_path / "in.npz", **{inp: x})
    m, out, prof = tmp_path / "m.vtam", tmp_path / "out.npz", tmp_path / "p.json"
    assert main(["compile", str(tmp_path / "squeezenet.onnx"), "-o", str(m),
                 "--targets", "cpu"]) == 0
    assert "float module" in capsys.readouterr().out
    assert main(["run", str(m), "--inputs", str(tmp_path / "in.npz"), "-o", str(out),
                 "--profile", str(prof)]) == 0
    got = np.load(out)[graph.outputs[0]]
    want = np.stack([run_ort(model, {inp: xi})[0] for xi in x])
    _close(got, want)
    capsys.readouterr()
