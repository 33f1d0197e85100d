"""The operator compiler: quantized tensor operators -> accelerator instruction streams.

What is computed is an :mod:`opset` operator (the vocabulary every device shares; its classes
are re-exported here).  Folders in data-flow order (``docs/compiler.md``): ``schedule``
(how: tiles, order, virtual threads; legality; defaults), ``lower`` (one module per pass),
``pipeline`` (the pass tuple and runner), ``api`` (entry points).  The graph level
(``graph/``, ``frontend/``) and the autotuner (``autotune/``) build on these.
"""

from compiler.api import (
    ChainedProgram,
    CompiledOp,
    RunResult,
    add,
    avg_pool2d,
    chain,
    clip,
    compile_op,
    conv2d,
    dense,
    depthwise_conv2d,
    elementwise,
    global_avg_pool2d,
    max_pool2d,
    maximum,
    minimum,
    mul,
    relu,
    run_on_simulator,
    run_op,
    shift_right,
)
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
from compiler.pipeline import PASSES, run_pipeline
from compiler.schedule import AluSchedule, GemmSchedule, check_schedule, default_schedule
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
    "compile_op", "run_on_simulator", "run_op", "CompiledOp", "RunResult", "chain",
    "ChainedProgram",
    "conv2d", "depthwise_conv2d", "dense", "elementwise", "add", "mul", "minimum", "maximum",
    "shift_right", "relu", "clip", "max_pool2d", "avg_pool2d", "global_avg_pool2d",
    "Conv2d", "DepthwiseConv2d", "Dense", "Elementwise", "AluStep", "Pool2d", "GlobalAvgPool",
    "Epilogue", "Requant", "GemmSchedule", "AluSchedule", "LayoutOptions", "check_schedule",
    "default_schedule", "check_tokens", "PASSES", "run_pipeline",
    "CompilerError", "OpError", "UnsupportedError", "ScheduleError", "LayoutError",
    "VerifyError", "TokenError",
]
