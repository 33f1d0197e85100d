"""The compiled module file (.vtam): round trip, manifest fields, and every way a file can be
wrong (corrupt, truncated, wrong version, wrong config, not a module) failing with one
clear error; the write is atomic (a failure mid-write leaves no file)."""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from compiler.module_builder import Node, build_module
from opset import (
    AluStep,
    Conv2d,
    Dense,
    DepthwiseConv2d,
    Elementwise,
    Epilogue,
    GlobalAvgPool,
    OpError,
    Pool2d,
    Requant,
)
from opset.serialize import op_from_json, op_to_json
from runtime.module import (
    MODULE_FORMAT,
    MODULE_VERSION,
    ModuleConfigError,
    ModuleError,
    ModuleVersionError,
    is_module,
    load_module,
    save_module,
)
from tests.runtime.models import build_cnn, cnn
from vta_hw.bundle import BundleBuilder
from vta_hw.config import DEFAULT, TINY
from vta_hw.errors import VtaError


@pytest.fixture(scope="module")
def module():
    return build_cnn(TINY, chained=True)


@pytest.fixture
def saved(module, tmp_path) -> Path:
    return module.save(tmp_path / "m.vtam")


def _rewrite(path: Path, edit) -> None:
    """Rewrite the zip at ``path`` with ``edit(members)`` applied (a valid zip again)."""
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    edit(members)
    with zipfile.ZipFile(path, "w") as z:
        for n, d in members.items():
            z.writestr(n, d)


def _edit_manifest(path: Path, edit) -> None:
    def f(members):
        d = json.loads(members["manifest.json"])
        edit(d)
        members["manifest.json"] = json.dumps(d).encode()
    _rewrite(path, f)


# ---------------------------------------------------------------------------- op descriptions
OPS = [
    Conv2d(1, 3, 8, 8, 16, 3, 3, (2, 1), (1, 0), Epilogue(True, Requant(3, 5, 1), True, True,
                                                          (-5, 100)), pad_value=2, name="c"),
    DepthwiseConv2d(1, 16, 8, 8, 3, 3, 2, 1, Epilogue(requant=Requant(per_channel=True))),
    Dense(2, 16, 10, Epilogue(bias=True, requant=Requant(7, 9))),
    Dense(2, 16, 10, Epilogue(requant=Requant(7, 9), clip=(-90, 127), offset=-90), name="zp"),
    Elementwise((1, 2, 3, 4), (AluStep("add", None), AluStep("rshr", 2), AluStep("max", 0))),
    Pool2d(1, 16, 8, 8, "avg", 3, 3, 2, 1, name="p"),
    GlobalAvgPool(1, 16, 4, 4),
]


@pytest.mark.parametrize("op", OPS, ids=lambda o: o.kind)
def test_op_descriptions_round_trip_through_json(op):
    text = json.dumps(op_to_json(op))
    assert op_from_json(json.loads(text)) == op


def test_a_tampered_op_description_is_refused():
    d = op_to_json(OPS[0])
    with pytest.raises(OpError, match="unknown operator kind"):
        op_from_json({**d, "kind": "conv3d"})
    with pytest.raises(OpError, match="unknown field"):
        op_from_json({**d, "dilation": 2})
    with pytest.raises(OpError, match="positive"):
        op_from_json({**d, "kh": 0})
    with pytest.raises(OpError, match="offset=40000"):
        op_from_json({**d, "epilogue": {**d["epilogue"], "offset": 40000}})


# ---------------------------------------------------------------------------- round trip
def test_module_round_trips(module, saved):
    m = load_module(saved, TINY)
    assert is_module(saved)
    assert m.config.config_hash() == TINY.config_hash()
    assert m.inputs == ("image",) and m.outputs == ("logits",)
    assert [s.op for s in m.steps] == [s.op for s in module.steps]
    assert m.partition == {"conv1": "accelerator", "conv1b": "accelerator", "pool": "cpu",
                           "conv2": "accelerator", "gap": "cpu", "fc": "cpu"}
    assert set(m.constants) == set(module.constants)
    for k, v in module.constants.items():
        assert m.constants[k].dtype == v.dtype and np.array_equal(m.constants[k], v)
    for a, b in zip(m.programs, module.programs, strict=True):
        assert a.bundle.dram == b.bundle.dram and a.bundle.symbols == b.bundle.symbols
        assert (a.steps, a.feeds, a.results, a.insn_steps) == (b.steps, b.feeds, b.results,
                                                                b.insn_steps)
    assert m.tensors == module.tensors
    assert m.tensors["image"].scale == 0.02 and m.tensors["image"].zero_point == 0
    assert m.tensors["t1"].scale is None


