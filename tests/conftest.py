"""Test-wide settings.

Hypothesis profiles: property tests explore new examples on every local run (that is how
they find bugs), but CI must be reproducible -- a red CI run that a rerun turns green tells
nobody anything.  With ``CI`` set (``CI=true``, as the CI machine runs ``.ci/run``) the
``ci`` profile derandomizes every property test (the examples are a function of the test)
and prints the reproduction blob of a failure; a test's own ``@settings`` still overrides
the example counts.  ``HYPOTHESIS_PROFILE=ci`` selects it locally.

Toolchain tiers: a test that needs Verilator and a C++ compiler uses the ``needs_verilator``
fixture (or ``verilator_model`` in ``tests/vta_hw``): without them it skips with the reason
locally and fails under ``CI`` (``tests/toolchain.py``), so co-simulation never vanishes
from a green CI run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from tests.toolchain import in_ci, require_verilator

settings.register_profile("ci", derandomize=True, print_blob=True, database=None)
settings.register_profile("dev", print_blob=True)

settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if in_ci() else "dev"))


@pytest.fixture
def needs_verilator() -> None:
    """For tests that run Verilator: skip without it locally, fail under CI."""
    require_verilator()


@pytest.fixture(scope="session")
def gpu():
    """The machine's NVIDIA GPU (``runtime.gpu_device.GpuDevice``) for the ``gpu``-marked
    tests; without one (no cuda-python, driver or card) they skip with the reason."""
    from runtime.device import DeviceError
    from runtime.gpu_device import GpuDevice

    try:
        return GpuDevice()
    except DeviceError as exc:
        pytest.skip(f"no usable GPU: {exc}")


@pytest.fixture(scope="session")
def run_cache_dir(tmp_path_factory) -> Path:
    """A ``VTA_CACHE_DIR`` shared by every worker of this test run and by no other run.

    The tests that make the same real FPGA build (``tests/fpga/test_flow.py``'s CLI test and
    notebook 04) point the cache here: the second reads the first's entry (waiting on its
    lock when they run at once under ``-n 2``), while each run still builds once with the
    tools of the day, and nothing lands in the user's ``~/.cache/vta``.
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # pytest-N/popen-gwK -> pytest-N: this run's, every worker's
    path = base / "vta-cache"
    path.mkdir(exist_ok=True)
    return path
