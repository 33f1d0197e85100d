"""``vta compile``: a small CNN compiled with calibration data, run with ``vta run`` on the
simulator, bit-exact against the quantized graph's integer reference; ``--targets vta``
puts the MACs on the accelerator; ``--explain``; bad inputs are one ``error:`` line, exit
status 2 and no output file."""

from __future__ import annotations

import json
import re

import numpy as np
import onnx
import pytest

from compiler.frontend import import_onnx
from compiler.graph.pipeline import run_quantization
from compiler.graph.quantize import evaluate_quantized, samples_from_arrays
from tests.compiler.graph.lower_models import calib, small_cnn
from vta.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("compile")
    onnx.save(small_cnn(), d / "cnn.onnx")
    onnx.save(small_cnn(softmax=True), d / "softmax.onnx")
    np.savez(d / "calib.npz", **calib())
    np.savez(d / "inputs.npz", **calib(3, seed=5))
    np.savez(d / "wrong_name.npz", y=calib()["x"])
    raw = (d / "cnn.onnx").read_bytes()
    (d / "truncated.onnx").write_bytes(raw[:len(raw) // 2])
    (d / "garbage.onnx").write_bytes(b"\x08\xff\xff\xff\xff not a protobuf" * 8)
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])
    odd = onnx.helper.make_graph([
        onnx.helper.make_node("Einsum", ["x", "x"], ["a"], name="e1", equation="ij,ij->ij"),
        onnx.helper.make_node("Relu", ["a"], ["b"], name="ok"),
        onnx.helper.make_node("Hardmax", ["b"], ["y"], name="hm")], "odd", [x], [y])
    onnx.save(onnx.helper.make_model(odd, opset_imports=[onnx.helper.make_opsetid("", 13)]),
              d / "unsupported.onnx")
    dyn = small_cnn()
    dyn.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.save(dyn, d / "dynamic.onnx")
    return d


def _reference(d) -> np.ndarray:
    g = import_onnx(d / "cnn.onnx")
    q = run_quantization(g, samples_from_arrays(g, dict(np.load(d / "calib.npz"))))
    xs = np.load(d / "inputs.npz")["x"]
    return np.stack([evaluate_quantized(q, {"x": x})["logits"] for x in xs])


@pytest.mark.parametrize("targets", ["vta", "vta,cpu"])
def test_compile_then_run_is_bit_exact(files, tmp_path, capsys, targets):
    m, out, prof = tmp_path / "m.vtam", tmp_path / "out.npz", tmp_path / "p.json"
    assert main(["compile", str(files / "cnn.onnx"), "-o", str(m), "--preset", "tiny",
                 "--calib", str(files / "calib.npz"), "--targets", targets]) == 0
    assert main(["run", str(m), "--inputs", str(files / "inputs.npz"), "-o", str(out),
                 "--profile", str(prof)]) == 0
    got = np.load(out)["logits"]
    assert got.shape == (3, 1, 10) and got.dtype == np.float32
    assert np.array_equal(got, _reference(files))
    totals = json.loads(prof.read_text())["totals"]
    if targets == "vta":
        assert totals["macs_on_accelerator"] >= 0.9 * totals["macs_total"] > 0
    capsys.readouterr()


def test_explain_prints_a_line_per_op(files, tmp_path, capsys):
    assert main(["compile", str(files / "cnn.onnx"), "-o", str(tmp_path / "m.vtam"),
                 "--preset", "tiny", "--calib", str(files / "calib.npz"), "--explain"]) == 0
    text = capsys.readouterr().out
    for op in ("quantize_x", "conv1", "pool1", "conv2", "conv3", "gap", "fc",
               "dequantize_logits"):
        assert any(line.split()[:2] in ([op, "->"],) for line in text.splitlines()), op
    assert "boundaries:" in text


