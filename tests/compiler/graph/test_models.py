"""Whole models, bit-exact: ResNet-18 and MobileNet-v2 shaped ONNX models
(``compiler.frontend.model_zoo``, random weights) quantized with calibration, compiled with
every op on the accelerator (``targets=("vta",)``, the ``default`` preset) and run on the
simulator equal ``evaluate_quantized``, the numpy integer reference, bit for bit; the
profile puts at least 90% of the MACs on the accelerator.  Small inputs and a quarter of
the width in the default run; the 224x224 originals with ``-m slow``."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from compiler.frontend import import_onnx
from compiler.frontend.model_zoo import mobilenet_v2, resnet18
from compiler.graph.lower import lower
from compiler.graph.pipeline import run_quantization
from compiler.graph.quantize import evaluate_quantized
from compiler.graph.reference import evaluate
from runtime.devices import open_device
from runtime.executor import Executor
from tests.compiler.graph.onnx_util import run_ort
from vta_hw.config import preset

BUILDERS = {"resnet18": resnet18, "mobilenet_v2": mobilenet_v2}


def _inputs(size: int, count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((1, 3, size, size)).astype(np.float32) for _ in range(count)]


def _compile_and_run(name: str, size: int, width: float):
    model = BUILDERS[name](size=size, width=width)
    qgraph = run_quantization(import_onnx(model),
                              [{"input": x} for x in _inputs(size, 3, seed=1)])
    low = lower(qgraph, preset("default"), targets=("vta",))
    xs = np.stack(_inputs(size, 2, seed=2))
    ex = Executor(low.module, open_device("sim", low.module.config))
    try:
        run = ex.run({"input": xs})
    finally:
        ex.close()
    want = np.stack([evaluate_quantized(qgraph, {"input": x})["logits"] for x in xs])
    return low, run, want


def _check(name: str, size: int, width: float) -> None:
    low, run, want = _compile_and_run(name, size, width)
    got = run.outputs["logits"]
    assert got.shape == want.shape == (2, 1, 1000)
    assert np.array_equal(got, want)
    # non-trivial: the logits vary within a sample and between the two samples
    assert np.unique(got[0]).size > 100 and not np.array_equal(got[0], got[1])
    totals = run.profile["totals"]
    assert totals["macs_on_accelerator"] >= 0.9 * totals["macs_total"] > 0
    assert totals["accelerator_cycles"] > 0
    acc = {s.name for s in low.module.steps if s.device == "accelerator"}
    assert len(acc) >= (20 if name == "resnet18" else 52)  # every conv at least


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_small_model_on_the_simulator_equals_the_integer_reference(name):
    _check(name, 32, 0.25)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_224_model_on_the_simulator_equals_the_integer_reference(name):
    _check(name, 224, 1.0)


def test_architectures():
    """The layer structure of the originals: ResNet-18 has 20 convolutions (stem, 16 in
    the blocks, 3 downsample shortcuts), 8 residual adds and a Gemm; MobileNet-v2 52
    (stem, 17 depthwise, 16 expand, 17 project, last), 10 residual adds and 35 ReLU6."""
    r = Counter(n.op_type for n in resnet18(size=32).graph.node)
    assert (r["Conv"], r["Add"], r["BatchNormalization"], r["Gemm"], r["MaxPool"]) == (
        20, 8, 20, 1, 1)
    m = mobilenet_v2(size=32).graph
    ops = Counter(n.op_type for n in m.node)
    assert (ops["Conv"], ops["Add"], ops["Clip"], ops["Gemm"]) == (52, 10, 35, 1)
    depthwise = [n for n in m.node if n.op_type == "Conv"
                 and next(a.i for a in n.attribute if a.name == "group") > 1]
    assert len(depthwise) == 17
    assert len(mobilenet_v2(size=32, blocks=3).graph.node) < len(m.node)
    with pytest.raises(ValueError, match="multiple of 32"):
        resnet18(size=40)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_float_model_matches_onnxruntime(name):
    """The builders write valid ONNX: onnxruntime and our float reference agree."""
    pytest.importorskip("onnxruntime")
    model = BUILDERS[name](size=32, width=0.25)
    x = _inputs(32, 1, seed=3)[0]
    (want,) = run_ort(model, {"input": x})
    got = evaluate(import_onnx(model), {"input": x})["logits"]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    assert np.std(want) > 0.1