def test_manifest_fields(saved):
    with zipfile.ZipFile(saved) as z:
        d = json.loads(z.read("manifest.json"))
    assert d["format"] == MODULE_FORMAT and d["version"] == MODULE_VERSION
    assert d["config_hash"] == TINY.config_hash() and d["config"] == TINY.primaries()
    assert {t["name"]: t["role"] for t in d["tensors"]}["image"] == "input"
    assert {"name", "shape", "dtype", "role", "scale", "zero_point", "layout"} <= set(
        d["tensors"][0])
    steps = {s["name"]: s for s in d["steps"]}
    assert steps["conv1"]["device"] == "accelerator" and steps["pool"]["device"] == "cpu"
    assert steps["conv1"]["program"] == steps["conv1b"]["program"] == 0  # chained
    assert steps["conv2"]["program"] == 1
    assert steps["conv1"]["macs"] == 1 * 8 * 8 * 8 * 3 * 3 * 3
    assert d["programs"][0]["steps"] == [0, 1]
    # the chained tensor t1 never crosses the boundary: fed image only, result t1b only
    assert [f["tensor"] for f in d["programs"][0]["feeds"]] == ["image"]
    assert [r["tensor"] for r in d["programs"][0]["results"]] == ["t1b"]
    assert set(d["checksums"]) == {"programs/0.bin", "programs/1.bin"} | {
        f"arrays/{n}.npy" for n in d["constants"]}


def test_builder_refuses_bad_wiring():
    nodes, consts = cnn()
    bad = [dataclasses.replace(nodes[0], inputs={"x": "image", "w": "w1"}), *nodes[1:]]
    with pytest.raises(OpError, match="operands"):
        build_module(bad, TINY, constants=consts, outputs=["logits"])
    with pytest.raises(OpError, match="not written"):
        build_module(nodes, TINY, constants=consts, outputs=["nothing"])
    with pytest.raises(OpError, match="unknown device"):
        build_module([Node(nodes[0].op, "tpu", nodes[0].inputs, "t1")], TINY,
                     constants=consts, outputs=["t1"])


# ---------------------------------------------------------------------------- bad files
def test_wrong_config_is_refused(saved):
    with pytest.raises(ModuleConfigError, match="compiled for config 'tiny'.*'default'"):
        load_module(saved, DEFAULT)


def test_edited_config_hash_is_refused(saved):
    _edit_manifest(saved, lambda d: d.update(config_hash="0" * 16))
    with pytest.raises(ModuleConfigError, match="does not match its config"):
        load_module(saved)


def test_wrong_version_is_refused(saved):
    _edit_manifest(saved, lambda d: d.update(version=MODULE_VERSION + 1))
    with pytest.raises(ModuleVersionError, match=f"version {MODULE_VERSION + 1} is not "
                                                  "supported"):
        load_module(saved)


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_truncated_file_is_refused(saved, keep):
    data = saved.read_bytes()
    saved.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(ModuleError, match="corrupt or truncated"):
        load_module(saved)


def test_corrupt_bytes_are_refused(saved):
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as z:
        info = z.getinfo("programs/0.bin")
    at = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    data[at] ^= 0xFF
    saved.write_bytes(bytes(data))
    with pytest.raises(ModuleError):
        load_module(saved)


def test_edited_member_fails_its_checksum(saved):
    def flip(members):
        b = bytearray(members["programs/1.bin"])
        b[-1] ^= 1
        members["programs/1.bin"] = bytes(b)
    _rewrite(saved, flip)
    with pytest.raises(ModuleError, match="'programs/1.bin' fails its checksum"):
        load_module(saved)


def test_missing_member_is_refused(saved):
    _rewrite(saved, lambda m: m.pop("arrays/w2.npy"))
    with pytest.raises(ModuleError, match="missing or unlisted"):
        load_module(saved)


def test_inconsistent_manifest_is_refused(saved):
    _edit_manifest(saved, lambda d: d["steps"][2]["inputs"].update(x="nowhere"))
    with pytest.raises(ModuleError, match="reads tensor 'nowhere'"):
        load_module(saved)


def test_other_files_are_not_modules(tmp_path):
    bundle = BundleBuilder(TINY)
    bundle.set_program([])
    b = bundle.build().save(tmp_path / "b.vtab")
    with pytest.raises(ModuleError, match="not a compiled module"):
        load_module(b)
    assert not is_module(b)
    (tmp_path / "x.vtam").write_bytes(b"hello")
    with pytest.raises(ModuleError, match="corrupt or truncated"):
        load_module(tmp_path / "x.vtam")
    with pytest.raises(ModuleError, match="does not exist"):
        load_module(tmp_path / "none.vtam")
    assert issubclass(ModuleError, VtaError)


# ---------------------------------------------------------------------------- atomic write
def test_a_failed_write_leaves_no_file(module, tmp_path, monkeypatch):
    target = tmp_path / "m.vtam"
    calls = []
    real = zipfile.ZipFile.writestr

    def failing(self, name, data, *a, **k):
        calls.append(name)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(self, name, data, *a, **k)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", failing)
    with pytest.raises(OSError, match="disk full"):
        save_module(module, target)
    assert list(tmp_path.iterdir()) == []
    # over an existing module: the old file stays, whole
    monkeypatch.setattr(zipfile.ZipFile, "writestr", real)
    module.save(target)
    before = target.read_bytes()
    calls.clear()
    monkeypatch.setattr(zipfile.ZipFile, "writestr", failing)
    with pytest.raises(OSError):
        save_module(module, target)
    assert [p.name for p in tmp_path.iterdir()] == ["m.vtam"]
    assert target.read_bytes() == before
