"""``compute.plan``: the pipeline registers of every legal depth respect the timing model.

The cycle-exact co-simulation checks the presets' plans end to end; this checks the two bounds
(writes land by the earliest retire; an acc read and its write stay inside the hazard window)
for every depth pair, and that the registers the FPGA timing depends on are placed.
"""

from __future__ import annotations

import pytest

from vta_hw.config import DEFAULT, PRESETS, TINY
from vta_hw.rtl.compute import plan

from .conftest import VARIANTS


@pytest.mark.parametrize("base", [TINY, DEFAULT], ids=["tiny", "default"])
def test_every_depth_pair_within_bounds(base):
    for pg in range(2, 33):
        for pa in range(2, 33):
            st = plan(base.replace(gemm_pipeline_depth=pg, alu_pipeline_depth=pa))
            # GEMM (II = 1)
            assert st.gemm_read >= st.addr
            assert st.gemm_write <= pg + 2
            assert st.gemm_write - st.gemm_read <= pg - 1
            assert st.gemm_out_write <= pg + 2
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


@pytest.mark.parametrize("base", [TINY, DEFAULT], ids=["tiny", "default"])
def test_gemm_out_late_wherever_the_body_bound_has_room(base):
    """Qr (the requantized GEMM mirror registered) is placed exactly when the end-of-body
    bound leaves a cycle after the acc write, and only behind Qg (which it does not replace)."""
    for pg in range(2, 33):
        for pa in (2, 4):
            st = plan(base.replace(gemm_pipeline_depth=pg, alu_pipeline_depth=pa))
            assert st.gemm_out_late == (st.gemm_write + 1 <= pg + 2)
            assert st.gemm_out or not st.gemm_out_late


def test_a_cosim_variant_places_gemm_out_late():
    """The presets spend the GEMM budget on the array (no Qr), so a co-simulated variant
    must place it for the cycle-exact tests to cover it."""
    assert plan(VARIANTS["p9_batch2"]).gemm_out_late
