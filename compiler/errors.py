"""Errors the operator compiler raises on purpose; all derive from :class:`VtaError`."""

from __future__ import annotations

from opset.errors import LayoutError, OpError  # the operator vocabulary's, re-exported
from vta_hw.errors import VtaError


class CompilerError(VtaError):
    """Base class: an operator, schedule or program the compiler cannot turn into code."""


class UnsupportedError(CompilerError, ValueError):
    """A valid operator this compiler (or this hardware configuration) does not support."""


class ScheduleError(CompilerError, ValueError):
    """A schedule breaks a hardware limit; the message names the limit and the values."""


class VerifyError(CompilerError):
    """An IR invariant does not hold after a pass (a compiler bug, named by the pass)."""


class TokenError(CompilerError):
    """A dependency-token stream is unbalanced or can deadlock; names instruction and queue."""


__all__ = ["CompilerError", "OpError", "UnsupportedError", "ScheduleError", "LayoutError",
           "VerifyError", "TokenError"]
