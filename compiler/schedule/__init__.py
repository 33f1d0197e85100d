"""Schedules, below the lowering passes (which read them): the schedule values and their
geometry (``space``), the tiles a schedule cuts an operator into (``tiles``) and how a
tile's loops fold into instructions (``loops``), legality before codegen (``legality``),
the space of every schedule of an operator (``candidates``), a schedule's feature vector
(``features``) and the default as a ranking over the space (``heuristic``).

Nothing here imports ``compiler.lower`` or the pipeline: what needs the lowering's exact
cycle estimate takes it as an argument (``compiler.pipeline.estimate_cycles``).
"""

from compiler.schedule.candidates import ScheduleSpace, candidates
from compiler.schedule.features import FEATURE_NAMES, features
from compiler.schedule.heuristic import choose_schedule, gemm_cost
from compiler.schedule.legality import check_schedule
from compiler.schedule.space import AluSchedule, GemmGeom, GemmSchedule, gemm_geometry

__all__ = ["GemmSchedule", "AluSchedule", "GemmGeom", "gemm_geometry", "check_schedule",
           "choose_schedule", "gemm_cost", "candidates", "ScheduleSpace", "features",
           "FEATURE_NAMES"]
