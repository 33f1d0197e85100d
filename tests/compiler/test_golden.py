"""Golden instruction streams catch unintended code generation changes.

On an intended change: ``python -m tests.compiler.regen_golden`` and review the diff.
"""

from __future__ import annotations

import difflib

import pytest

from tests.compiler.golden_cases import CASES, path, render
from vta_hw import isa
from vta_hw.config import PRESETS


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_stream(name):
    want = path(name).read_text()
    got = render(name)
    if got != want:
        diff = "".join(list(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                                 "golden", "now"))[:60])
        pytest.fail(f"instruction stream of {name!r} changed; if intended, run "
                    f"`python -m tests.compiler.regen_golden`\n{diff}")


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_assembles(name):
    """The golden text is valid assembly for its config (round trip through the assembler)."""
    text = path(name).read_text()
    cfg_name = next(line.split()[2] for line in text.splitlines() if line.startswith("# config"))
    cfg = PRESETS[cfg_name]
    insns = isa.assemble(text, cfg)
    assert isa.disassemble_program(insns, cfg) == "".join(
        line + "\n" for line in text.splitlines() if not line.startswith("#"))
