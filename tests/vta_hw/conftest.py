"""Fixtures of the RTL tests: one Verilator build per config per session (cached on disk by
config hash and RTL version, so later sessions reuse it)."""

from __future__ import annotations

import pytest

from tests.toolchain import require_verilator
from vta_hw.config import DEFAULT, DEFAULT_85F, TINY, WIDE

PRESETS = {c.name: c for c in (TINY, DEFAULT, WIDE, DEFAULT_85F)}
# a slow DRAM: long latency, one byte per cycle (every element takes several beats)
SLOW_DRAM = TINY.replace(name="slow_dram", dram_latency=37, log_dram_bytes_per_cycle=0)
# corner cases of the RTL's parameterisation
VARIANTS = {
    # the shortest pipelines (unregistered accumulate) and a one-cycle DRAM with a bus wider
    # than most elements (narrow beats)
    "p2_widebus": TINY.replace(name="p2_widebus", gemm_pipeline_depth=2, alu_pipeline_depth=2,
                               dram_latency=1, log_dram_bytes_per_cycle=6),
    # long padded pipelines, two-entry queues; batch 2 with block_out != block_in
    "p9_batch2": TINY.replace(name="p9_batch2", log_batch=1, log_block_out=3,
                              gemm_pipeline_depth=9, alu_pipeline_depth=7,
                              log_cmd_queue_depth=1, log_token_queue_depth=1),
}


@pytest.fixture(scope="session")
def verilator_model():
    """``verilator_model(cfg)`` builds (or finds in the cache) the model of ``cfg``."""
    from vta_hw.cosim import verilator

    require_verilator()
    built = {}

    def get(cfg):
        if cfg not in built:
            built[cfg] = verilator.build(cfg)
        return built[cfg]

    return get
