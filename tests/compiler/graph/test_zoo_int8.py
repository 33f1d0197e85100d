"""The model-zoo light models quantized (random weights, random calibration inputs) and
compiled with ``targets=("vta",)`` (the boundaries and float islands on the CPU), run on
the simulator: outputs equal ``evaluate_quantized`` bit for bit and at least 90% of the
MACs run on the accelerator.  ShuffleNet's grouped convolutions are split into one
accelerator Conv2d per group between int8 host Split/Concat steps.

Times on this 2-core machine, shared (default preset; lowering is mostly the operator
compiler's schedule search, run twice per op: once to price it, once to build it), lower /
simulate: SqueezeNet at 32x32 ~11 s / <1 s; ShuffleNet at 32x32 ~26 s / 2 s; Inception-v1
at 64x64 ~92 s / 3 s; ResNet-50 at 32x32 ~224 s / 5 s; DenseNet-121 at 32x32 ~74 s / 8 s;
at 224x224: SqueezeNet ~61 s / 5 s, ShuffleNet ~169 s / 13 s, Inception-v1 ~124 s / 19 s,
ResNet-50 ~590 s / 13 s.  The default tier runs the two fast ones at 32x32 (the same
architectures on a smaller input: ``onnx_util.shrink_input``); the rest and the full
224x224 models are marked ``slow``.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from compiler.frontend import import_onnx
from compiler.graph.lower import lower
from compiler.graph.pipeline import run_quantization
from compiler.graph.quantize import evaluate_quantized, samples_from_arrays
from runtime.devices import open_device
from runtime.executor import Executor
from tests.compiler.graph.onnx_util import LIGHT, randomize_weights, shrink_input
from vta_hw.config import preset

slow = pytest.mark.slow
CASES = [("squeezenet", 32), ("shufflenet", 32),
         pytest.param("inception_v1", 64, marks=slow), pytest.param("resnet50", 32, marks=slow),
         pytest.param("densenet121", 32, marks=slow)] + [
    pytest.param(m, 224, marks=slow) for m in ("squeezenet", "shufflenet", "inception_v1",
                                                 "resnet50")]


def _quantized(name: str, size: int):
    model = randomize_weights(onnx.load(LIGHT / f"light_{name}.onnx"), seed=7)
    if size != 224:
        model = shrink_input(model, size)
    graph = import_onnx(model)
    inp = graph.inputs[0]
    rng = np.random.default_rng(0)
    calib = {inp: rng.standard_normal((2, *graph.types[inp].shape)).astype(np.float32)}
    return run_quantization(graph, samples_from_arrays(graph, calib)), inp


@pytest.mark.parametrize("name,size", CASES)
def test_int8_model_on_the_accelerator_is_bit_exact(name, size):
    q, inp = _quantized(name, size)
    if name == "shufflenet":  # every grouped conv on the accelerator, group by group
        assert not [n for n in q.nodes if n.kind == "float" and n.node.op == "Conv"]
        assert sum(1 for n in q.nodes if n.kind == "host" and n.node.op == "Split") > 0
    module = lower(q, preset("default"), targets=("vta",)).module
    x = np.random.default_rng(3).standard_normal(q.float_graph.types[inp].shape)
    x = x.astype(np.float32)
    ex = Executor(module, open_device("sim", module.config))
    try:
        run = ex.run({inp: x})
    finally:
        ex.close()
    (out,) = module.outputs
    ref = evaluate_quantized(q, {inp: x})[out]
    got = run.outputs[out]
    assert got.dtype == np.float32 and np.array_equal(got, ref)
    assert np.isfinite(ref).all() and ref.std() > 0  # not a uniform output
    totals = run.profile["totals"]
    assert totals["macs_total"] > 0
    assert totals["macs_on_accelerator"] / totals["macs_total"] >= 0.9
    assert totals["accelerator_cycles"] > 0
