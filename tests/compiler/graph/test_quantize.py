"""Quantization and fusion on a small ResNet/MobileNet-shaped model: the int8 graph's
integer evaluation against the float reference, each calibrator, per-channel weights, the
fused structure, the SQNR report, and bit-exactness of every fused op on the simulator."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.graph.quantize import (
    CalibrationError,
    calibrate,
    quantization_report,
    quantize_graph,
    quantize_model,
)
from compiler.graph.quantize.qgraph import accel_operand, evaluate_quantized
from compiler.graph.reference import evaluate
from opset import Conv2d, Dense, DepthwiseConv2d, Elementwise, GlobalAvgPool, Pool2d
from tests.compiler.graph.quant_models import mobilenet_block_model, resnet_block_model, samples

SQNR_BAR_DB = 25.0  # logits of the int8 model vs float: ~31 dB measured (minmax)


def _sqnr(ref: np.ndarray, got: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) /
                               np.sum((ref.astype(np.float64) - got) ** 2)))


def _logits(graph, qgraph, data):
    name = graph.outputs[0]
    ref = np.concatenate([evaluate(graph, s)[name] for s in data])
    got = np.concatenate([evaluate_quantized(qgraph, s)[name] for s in data])
    return ref, got


@pytest.fixture(scope="module")
def model():
    return resnet_block_model()


@pytest.mark.parametrize("method", ["minmax", "percentile", "mse"])
def test_int8_model_tracks_float(model, method):
    qgraph = quantize_model(model, samples(model, 8), method=method)
    ref, got = _logits(model, qgraph, samples(model, 16, seed=7))
    assert _sqnr(ref, got) >= SQNR_BAR_DB
    assert np.mean(ref.argmax(1) == got.argmax(1)) >= 0.9
    probs_ref = np.concatenate([evaluate(model, s)[model.outputs[1]]
                                for s in samples(model, 4, seed=7)])
    probs = np.concatenate([evaluate_quantized(qgraph, s)[model.outputs[1]]
                            for s in samples(model, 4, seed=7)])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)  # the softmax island
    assert np.abs(probs - probs_ref).max() < 0.1


def test_fused_structure(model):
    qgraph = quantize_model(model, samples(model, 4))
    by_name = {n.name: n for n in qgraph.nodes}
    conv1 = by_name["conv1"]
    assert isinstance(conv1.op, Conv2d) and conv1.op.epilogue.relu and conv1.op.epilogue.bias
    assert conv1.fused == ("conv1", "relu1")  # the batch norm is folded into the weights
    assert conv1.op.epilogue.per_channel  # per-channel weight scales -> per-channel requant
    conv3 = by_name["conv3"]
    assert conv3.op.epilogue.residual and conv3.op.epilogue.relu
    assert conv3.fused == ("conv3", "residual", "relu3")
    dw = by_name["dwconv"]
    assert isinstance(dw.op, DepthwiseConv2d)
    lo, hi = dw.op.epilogue.clip
    assert lo == 0 and hi == min(127, round(6.0 / dw.scale))
    assert isinstance(by_name["pool1"].op, Pool2d) and by_name["pool1"].op.pool == "max"
    assert isinstance(by_name["avgpool"].op, Pool2d) and by_name["avgpool"].op.pool == "avg"
    assert isinstance(by_name["gap"].op, GlobalAvgPool)
    assert isinstance(by_name["add2"].op, Elementwise) and by_name["add2"].op.binary
    assert isinstance(by_name["gate"].op, Elementwise)
    assert isinstance(by_name["fc"].op, Dense)
    assert by_name["softmax"].kind == "float"
    assert by_name["flatten"].kind == "host"  # int8 moved as is, no dequantize/quantize
    kinds = [n.kind for n in qgraph.nodes]
    assert kinds.count("quantize") == 1 and kinds.count("dequantize") == 1  # x in; fc out
    assert "conv1" in qgraph.format() and "[accel]" in qgraph.format()


def test_per_channel_beats_per_tensor_on_uneven_channels():
    graph = resnet_block_model(seed=3, dead_channel=True)
    calib, test = samples(graph, 8), samples(graph, 8, seed=9)
    per_channel = _sqnr(*_logits(graph, quantize_model(graph, calib, per_channel=True), test))
    per_tensor = _sqnr(*_logits(graph, quantize_model(graph, calib, per_channel=False), test))
    assert per_channel >= SQNR_BAR_DB
    assert per_channel > per_tensor + 6.0, (per_channel, per_tensor)


def test_report_flags_a_layer_made_hard_to_quantize():
    calib = samples(resnet_block_model(), 4)
    easy = quantization_report(quantize_model(resnet_block_model(), calib), calib)
    hard_graph = resnet_block_model(outlier=300.0)
    hard = quantization_report(quantize_model(hard_graph, calib), calib)
    # channel 0 of conv1's output is 300x the others: in one per-tensor activation scale the
    # other channels round to a few levels, and conv2, which reads them, loses its signal
    assert "conv2" in {la.name for la in hard.flagged}
    assert hard.layer("conv2").sqnr_db < easy.layer("conv2").sqnr_db - 10
    assert not easy.flagged
    text = hard.table()
    assert "conv2" in text and "loses most" in text and "flagged" in text


def test_calibration_errors(model):
    with pytest.raises(CalibrationError, match="calibration samples"):
        quantize_model(model, [])
    with pytest.raises(CalibrationError, match="unknown calibrator 'kl'"):
        quantize_model(model, samples(model, 1), method="kl")


def test_mobilenet_block_fuses_and_tracks_float():
    graph = mobilenet_block_model()
    qgraph = quantize_model(graph, samples(graph, 8), method="mse")
    by_name = {n.name: n for n in qgraph.nodes}
    assert by_name["project"].fused == ("project", "block_add")  # linear bottleneck + skip
    assert by_name["project"].op.epilogue.residual and not by_name["project"].op.epilogue.relu
    assert isinstance(by_name["dw2"].op, DepthwiseConv2d) and by_name["dw2"].op.stride == (2, 2)
    assert by_name["dw"].op.epilogue.clip[0] == 0
    assert qgraph.count("float") == 0 and qgraph.count("quantize") == 1
    ref, got = _logits(graph, qgraph, samples(graph, 8, seed=3))
    assert _sqnr(ref, got) >= SQNR_BAR_DB


def _run_accel_nodes_on_simulator(qgraph, sample, cfg) -> set[tuple[str, str]]:
    """Every accel node compiled for ``cfg`` and run on the simulator with the operands the
    integer evaluation gives it must return exactly the integer evaluation's value."""
    from compiler.api import compile_op
    from vta.api import run_compiled

    env = evaluate_quantized(qgraph, sample, keep=True)
    checked = set()
    for node in (n for n in qgraph.nodes if n.kind == "accel"):
        inputs = dict(node.consts)
        for role, name in zip(node.roles, node.inputs, strict=True):
            inputs[role] = accel_operand(node, role, env[name])
        got = run_compiled(compile_op(node.op, cfg), inputs).output
        np.testing.assert_array_equal(got.reshape(node.shape), env[node.output],
                                      err_msg=node.name)
        checked.add((node.name, type(node.op).__name__))
    return checked


