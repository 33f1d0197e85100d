"""Cycle-accurate simulator of the accelerator: the executable spec of the timing model.

>>> from vta_sim import simulate
>>> result = simulate(bundle)          # doctest: +SKIP
>>> result.cycles, result.stats.utilization   # doctest: +SKIP
"""

from vta_sim.engine import InsnRecord
from vta_sim.errors import (
    CycleLimitError,
    DeadlockError,
    HazardError,
    IllegalInstructionError,
    OutOfRangeError,
    SimError,
)
from vta_sim.races import RaceError, RaceReport, check_races, find_races
from vta_sim.simulator import SimResult, simulate, simulate_image
from vta_sim.stats import ModuleStats, SimStats

__all__ = ["simulate", "simulate_image", "SimResult", "SimStats", "ModuleStats", "InsnRecord",
           "SimError", "DeadlockError", "HazardError", "IllegalInstructionError",
           "OutOfRangeError", "CycleLimitError", "RaceError", "RaceReport", "check_races",
           "find_races"]
