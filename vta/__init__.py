"""Open accelerator co-design toolkit: the public API.

The packages underneath are layered (imports only go down): ``compiler`` -> ``runtime`` ->
``vta_sim`` / ``vta_hw`` / ``cpu_gpu_backends`` -> the spec (``vta_hw.config``,
``vta_hw.isa``).  This facade re-exports what a user needs first.
"""

from vta_hw.bundle import Bundle, BundleBuilder, Region
from vta_hw.config import DEFAULT, PRESETS, TINY, WIDE, HwConfig, preset
from vta_hw.errors import VtaError

__all__ = ["Bundle", "BundleBuilder", "Region", "DEFAULT", "PRESETS", "TINY", "WIDE",
           "HwConfig", "preset", "VtaError"]
__version__ = "0.1.0"