def test_every_fused_op_is_bit_exact_on_the_simulator(model):
    """The quantized graph is what the accelerator computes: each fused op of the
    ResNet-shaped and the MobileNet-shaped model, bit for bit on ``tiny``."""
    from vta_hw.config import preset

    cfg = preset("tiny")
    scales = {k: v / 127 for k, v in calibrate(model, samples(model, 4)).items()}
    finer = dict(scales, gap=scales["gate"] / 4)  # the mean requantized: a ones depthwise
    sample = samples(model, 1, seed=4)[0]
    checked = (_run_accel_nodes_on_simulator(quantize_graph(model, scales), sample, cfg)
               | _run_accel_nodes_on_simulator(quantize_graph(model, finer), sample, cfg))
    assert {op for _, op in checked} == {"Conv2d", "DepthwiseConv2d", "Dense", "Pool2d",
                                         "GlobalAvgPool", "Elementwise"}
    assert ("gap", "DepthwiseConv2d") in checked and ("gap", "GlobalAvgPool") in checked
    mobile = mobilenet_block_model()
    checked = _run_accel_nodes_on_simulator(quantize_model(mobile, samples(mobile, 4)),
                                            samples(mobile, 1, seed=4)[0], cfg)
    assert len(checked) == 10  # 7 convs, the residual's rescale, the global average, dense


