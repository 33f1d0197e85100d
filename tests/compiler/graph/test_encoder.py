"""The transformer encoder of the model zoo (``compiler.frontend.model_zoo.encoder``): its
import against onnxruntime fp32, its float module (``--targets cpu``), and its int8 graph
on the accelerator (projections and both activation-activation matmuls as Dense) on the
simulator, bit-exact against ``evaluate_quantized`` and within 2% of onnxruntime fp32.

The default tier runs a small encoder (sequence 32, hidden 64, 4 heads, 2 layers); the
issue's size (sequence 128, hidden 256) is marked ``slow``.
"""

from __future__ import annotations

import numpy as np
import pytest

from compiler.frontend import import_onnx
from compiler.frontend.model_zoo import encoder
from compiler.graph.lower import lower
from compiler.graph.pipeline import run_quantization
from compiler.graph.quantize import evaluate_quantized, samples_from_arrays
from compiler.graph.reference import evaluate
from runtime.devices import open_device
from runtime.executor import Executor
from runtime.module import load_module, save_module
from vta_hw.config import preset

SMALL = dict(layers=2, seq=32, hidden=64, heads=4)


def _ort(model, x: np.ndarray) -> np.ndarray:
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


def _input(seq: int, hidden: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((1, seq, hidden)).astype(np.float32)


@pytest.mark.parametrize("layer_norm,gelu", [("op", "op"), ("decomposed", "erf")])
def test_encoder_import_matches_onnxruntime(layer_norm, gelu):
    model = encoder(**SMALL, layer_norm=layer_norm, gelu=gelu)
    x = _input(SMALL["seq"], SMALL["hidden"])
    ref = _ort(model, x)
    graph = import_onnx(model)
    ops = [n.op for n in graph.nodes]
    assert "Softmax" in ops and ops.count("MatMul") == 8 * SMALL["layers"]
    assert ("LayerNormalization" in ops) == (layer_norm == "op")
    assert ("Erf" in ops) == (gelu == "erf")
    out = evaluate(graph, {"input": x})["output"]
    assert ref.shape == (1, SMALL["seq"], SMALL["hidden"]) and ref.std() > 0.5
    np.testing.assert_allclose(out, ref, atol=1e-4, rtol=0)


def test_encoder_rejects_bad_shapes():
    with pytest.raises(ValueError, match="multiple of heads"):
        encoder(hidden=66, heads=4)
    with pytest.raises(ValueError, match="layer_norm"):
        encoder(layer_norm="rms")


def test_encoder_float_module_on_the_cpu_matches_onnxruntime(tmp_path):
    from compiler.graph.lower import lower_float
    from compiler.graph.pipeline import run_passes

    model = encoder(**SMALL, layer_norm="decomposed", gelu="erf")
    x = _input(SMALL["seq"], SMALL["hidden"])
    module = lower_float(run_passes(import_onnx(model)), preset("default")).module
    # saved and loaded: its 0-d constants (1/sqrt(d), eps, ...) stay 0-d
    module = load_module(save_module(module, tmp_path / "encoder_fp32.vtam"))
    out = _run(module, x)
    np.testing.assert_allclose(out, _ort(model, x), atol=1e-4, rtol=0)


def _quantized(model, seq: int, hidden: int, *, two_digits: bool = True):
    """Calibrated on 4 random normal samples; ``two_digits``: the host-quantized inputs of
    the projections and the FFN (the input, LayerNorm and Gelu outputs) as two int8 digits
    (the softmax always is)."""
    graph = import_onnx(model)
    calib = {"input": np.random.default_rng(0).standard_normal((4, 1, seq, hidden))
             .astype(np.float32)}
    return run_quantization(graph, samples_from_arrays(graph, calib), two_digits=two_digits)


def _run(module, x: np.ndarray, profile: list | None = None) -> np.ndarray:
    ex = Executor(module, open_device("sim", module.config))
    try:
        run = ex.run({"input": x})
    finally:
        ex.close()
    if profile is not None:
        profile.append(run.profile)
    return run.outputs["output"]


def _relative_error(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(got - ref) / np.linalg.norm(ref))


def _check_int8_encoder(layers: int, seq: int, hidden: int, heads: int, tmp_path) -> float:
    """Quantize, lower with every opset op on the accelerator, run on the simulator:
    bit-exact against evaluate_quantized, all matmuls (projections and both attention
    matmuls) Dense on the accelerator, Softmax/LayerNorm/Gelu float on the host.  Returns
    the relative error against onnxruntime fp32.  The module is saved and loaded first
    (the run-time weights' ``wgt`` feed layouts go through the file)."""
    model = encoder(layers=layers, seq=seq, hidden=hidden, heads=heads)
    q = _quantized(model, seq, hidden)
    assert not [n for n in q.nodes if n.kind == "float" and n.node.op == "MatMul"]
    floats = {n.node.op for n in q.nodes if n.kind == "float"}
    assert {"Softmax", "LayerNormalization", "Gelu"} <= floats
    dense = [n.op for n in q.nodes if n.kind == "accel" and type(n.op).__name__ == "Dense"]
    # per layer: Q, K, V, output and two FFN projections (n = seq rows), and per head
    # Q·Kᵀ (seq x d by seq x d) and softmax·V (seq x seq by d x seq); every input the host
    # quantizes (the input, LayerNorm, Gelu and softmax outputs) in two digits (2x i)
    d, f = hidden // heads, 4 * hidden
    assert len(dense) == layers * (6 + 2 * heads)
    shapes = [(o.n, o.i, o.o) for o in dense]
    assert shapes.count((seq, 2 * hidden, hidden)) == 3 * layers  # Q, K, V
    assert shapes.count((seq, hidden, hidden)) == layers  # output (reads int8 context)
    assert shapes.count((seq, 2 * hidden, f)) == shapes.count((seq, 2 * f, hidden)) == layers
    assert shapes.count((seq, d, seq)) == heads * layers
    assert shapes.count((seq, 2 * seq, d)) == heads * layers
    module = lower(q, preset("default"), targets=("vta",)).module
    module = load_module(save_module(module, tmp_path / "encoder.vtam"))
    assert any(f.layout["kind"] == "wgt" for p in module.programs for f in p.feeds)
    x = _input(seq, hidden)
    profiles: list = []
    got = _run(module, x, profiles)
    ref = evaluate_quantized(q, {"input": x})["output"]
    assert got.dtype == np.float32 and np.array_equal(got, ref)
    assert np.isfinite(ref).all() and ref.std() > 0.5
    totals = profiles[0]["totals"]
    model_macs = layers * (seq * hidden * hidden * 4 + 2 * seq * hidden * 4 * hidden
                           + 2 * seq * seq * hidden)
    second_digits = layers * (seq * hidden * hidden * 3 + 2 * seq * hidden * 4 * hidden
                              + seq * seq * hidden)
    assert totals["macs_total"] == model_macs + second_digits
    assert totals["macs_on_accelerator"] / totals["macs_total"] >= 0.9
    return _relative_error(got, _ort(model, x))


def test_encoder_int8_on_the_accelerator_is_bit_exact(tmp_path):
    assert _check_int8_encoder(**SMALL, tmp_path=tmp_path) <= 0.02


@pytest.mark.parametrize("layer_norm,gelu", [("op", "op"), ("decomposed", "erf")])
def test_encoder_int8_within_two_percent_of_onnxruntime(layer_norm, gelu):
    model = encoder(**SMALL, layer_norm=layer_norm, gelu=gelu)
    x = _input(SMALL["seq"], SMALL["hidden"])
    q = _quantized(model, SMALL["seq"], SMALL["hidden"])
    got = evaluate_quantized(q, {"input": x})["output"]
    assert _relative_error(got, _ort(model, x)) <= 0.02


@pytest.mark.slow
def test_issue_size_encoder_int8_on_the_accelerator(tmp_path):
    """Sequence 128, hidden 256, 4 heads, 2 layers (~10 s: lowering)."""
    err = _check_int8_encoder(layers=2, seq=128, hidden=256, heads=4, tmp_path=tmp_path)
    assert err <= 0.02
