"""Fixed workloads whose instruction streams are kept as golden assembly in ``golden/``.

Regenerate after an intended code generation change with::

    python -m tests.compiler.regen_golden
"""

from __future__ import annotations

from pathlib import Path

from compiler import (
    AluStep,
    Conv2d,
    Dense,
    DepthwiseConv2d,
    Elementwise,
    Epilogue,
    GemmSchedule,
    GlobalAvgPool,
    LayoutOptions,
    Pool2d,
    Requant,
    compile_op,
)
from vta_hw.config import DEFAULT, TINY, WIDE

GOLDEN = Path(__file__).resolve().parent / "golden"

CASES = {
    # a ResNet-style 3x3 conv with every epilogue stage, default schedule
    "conv3x3_bias_requant_relu_default": lambda: compile_op(
        Conv2d(1, 32, 8, 8, 32, 3, 3, 1, 1,
               Epilogue(bias=True, requant=Requant(multiplier=3, shift=9, pre_shift=2),
                        relu=True)), DEFAULT),
    # fixed schedule with two reduction steps and padding inserted by the DMAs
    "conv3x3_s2_dma_pad_tiny": lambda: compile_op(
        Conv2d(1, 6, 9, 7, 5, 3, 3, 2, 1, Epilogue(requant=Requant(shift=6))), TINY,
        GemmSchedule(2, 1, 2, 4, virtual_threads=2), LayoutOptions(input_halo=(0, 0))),
    # 3-channel stem through im2col, per-channel requantization, residual
    "conv7x7_im2col_residual_wide": lambda: compile_op(
        Conv2d(1, 3, 12, 12, 16, 7, 7, 2, 3,
               Epilogue(requant=Requant(per_channel=True), residual=True, clip=(0, 100))),
        WIDE),
    # the first tile's reduction split into parts (ramp-up), weights streamed per step
    "conv3x3_ramp_default": lambda: compile_op(
        Conv2d(1, 64, 6, 6, 32, 3, 3, 1, 1, Epilogue(requant=Requant(shift=8), relu=True)),
        DEFAULT, GemmSchedule(1, 4, 6, 6, ramp=True)),
    "depthwise3x3_wide": lambda: compile_op(
        DepthwiseConv2d(1, 24, 6, 6, 3, 3, 1, 1, Epilogue(requant=Requant(shift=4))), WIDE),
    "dense_one_block_tiny": lambda: compile_op(
        Dense(1, 37, 3, Epilogue(bias=True, requant=Requant(shift=5))), TINY),
    "add_relu_tiny": lambda: compile_op(
        Elementwise((1, 6, 5, 5), (AluStep("add"), AluStep("max", 0))), TINY),
    "maxpool3x3_s2_default": lambda: compile_op(
        Pool2d(1, 32, 9, 9, "max", 3, 3, 2, 1), DEFAULT),
    "global_avg_pool_default": lambda: compile_op(GlobalAvgPool(1, 40, 5, 5), DEFAULT),
}


def render(name: str) -> str:
    return CASES[name]().asm()


def path(name: str) -> Path:
    return GOLDEN / f"{name}.s"
