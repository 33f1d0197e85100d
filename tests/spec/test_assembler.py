"""vta_hw.assembler and `vta asm`: assembly with its data, to a bundle every device runs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from vta.cli import main
from vta_hw import isa
from vta_hw.assembler import parse_program
from vta_hw.bundle import Bundle
from vta_hw.config import DEFAULT, TINY
from vta_sim import simulate

ROOT = Path(__file__).resolve().parents[2]


def doc_example() -> str:
    """The GEMM example of docs/assembly.md (so the page's program is the tested one)."""
    text = (ROOT / "docs" / "assembly.md").read_text()
    (block,) = re.findall(r"```asm\n(.*?)```", text, re.S)
    return block


RSHR = """\
# rounding right shift of 8 int32 accumulators (two tiny acc elements), saturated to int8
.data acc int32 1000000 -1000000 4096 -4096 2047 2048 -2049 123456789
.zeros out 8
.uops k
UOP dst=0
UOP dst=1
LOAD mem=uop dram_base=@k y_size=1 x_size=2 x_stride=2
LOAD mem=acc dram_base=@acc y_size=1 x_size=2 x_stride=2
ALU alu_op=rshr use_imm=1 imm=12 uop_end=2 iter_out=1 iter_in=1 deps=push_next
STORE mem=out dram_base=@out y_size=1 x_size=2 x_stride=2 deps=pop_prev,push_prev
FINISH deps=pop_next
"""


def test_the_documented_gemm_runs_from_the_cli(tmp_path, capsys):
    src = tmp_path / "gemm.s"
    src.write_text(doc_example())
    w = np.random.default_rng(3).integers(-128, 128, (4, 4), dtype=np.int8)
    (tmp_path / "w.bin").write_bytes(w.tobytes())
    assert main(["asm", str(src), "--data", f"w={tmp_path / 'w.bin'}", "--preset", "tiny"]) == 0
    assert "-> " + str(tmp_path / "gemm.vtab") in capsys.readouterr().out
    final = tmp_path / "final.bin"
    assert main(["run", str(tmp_path / "gemm.vtab"), "--dram-out", str(final)]) == 0
    bundle = Bundle.load(tmp_path / "gemm.vtab")
    y = np.frombuffer(bundle.read("y", final.read_bytes()), np.int8)
    x = np.array([1, -2, 3, -4])
    np.testing.assert_array_equal(y, np.clip(w.astype(np.int64) @ x, -128, 127))
    assert set(bundle.symbols) == {"x", "w", "y", "k"}
    assert bundle.symbols["x"].dtype == "int8" and bundle.symbols["k"].dtype == "uint32"


def test_inline_data_and_addresses_resolve():
    b = parse_program(RSHR, TINY).bundle()
    r = simulate(b)
    got = np.frombuffer(r.read(b, "out"), np.int8)
    acc = np.array([1000000, -1000000, 4096, -4096, 2047, 2048, -2049, 123456789], np.int64)
    np.testing.assert_array_equal(got, np.clip((acc + (1 << 11)) >> 12, -128, 127))
    load_acc = b.instructions()[1]
    assert load_acc.dram_base * TINY.acc_elem_bytes == b.symbols["acc"].addr
    store = b.instructions()[3]
    assert store.dram_base * TINY.out_elem_bytes == b.symbols["out"].addr


def test_offsets_count_elements_of_the_memory_type():
    prog = parse_program(".zeros y 64\nSTORE mem=out dram_base=@y+3 y_size=1 x_size=1 "
                         "x_stride=1\nFINISH\n", DEFAULT)
    b = prog.bundle()
    assert b.instructions()[0].dram_base == b.symbols["y"].addr // DEFAULT.out_elem_bytes + 3


def test_a_program_without_regions_is_raw_words_and_round_trips(tmp_path, capsys):
    text = "LOAD mem=inp y_size=1 x_size=4 x_stride=4 deps=push_next\nFINISH deps=pop_next\n"
    assert parse_program(text, TINY).words() == isa.encode_program(isa.assemble(text, TINY), TINY)
    src = tmp_path / "p.s"
    src.write_text(text)
    assert main(["asm", str(src), "--preset", "tiny"]) == 0  # no data: SOURCE.bin
    assert (tmp_path / "p.bin").stat().st_size == 32
    assert main(["asm", str(src), "--preset", "tiny", "-o", str(tmp_path / "p.vtab")]) == 0
    capsys.readouterr()
    assert main(["disasm", str(tmp_path / "p.vtab")]) == 0
    assert capsys.readouterr().out == text


def test_a_program_with_regions_defaults_to_a_bundle(tmp_path, capsys):
    (tmp_path / "r.s").write_text(RSHR)
    assert main(["asm", str(tmp_path / "r.s"), "--preset", "tiny"]) == 0
    assert Bundle.load(tmp_path / "r.vtab").insn_count == 5
    assert main(["asm", str(tmp_path / "r.s"), "--preset", "tiny", "-o",
                 str(tmp_path / "r.bin")]) == 2
    assert "raw instruction words cannot hold data" in capsys.readouterr().err
    assert not (tmp_path / "r.bin").exists()


def test_file_data_is_relative_to_the_source(tmp_path):
    (tmp_path / "x.bin").write_bytes(bytes(range(16)))
    b = parse_program(".data x file=x.bin\nFINISH\n", TINY).bundle(base_dir=tmp_path)
    assert b.read("x") == bytes(range(16))
    with pytest.raises(isa.AsmError, match="line 1: region 'x': cannot read"):
        parse_program(".data x file=nope.bin\nFINISH\n", TINY).bundle(base_dir=tmp_path)


@pytest.mark.parametrize("text, data, message", [
    ("LOAD mem=inp dram_base=@nope y_size=1 x_size=1 x_stride=1\nFINISH\n", None,
     r"line 1: no region named 'nope'"),
    (".data x\nFINISH\n", None, r"line 1: region 'x' has no contents: give them with --data x"),
    (".data x int8 1\nFINISH\n", {"x": b"\1"}, r"region 'x' has contents in the program"),
    (".uops k\nUOP dst=0\nFINISH\n", {"k": b"\1"}, r"line 1: region 'k' is a micro-op kernel"),
    (".data x int8 1\n.zeros x 4\nFINISH\n", None, r"line 2: region 'x' already declared on "
                                                   r"line 1"),
    ("UOP dst=1\nFINISH\n", None, r"line 1: UOP outside a micro-op kernel"),
    (".uops k\nFINISH\n", None, r"line 1: micro-op kernel 'k' has no UOP lines"),
    (".uops k\nUOP dst=1 bad=2\nFINISH\n", None, r"line 2: UOP takes dst=N, src=N, wgt=N"),
    (".uops k\nUOP dst=999999\nFINISH\n", None, r"line 2: UOP dst=999999 does not fit"),
    (".data x int8 300\nFINISH\n", None, r"line 1: 300 does not fit int8"),
    (".data x float 1.0\nFINISH\n", None, r"line 1: .data contents are file=PATH or a type"),
    (".zeros y -4\nFINISH\n", None, r"line 1: .zeros size must be positive"),
    (".align 4\nFINISH\n", None, r"line 1: unknown directive '.align'"),
    (".zeros y 4\nGEMM dram_base=@y\nFINISH\n", None, r"line 2: GEMM has no field 'dram_base'"),
    (".zeros y 4\nLOAD mem=inp y_size=1 x_size=1 x_stride=1\n", None,
     r"must end with FINISH"),
    ("# nothing\n\n", None, r"the program has no instructions"),
    ("LOAD mem=inp deps=pop_prev\nFINISH\n", None, r"line 1: LOAD runs on the load module, "
                                                   r"which has no previous module"),
    (".zeros y 4\nSTORE mem=out dram_base=@y-1000000000 y_size=1 x_size=1 x_stride=1\nFINISH\n",
     None, r"line 2: dram_base=@y-1000000000 is -\d+, outside the field's range"),
])
def test_errors_name_the_line(text, data, message):
    with pytest.raises(isa.AsmError, match=message):
        parse_program(text, TINY).bundle(data)


def test_data_from_the_command_line_adds_regions(tmp_path, capsys):
    (tmp_path / "p.s").write_text("LOAD mem=inp dram_base=@extra y_size=1 x_size=1 x_stride=1 "
                                  "deps=push_next\nNOP module=compute deps=pop_prev\n"
                                  "FINISH\n")
    (tmp_path / "e.bin").write_bytes(b"\x07" * 4)
    assert main(["asm", str(tmp_path / "p.s"), "--preset", "tiny", "--data",
                 f"extra={tmp_path / 'e.bin'}"]) == 0
    b = Bundle.load(tmp_path / "p.vtab")
    assert b.read("extra") == b"\x07" * 4
    assert main(["asm", str(tmp_path / "p.s"), "--data", "noequals"]) == 2
    assert "expected NAME=FILE" in capsys.readouterr().err
