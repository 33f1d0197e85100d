"""Shared fixtures for the cpu_gpu_backends tests."""

from __future__ import annotations

import pytest

from cpu_gpu_backends.backend import CpuBackend, CpuOptions
from tests.toolchain import require_ptxas


@pytest.fixture(scope="session")
def cpu() -> CpuBackend:
    """One backend (2-thread pool) for the whole session: its JIT cache is shared."""
    return CpuBackend(CpuOptions(threads=2))


@pytest.fixture(scope="session")
def ptxas() -> str:
    """ptxas: skip without it locally, fail under CI (tests/toolchain.py)."""
    return require_ptxas()
