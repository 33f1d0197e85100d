"""The accelerator in Amaranth 0.5: one ``wiring.Component`` per unit, built from an HwConfig.

``VtaCore(cfg)`` is the top level; ``docs/rtl.md`` describes the architecture and how each
rule of the timing model (``docs/timing.md``) is realised.  Importing this package needs
Amaranth; the spec layer (``vta_hw.config``, ``vta_hw.isa``, ``vta_hw.timing``) does not.
"""

from vta_hw.rtl.core import ControlStatus, VtaCore

__all__ = ["VtaCore", "ControlStatus"]
