"""A timing-only run (no data effects) has the full run's cycles, instruction records and
statistics on every corpus program, and leaves the DRAM as it was."""

from __future__ import annotations

import pytest

from tests.programs.corpus import CORPUS
from vta_hw.config import TINY
from vta_sim.simulator import simulate_image


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_timing_only_run_has_the_full_runs_timing(name):
    b = CORPUS[name](TINY)
    full = simulate_image(TINY, b.dram, b.insn_addr, b.insn_count, check_races=True)
    timing = simulate_image(TINY, b.dram, b.insn_addr, b.insn_count, check_races=True,
                            timing_only=True)
    assert timing.cycles == full.cycles
    assert timing.records == full.records
    assert timing.stats == full.stats
    assert timing.dram == bytes(b.dram)


def test_the_corpus_computes_data_that_a_timing_only_run_skips():
    """The comparison above can fail: some program changes DRAM when it computes."""
    changed = [n for n, make in CORPUS.items()
               if (b := make(TINY)) and simulate_image(TINY, b.dram, b.insn_addr,
                                                       b.insn_count).dram != bytes(b.dram)]
    assert changed
