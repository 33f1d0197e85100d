"""Errors of the SoC generator (bad options, sizes that cannot be built)."""

from vta_hw.errors import VtaError


class SocError(VtaError, ValueError):
    """An SoC option is invalid or cannot be realised; the message names the option."""
