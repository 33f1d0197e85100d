"""Errors an operator description raises: inconsistent parameters, arrays that do not fit a
layout.  Both derive from :class:`vta_hw.errors.VtaError` (the CLI prints them as one line)
and from ``ValueError``; ``compiler.errors`` re-exports them under the same names."""

from __future__ import annotations

from vta_hw.errors import VtaError


class OpsetError(VtaError):
    """Base class of the operator vocabulary's errors."""


class OpError(OpsetError, ValueError):
    """An operator definition is inconsistent (shapes, strides, epilogue parameters)."""


class LayoutError(OpsetError, ValueError):
    """A host array does not match the layout it is packed into or unpacked from."""


__all__ = ["OpsetError", "OpError", "LayoutError"]
