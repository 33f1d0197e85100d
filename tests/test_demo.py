"""`vta demo`: the README's first command, end to end."""

import pytest


def test_demo_compiles_simulates_and_checks(tmp_path, capsys):
    from vta.cli import main

    assert main(["demo", "--preset", "tiny", "--size", "9", "--channels", "6",
                 "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "accelerator output == numpy integer reference: yes" in out
    assert "llvmlite CPU backend int8 conv == numpy: yes" in out
    assert "GEMM utilization" in out and "timeline plot:" in out
    for f in ("timeline.png", "trace.json", "conv.vtab"):
        assert (tmp_path / f).stat().st_size > 0


@pytest.mark.cosim
@pytest.mark.usefixtures("needs_verilator")
def test_demo_rtl_agrees(tmp_path, capsys):
    from vta.cli import main

    assert main(["demo", "--preset", "tiny", "--size", "6", "--channels", "4", "--rtl",
                 "-o", str(tmp_path)]) == 0
    assert "RTL (Verilator) == simulator" in capsys.readouterr().out


def test_demo_rejects_bad_sizes(capsys):
    from vta.cli import main

    assert main(["demo", "--preset", "tiny", "--size", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
