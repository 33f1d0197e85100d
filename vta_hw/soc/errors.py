"""Errors of the SoC generator (bad options, sizes that cannot be built)."""

from vta_hw.errors import VtaError


class SocError(VtaError, ValueError):
    """An SoC option is invalid or cannot be realised; the message names the option."""


def refuse(component: object, problem: str | None) -> None:
    """Raise SocError(``problem``) from the constructor of ``component`` when there is one,
    marking the half-built component as never to be elaborated (else Amaranth would also
    warn that it was created and not used)."""
    if problem is not None:
        component._MustUse__silence = True
        raise SocError(problem)
