"""Dynamic quantization of the matmuls of two activations (``run_quantization(...,
dynamic_matmul=True)``, ``vta compile --dynamic-matmul``): an operand the host computes in
float is quantized with a scale taken from each run's tensor, and the accelerator's
requantization of that Dense is a per-channel table the host computes per run
(``RequantTable``) and feeds like the run-time weight.  The module on the simulator (and
the CPU) is bit-exact against ``evaluate_quantized``, which computes the same per-run
scales; two inputs of very different magnitudes are both accurate, where scales
calibrated on one fail the other.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from compiler.frontend import import_onnx
from compiler.frontend.model_zoo import encoder
from compiler.graph.lower import lower
from compiler.graph.pipeline import run_quantization
from compiler.graph.quantize import evaluate_quantized, samples_from_arrays
from opset.onnx_kernels import run_kernel
from opset.requant import Requant, any_scale_pre_shift, channel_requant, fits_int32
from runtime.devices import open_device
from runtime.executor import Executor
from runtime.module import load_module, save_module
from vta_hw.config import preset

HEADS, M, K, N = 2, 16, 32, 16


def _run(module, inputs: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict]:
    ex = Executor(module, open_device("sim", module.config))
    try:
        run = ex.run(inputs)
    finally:
        ex.close()
    return run.outputs, run.profile


def _rel(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(got - ref) / np.linalg.norm(ref))


def _two_input_matmul() -> onnx.ModelProto:
    """``y = A @ B`` of two model inputs (per head): both operands computed in float
    (here: given), so both are quantized by the host."""
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, HEADS, M, K])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, HEADS, K, N])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, HEADS, M, N])
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")],
                              "two_input_matmul", [a, b], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _ab(seed: int, a_gain: float = 1.0, b_gain: float = 1.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"a": (rng.standard_normal((1, HEADS, M, K)) * a_gain).astype(np.float32),
            "b": (rng.standard_normal((1, HEADS, K, N)) * b_gain).astype(np.float32)}


@pytest.mark.parametrize("targets", [("vta",), ("cpu",)])
def test_scales_are_per_run_where_calibrated_scales_fail(targets, tmp_path):
    """Calibrated on unit-scale operands; run on one such sample and on one whose A is
    100x larger and B 100x smaller (the product's range unchanged).  Static scales clip A
    and round B to nothing on the second (error ~100%); dynamic ones are within 2% on
    both, bit-exact on the device, with a requantization table that differs per run."""
    graph = import_onnx(_two_input_matmul())
    samples = samples_from_arrays(graph, {k: v[None] for k, v in _ab(0).items()})
    runs = [_ab(1), _ab(2, a_gain=100.0, b_gain=0.01)]
    refs = [np.matmul(r["a"].astype(np.float64), r["b"]) for r in runs]

    static = run_quantization(graph, samples)
    errs = [_rel(evaluate_quantized(static, r)["y"], ref)
            for r, ref in zip(runs, refs, strict=True)]
    assert errs[0] < 0.02 and errs[1] > 0.5

    q = run_quantization(graph, samples, dynamic_matmul=True)
    tables = [n for n in q.nodes if n.kind == "float" and n.node.op == "RequantTable"]
    per_run = [n.output for n in q.nodes if n.kind == "float"
               and n.node.op == "QuantizeLinear"]
    # A in two digits (the float first operand), B in one; no static scale for either
    assert len(tables) == 1 and len(per_run) == 3
    assert not any(v in q.scales for v in per_run)
    dense = [n for n in q.nodes if n.kind == "accel" and type(n.op).__name__ == "Dense"]
    assert len(dense) == HEADS and all(d.op.epilogue.per_channel for d in dense)
    module = lower(q, preset("default"), targets=targets).module
    module = load_module(save_module(module, tmp_path / "mm.vtam"))
    if targets == ("vta",):  # the table crosses to the accelerator as per-channel rows
        assert any(f.layout["kind"] == "const" for p in module.programs for f in p.feeds)
        # vta compile --explain prints every crossing, run-time weights and rows included
        text = "\n".join(t.describe() for t in module.layout_transforms)
        assert "wgt(o=16, i=64, block=16x16)" in text and "const(rows=multiplier+shift" in text
    multipliers = []
    for r, ref in zip(runs, refs, strict=True):
        got, _ = _run(module, r)
        env = evaluate_quantized(q, r, keep=True)
        assert np.array_equal(got["y"], env[q.outputs[0]])
        assert _rel(got["y"], ref) < 0.02
        multipliers.append(env[tables[0].outputs[0]])
    # A's scale grew 100x and B's shrank 100x, but each rounds on its own: other bits
    assert not np.array_equal(multipliers[0], multipliers[1])


def _check_dynamic_encoder(layers: int, seq: int, hidden: int, heads: int, tmp_path) -> None:
    """The encoder with ``two_digits`` and ``dynamic_matmul``: the softmax·V Dense
    ops read the probabilities quantized per run (two digits, scale ``max / 127``) with
    a run-time requantization table; Q·Kᵀ reads int8 projections (their scales are the
    projections' own) and stays static.  Bit-exact on the simulator, every MAC on the
    accelerator, within 2% of onnxruntime fp32."""
    ort = pytest.importorskip("onnxruntime")
    model = encoder(layers=layers, seq=seq, hidden=hidden, heads=heads)
    graph = import_onnx(model)
    calib = {"input": np.random.default_rng(0).standard_normal((4, 1, seq, hidden))
             .astype(np.float32)}
    q = run_quantization(graph, samples_from_arrays(graph, calib), two_digits=True,
                         dynamic_matmul=True)
    ops = [n.node.op for n in q.nodes if n.kind == "float"]
    assert ops.count("RequantTable") == layers and ops.count("AbsMaxScale") == layers
    per_run = [n for n in q.nodes if n.kind == "accel" and "multiplier" in n.roles]
    assert len(per_run) == layers * heads  # softmax·V, one per head
    assert all(n.roles == ("x", "w", "multiplier", "shift") and n.op.epilogue.per_channel
               and not n.consts for n in per_run)
    module = lower(q, preset("default"), targets=("vta",)).module
    module = load_module(save_module(module, tmp_path / "encoder_dyn.vtam"))
    x = np.random.default_rng(1).standard_normal((1, seq, hidden)).astype(np.float32)
    got, profile = _run(module, {"input": x})
    ref = evaluate_quantized(q, {"input": x})["output"]
    assert np.array_equal(got["output"], ref) and ref.std() > 0.5
    totals = profile["totals"]
    assert totals["macs_on_accelerator"] == totals["macs_total"]
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert _rel(got["output"], sess.run(None, {"input": x})[0]) <= 0.02


def test_small_encoder_dynamic_is_bit_exact_on_the_simulator(tmp_path):
    _check_dynamic_encoder(2, 32, 64, 4, tmp_path)


@pytest.mark.slow
def test_issue_size_encoder_dynamic_is_bit_exact_on_the_simulator(tmp_path):
    """Sequence 128, hidden 256, 4 heads, 2 layers (~1 min: lowering and simulation)."""
    _check_dynamic_encoder(2, 128, 256, 4, tmp_path)


def test_cli_dynamic_matmul_matches_the_reference(tmp_path, capsys):
    """``vta compile --dynamic-matmul`` builds what ``run_quantization(...,
    dynamic_matmul=True)`` describes: ``vta run``'s output equals its reference."""
    from vta.cli import main

    seq, hidden = 16, 32
    onnx.save(encoder(layers=1, seq=seq, hidden=hidden, heads=2), tmp_path / "enc.onnx")
    rng = np.random.default_rng(0)
    calib = {"input": rng.standard_normal((4, 1, seq, hidden)).astype(np.float32)}
    np.savez(tmp_path / "calib.npz", **calib)
    x = rng.standard_normal((1, seq, hidden)).astype(np.float32)
    np.savez(tmp_path / "x.npz", input=x)
    m, out = tmp_path / "m.vtam", tmp_path / "out.npz"
    assert main(["compile", str(tmp_path / "enc.onnx"), "-o", str(m), "--targets", "vta",
                 "--calib", str(tmp_path / "calib.npz"), "--dynamic-matmul"]) == 0
    assert main(["run", str(m), "--inputs", str(tmp_path / "x.npz"), "-o", str(out)]) == 0
    g = import_onnx(tmp_path / "enc.onnx")
    q = run_quantization(g, samples_from_arrays(g, calib), dynamic_matmul=True)
    assert any(n.kind == "float" and n.node.op == "RequantTable" for n in q.nodes)
    assert np.array_equal(np.load(out)["output"], evaluate_quantized(q, {"input": x})["output"])
    capsys.readouterr()


def test_abs_max_scale_kernel():
    x = np.array([[0.5, -2.54], [1.0, 0.0]], np.float32)
    (s,) = run_kernel("AbsMaxScale", {"levels": 127}, [x])
    assert s.dtype == np.float32 and s.shape == (1,) and s[0] == np.float32(2.54 / 127)
    (q,) = run_kernel("QuantizeLinear", {"axis": 1, "dtype": "int8"}, [x, s])
    assert q.min() == -127  # the largest magnitude lands on the last level
    (one,) = run_kernel("AbsMaxScale", {"levels": 127}, [np.zeros((3, 2), np.float32)])
    assert one[0] == 1.0  # all zeros: any scale represents them


@pytest.mark.parametrize("ratio", [3.1e-6, 2.7e-4, 0.013, 0.5, 0.99])
def test_requant_table_is_the_per_channel_requantization(ratio):
    """The run-time table equals what the compiler's per-channel rows would hold for the
    same factor, approximates it to the 15-bit multiplier's precision, and cannot
    overflow int32 under the compiled pre-shift for any table the kernel returns."""
    bound = 128 * 128 * 64
    pre = any_scale_pre_shift(bound)
    assert fits_int32(bound, pre, 32767) and (pre == 0 or not fits_int32(bound, pre - 1, 32767))
    s_a, s_b = np.full(1, 0.02, np.float32), np.full(1, 0.5, np.float32)
    factor = ratio / (float(s_a[0]) * float(s_b[0]))
    mult, shift = run_kernel("RequantTable", {"factor": factor, "pre_shift": pre,
                                              "channels": 5, "bits": 15}, [s_a, s_b])
    assert mult.dtype == shift.dtype == np.int32 and mult.shape == shift.shape == (5,)
    assert len(set(mult)) == len(set(shift)) == 1
    m, sh = channel_requant(float(s_a[0]) * float(s_b[0]) * factor, pre)
    assert (mult[0], shift[0]) == (m, sh)
    got = Requant(multiplier=int(m), shift=int(sh), pre_shift=pre).scale
    assert abs(got / ratio - 1) < 2.0 ** -13


def _runtime_rows_dense(bias: bool):
    """A Dense on the accelerator whose per-channel requantization rows are model inputs
    (what a RequantTable step gives it), its weight and (optional) bias constants."""
    from compiler.module_builder import Node
    from opset import Dense, Epilogue

    rng = np.random.default_rng(3)
    op = Dense(n=8, i=32, o=24, name="d", epilogue=Epilogue(
        bias=bias, requant=Requant(per_channel=True, pre_shift=any_scale_pre_shift(
            128 * 127 * 32 + (1 << 12)))))
    consts = {"d.w": rng.integers(-127, 128, (24, 32)).astype(np.int8)}
    wiring = {"x": "x", "w": "d.w", "multiplier": "m", "shift": "s"}
    if bias:
        consts["d.bias"] = rng.integers(-(1 << 12), 1 << 12, 24).astype(np.int32)
        wiring["bias"] = "d.bias"
    return op, consts, [Node(op, "accelerator", wiring, "y")]


def test_runtime_requant_rows_are_fed_per_run(tmp_path):
    """The feed path alone: a Dense whose ``multiplier``/``shift`` rows are run-time
    tensors runs bit-exact against the opset reference for two different tables through
    one module (saved and loaded), the rows crossing as one ``const`` feed; rows mixing
    a constant bias with run-time multipliers are one clear error; a feed naming an
    unknown row tensor is refused on load."""
    from dataclasses import replace

    from compiler.errors import OpError
    from compiler.module_builder import build_module
    from opset import reference as opref
    from runtime.module import Module, ModuleError

    op, consts, nodes = _runtime_rows_dense(bias=False)
    module = build_module(nodes, preset("tiny"), constants=consts, outputs=["y"])
    module = load_module(save_module(module, tmp_path / "rows.vtam"))
    (feed,) = [f for p in module.programs for f in p.feeds if f.layout["kind"] == "const"]
    assert feed.layout["tensors"] == ["m", "s"] and feed.layout["rows"] == ["multiplier",
                                                                            "shift"]
    rng = np.random.default_rng(4)
    x = rng.integers(-128, 128, (8, 32)).astype(np.int8)
    for ratio in (3e-4, 0.02):
        m, s = channel_requant(ratio, op.epilogue.requant.pre_shift)
        rows = {"multiplier": np.full(24, m, np.int32), "shift": np.full(24, s, np.int32)}
        got, _ = _run(module, {"x": x, "m": rows["multiplier"], "s": rows["shift"]})
        want = opref.run(op, {"x": x, "w": consts["d.w"], **rows})
        assert np.array_equal(got["y"], want) and np.abs(want).max() > 8

    op, consts, nodes = _runtime_rows_dense(bias=True)
    with pytest.raises(OpError, match="mix constants and run-time tensors"):
        build_module(nodes, preset("tiny"), constants=consts, outputs=["y"])

    p = module.programs[0]
    bad = replace(feed, layout={**feed.layout, "tensors": ["m", "nowhere"]})
    feeds = tuple(bad if f is feed else f for f in p.feeds)
    with pytest.raises(ModuleError, match="stacks unknown tensor"):
        Module(**{**{f: getattr(module, f) for f in module.__dataclass_fields__},
                  "programs": (replace(p, feeds=feeds), *module.programs[1:])})