def test_explain_gives_runner_ups_and_splits_boundaries(files, tmp_path, capsys):
    """Every op names its runner-up device and the margin (seconds, % of the graph, the
    op's part and the copies'); every boundary its link copy and layout transform, which
    add up to the boundary's seconds.  conv1 on the CPU and pool1 on the accelerator, both
    pinned: whether the partitioner would move pool1 itself depends on this host's measured
    CPU speed (a fast host keeps the whole graph on the CPU, with no boundary to explain)."""
    assert main(["compile", str(files / "cnn.onnx"), "-o", str(tmp_path / "m.vtam"),
                 "--preset", "tiny", "--calib", str(files / "calib.npz"), "--pin", "conv1=cpu",
                 "--pin", "pool1=vta", "--explain"]) == 0
    text = capsys.readouterr().out
    conv1 = next(x for x in text.splitlines() if x.split()[:1] == ["conv1"])
    assert re.search(r"; pinned; runner-up vta: [-+][\d.]+ [mu]?s \([-+][\d.]+% of the graph\); "
                     r"op [-+][\d.]+ [mu]?s, copies [-+][\d.]+ [mu]?s$", conv1), conv1
    quant = next(x for x in text.splitlines() if x.split()[:1] == ["quantize_x"])
    assert quant.endswith("; runner-up: none"), quant
    bounds = re.findall(r"^  (\S+) +(cpu|vta) -> (cpu|vta): (\d+) bytes, ([\d.]+) us "
                        r"\(link ([\d.]+) us \+ (pack|unpack) ([\d.]+) us\)$", text, re.M)
    assert bounds and {b[0] for b in bounds} >= {"conv1"}  # conv1's output: to the vta
    for _, src, _, _, total, link, what, lay in bounds:
        assert what == ("pack" if src == "cpu" else "unpack")
        assert float(link) > 0 and float(lay) > 0
        assert float(total) == pytest.approx(float(link) + float(lay), abs=0.11)


def test_run_profile_shows_estimates_against_measurements(files, tmp_path, capsys):
    """The module records the partitioner's estimates; ``vta run --profile`` puts each op's
    estimate beside its measurement (accelerator ops: cycles at the clock, within a few
    per cent of the compiler's estimate) and prints them as a table."""
    from runtime.module import load_module

    m, out, prof = tmp_path / "m.vtam", tmp_path / "out.npz", tmp_path / "p.json"
    assert main(["compile", str(files / "cnn.onnx"), "-o", str(m), "--preset", "tiny",
                 "--calib", str(files / "calib.npz"), "--pin", "conv1=cpu"]) == 0
    est = load_module(m).meta["estimates"]
    assert set(est) >= {"quantize_x", "conv1", "pool1", "fc", "dequantize_logits"}
    capsys.readouterr()
    assert main(["run", str(m), "--inputs", str(files / "inputs.npz"), "-o", str(out),
                 "--profile", str(prof)]) == 0
    text = capsys.readouterr().out
    profile = json.loads(prof.read_text())
    layers = {e["name"]: e for e in profile["layers"]}
    assert set(layers) == set(est)  # one entry per op, each with its estimate
    mhz = profile["totals"]["clock_mhz"]
    for name, e in layers.items():
        assert e["estimated_s"] == pytest.approx(est[name])
        if e["device"] == "cpu":
            assert e["measured_s"] == pytest.approx(e["seconds"] / 3)
        else:  # accelerator: the compiler's cycle estimate against the simulated cycles
            assert e["measured_s"] == pytest.approx(e["cycles"] / mhz / 1e6 / 3)
    acc = [e for e in layers.values() if e["device"] != "cpu"]
    assert sum(e["estimated_s"] for e in acc) == pytest.approx(
        sum(e["measured_s"] for e in acc), rel=0.05)
    assert "estimated at compile time:" in text
    for name in est:
        assert re.search(rf"^  {re.escape(name)} +(cpu|sim) +[\d.]+us +[\d.]+us +[\d.]+$",
                         text, re.M), name


