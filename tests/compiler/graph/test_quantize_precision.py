"""Precision of the quantizer on a transformer encoder (``model_zoo.encoder``, one small
layer): asymmetric encodings of lopsided float-island outputs (Gelu), the softmax in two
int8 digits for softmax·V, and ``two_digits`` for the host-quantized inputs of the
constant-weight matmuls.  Bit-exactness on the simulator is ``test_encoder.py``'s."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.frontend import import_onnx
from compiler.frontend.model_zoo import encoder
from compiler.graph.pipeline import FLOAT_PASSES, run_passes
from compiler.graph.quantize import (
    calibrate_ranges,
    evaluate_quantized,
    quantization_report,
    quantize_model,
)
from compiler.graph.quantize.fuse import DIGIT_RADIX
from compiler.graph.reference import evaluate

SEQ, HIDDEN, HEADS = 16, 32, 2


@pytest.fixture(scope="module")
def graph():
    return run_passes(import_onnx(encoder(layers=1, seq=SEQ, hidden=HIDDEN, heads=HEADS)),
                      FLOAT_PASSES)


def _samples(count: int, seed: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{"input": rng.standard_normal((1, SEQ, HIDDEN)).astype(np.float32)}
            for _ in range(count)]


def _node(qgraph, name: str):
    return next(n for n in qgraph.nodes if n.name == name)


def test_only_lopsided_values_that_constant_weight_matmuls_read_get_a_zero_point(graph):
    q = quantize_model(graph, _samples(4, 0))
    zero = {n.inputs[0]: n.zero_point for n in q.nodes if n.kind == "quantize"}
    # the Gelu output (read by the FFN's second matmul only); not the LayerNorm output (a
    # residual Add reads it too), not the softmax (an activation-activation matmul), not
    # the model input
    assert {v for v, z in zero.items() if z} == {"layer0.ffn.gelu"}
    assert {"layer0.norm1", "layer0.attention.softmax", "input"} <= set(zero)
    assert not q.zero_point("layer0.attention.softmax:q")


def test_lopsided_gelu_output_is_asymmetric_and_finer(graph):
    calib = _samples(4, 0)
    q = quantize_model(graph, calib)
    lo, hi = calibrate_ranges(graph, calib)["layer0.ffn.gelu"]
    assert -0.2 < lo < 0 < hi
    gelu = _node(q, "quantize_layer0.ffn.gelu")
    assert gelu.scale == pytest.approx((hi - lo) / 255)  # ~2x finer than hi / 127
    assert gelu.zero_point == round(-128 - lo / gelu.scale) < -100
    # real 0 is exact, hi maps to 127 (within the zero point's rounding)
    assert abs(gelu.scale * (127 - gelu.zero_point) - hi) <= gelu.scale / 2 + 1e-9
    assert _node(q, "quantize_layer0.norm1").zero_point == 0  # symmetric range: no zero point


def test_softmax_goes_to_softmax_v_as_two_digits(graph):
    q = quantize_model(graph, _samples(4, 0))
    context = [n.op for n in q.nodes if n.name.startswith("layer0.attention.context/h")]
    assert len(context) == HEADS and all(op.i == 2 * SEQ for op in context)
    env = evaluate_quantized(q, _samples(1, 5)[0], keep=True)
    hi, lo = _node(q, "quantize_layer0.attention.softmax"), next(
        n for n in q.nodes if n.kind == "quantize" and n.output.startswith(
            "layer0.attention.softmax:lo"))
    assert lo.scale == pytest.approx(hi.scale / DIGIT_RADIX)
    p = env["layer0.attention.softmax"]
    one = env[hi.output].astype(np.float64) * hi.scale
    two = one + env[lo.output].astype(np.float64) * lo.scale
    inside = p <= 127 * hi.scale  # (beyond the calibrated range the low digit saturates)
    assert inside.mean() > 0.99
    assert np.abs(p - one)[inside].max() <= hi.scale / 2 + 1e-7
    assert np.abs(p - two)[inside].max() <= lo.scale / 2 + 1e-7  # 16x closer
    # the second operand's coarse copy (V / 16, so that hi * V + lo * V/16 sum in one
    # accumulator's units) is an Elementwise on the accelerator
    coarse = _node(q, "rescale_layer0.attention.v.transpose")
    assert coarse.kind == "accel"
    assert coarse.scale == pytest.approx(q.scales["layer0.attention.v.transpose"] * DIGIT_RADIX)


def _relative_error(q, graph, data) -> float:
    name = graph.outputs[0]
    ref = np.concatenate([evaluate(graph, s)[name] for s in data])
    got = np.concatenate([evaluate_quantized(q, s)[name] for s in data])
    return float(np.linalg.norm(got - ref) / np.linalg.norm(ref))


def test_two_digits_doubles_the_host_quantized_inputs_and_cuts_the_error(graph):
    calib, held_out = _samples(4, 0), _samples(3, 7)
    one = quantize_model(graph, calib)
    two = quantize_model(graph, calib, two_digits=True)

    def inputs(q) -> dict[str, int]:
        return {n.name: n.op.i for n in q.nodes if n.kind == "accel" and hasattr(n.op, "i")
                and not n.name.startswith("layer0.attention.")
                or n.name in ("layer0.attention.query.matmul", "layer0.attention.output.matmul")}

    i1, i2 = inputs(one), inputs(two)
    for name in ("layer0.attention.query.matmul", "layer0.ffn.in.matmul",
                 "layer0.ffn.out.matmul"):
        assert i2[name] == 2 * i1[name]  # input / LayerNorm / Gelu outputs: two digits
    # the output projection reads the context, an int8 accelerator output: one digit
    assert i2["layer0.attention.output.matmul"] == i1["layer0.attention.output.matmul"]
    # one pair of digits per value, however many matmuls read it (Q, K and V)
    assert sum(1 for n in two.nodes if n.name.endswith("/digits")) == 3
    # each matmul reading two digits is closer to the float model (on the calibration
    # samples: no clipping; measured +1.2 to +2.4 dB at this tiny size, hidden 32) and so
    # is the output on other samples
    r1, r2 = quantization_report(one, calib), quantization_report(two, calib)
    for name in ("layer0.attention.query.matmul", "layer0.ffn.in.matmul",
                 "layer0.ffn.out.matmul"):
        assert r2.layer(name).sqnr_db > r1.layer(name).sqnr_db + 1.0, name
    assert _relative_error(two, graph, held_out) < _relative_error(one, graph, held_out)


def test_erf_gelu_is_combined_in_float_and_fed_like_the_gelu_op():
    """Gelu's erf form ends in a Mul of two values computed in float on the host (``x / 2``
    and ``1 + erf``): it stays a float Mul (an int8 one would quantize both operands and
    requantize), so its output is a float island's like the Gelu op's: asymmetric, two
    digits for the FFN's second matmul."""
    g = run_passes(import_onnx(encoder(layers=1, seq=SEQ, hidden=HIDDEN, heads=HEADS,
                                       gelu="erf")), FLOAT_PASSES)
    q = quantize_model(g, _samples(4, 0), two_digits=True)
    mul = _node(q, "layer0.ffn.gelu.mul")
    assert mul.kind == "float" and mul.node.op == "Mul"
    assert _node(q, "quantize_layer0.ffn.gelu.mul").zero_point < -100
    ffn_out = _node(q, "layer0.ffn.out.matmul").op
    assert ffn_out.i == 2 * 4 * HIDDEN
