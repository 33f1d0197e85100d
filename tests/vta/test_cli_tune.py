"""``vta tune``: mistakes are one ``error:`` line (exit status 2, nothing written); a small
model of two convolutions on ``tiny`` is tuned end to end (real measurements on the
simulator, in this process): the log is valid and resumable (a second run measures
nothing), tuned cycles never exceed the default's, ``vta compile --tuning-log`` reproduces
them, and ``--plot`` draws a PNG."""

from __future__ import annotations

import contextlib
import io
import json
import re
from functools import partial
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from tests.compiler.graph.onnx_util import he_weight, init, make_model, small_bias, tensor
from vta.cli import main


def two_convs(seed: int = 0) -> onnx.ModelProto:
    """conv 4->8 3x3 -> relu -> maxpool -> conv 8->8 3x3 -> relu, input ``x`` 1x4x8x8.
    With the pool pinned to the CPU each conv is a program of its own, so ``vta run``'s
    profile gives each its own cycles (a chain of ops would overlap them)."""
    rng = np.random.default_rng(seed)
    w, b = partial(he_weight, rng), partial(small_bias, rng)
    inits = [init("w1", w(8, 4, 3, 3)), init("b1", b(8)), init("w2", w(8, 8, 3, 3)),
             init("b2", b(8))]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1",
                              pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("MaxPool", ["r1"], ["p1"], name="pool", kernel_shape=[2, 2],
                              strides=[2, 2]),
             helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2",
                              pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["y"], name="relu2")]
    return make_model(nodes, [tensor("x", [1, 4, 8, 8])], [tensor("y", [1, 8, 4, 4])], inits)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("tune")
    onnx.save(two_convs(), d / "m.onnx")
    rng = np.random.default_rng(1)
    np.savez(d / "calib.npz", x=rng.standard_normal((4, 1, 4, 8, 8)).astype(np.float32))
    np.savez(d / "one.npz", x=rng.standard_normal((1, 4, 8, 8)).astype(np.float32))
    (d / "adir").mkdir()
    return d


def _argv(files: Path, work: Path, *extra: str) -> list[str]:
    return ["tune", str(files / "m.onnx"), *MODEL_ARGS(files), "--log", str(work / "t.jsonl"),
            "--workers", "0", *extra]


def MODEL_ARGS(files: Path) -> list[str]:  # noqa: N802 - a constant of the fixture's files
    """The model options tune and compile share (the same, or the log would not match)."""
    return ["--calib", str(files / "calib.npz"), "--targets", "vta", "--pin", "pool=cpu",
            "--preset", "tiny"]


@pytest.mark.parametrize("extra, message", [
    (["--trials", "0"], "--trials must be at least 1, got 0"),
    (["--trials", "4", "--targets", "cpu"], "--targets 'cpu' leaves out vta: there is "
                                            "nothing to tune"),
    (["--trials", "4", "--plot", "curve.txt"], "--plot 'curve.txt': unsupported extension"),
    (["--trials", "4", "--log", "nodir/t.jsonl"], "directory 'nodir' does not exist"),
    (["--trials", "4", "--log", "{adir}"], "is a directory; expected a file name"),
    (["--trials", "4", "--log", "t.png", "--plot", "t.png"], "--log and --plot both name"),
    (["--trials", "4", "--calib", "{missing}"], "--calib '{missing}' does not exist"),
])
def test_mistakes_are_one_error_line(files, tmp_path, monkeypatch, capsys, extra, message):
    monkeypatch.chdir(tmp_path)
    subs = {"adir": str(files / "adir"), "missing": str(files / "missing.npz")}
    argv = _argv(files, tmp_path, *(a.format(**subs) for a in extra))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message.format(**subs) in err, err
    assert list(tmp_path.iterdir()) == []  # no log, no plot, no staging file