def test_run_quantization_dumps_every_stage(tmp_path):
    from compiler.frontend.builder import GraphBuilder
    from compiler.graph.pipeline import FLOAT_PASSES, run_quantization

    rng = np.random.default_rng(0)
    b = GraphBuilder("tiny")
    x = b.input("x", (1, 4, 6, 6))
    b.output(b.relu(b.conv2d(x, rng.standard_normal((4, 4, 3, 3)).astype(np.float32),
                             padding=1, name="conv")))
    graph = b.build()
    qgraph = run_quantization(graph, samples(graph, 2), dump=tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == len(FLOAT_PASSES) + 2
    assert files[-1].endswith("_quantize_and_fuse.txt")
    assert "Conv2d" in (tmp_path / files[-1]).read_text()
    assert [n.kind for n in qgraph.nodes] == ["quantize", "accel", "dequantize"]


def test_missing_scale_and_missing_input_are_named(model):
    from compiler.graph.errors import ShapeError
    from compiler.graph.quantize import QuantizeError

    with pytest.raises(QuantizeError, match="value 'relu1' needs an int8 scale"):
        quantize_graph(model, {})
    qgraph = quantize_model(model, samples(model, 1))
    with pytest.raises(ShapeError, match="no array for input 'x'"):
        evaluate_quantized(qgraph, {})
    with pytest.raises(ShapeError, match="input 'x' has shape"):
        evaluate_quantized(qgraph, {"x": np.zeros((1, 3, 16, 16), np.float32)})


def test_calibrators_on_heavy_tailed_values():
    from compiler.graph.quantize.calibrate import choose_amax, quantize_error

    rng = np.random.default_rng(2)
    mags = np.abs(np.concatenate([rng.standard_normal(100_000), [200.0]]))  # one outlier
    top = choose_amax(mags, "minmax")
    pct = choose_amax(mags, "percentile", percentile=99.9)
    mse = choose_amax(mags, "mse")
    assert top == 200.0
    assert 3.0 < pct < 4.0  # the 99.9th percentile of |N(0, 1)| is ~3.29
    assert mse < top  # clips the outlier: its squared error is worth less than the rounding
    assert quantize_error(mags, mse) < 0.8 * quantize_error(mags, top)
    assert quantize_error(mags, mse) <= min(quantize_error(mags, t) for t in (pct, top / 2))


def test_per_channel_requant_is_the_closest_that_cannot_overflow():
    from compiler.graph.quantize.requant import per_channel
    from opset.reference import rshr

    rng = np.random.default_rng(3)
    scales = 10.0 ** rng.uniform(-6, -1, 32)
    for bound in (1_000, 3_000_000, 2**30):
        rq, mult, shift = per_channel(scales, bound)
        assert rq.per_channel
        real = mult * 2.0 ** -(rq.pre_shift + shift.astype(np.float64))
        assert np.all(np.abs(real / scales - 1) < 2e-3 * max(1, 2 ** rq.pre_shift / 2**10))
        assert np.all((int(rshr(bound, rq.pre_shift)) + 1) * mult.astype(np.int64) < 2**31)
    small, _, _ = per_channel(10.0 ** rng.uniform(-4, -1, 32), 1_000)
    assert small.pre_shift == 0  # no precision given away when nothing can overflow


def test_concat_of_int8_branches_stays_int8():
    from compiler.frontend.builder import GraphBuilder

    rng = np.random.default_rng(4)
    b = GraphBuilder("branches")
    x = b.input("x", (1, 4, 8, 8))
    left = b.relu(b.conv2d(x, rng.standard_normal((4, 4, 1, 1)).astype(np.float32)))
    right = b.relu(b.conv2d(x, 5 * rng.standard_normal((6, 4, 3, 3)).astype(np.float32),
                            padding=1))
    cat = b.concat([left, right], name="cat")
    b.output(b.conv2d(cat, rng.standard_normal((3, 10, 1, 1)).astype(np.float32), name="head"))
    graph = b.build()
    qgraph = quantize_model(graph, samples(graph, 4))
    kinds = {n.name: n.kind for n in qgraph.nodes}
    assert kinds["cat"] == "host"
    assert list(kinds.values()).count("quantize") == 1  # only the model input
    rescales = [n for n in qgraph.nodes if n.name.startswith("rescale_")]
    assert len(rescales) == 1  # the small branch moves to the concat's scale
    ref, got = _logits(graph, qgraph, samples(graph, 4, seed=8))
    assert _sqnr(ref, got) >= SQNR_BAR_DB


def test_calibration_arrays_follow_the_npz_convention(model):
    from compiler.graph.quantize import samples_from_arrays

    one = np.zeros((2, 3, 16, 16), np.float32)
    assert len(samples_from_arrays(model, {"x": one})) == 1
    many = samples_from_arrays(model, {"x": np.stack([one, one + 1, one + 2])})
    assert len(many) == 3 and many[2]["x"].shape == (2, 3, 16, 16) and many[2]["x"][0, 0, 0, 0] == 2
    with pytest.raises(CalibrationError, match=r"no array for model input 'x' \(expected"):
        samples_from_arrays(model, {"y": one})
    with pytest.raises(CalibrationError, match=r"'x' has shape \[3, 16, 16\]; expected"):
        samples_from_arrays(model, {"x": one[0]})


def _asymmetric(graph, data) -> tuple[dict[str, float], dict[str, int]]:
    """Min-max asymmetric int8 encodings of every float activation (real 0 representable):
    ``s = (max - min) / 255``, ``z = -128 - round(min / s)``, as quantize_static makes."""
    envs = [evaluate(graph, s, keep=True) for s in data]
    scales, zeros = {}, {}
    for name in calibrate(graph, data):
        lo = min(0.0, *(float(e[name].min()) for e in envs))
        hi = max(0.0, *(float(e[name].max()) for e in envs))
        s = (hi - lo) / 255 or 1.0
        scales[name], zeros[name] = s, int(np.clip(-128 - np.rint(lo / s), -128, 127))
    return scales, zeros


def _padded_average_model():
    """[conv -> relu -> average with padding, conv -> max with padding] -> concat -> 1x1
    conv: an average whose padding must read the zero point, a concat of two encodings."""
    from compiler.frontend.builder import GraphBuilder
    from compiler.graph.pipeline import run_passes

    rng = np.random.default_rng(3)
    b = GraphBuilder("padded_average")
    x = b.input("x", (1, 4, 8, 8))
    r = b.relu(b.conv2d(x, rng.standard_normal((8, 4, 3, 3)).astype(np.float32) * 0.3,
                        padding=1, name="conv"), name="relu")
    a = b.avg_pool(r, 3, 1, 1, count_include_pad=True, name="avg")
    m = b.max_pool(b.conv2d(x, rng.standard_normal((8, 4, 3, 3)).astype(np.float32) * 0.3,
                            padding=1, name="conv_b"), 3, 1, 1, name="max")
    c = b.concat([a, m], name="cat")
    b.output(b.conv2d(c, rng.standard_normal((4, 16, 1, 1)).astype(np.float32) * 0.3,
                      name="head"))
    return run_passes(b.build())


def _without_offsets(qgraph):
    """The mutant: every epilogue's output zero point dropped."""
    from dataclasses import replace
    nodes = [replace(n, op=replace(n.op, epilogue=replace(n.op.epilogue, offset=0)))
             if n.kind == "accel" and hasattr(n.op, "epilogue") else n for n in qgraph.nodes]
    return replace(qgraph, nodes=nodes)


@pytest.mark.parametrize("build", [resnet_block_model, mobilenet_block_model,
                                   _padded_average_model])
def test_asymmetric_activations_track_float_and_are_bit_exact(build):
    """Every activation with a min-max zero point (as QDQ models have): the zero points fold
    into pad values, biases, epilogue offsets and ALU steps exactly, so the int8 model tracks
    float as well as the symmetric one, and every fused op is bit-exact on the simulator.
    Dropping the offsets (the mutant) ruins the output."""
    from vta_hw.config import preset

    model = build()
    scales, zeros = _asymmetric(model, samples(model, 8))
    qgraph = quantize_graph(model, scales, act_zero_points=zeros)
    assert -128 in qgraph.zero_points.values() and len(set(qgraph.zero_points.values())) > 2
    accel = [n for n in qgraph.nodes if n.kind == "accel"]
    assert any(getattr(n.op, "pad_value", 0) for n in accel)
    assert any(n.op.epilogue.offset for n in accel if hasattr(n.op, "epilogue"))
    ref, got = _logits(model, qgraph, samples(model, 8, seed=7))
    _, symmetric = _logits(model, quantize_model(model, samples(model, 8)),
                           samples(model, 8, seed=7))
    # measured: 36.6 / 36.2 / 20.8 dB asymmetric, 32.5 / 32.9 / 20.7 dB symmetric
    assert _sqnr(ref, got) >= min(SQNR_BAR_DB, _sqnr(ref, symmetric) - 1.0)
    _, mutant = _logits(model, _without_offsets(qgraph), samples(model, 8, seed=7))
    assert _sqnr(ref, mutant) < 5.0  # measured -2.5 / -1.5 / -1.2 dB
    checked = _run_accel_nodes_on_simulator(qgraph, samples(model, 1, seed=4)[0],
                                            preset("tiny"))
    assert len(checked) == len(accel)
    if build is _padded_average_model:  # the padded average reads the zero point: depthwise
        avg = next(n for n in accel if n.name == "avg")
        assert isinstance(avg.op, DepthwiseConv2d) and avg.op.pad_value == zeros["relu"]


def test_mul_with_one_asymmetric_operand_tracks_float():
    """relu(conv(x)) * conv'(x) with the ReLU's zero point -128 and the other operand
    symmetric: ``(a - z_a) * b`` on the ALU, then the output zero point; with both
    operands asymmetric the product stays a float node."""
    from compiler.frontend.builder import GraphBuilder
    from compiler.graph.pipeline import run_passes
    from vta_hw.config import preset

    rng = np.random.default_rng(8)
    b = GraphBuilder("gated")
    x = b.input("x", (1, 4, 6, 6))
    r = b.relu(b.conv2d(x, rng.standard_normal((4, 4, 3, 3)).astype(np.float32) * 0.3,
                        padding=1, name="conv_a"), name="relu")
    t = b.conv2d(x, rng.standard_normal((4, 4, 3, 3)).astype(np.float32) * 0.3, padding=1,
                 name="conv_b")
    b.output(b.mul(t, r, name="gate"))
    model = run_passes(b.build())
    scales, zeros = _asymmetric(model, samples(model, 8))
    amax = calibrate(model, samples(model, 8))
    scales["conv_b"], zeros["conv_b"] = amax["conv_b"] / 127, 0
    qgraph = quantize_graph(model, scales, act_zero_points=zeros)
    gate = next(n for n in qgraph.nodes if n.name == "gate")
    assert gate.kind == "accel" and gate.op.steps[0].operand == 128  # a - (-128)
    assert gate.zero_point == zeros["gate"] != 0
    # on the calibration samples (no product beyond the tight min-max range): 33 dB
    ref, got = _logits(model, qgraph, samples(model, 8))
    assert _sqnr(ref, got) >= SQNR_BAR_DB
    _run_accel_nodes_on_simulator(qgraph, samples(model, 1, seed=4)[0], preset("tiny"))
    zeros["conv_b"] = 3
    both = quantize_graph(model, scales, act_zero_points=zeros)
    assert next(n for n in both.nodes if n.name == "gate").kind == "float"
