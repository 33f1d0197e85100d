"""``compute.plan``: the pipeline registers of every legal depth respect the timing model.

The cycle-exact co-simulation checks the presets' plans end to end; this checks the two bounds
(writes land by the earliest retire; an acc read and its write stay inside the hazard window)
for every depth pair, and that the registers the FPGA timing depends on are placed.
"""

from __future__ import annotations

import pytest

from vta_hw.config import DEFAULT, PRESETS, TINY
from vta_hw.rtl.compute import plan


@pytest.mark.parametrize("base", [TINY, DEFAULT], ids=["tiny", "default"])
def test_every_depth_pair_within_bounds(base):
    for pg in range(2, 33):
        for pa in range(2, 33):
            st = plan(base.replace(gemm_pipeline_depth=pg, alu_pipeline_depth=pa))
            # GEMM (II = 1)
            assert st.gemm_read >= st.addr
            assert st.gemm_write <= pg + 2
            assert st.gemm_write - st.gemm_read <= pg - 1
            # ALU: immediate (II = 1) and tensor (II = 2); the out mirror within the body bound
            for tensor, ii in ((False, 1), (True, 2)):
                assert st.alu_write(tensor) <= pa + ii + 1
                assert st.alu_out_write(tensor) <= pa + ii + 1
            assert st.alu_write(False) - st.addr <= pa - 1


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_split_the_multiply(name):
    """Every preset's ALU has a register inside the 32x32 multiply (the measured critical
    path without it) and one on the operands."""
    st = plan(PRESETS[name])
    assert st.alu_in and st.alu_mid


def test_more_depth_never_removes_a_register():
    prev = None
    for pa in range(2, 12):
        st = plan(DEFAULT.replace(alu_pipeline_depth=pa))
        regs = st.alu_in + st.alu_mid + st.alu_out
        if prev is not None:
            assert regs >= prev
        prev = regs
