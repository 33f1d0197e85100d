import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vta_hw import isa
from vta_hw.config import PRESETS

CONFIGS = list(PRESETS.values())
ROOT = Path(__file__).resolve().parents[2]


def field_values(fmt: isa.Format, draw):
    values = {}
    for f in fmt.fields:
        if f.name == "opcode":
            continue
        if f.enum is not None:
            values[f.name] = draw(st.sampled_from(list(f.enum)))
        elif f.width == 1:
            values[f.name] = draw(st.booleans())
        else:
            values[f.name] = draw(st.integers(f.min, f.max))
    return values


@st.composite
def instructions(draw, cfg):
    opcode = draw(st.sampled_from(list(isa.Opcode)))
    values = field_values(isa.formats(cfg)[opcode], draw)
    return isa.INSN_CLASSES[opcode](**values)


@pytest.mark.parametrize("cfg", CONFIGS, ids=[c.name for c in CONFIGS])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_encode_decode_and_asm_round_trip_every_format(cfg, data):
    insn = data.draw(instructions(cfg))
    word = isa.encode(insn, cfg)
    assert len(word) == isa.INSN_BYTES
    assert isa.decode(word, cfg) == insn
    text = isa.disassemble(insn, cfg)
    assert isa.assemble_line(text, cfg) == insn
    assert isa.disassemble(isa.assemble_line(text, cfg), cfg) == text


@pytest.mark.parametrize("cfg", CONFIGS, ids=[c.name for c in CONFIGS])
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_uop_round_trip(cfg, data):
    fmt = isa.uop_format(cfg)
    u = isa.Uop(**{f.name: data.draw(st.integers(0, f.max)) for f in fmt.fields})
    word = isa.encode_uop(u, cfg)
    assert 0 <= word < 2**32
    assert isa.decode_uop(word, cfg) == u


@pytest.mark.parametrize("cfg", CONFIGS, ids=[c.name for c in CONFIGS])
def test_every_format_fits_and_tables_are_contiguous(cfg):
    for fmt in isa.formats(cfg).values():
        assert fmt.total_bits <= isa.INSN_BITS
        offs = fmt.offsets
        assert offs["opcode"] == (0, isa.OPCODE_BITS)
        lsb = 0
        for f in fmt.fields:
            assert offs[f.name] == (lsb, f.width)
            lsb += f.width
    assert isa.uop_format(cfg).total_bits <= isa.UOP_BITS


def test_dataclass_fields_match_tables():
    cfg = CONFIGS[0]
    for op, cls in isa.INSN_CLASSES.items():
        table = {f.name for f in isa.formats(cfg)[op].fields} - {"opcode"}
        fields = set(cls.__dataclass_fields__) - {"OPCODE"}
        assert table == fields, cls


def test_decode_errors_name_the_problem():
    cfg = CONFIGS[0]
    with pytest.raises(isa.DecodeError, match="unknown opcode 7"):
        isa.decode_int(7, cfg, 3)
    bad_mem = isa.encode_int(isa.Load(mem=isa.MemType.INP), cfg) | (7 << 7)
    with pytest.raises(isa.DecodeError, match="MemType"):
        isa.decode_int(bad_mem, cfg)
    high = isa.encode_int(isa.Finish(), cfg) | (1 << 100)
    with pytest.raises(isa.DecodeError, match="non-zero bits"):
        isa.decode_int(high, cfg, 0)
    with pytest.raises(isa.DecodeError, match="multiple of 16"):
        isa.decode_program(b"\0" * 17, cfg)


def test_encode_rejects_out_of_range_fields():
    with pytest.raises(isa.EncodeError, match="y_size=70000"):
        isa.encode(isa.Load(mem=isa.MemType.INP, y_size=70000), CONFIGS[0])
    with pytest.raises(isa.EncodeError, match="imm"):
        isa.encode(isa.Alu(imm=40000), CONFIGS[0])


