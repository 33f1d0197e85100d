import json
import zipfile

import pytest

from vta_hw import isa
from vta_hw.bundle import Bundle, BundleBuilder, BundleError, ConfigMismatchError
from vta_hw.config import DEFAULT, TINY


def small_bundle(cfg=TINY) -> Bundle:
    bb = BundleBuilder(cfg)
    bb.add("x", bytes(range(16)))
    bb.alloc("y", 32)
    bb.set_program([isa.Finish()])
    return bb.build({"note": "t"})


def test_save_load_round_trip(tmp_path):
    b = small_bundle()
    p = b.save(tmp_path / "b.vtab")
    again = Bundle.load(p)
    assert again == b
    assert again.read("x") == bytes(range(16))
    assert again.instructions() == [isa.Finish()]


def test_tampered_config_is_rejected(tmp_path):
    p = small_bundle().save(tmp_path / "b.vtab")
    with zipfile.ZipFile(p) as z:
        manifest = json.loads(z.read("manifest.json"))
        dram = z.read("dram.bin")
    manifest["config"]["dram_latency"] = 99
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("manifest.json", json.dumps(manifest))
        z.writestr("dram.bin", dram)
    with pytest.raises(ConfigMismatchError, match="does not match"):
        Bundle.load(p)


def test_config_mismatch_and_bad_files(tmp_path):
    b = small_bundle()
    with pytest.raises(ConfigMismatchError, match="built for config 'tiny'"):
        b.check_config(DEFAULT)
    junk = tmp_path / "junk.vtab"
    junk.write_bytes(b"not a zip")
    with pytest.raises(BundleError, match="not a readable bundle"):
        Bundle.load(junk)
    with pytest.raises(BundleError, match="does not exist"):
        Bundle.load(tmp_path / "missing.vtab")


def test_builder_checks():
    bb = BundleBuilder(TINY)
    bb.add("a", b"1")
    with pytest.raises(BundleError, match="already placed"):
        bb.add("a", b"2")
    with pytest.raises(BundleError, match="no program"):
        bb.build()
    with pytest.raises(isa.IsaError):
        bb.set_program([isa.Load(mem=isa.MemType.INP, pop_prev=True)])
