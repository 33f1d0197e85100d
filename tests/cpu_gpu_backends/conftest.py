"""Shared fixtures for the cpu_gpu_backends tests."""

from __future__ import annotations

import shutil

import pytest

from cpu_gpu_backends.backend import CpuBackend, CpuOptions


@pytest.fixture(scope="session")
def cpu() -> CpuBackend:
    """One backend (2-thread pool) for the whole session: its JIT cache is shared."""
    return CpuBackend(CpuOptions(threads=2))


@pytest.fixture(scope="session")
def ptxas() -> str:
    path = shutil.which("ptxas")
    if path is None:
        pytest.skip("ptxas is not on PATH (CUDA toolkit not installed)")
    return path
