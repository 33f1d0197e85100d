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


# ---------------------------------------------------------------------------- linking
def _dma_bundle(cfg=TINY) -> Bundle:
    """A uop LOAD, an INP LOAD and a STORE, each at a distinct symbol."""
    bb = BundleBuilder(cfg)
    u = bb.add_uops("uops", [isa.Uop(0, 0, 0)])
    x = bb.add("x", bytes(range(cfg.inp_elem_bytes * 2)))
    y = bb.alloc("y", cfg.out_elem_bytes * 2)
    bb.set_program([
        isa.Load(mem=isa.MemType.UOP, dram_base=u.addr // 4, y_size=1, x_size=1, x_stride=1),
        isa.Load(mem=isa.MemType.INP, dram_base=x.addr // cfg.inp_elem_bytes, y_size=1,
                 x_size=2, x_stride=2),
        isa.Store(mem=isa.MemType.OUT, dram_base=y.addr // cfg.out_elem_bytes, y_size=2,
                  x_size=1, x_stride=1),
        isa.Finish()])
    return bb.build()


def test_link_align_is_a_multiple_of_every_element():
    from vta_hw.bundle import link_align

    for cfg in (TINY, DEFAULT):
        a = link_align(cfg)
        assert a % 64 == 0 and a % isa.INSN_BYTES == 0
        assert all(a % isa.elem_bytes(cfg, m) == 0 for m in isa.MemType)


def test_linked_moves_every_dram_field_by_the_base_in_its_own_units():
    from vta_hw.bundle import link_align

    b = _dma_bundle()
    assert b.linked(0) == b.dram
    base = 3 * link_align(TINY)
    image = b.linked(base)
    assert len(image) == len(b.dram)
    n = b.insn_count * isa.INSN_BYTES
    assert image[:b.insn_addr] == b.dram[:b.insn_addr]  # data bytes untouched
    assert image[b.insn_addr + n:] == b.dram[b.insn_addr + n:]
    moved = isa.decode_program(image[b.insn_addr:b.insn_addr + n], TINY)
    for old, new in zip(b.instructions(), moved, strict=True):
        if isinstance(old, isa.Load | isa.Store):
            assert new.dram_base * isa.elem_bytes(TINY, old.mem) == \
                old.dram_base * isa.elem_bytes(TINY, old.mem) + base
        else:
            assert new == old


def test_linking_refuses_bad_bases_and_programs_reaching_outside_their_image():
    from vta_hw.bundle import link_align

    b = _dma_bundle()
    for base in (-link_align(TINY), link_align(TINY) // 2, 1):
        with pytest.raises(BundleError, match="multiple of"):
            b.linked(base)
    bb = BundleBuilder(TINY)
    bb.alloc("y", 64)
    far = 10_000  # elements: far past the image
    bb.set_program([isa.Load(mem=isa.MemType.INP, dram_base=far, y_size=1, x_size=1,
                             x_stride=1), isa.Finish()])
    stray = bb.build()
    with pytest.raises(BundleError, match=r"instruction 0 \(LOAD\) accesses DRAM bytes"):
        stray.linked(0)
    assert stray.linked(link_align(TINY), check_ranges=False) != stray.dram  # raw bits move
    with pytest.raises(BundleError, match="cannot link at byte"):
        b.linked(link_align(TINY) * (1 << 32))  # the moved address overflows its field
