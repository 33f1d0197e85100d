"""Co-simulation: the same bundle on the simulator and on the RTL gives the same final DRAM
bytes and the same cycle count (Verilator for everything; Amaranth's simulator for the
smallest cases)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from tests.programs.corpus import CORPUS
from tests.programs.random_programs import bundles, random_bundle
from vta_hw.cosim import DramRangeError, RtlDeadlockError, RtlTimeoutError
from vta_sim import DeadlockError, simulate

from .conftest import PRESETS, SLOW_DRAM, VARIANTS
from .helpers import deadlock_program, hazard_boundary, out_mode_sweep

pytestmark = pytest.mark.cosim

RANDOM_PROGRAMS = 60  # per preset in the default run (a few seconds each on Verilator)
RANDOM_PROGRAMS_SLOW = 250  # per preset under -m slow


def _agree(bundle, **kw):
    from vta_hw.cosim.verilator import run_bundle

    sim = simulate(bundle, check_races=True)  # and no two modules race
    rtl = run_bundle(bundle, **kw)
    name = bundle.meta.get("program", "")
    assert rtl.dram == sim.dram, f"{name}: final DRAM differs"
    assert rtl.cycles == sim.cycles, f"{name}: RTL {rtl.cycles} cycles, simulator {sim.cycles}"
    return sim, rtl


@pytest.mark.parametrize("program", sorted(CORPUS))
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_corpus(verilator_model, preset, program):
    cfg = PRESETS[preset]
    verilator_model(cfg)
    _agree(CORPUS[program](cfg))


@pytest.mark.parametrize("kind", ["gemm", "alu_imm", "alu_tensor"])
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_hazard_window_boundary(verilator_model, preset, kind):
    cfg = PRESETS[preset]
    verilator_model(cfg)
    _agree(hazard_boundary(cfg, kind))


@pytest.mark.parametrize("name", sorted(PRESETS) + sorted(VARIANTS))
def test_out_mode_sweep(verilator_model, name):
    """The GEMM out mirror under every OUTMODE, on the int32 edges of each shift (random
    programs rarely store what a GEMM wrote under a mode)."""
    from vta_sim.effects import requantize8

    cfg = {**PRESETS, **VARIANTS}[name]
    verilator_model(cfg)
    bundle, modes = out_mode_sweep(cfg)
    sim, _ = _agree(bundle)
    want = b"".join(requantize8(np.array(v), s, relu).tobytes() for s, relu, v in modes)
    assert sim.read(bundle, "output") == want


def _random_test(preset: str):
    cfg = PRESETS[preset]

    @settings(max_examples=RANDOM_PROGRAMS, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(bundles(cfg))
    def run(bundle):
        _agree(bundle)

    return run


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_random_programs(verilator_model, preset):
    """Random programs that compute and stall (``tests/programs/random_programs.py``)."""
    verilator_model(PRESETS[preset])
    _random_test(preset)()


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_random_programs_many(verilator_model, preset):
    """Seeds 0..249 on each preset: the corpus the sensitivity check measures, in full."""
    cfg = PRESETS[preset]
    verilator_model(cfg)
    for seed in range(RANDOM_PROGRAMS_SLOW):
        bundle = random_bundle(cfg, seed)
        try:
            _agree(bundle)
        except AssertionError as e:
            raise AssertionError(f"seed {seed} on {preset}: {e}") from None


def test_slow_dram_config(verilator_model):
    """Long latency and a one-byte bus: every element is assembled from many beats."""
    verilator_model(SLOW_DRAM)
    for name in ("gemm_basic", "load_acc_store", "matmul_vt2", "store_overlapping_rows"):
        _agree(CORPUS[name](SLOW_DRAM))
    for seed in range(40):
        _agree(random_bundle(SLOW_DRAM, seed))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_config_variants(verilator_model, variant):
    cfg = VARIANTS[variant]
    verilator_model(cfg)
    for name in sorted(CORPUS):
        _agree(CORPUS[name](cfg))
    for kind in ("gemm", "alu_imm", "alu_tensor"):
        _agree(hazard_boundary(cfg, kind))
    for seed in range(60):
        _agree(random_bundle(cfg, seed))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_workloads(verilator_model, preset):
    """The simulator's blocked matmul and conv2d generators: real kernels, thousands of
    cycles, double-buffered with virtual threads."""
    from vta_sim.workloads import blocked_conv2d, blocked_matmul

    cfg = PRESETS[preset]
    verilator_model(cfg)
    b, bi, bo = cfg.batch, cfg.block_in, cfg.block_out
    for w in (blocked_matmul(cfg, 8 * b, 6 * bo, 3 * bi, tile_m=2, tile_n=2),
              blocked_matmul(cfg, 2 * b, 2 * bo, 2 * bi, virtual_threads=1),
              blocked_conv2d(cfg, 6, 5, 2 * bi, 2 * bo)):
        sim, _ = _agree(w.bundle)
        got = sim.read(w.bundle, w.output)
        assert got == w.expected.astype("int8").tobytes()


@pytest.mark.parametrize("preset", ["tiny", "wide"])
def test_backpressure_dram_same_results(verilator_model, preset):
    """A slow, bursty DRAM (refused requests, gaps, late acknowledges): the same bytes, and
    never fewer cycles than the contract timing."""
    from vta_hw.cosim.verilator import run_bundle

    cfg = PRESETS[preset]
    verilator_model(cfg)
    programs = [CORPUS[n](cfg) for n in sorted(CORPUS)]
    programs += [random_bundle(cfg, 1000 + s) for s in range(40)]
    for seed, bundle in enumerate(programs):
        sim = simulate(bundle)
        rtl = run_bundle(bundle, backpressure_seed=seed)
        assert rtl.dram == sim.dram, bundle.meta.get("program", seed)
        assert rtl.cycles >= sim.cycles


@pytest.mark.parametrize("where", ["token", "after_finish", "full"])
def test_deadlock_is_detected(verilator_model, where):
    from vta_hw.cosim.verilator import run_bundle

    cfg = PRESETS["tiny"]
    verilator_model(cfg)
    bundle = deadlock_program(cfg, where)
    with pytest.raises(DeadlockError):
        simulate(bundle)
    with pytest.raises(RtlDeadlockError, match="no progress"):
        run_bundle(bundle)


def test_cycle_bound_and_dram_range(verilator_model):
    from vta_hw import isa
    from vta_hw.bundle import BundleBuilder
    from vta_hw.cosim.verilator import run_bundle

    cfg = PRESETS["tiny"]
    verilator_model(cfg)
    with pytest.raises(RtlTimeoutError):
        run_bundle(CORPUS["matmul_vt1"](cfg), max_cycles=50)
    bb = BundleBuilder(cfg)
    bb.set_program([isa.Load(mem=isa.MemType.INP, dram_base=10_000, y_size=1, x_size=1,
                             push_next=True), isa.Finish(pop_prev=True)])
    with pytest.raises(DramRangeError, match="outside"):
        run_bundle(bb.build())


# ---------------------------------------------------------------------------- Amaranth sim
@pytest.mark.parametrize("program", ["finish_only", "single_load", "gemm_basic", "alu_all_ops",
                                     "token_stall", "store_overlapping_rows"])
def test_amaranth_simulator_agrees(program):
    from vta_hw.cosim.amaranth_sim import run_amaranth

    bundle = CORPUS[program](PRESETS["tiny"])
    sim = simulate(bundle, check_races=True)  # and no two modules race
    rtl = run_amaranth(bundle)
    assert (rtl.cycles, rtl.dram) == (sim.cycles, sim.dram)


def test_amaranth_simulator_random_and_deadlock():
    from vta_hw.cosim.amaranth_sim import run_amaranth

    cfg = PRESETS["tiny"]
    for seed in range(3):  # three steps each: Amaranth's simulator runs ~1 k cycles/s
        bundle = random_bundle(cfg, seed, steps=3)
        sim = simulate(bundle)
        rtl = run_amaranth(bundle)
        assert (rtl.cycles, rtl.dram) == (sim.cycles, sim.dram)
    bp = run_amaranth(random_bundle(cfg, 0, steps=3), backpressure_seed=1)
    assert bp.dram == simulate(random_bundle(cfg, 0, steps=3)).dram
    with pytest.raises(RtlDeadlockError):
        run_amaranth(deadlock_program(cfg, "token"))
