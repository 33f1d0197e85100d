"""``vta tune``: mistakes are one ``error:`` line (exit status 2, nothing written); a small
model of two convolutions on ``tiny`` is tuned end to end (real measurements on the
simulator, in this process): the log is valid and resumable (a second run measures
nothing), tuned cycles never exceed the default's, ``vta compile --tuning-log`` reproduces
them, and ``--plot`` draws a PNG."""

from __future__ import annotations

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
    """conv 4->8 3x3 -> relu -> conv 8->8 3x3 stride 2 -> relu, input ``x`` 1x4x8x8."""
    rng = np.random.default_rng(seed)
    w, b = partial(he_weight, rng), partial(small_bias, rng)
    inits = [init("w1", w(8, 4, 3, 3)), init("b1", b(8)), init("w2", w(8, 8, 3, 3)),
             init("b2", b(8))]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1",
                              pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2",
                              pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c2"], ["y"], name="relu2")]
    return make_model(nodes, [tensor("x", [1, 4, 8, 8])], [tensor("y", [1, 8, 4, 4])], inits)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("tune")
    onnx.save(two_convs(), d / "m.onnx")
    rng = np.random.default_rng(1)
    np.savez(d / "calib.npz", x=rng.standard_normal((4, 1, 4, 8, 8)).astype(np.float32))
    (d / "adir").mkdir()
    return d


def _argv(files: Path, work: Path, *extra: str) -> list[str]:
    return ["tune", str(files / "m.onnx"), "--calib", str(files / "calib.npz"), "--targets",
            "vta", "--preset", "tiny", "--log", str(work / "t.jsonl"), "--workers", "0",
            *extra]


@pytest.mark.parametrize("extra, message", [
    (["--trials", "0"], "--trials must be at least 1, got 0"),
    (["--trials", "4", "--dask", "tcp://127.0.0.1:1"],
     "--workers and --dask are both given"),
    (["--trials", "4", "--workers", "-1"], "--workers must be 0 (measure in this process) or "
                                           "more, got -1"),
    (["--trials", "4", "--timeout", "0"], "--timeout must be a positive number of seconds"),
    (["--trials", "4", "--targets", "cpu"], "--targets 'cpu' leaves out vta: there is "
                                            "nothing to tune"),
    (["--trials", "4", "--plot", "curve.txt"], "--plot 'curve.txt': unsupported extension"),
    (["--trials", "4", "--log", "nodir/t.jsonl"], "directory 'nodir' does not exist"),
    (["--trials", "4", "--log", "{adir}"], "is a directory; expected a file name"),
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
    assert err.count("\n") == 1 and "nope.onnx" in err and "does not exist" in err, err
    assert main(["tune", str(files / "m.onnx"), "--log", str(tmp_path / "t.jsonl"),
                 "--trials", "4", "--preset", "tiny"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a float model" in err and "--calib" in err, err
    assert list(tmp_path.iterdir()) == []


def test_the_random_baseline_log_sits_beside_the_log():
    from vta.commands.tune import baseline_log_path

    assert baseline_log_path(Path("out/t.jsonl")) == Path("out/t.random.jsonl")
    assert baseline_log_path(Path("log")) == Path("log.random.jsonl")


# ------------------------------------------------------------------------------ end to end
TABLE_ROW = re.compile(r"^(\S+(?: \(\+\d+\))?) +(\S+\(.*?\)~?) +(\d+) +([\d,]+) +([\d,]+) +"
                       r"([\d.]+)x$")


def _rows(out: str) -> dict[str, tuple[int, int, int]]:
    """layer -> (trials, default cycles, tuned cycles) from the final table."""
    rows = {}
    for line in out.splitlines():
        m = TABLE_ROW.match(line)
        if m:
            rows[m[1]] = (int(m[3]), int(m[4].replace(",", "")), int(m[5].replace(",", "")))
    return rows