def test_a_missing_model_or_a_float_model_without_calibration_is_named(files, tmp_path,
                                                                        capsys):
    assert main(["tune", str(tmp_path / "nope.onnx"), "--log", str(tmp_path / "t.jsonl"),
                 "--trials", "4", "--preset", "tiny"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "cannot read model" in err and "nope.onnx" in err, err
    assert main(["tune", str(files / "m.onnx"), "--log", str(tmp_path / "t.jsonl"),
                 "--trials", "4", "--preset", "tiny"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a float model" in err and "--calib" in err, err
    assert list(tmp_path.iterdir()) == []


def test_fewer_trials_than_workloads_is_refused(files, tmp_path, capsys):
    assert main(_argv(files, tmp_path, "--trials", "1")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --trials 1 is fewer than the 2 workloads") and \
        err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


def test_the_random_baseline_log_sits_beside_the_log():
    from vta.commands.tune import baseline_log_path

    assert baseline_log_path(Path("out/t.jsonl")) == Path("out/t.random.jsonl")
    assert baseline_log_path(Path("log")) == Path("log.random.jsonl")


# ------------------------------------------------------------------------------ end to end
TABLE_ROW = re.compile(r"^(\S+(?: \(\+\d+\))?) +(\w+\(.*?) +(\d+) +([\d,]+) +([\d,]+) +"
                       r"([\d.]+)x$")


def _rows(out: str) -> dict[str, tuple[int, int, int]]:
    """layer -> (trials, default cycles, tuned cycles) from the final table."""
    rows = {}
    for line in out.splitlines():
        m = TABLE_ROW.match(line)
        if m:
            rows[m[1]] = (int(m[3]), int(m[4].replace(",", "")), int(m[5].replace(",", "")))
    return rows


@pytest.fixture(scope="module")
def tuned(files, tmp_path_factory):
    """One tuning run (16 trials, the random baseline for the plot, in this process) and a
    second run of the same command: (work dir, argv, [(rc, stdout, stderr) of each run],
    log bytes after each run)."""
    work = tmp_path_factory.mktemp("tuned")
    argv = _argv(files, work, "--trials", "16", "--plot", str(work / "curve.png"))
    runs, logs = [], []
    for _ in range(2):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
        runs.append((rc, out.getvalue(), err.getvalue()))
        logs.append(((work / "t.jsonl").read_bytes(), (work / "t.random.jsonl").read_bytes()))
    return work, argv, runs, logs


def test_tuning_writes_a_valid_log_and_a_table(files, tuned):
    from compiler.autotune.log import TuningLog
    from compiler.autotune.tasks import extract_workloads
    from vta_hw.config import TINY

    work, _, runs, _ = tuned
    rc, out, err = runs[0]
    assert rc == 0, err
    assert "Traceback" not in err
    tasks = extract_workloads(files / "m.onnx", TINY, calib=files / "calib.npz",
                              targets=("vta",), pins={"pool": "cpu"})
    assert [t.layers for t in tasks] == [("conv1",), ("conv2",)]
    rows = _rows(out)
    assert set(rows) == {"conv1", "conv2"}, out
    assert sum(r[0] for r in rows.values()) == 16  # the budget, spread over both
    log = TuningLog(work / "t.jsonl")
    for t in tasks:
        trials, default, best = rows[t.layers[0]]
        recs = log.records(t.key)
        assert len(recs) == trials and all(json.dumps(r.to_json()) for r in recs)
        assert best <= default
        assert best == log.best(t.key).cycles  # the table's tuned cycles are the log's best
    assert {r.key for r in log.records()} == {t.key for t in tasks}
    # the model line: the sum over the layers, default against tuned
    total = re.search(r"^model \(tuned layers\) +16 +([\d,]+) +([\d,]+) +([\d.]+)x$", out, re.M)
    assert total, out
    d, t = (int(total[i].replace(",", "")) for i in (1, 2))
    assert d == sum(r[1] for r in rows.values()) and t == sum(r[2] for r in rows.values())
    assert (work / "curve.png").read_bytes().startswith(b"\x89PNG")


def test_a_second_run_resumes_and_measures_nothing(tuned):
    _, _, runs, logs = tuned
    (rc1, out1, _), (rc2, out2, err2) = runs
    assert rc2 == 0, err2
    assert logs[1] == logs[0]  # neither log grew: every trial was already logged
    assert _rows(out2) == _rows(out1)


def test_compile_with_the_log_reproduces_the_tuned_cycles(files, tuned, tmp_path, capsys):
    work, _, runs, _ = tuned
    rows = _rows(runs[0][1])
    m, prof = tmp_path / "m.vtam", tmp_path / "p.json"
    assert main(["compile", str(files / "m.onnx"), "-o", str(m), *MODEL_ARGS(files),
                 "--tuning-log", str(work / "t.jsonl")]) == 0
    assert "tuned schedules: 2 of 2 accelerator ops" in capsys.readouterr().out
    assert main(["run", str(m), "--inputs", str(files / "one.npz"), "-o",
                 str(tmp_path / "out.npz"), "--profile", str(prof)]) == 0
    cycles = {x["name"]: x.get("cycles") for x in json.loads(prof.read_text())["layers"]}
    assert cycles["conv1"] == rows["conv1"][2] and cycles["conv2"] == rows["conv2"][2]


def test_layer_labels_name_the_first_layer_and_count_the_others():
    from vta.commands.tune import layer_label

    assert layer_label(("conv2",)) == "conv2"
    assert layer_label(("layer1.0.conv1", "layer1.1.conv1")) == "layer1.0.conv1 (+1)"
    long = layer_label(("a_very_long_layer_name_from_an_export",) * 12)
    assert long == "a_very_long_layer~ (+11)" and len(long) == 24
