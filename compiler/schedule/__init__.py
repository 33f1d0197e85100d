"""Schedules: the space (``space``), legality before codegen (``legality``), defaults
(``heuristic``)."""

from compiler.schedule.heuristic import default_schedule, gemm_cost
from compiler.schedule.legality import check_schedule
from compiler.schedule.space import AluSchedule, GemmGeom, GemmSchedule, gemm_geometry

__all__ = ["GemmSchedule", "AluSchedule", "GemmGeom", "gemm_geometry", "check_schedule",
           "default_schedule", "gemm_cost"]
