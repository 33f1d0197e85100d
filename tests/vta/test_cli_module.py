"""``vta run M.vtam --inputs IN.npz -o OUT.npz``: outputs equal the executor's (and the numpy
reference's), profile and trace files, and every bad input is one ``error:`` line with exit
status 2 and no partial output."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.runtime.models import build_cnn, cnn, images, reference_run
from vta.cli import main
from vta_hw.config import TINY

SAMPLES = 3


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    module = build_cnn(TINY, chained=True).save(d / "m.vtam")
    np.savez(d / "in.npz", image=images(SAMPLES))
    return {"module": module, "inputs": d / "in.npz"}


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    rc = main(["run", *map(str, argv)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_run_writes_outputs_profile_and_trace(files, tmp_path, capsys):
    out, prof, trace = tmp_path / "out.npz", tmp_path / "p.json", tmp_path / "t.json"
    rc, stdout, err = _run([files["module"], "--inputs", files["inputs"], "-o", out,
                            "--profile", prof, "--trace", trace, "--device", "sim"], capsys)
    assert rc == 0, err
    assert "accelerator cycles:" in stdout and "samples: 3" in stdout
    assert "ms pipelined (" in stdout and "samples/s" in stdout
    with np.load(out) as z:
        assert z.files == ["logits"]
        logits = z["logits"]
    assert logits.shape == (SAMPLES, 1, 10)
    nodes, consts = cnn(chained=True)
    x = images(SAMPLES)
    for k in range(SAMPLES):
        np.testing.assert_array_equal(
            logits[k], reference_run(nodes, consts, {"image": x[k]})["logits"])
    p = json.loads(prof.read_text())
    assert [e["name"] for e in p["layers"]] == ["conv1", "conv1b", "pool", "conv2", "gap", "fc"]
    assert {"accelerator_cycles", "macs_total", "macs_on_accelerator", "host_seconds",
            "estimated_latency_ms", "latency_ms", "sequential_ms", "pipelined_ms",
            "throughput_samples_per_s"} <= set(p["totals"])
    t = json.loads(trace.read_text())
    assert {e["pid"] for e in t["traceEvents"] if e["ph"] == "X"} == {0, 1}


def test_one_sample_without_the_sample_axis(files, tmp_path, capsys):
    np.savez(tmp_path / "one.npz", image=images(SAMPLES)[2])
    rc, _, err = _run([files["module"], "--inputs", tmp_path / "one.npz", "-o",
                       tmp_path / "o.npz"], capsys)
    assert rc == 0, err
    with np.load(tmp_path / "o.npz") as z:
        assert z["logits"].shape == (1, 10)


def _bad_npz(tmp_path: Path, case: str) -> Path:
    p = tmp_path / f"{case}.npz"
    x = images(SAMPLES)
    arrays = {"missing": {"picture": x}, "misshaped": {"image": x[:, :, :2]},
              "dtype": {"image": x.astype(np.float32)},
              "no-arrays": None}[case]
    if arrays is None:
        p.write_bytes(b"not a zip at all")
    else:
        np.savez(p, **arrays)
    return p


@pytest.mark.parametrize("case, match", [
    ("missing", "missing array"), ("misshaped", "shape"), ("dtype", "dtype float32"),
    ("no-arrays", "not a readable .npz"),
])
def test_bad_inputs_are_one_error_line(files, tmp_path, capsys, case, match):
    bad = _bad_npz(tmp_path, case)
    out = tmp_path / "out.npz"
    rc, _, err = _run([files["module"], "--inputs", bad, "-o", out, "--profile",
                       tmp_path / "p.json"], capsys)
    assert rc == 2 and err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert match in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [bad.name]


def test_mismatched_config_is_refused(files, tmp_path, capsys):
    rc, _, err = _run([files["module"], "--inputs", files["inputs"], "-o", tmp_path / "o.npz",
                       "--preset", "default"], capsys)
    assert rc == 2 and "compiled for config 'tiny'" in err, err
    assert list(tmp_path.iterdir()) == []


def test_a_module_is_recognized_by_content(files, tmp_path, capsys):
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(files["module"].read_bytes())
    rc, _, err = _run([renamed, "--inputs", files["inputs"], "-o", tmp_path / "o.npz"], capsys)
    assert rc == 0, err


def test_corrupt_module_is_one_error_line(files, tmp_path, capsys):
    bad = tmp_path / "bad.vtam"
    bad.write_bytes(files["module"].read_bytes()[:-100])
    rc, _, err = _run([bad, "--inputs", files["inputs"], "-o", tmp_path / "o.npz"], capsys)
    assert rc == 2 and "corrupt or truncated" in err and len(err.splitlines()) == 1, err
    edited = tmp_path / "v.vtam"
    with zipfile.ZipFile(files["module"]) as z, zipfile.ZipFile(edited, "w") as w:
        for n in z.namelist():
            data = z.read(n)
            if n == "manifest.json":
                d = json.loads(data)
                d["version"] = 99
                data = json.dumps(d).encode()
            w.writestr(n, data)
    rc, _, err = _run([edited, "--inputs", files["inputs"], "-o", tmp_path / "o.npz"], capsys)
    assert rc == 2 and "version 99 is not supported" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.vtam", "v.vtam"]


def test_module_options_need_a_module(tmp_path, capsys):
    from tests.programs.corpus import CORPUS

    b = CORPUS["gemm_basic"](TINY).save(tmp_path / "b.vtab")
    rc, _, err = _run([b, "--inputs", tmp_path / "x.npz"], capsys)
    assert rc == 2 and "--inputs applies to a compiled module" in err, err
    rc, stdout, err = _run([b], capsys)  # a bundle still runs as before
    assert rc == 0 and "cycles:" in stdout, err
