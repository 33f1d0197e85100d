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


def test_the_timing_device_runs_a_bundle_in_the_full_simulators_cycles():
    """``open_device("sim", timing_only=True)``, the device a sweep opens: the same cycles
    as ``sim``; no other device and no spec string gives a timing-only run."""
    from runtime.device import DeviceError
    from runtime.devices import open_device, run_bundle
    from runtime.sim_device import SimDevice

    b = CORPUS[sorted(CORPUS)[0]](TINY)
    timing = open_device("sim", TINY, timing_only=True)
    assert isinstance(timing, SimDevice) and timing.timing_only
    assert run_bundle(timing, b).cycles == run_bundle(open_device("sim", TINY), b).cycles
    for spec in ("rtl", "sim:timing"):
        with pytest.raises(DeviceError):
            open_device(spec, TINY, timing_only=True)
    with pytest.raises(DeviceError):
        open_device("sim:timing", TINY)
