"""`vta demo`: the README's first command, end to end, and its numbers against `vta run`."""

import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from vta.cli import main


def _demo(out: Path, capsys, *extra: str) -> str:
    assert main(["demo", "-o", str(out), *extra]) == 0
    return capsys.readouterr().out


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str]:
    """The demo on the default preset, as the README runs it: (output directory, stdout)."""
    out = tmp_path_factory.mktemp("demo") / "out"
    buf = io.StringIO()  # module scope has no capsys
    with contextlib.redirect_stdout(buf):
        assert main(["demo", "-o", str(out)]) == 0
    return out, buf.getvalue()


def _table(stdout: str) -> dict[str, dict[str, str]]:
    """The printed per-layer profile: {layer: {op, device, macs, cycles, util}}."""
    rows = {}
    for line in stdout.split("per-layer profile")[1].splitlines()[2:]:
        parts = line.split()
        if len(parts) != 8:
            break
        rows[parts[0]] = dict(zip(("op", "device", "macs", "cycles", "util", "dram", "time"),
                                  parts[1:], strict=True))
    return rows


def _number(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    assert m, f"{pattern!r} not in the demo's output"
    return float(m.group(1))


def test_demo_numbers_agree_with_vta_run(demo, tmp_path, capsys):
    out, stdout = demo
    ran = tmp_path / "out.npz"
    prof = tmp_path / "profile.json"
    assert main(["run", str(out / "digits.vtam"), "--inputs", str(out / "inputs.npz"),
                 "-o", str(ran), "--profile", str(prof)]) == 0
    run_stdout = capsys.readouterr().out
    profile = json.loads(prof.read_text())
    n = profile["totals"]["samples"]
    # the per-layer table: MACs and cycles per batch, layer by layer
    table = _table(stdout)
    acc_layers = [e for e in profile["layers"] if "cycles" in e]
    assert acc_layers and len(table) == len(profile["layers"])
    for e in profile["layers"]:
        row = table[e["name"]]
        assert (row["op"], row["device"]) == (e["op"], e["device"])
        assert int(row["macs"]) == e["macs"] // n
        if "cycles" in e:
            assert int(row["cycles"]) == e["cycles"] // n
    # totals: accelerator cycles per batch, and vta run's own line for the whole run
    cycles = _number(r"accelerator cycles: (\d+) per batch", stdout)
    assert cycles * n == profile["totals"]["accelerator_cycles"]
    assert f"accelerator cycles: {profile['totals']['accelerator_cycles']} " in run_stdout
    mhz = profile["totals"]["clock_mhz"]
    assert _number(r"accelerator ([\d.]+) ms per batch", stdout) == \
        pytest.approx(cycles / (mhz * 1e3), abs=5e-4)
    # accuracy: the printed int8 figure is that of vta run's outputs
    labels = np.load(out / "labels.npy")
    with np.load(ran) as z:
        pred = z["logits"].reshape(-1, 10).argmax(1)
    int8 = _number(r"int8 on the accelerator ([\d.]+)%", stdout)
    assert int8 == pytest.approx(round(100 * np.mean(pred == labels), 1))
    # the demo's own profile file is vta run's, cycle for cycle
    mine = json.loads((out / "profile.json").read_text())
    assert [(e["name"], e.get("cycles"), e["macs"]) for e in mine["layers"]] == \
        [(e["name"], e.get("cycles"), e["macs"]) for e in profile["layers"]]


def test_demo_accuracy_is_sane(demo):
    _, stdout = demo
    fl = _number(r"float ([\d.]+)%", stdout)
    int8 = _number(r"int8 on the accelerator ([\d.]+)%", stdout)
    assert fl >= 90.0, "the trained float model should be a real classifier"
    assert int8 >= fl - 3.0, "int8 should lose at most a few points against float"
    assert "module outputs == numpy integer reference == llvmlite CPU backend: yes" \
        in stdout
    table = _table(stdout)
    assert {r["device"] for n, r in table.items() if n.startswith(("conv", "fc"))} == {"sim"}


def test_demo_writes_its_outputs(demo):
    out, stdout = demo
    for name in ("timeline.png", "roofline.png", "layers.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert name in stdout
    for name in ("trace.json", "program_trace.json"):  # and program_1_trace.json, ...
        events = json.loads((out / name).read_text())
        events = events["traceEvents"] if isinstance(events, dict) else events
        assert any(e.get("ph") == "X" for e in events), name
    for name in ("digits.onnx", "digits.vtam", "inputs.npz", "labels.npy", "profile.json"):
        assert (out / name).stat().st_size > 0
    assert f"wrote to {out}/" in stdout


@pytest.mark.cosim
@pytest.mark.usefixtures("needs_verilator")
def test_demo_rtl_agrees(tmp_path, capsys):
    stdout = _demo(tmp_path / "out", capsys, "--rtl", "--batch", "120")
    assert "RTL (Verilator) == simulator on one batch" in stdout


def test_demo_rejects_bad_options(tmp_path, capsys):
    assert main(["demo", "--batch", "7", "-o", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --batch 7") and "40" in err
    assert not (tmp_path / "x").exists()


def test_per_layer_dram_bytes_add_up_to_the_simulators(demo):
    """The demo's per-op DRAM bytes (each LOAD/STORE charged to the op that owns it) sum,
    with instruction fetch, to the simulator's count for a launch of the program."""
    from runtime.devices import open_device
    from runtime.executor import Executor
    from runtime.module import load_module
    from vta.layer_report import program_dram_bytes

    out, stdout = demo
    module = load_module(out / "digits.vtam")
    per_op = program_dram_bytes(module)
    assert set(per_op) == {"conv1", "conv2", "fc"}
    table = _table(stdout)
    assert {n: int(table[n]["dram"]) for n in per_op} == per_op
    device = open_device("sim", module.config)
    ex = Executor(module, device)
    try:
        with np.load(out / "inputs.npz") as z:
            ex.run({"x": z["x"][0]})
        # each loaded program once more: its instructions' DRAM traffic, as simulated
        stats = [device.launch(h).stats for h in ex.handles]
    finally:
        ex.close()
    assert len(stats) == len(module.programs) >= 1
    assert sum(per_op.values()) + sum(st.bytes["insn"] for st in stats) == \
        sum(st.dram_bytes for st in stats)
