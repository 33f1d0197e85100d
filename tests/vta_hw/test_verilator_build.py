"""The one Verilator builder (``vta_hw.cosim.verilator.build_model``) behind the core and the
SoC models: a cached model is found without building, and a failed build raises the caller's
error with Verilator's reason and leaves nothing a later run would start."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.toolchain import require_verilator
from vta_hw.cosim.verilator import build_model
from vta_hw.soc.sim import SocSimError

MAIN = '#include "Vblink.h"\nint main() { Vblink m; m.clk = 0; m.eval(); return 0; }\n'


def _sources(verilog: str, calls: list):
    def write(tmp: Path) -> list[str]:
        calls.append(tmp)
        (tmp / "blink.v").write_text(verilog)
        (tmp / "main.cpp").write_text(MAIN)
        return ["blink.v", "main.cpp"]
    return write


def test_a_cached_model_is_returned_without_building(tmp_path):
    """(A real build goes through ``build_model`` in every co-simulation test on a clean
    cache, as in CI; it takes a minute, too long to repeat here.)"""
    final = tmp_path / "blink-1"
    final.mkdir()
    (final / "blink_sim").write_text("built")

    def never(tmp: Path) -> list[str]:
        raise AssertionError("a cached model was rebuilt")

    assert build_model(final, "blink_sim", "blink", never) == final / "blink_sim"


def test_a_failed_build_raises_the_callers_error_and_leaves_nothing(tmp_path):
    require_verilator()
    final = tmp_path / "broken"
    with pytest.raises(SocSimError, match="Verilator build of the broken model failed"):
        build_model(final, "blink_sim", "blink", _sources("module blink(; endmodule\n", []),
                    error=SocSimError, what="broken model")
    # no model directory, no half-built temporary: only the lock file
    assert [p.name for p in tmp_path.iterdir()] == [".broken.lock"]