@pytest.mark.parametrize("text, fragment", [
    ("JUMP x=1", "unknown mnemonic"),
    ("LOAD y_size=1", "needs mem"),
    ("LOAD mem=foo", "not one of"),
    ("GEMM imm=3", "no field 'imm'"),
    ("ALU imm=abc", "not an integer"),
    ("ALU imm=99999", "does not fit"),
    ("NOP deps=pop_sideways", "unknown dependency flag"),
    ("GEMM iter_out=1 iter_out=2", "given twice"),
    ("GEMM 5", "name=value"),
])
def test_assembler_errors_name_the_line(text, fragment):
    with pytest.raises(isa.AsmError, match=fragment):
        isa.assemble("# comment\n\n" + text, CONFIGS[0])
    with pytest.raises(isa.AsmError, match="line 3"):
        isa.assemble("# comment\n\n" + text, CONFIGS[0])


def test_semantic_checks():
    cfg = CONFIGS[0]
    with pytest.raises(isa.IsaError, match="no previous module"):
        isa.check(isa.Load(mem=isa.MemType.INP, pop_prev=True), cfg, 0)
    with pytest.raises(isa.IsaError, match="no next module"):
        isa.check(isa.Store(push_next=True), cfg, 0)
    with pytest.raises(isa.IsaError, match="only the out buffer"):
        isa.check(isa.Store(mem=isa.MemType.ACC), cfg, 0)
    with pytest.raises(isa.IsaError, match="cannot pad"):
        isa.check(isa.Store(x_pad_0=1), cfg, 0)
    with pytest.raises(isa.IsaError, match="out buffer"):
        isa.check(isa.Load(mem=isa.MemType.OUT), cfg, 0)
    with pytest.raises(isa.IsaError, match="uop_end"):
        isa.check(isa.Gemm(uop_bgn=3, uop_end=2), cfg, 0)
    with pytest.raises(isa.IsaError, match="OUTMODE takes its mode from the immediate"):
        isa.check(isa.Alu(alu_op=isa.AluOp.OUTMODE, imm=5), cfg, 0)
    # uop/acc loads run on compute, which has both neighbours
    isa.check(isa.Load(mem=isa.MemType.ACC, pop_prev=True, push_next=True), cfg, 0)
    assert isa.module_of(isa.Load(mem=isa.MemType.UOP)) == isa.Module.COMPUTE


def test_spec_modules_import_nothing_heavy():
    code = ("import sys\n"
            "for m in ('amaranth', 'numpy', 'llvmlite', 'matplotlib', 'xgboost', 'onnx'):\n"
            "    sys.modules[m] = None\n"
            "import vta_hw.config, vta_hw.isa, vta_hw.timing, vta_hw.bundle\n"
            "from vta_hw.config import DEFAULT, PRESETS\n"
            "vta_hw.isa.markdown_table(DEFAULT)\n"
            "for cfg in PRESETS.values():\n"
            "    vta_hw.timing.dram_timing(cfg).c_defines()\n"
            "    vta_hw.timing.instruction_cycles(cfg, vta_hw.isa.Gemm(uop_end=1, iter_out=1,\n"
            "                                                         iter_in=1))\n"
            "heavy = [m for m in ('amaranth', 'numpy', 'llvmlite') if sys.modules.get(m)]\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_docs_isa_table_is_generated_from_the_tables():
    assert (ROOT / "docs" / "isa.md").read_text() == isa.markdown_table(CONFIGS[0]), \
        "docs/isa.md is stale: run `vta docs isa -o docs/isa.md`"


def test_cli_asm_disasm_round_trip(tmp_path, capsys):
    from vta.cli import main

    src = tmp_path / "p.s"
    src.write_text("LOAD mem=inp y_size=1 x_size=4 x_stride=4 deps=push_next  # a load\n"
                   "GEMM uop_end=1 iter_out=1 iter_in=1 deps=pop_prev\nFINISH\n")
    assert main(["asm", str(src), "--preset", "tiny", "-o", str(tmp_path / "p.bin")]) == 0
    assert (tmp_path / "p.bin").stat().st_size == 48
    capsys.readouterr()
    assert main(["disasm", str(tmp_path / "p.bin"), "--preset", "tiny"]) == 0
    out = capsys.readouterr().out
    assert out == ("LOAD mem=inp y_size=1 x_size=4 x_stride=4 deps=push_next\n"
                   "GEMM uop_end=1 iter_out=1 iter_in=1 deps=pop_prev\nFINISH\n")
    src.write_text("LOAD mem=inp deps=pop_prev\n")
    assert main(["asm", str(src)]) == 2
    assert "no previous module" in capsys.readouterr().err
    assert main(["disasm", str(tmp_path / "nope.bin")]) == 2