def test_pin_moves_an_op_to_the_cpu(files, tmp_path, capsys):
    m, out = tmp_path / "m.vtam", tmp_path / "out.npz"
    assert main(["compile", str(files / "cnn.onnx"), "-o", str(m), "--preset", "tiny",
                 "--calib", str(files / "calib.npz"), "--targets", "vta,cpu",
                 "--pin", "conv2=cpu", "--explain"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.split()[:1] == ["conv2"])
    assert line.split()[2] == "cpu" and "; pinned; runner-up vta: " in line, line
    assert main(["run", str(m), "--inputs", str(files / "inputs.npz"), "-o", str(out)]) == 0
    assert np.array_equal(np.load(out)["logits"], _reference(files))
    capsys.readouterr()


@pytest.mark.parametrize("model, extra, message", [
    ("cnn.onnx", [], "is a float model and the accelerator runs int8: give calibration data "
                     "with --calib.*or compile it as a float model with --targets cpu"),
    ("cnn.onnx", ["--targets", "gpu"], "a float module runs on the cpu only"),
    ("cnn.onnx", ["--calib", "calib.npz", "--targets", "gpu"], "--targets gpu: the "
                                                               "partitioner prices the GPU "
                                                               "from a GPU description; give "
                                                               "--gpu-spec NAME"),
    ("cnn.onnx", ["--calib", "calib.npz", "--targets", "vta,cpu,gpu"], "--gpu-spec NAME "
                                                                       r"\(one of \['a100'"),
    ("cnn.onnx", ["--calib", "calib.npz", "--pin", "conv1=gpu"], "--pin conv1=gpu"),
    ("cnn.onnx", ["--calib", "calib.npz", "--targets", "vta,cpu,gpu", "--gpu-spec", "h200"],
     r"--gpu-spec 'h200': unknown GPU; known: \['a100', 'l4', 'rtx4090'\]"),
    ("cnn.onnx", ["--calib", "calib.npz", "--gpu-spec", "a100"],
     "--gpu-spec a100: the targets 'vta,cpu' leave out gpu"),
    ("cnn.onnx", ["--calib", "calib.npz", "--input-shape", "x=1xq"], "--input-shape 'x=1xq'"),
    ("cnn.onnx", ["--calib", "calib.npz", "--input-shape", "y=1x3x16x16"], "\\['y'\\]"),
    ("cnn.onnx", ["--calib", "wrong_name.npz"], "no array for model input 'x'"),
    ("cnn.onnx", ["--calib", "calib.npz", "--pin", "nope=cpu"], "no op named \\['nope'\\]"),
    ("cnn.onnx", ["--calib", "calib.npz", "--targets", "vta,tpu"], "--targets"),
    ("truncated.onnx", ["--calib", "calib.npz"], "truncated.onnx"),
    ("garbage.onnx", ["--calib", "calib.npz"], "garbage.onnx"),
    ("unsupported.onnx", ["--targets", "cpu"],
     "2 unsupported op\\(s\\).*Einsum.*'e1'.*Hardmax.*'hm'"),
    ("dynamic.onnx", ["--calib", "calib.npz"],
     "dimension 0 \\('batch'\\) is dynamic.*--input-shape"),
])
def test_bad_input_is_one_error_line(files, tmp_path, capsys, model, extra, message):
    out = tmp_path / "m.vtam"
    argv = ["compile", str(files / model), "-o", str(out), "--preset", "tiny"]
    argv += [str(files / a) if a.endswith(".npz") else a for a in extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert re.search(message, lines[0]), lines[0]
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_gpu_targets_compile_with_a_gpu_spec_and_need_a_gpu_to_run(files, tmp_path, capsys):
    """``--targets vta,cpu,gpu --gpu-spec a100`` prices the GPU from the A100's roofline:
    its convolutions become GPU steps (explained); ``vta run`` without a GPU is one error
    line naming them."""
    from runtime.device import DeviceError
    from runtime.gpu_runner import open_gpu

    m, out = tmp_path / "m.vtam", tmp_path / "out.npz"
    assert main(["compile", str(files / "cnn.onnx"), "-o", str(m), "--preset", "tiny",
                 "--calib", str(files / "calib.npz"), "--targets", "vta,cpu,gpu",
                 "--gpu-spec", "a100", "--explain"]) == 0
    text = capsys.readouterr().out
    assert "partition over vta, cpu, gpu" in text
    assert re.search(r"^GPU steps: [1-9]\d* of \d+ \(priced as a100, sm_80; \d+ MACs\)$", text,
                     re.M), text
    on_gpu = [line.split()[0] for line in text.splitlines() if line.split()[1:3] == ["->", "gpu"]]
    assert "conv1" in on_gpu and "quantize_x" not in on_gpu
    try:
        open_gpu()
    except DeviceError:
        pass
    else:
        pytest.skip("a GPU is present: the no-GPU error cannot be exercised")
    assert main(["run", str(m), "--inputs", str(files / "inputs.npz"), "-o", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and re.search(r"error: .*'conv1'.* are assigned to the gpu, and there "
                                       r"is no usable GPU here", err[0]), err
    assert not out.exists()


def test_gpu_steps_run_on_the_emulated_gpu_bit_exact(files, tmp_path, capsys):
    m, out = tmp_path / "m.vtam", tmp_path / "out.npz"
    assert main(["compile", str(files / "cnn.onnx"), "-o", str(m), "--preset", "tiny",
                 "--calib", str(files / "calib.npz"), "--targets", "vta,cpu,gpu",
                 "--gpu-spec", "l4"]) == 0
    assert main(["run", str(m), "--inputs", str(files / "inputs.npz"), "-o", str(out),
                 "--gpu", "sim"]) == 0
    assert re.search(r"gpu: \d+ step\(s\) on the SIMT emulator", capsys.readouterr().out)
    assert np.array_equal(np.load(out)["logits"], _reference(files))


def test_float_island_compiles_and_runs_bit_exact(files, tmp_path, capsys):
    """A Softmax after the classifier: a float host step; the module equals the quantized
    graph's reference bit for bit."""
    m, out = tmp_path / "m.vtam", tmp_path / "out.npz"
    assert main(["compile", str(files / "softmax.onnx"), "-o", str(m), "--preset", "tiny",
                 "--calib", str(files / "calib.npz"), "--targets", "vta"]) == 0
    assert main(["run", str(m), "--inputs", str(files / "inputs.npz"), "-o", str(out)]) == 0
    g = import_onnx(files / "softmax.onnx")
    q = run_quantization(g, samples_from_arrays(g, dict(np.load(files / "calib.npz"))))
    xs = np.load(files / "inputs.npz")["x"]
    ref = np.stack([evaluate_quantized(q, {"x": x})["probs"] for x in xs])
    got = np.load(out)["probs"]
    assert np.array_equal(got, ref) and np.allclose(got.sum(-1), 1, atol=1e-6)
    capsys.readouterr()


def test_a_float_module_runs_on_the_host_and_says_so(files, tmp_path, capsys):
    """``--targets cpu`` without ``--calib``: a float module, every step on the host; its
    outputs are the float reference's, and the run reports host time, not an accelerator
    clock that has nothing to do with it."""
    from compiler.graph.reference import evaluate

    m, out = tmp_path / "f.vtam", tmp_path / "out.npz"
    assert main(["compile", str(files / "softmax.onnx"), "-o", str(m), "--targets", "cpu"]) == 0
    capsys.readouterr()
    assert main(["run", str(m), "--inputs", str(files / "inputs.npz"), "-o", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "every step on the host:" in stdout and "MHz" not in stdout, stdout
    g = import_onnx(files / "softmax.onnx")
    xs = np.load(files / "inputs.npz")["x"]
    ref = np.stack([evaluate(g, {"x": x})["probs"] for x in xs])
    np.testing.assert_allclose(np.load(out)["probs"], ref, rtol=1e-4, atol=1e-6)


def test_qdq_model_compiles_without_calibration(tmp_path, capsys):
    """A QDQ model from onnxruntime's quantize_static (default settings: asymmetric int8
    activations) brings its own scales and zero points: no --calib; the outputs equal the
    integer reference and are within one step of onnxruntime's."""
    pytest.importorskip("onnxruntime")
    from compiler.graph.pipeline import run_passes
    from compiler.graph.quantize import quantize_model
    from tests.compiler.graph.test_quantize_qdq import _quantize_static, within_one_step

    rng = np.random.default_rng(5)
    calib_list = [{"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)}
                  for _ in range(8)]
    path = _quantize_static(tmp_path, rng, calib_list, per_channel=True)
    xs = rng.standard_normal((2, 1, 3, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=xs)
    m, out = tmp_path / "q.vtam", tmp_path / "out.npz"
    assert main(["compile", str(path), "-o", str(m), "--preset", "tiny",
                 "--targets", "vta"]) == 0
    assert main(["run", str(m), "--inputs", str(tmp_path / "in.npz"), "-o", str(out)]) == 0
    q = quantize_model(run_passes(import_onnx(path)))
    ref = np.stack([evaluate_quantized(q, {"x": x})["y"] for x in xs])
    assert np.array_equal(np.load(out)["y"], ref)
    assert any(q.zero_points.values())
    within_one_step(path, np.load(out)["y"], xs)
    capsys.readouterr()


@pytest.mark.cosim
@pytest.mark.usefixtures("needs_verilator")
def test_rtl_gives_the_simulators_bytes_and_cycles(files, tmp_path, capsys):
    """``vta run --device rtl`` (Verilator) of a compiled model on ``tiny``: the same output
    bytes and the same accelerator cycles as ``--device sim``, every MAC on the accelerator."""
    m = tmp_path / "m.vtam"
    assert main(["compile", str(files / "cnn.onnx"), "-o", str(m), "--preset", "tiny",
                 "--calib", str(files / "calib.npz"), "--targets", "vta"]) == 0
    runs = {}
    for device in ("sim", "rtl"):
        out, prof = tmp_path / f"{device}.npz", tmp_path / f"{device}.json"
        assert main(["run", str(m), "--inputs", str(files / "inputs.npz"), "-o", str(out),
                     "--device", device, "--profile", str(prof)]) == 0
        runs[device] = (np.load(out)["logits"], json.loads(prof.read_text())["totals"])
    capsys.readouterr()
    (sim, sim_totals), (rtl, rtl_totals) = runs["sim"], runs["rtl"]
    assert sim.tobytes() == rtl.tobytes()
    assert np.array_equal(sim, _reference(files)) and np.ptp(sim) > 0
    assert rtl_totals["accelerator_cycles"] == sim_totals["accelerator_cycles"] > 0
    assert rtl_totals["macs_on_accelerator"] == rtl_totals["macs_total"] > 0


def test_two_digits_encoder_compiles_and_runs_bit_exact(tmp_path, capsys):
    """``--two-digits``: a small transformer encoder's host-quantized matmul inputs as two
    int8 digits; the module equals ``run_quantization(..., two_digits=True)``'s reference
    and its matmuls read twice the inputs (more MACs than without the flag)."""
    from compiler.frontend.model_zoo import encoder

    seq, hidden = 16, 32
    onnx.save(encoder(layers=1, seq=seq, hidden=hidden, heads=2), tmp_path / "enc.onnx")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz",
             input=rng.standard_normal((4, 1, seq, hidden)).astype(np.float32))
    x = rng.standard_normal((1, seq, hidden)).astype(np.float32)
    np.savez(tmp_path / "x.npz", input=x)
    macs = {}
    for flag in ([], ["--two-digits"]):
        m, out, prof = tmp_path / "m.vtam", tmp_path / "out.npz", tmp_path / "p.json"
        assert main(["compile", str(tmp_path / "enc.onnx"), "-o", str(m), "--targets", "vta",
                     "--calib", str(tmp_path / "calib.npz"), *flag]) == 0
        assert main(["run", str(m), "--inputs", str(tmp_path / "x.npz"), "-o", str(out),
                     "--profile", str(prof)]) == 0
        g = import_onnx(tmp_path / "enc.onnx")
        q = run_quantization(g, samples_from_arrays(g, dict(np.load(tmp_path / "calib.npz"))),
                             two_digits=bool(flag))
        assert np.array_equal(np.load(out)["output"],
                              evaluate_quantized(q, {"input": x})["output"])
        macs[bool(flag)] = json.loads(prof.read_text())["totals"]["macs_total"]
    assert macs[True] > macs[False]
    capsys.readouterr()
