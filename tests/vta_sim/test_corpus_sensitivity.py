"""The random corpus sees data and timing: it computes, stalls in every way, and notices every
mutant of the simulator's effects.

Only random programs (``tests/programs/random_programs.py``, seeds 0..N-1) are used, never the
hand-written corpus: the point is that byte-for-byte agreement with the RTL over random
programs means something.  Every figure is measured on the simulator
(``tests/programs/sensitivity.py``), not taken from the generator's intentions.
"""

from __future__ import annotations

import contextlib
import functools

import pytest

from tests.programs import sensitivity
from tests.programs.mutants import MUTANTS, Mutant
from tests.programs.random_programs import random_bundle
from vta_hw import isa, timing
from vta_hw.config import DEFAULT, TINY
from vta_sim import effects, engine, simulate

PROGRAMS = 40  # seeds per preset: every mutant dies within them, in about 15 s per preset
PRESETS = {"default": DEFAULT, "tiny": TINY}


@functools.cache
def _corpus(preset: str):
    bundles = [random_bundle(PRESETS[preset], seed) for seed in range(PROGRAMS)]
    measured = [sensitivity.profile(b) for b in bundles]
    return bundles, [p for p, _ in measured], [r for _, r in measured]


def test_the_corpus_computes_on_default():
    _, profiles, _ = _corpus("default")
    gemm = sum(p.nonzero_gemm for p in profiles) / len(profiles)
    out = sum(p.nonzero_output for p in profiles) / len(profiles)
    assert gemm >= 0.9, f"only {gemm:.2f} of the programs have a non-zero GEMM product"
    assert out >= 0.9, f"only {out:.2f} of the programs store a non-zero byte"


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_stall_kind_occurs(preset):
    _, profiles, _ = _corpus(preset)
    seen = {k: sum(k in p.stalls for p in profiles) for k in sensitivity.STALL_KINDS}
    assert all(seen.values()), f"stall kinds never seen on {preset}: {seen}"


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_token_queue_is_found_full(preset):
    _, profiles, _ = _corpus(preset)
    seen = frozenset().union(*(p.full_queues for p in profiles))
    assert seen == set(isa.TOKEN_QUEUE_NAMES), sorted(set(isa.TOKEN_QUEUE_NAMES) - seen)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_instruction_form_occurs(preset):
    """Every ALU op with an immediate and a tensor operand, resets, overwrite, OUTMODE shift
    and ReLU, non-zero padding, every LOAD type, partial tiles stored into a wider matrix."""
    bundles, _, _ = _corpus(preset)
    seen = frozenset().union(*(sensitivity.instruction_forms(b) for b in bundles))
    assert sensitivity.ALL_FORMS <= seen, sorted(sensitivity.ALL_FORMS - seen)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_mutant_is_killed(preset):
    bundles, _, refs = _corpus(preset)
    kills = sensitivity.kills(MUTANTS, bundles, refs)
    alive = sorted(name for name, n in kills.items() if n == 0)
    assert not alive, f"mutants no random program on {preset} notices: {alive}"


def test_mutants_are_many_distinct_and_described():
    assert len(MUTANTS) >= 15
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)
    assert {m.kind for m in MUTANTS} == {"data", "timing"}
    assert all(m.description for m in MUTANTS)


def _seams() -> dict[str, object]:
    return {"effects": dict(vars(effects)), "timing": dict(vars(timing)),
            "engine": dict(vars(engine)), "Engine.__init__": engine.Engine.__init__}


def test_a_mutant_leaves_nothing_behind():
    """Every patch is undone on exit, also when the run inside raises; the simulator then
    gives the unmutated result again."""
    bundle = random_bundle(TINY, 3)
    ref = simulate(bundle)
    before = _seams()
    for m in MUTANTS:
        with pytest.raises(ZeroDivisionError), m.applied():
            with contextlib.suppress(Exception):  # a mutant may deadlock or go out of range
                simulate(bundle)
            raise ZeroDivisionError
        assert _seams() == before, m.name
    again = simulate(bundle)
    assert (again.cycles, again.dram) == (ref.cycles, ref.dram)


def test_no_change_is_not_a_kill():
    """The kill criterion is not trivially true: a mutant that patches nothing survives."""
    bundles, _, refs = _corpus("tiny")
    unchanged = Mutant("none", "no change", "data", lambda: [])
    assert not any(sensitivity.killed_by(unchanged, b, r)
                   for b, r in zip(bundles[:5], refs[:5], strict=True))
