"""The vectorized simulator equals the per-micro-op reference bit for bit."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.programs.corpus import CORPUS
from tests.programs.random_programs import random_bundle
from tests.reference import run_reference
from vta_hw.config import PRESETS, HwConfig
from vta_sim import simulate

CONFIGS = list(PRESETS.values())


def assert_same(bundle):
    sim = simulate(bundle, check_races=True)  # and no two modules race
    ref = run_reference(bundle)
    assert sim.dram == bytes(ref.dram), "final DRAM differs"
    cfg = bundle.config
    np.testing.assert_array_equal(sim.state.acc, ref.acc_array())
    np.testing.assert_array_equal(
        sim.state.out, np.array(ref.out, np.int64).reshape(sim.state.out.shape))
    np.testing.assert_array_equal(
        sim.state.inp, np.array(ref.inp, np.int64).reshape(sim.state.inp.shape))
    np.testing.assert_array_equal(
        sim.state.wgt, np.array(ref.wgt, np.int64).reshape(sim.state.wgt.shape))
    np.testing.assert_array_equal(sim.state.uop, np.array(ref.uop, np.uint32))
    assert sim.cycles > 0 and cfg is bundle.config
    return sim


@pytest.mark.parametrize("cfg", CONFIGS, ids=[c.name for c in CONFIGS])
@pytest.mark.parametrize("name", list(CORPUS))
def test_corpus_matches_reference(cfg, name):
    assert_same(CORPUS[name](cfg))


@pytest.mark.parametrize("cfg", CONFIGS, ids=[c.name for c in CONFIGS])
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_random_programs_match_reference(cfg, seed):
    assert_same(random_bundle(cfg, seed))


@st.composite
def configs(draw):
    """Random legal configurations: batch > 1, non-square cores, odd DRAM models."""
    log_bi = draw(st.integers(1, 3))
    log_bo = draw(st.integers(1, 3))
    return HwConfig(
        name="random", log_batch=draw(st.integers(0, 2)), log_block_in=log_bi,
        log_block_out=log_bo, log_uop_buff_depth=draw(st.integers(7, 10)),
        log_inp_buff_depth=draw(st.integers(6, 9)), log_wgt_buff_depth=draw(st.integers(5, 8)),
        log_acc_buff_depth=(la := draw(st.integers(6, 9))),
        log_out_buff_depth=draw(st.integers(5, la)),
        log_cmd_queue_depth=draw(st.integers(1, 4)),
        log_token_queue_depth=draw(st.integers(1, 3)),
        dram_latency=draw(st.integers(1, 40)),
        log_dram_bytes_per_cycle=draw(st.integers(0, 5)),
        gemm_pipeline_depth=draw(st.integers(2, 8)), alu_pipeline_depth=draw(st.integers(2, 8)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=configs(), seed=st.integers(0, 2**32 - 1))
def test_random_configs_and_programs_match_reference(cfg, seed):
    assert_same(random_bundle(cfg, seed))
