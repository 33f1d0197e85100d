"""The operator compiler: quantized tensor operators -> accelerator instruction streams.

What is computed is an :mod:`opset` operator (the vocabulary every device shares; its classes
are re-exported here).  Folders in data-flow order (``docs/compiler.md``): ``schedule``
(how: tiles, order, virtual threads; legality; defaults), ``lower`` (one module per pass),
``pipeline`` (the pass tuple and runner), ``api`` (entry points).  The graph level
(``graph/``, ``frontend/``) and the autotuner (``autotune/``) build on these.

The compiler produces bundles and never runs them: the ``runtime`` devices do, and
``vta.api`` (``conv2d(x, w, ...)`` and friends, ``run_compiled``) joins the two.
"""

from compiler.api import ChainedProgram, CompiledOp, chain, compile_op, default_schedule
from compiler.errors import (
    CompilerError,
    LayoutError,
    OpError,
    ScheduleError,
    TokenError,
    UnsupportedError,
    VerifyError,
)
from compiler.layout import LayoutOptions
from compiler.lower.tokens import check_tokens
from compiler.pipeline import PASSES, estimate_cycles, run_pipeline
from compiler.schedule import (
    AluSchedule,
    GemmSchedule,
    ScheduleSpace,
    candidates,
    check_schedule,
    features,
)
from opset import (
    AluStep,
    Conv2d,
    Dense,
    DepthwiseConv2d,
    Elementwise,
    Epilogue,
    GlobalAvgPool,
    Pool2d,
    Requant,
)

__all__ = [
    "compile_op", "CompiledOp", "chain", "ChainedProgram",
    "Conv2d", "DepthwiseConv2d", "Dense", "Elementwise", "AluStep", "Pool2d", "GlobalAvgPool",
    "Epilogue", "Requant", "GemmSchedule", "AluSchedule", "LayoutOptions", "check_schedule",
    "default_schedule", "check_tokens", "PASSES", "run_pipeline", "estimate_cycles",
    "candidates", "ScheduleSpace", "features",
    "CompilerError", "OpError", "UnsupportedError", "ScheduleError", "LayoutError",
    "VerifyError", "TokenError",
]
