"""A sweep of operators and configs whose default schedules are pinned in
``golden/default_schedules.json`` (``test_schedule_space.py``).

The table was written by the heuristic *before* it became a ranking over the schedule space
(seven nested loops in ``default_gemm_schedule``), so the test proves the ranking chooses
what the loops chose.  Regenerate it only for an intended change of the defaults:

    PYTHONPATH=$PWD python tests/compiler/schedule_sweep.py   # rewrites the golden table

The cases: the ResNet-18 layers C1..C11 of ``benchmarks/resnet18_layers.py`` on the
default preset (two and one virtual threads), MobileNet-v2-like depthwise and pointwise
layers, dense layers, epilogues with a bias, per-channel requantization and a residual, an
input stored without its padding and a conv without im2col, on the tiny, default and wide
presets; and ALU operators (element-wise, pooling, global average pooling).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden" / "default_schedules.json"

# ResNet-18 layers: (input size, in channels, out channels, kernel, stride, pad)
RESNET = {
    "C1": (224, 3, 64, 7, 2, 3), "C2": (56, 64, 64, 3, 1, 1), "C3": (56, 64, 128, 3, 2, 1),
    "C4": (56, 64, 128, 1, 2, 0), "C5": (28, 128, 128, 3, 1, 1),
    "C6": (28, 128, 256, 3, 2, 1), "C7": (28, 128, 256, 1, 2, 0),
    "C8": (14, 256, 256, 3, 1, 1), "C9": (14, 256, 512, 3, 2, 1),
    "C10": (14, 256, 512, 1, 2, 0), "C11": (7, 512, 512, 3, 1, 1),
}


def cases() -> list[tuple[str, object, object, object, int]]:
    """(case name, op, config, LayoutOptions, virtual threads) of the sweep."""
    from compiler import (
        AluStep,
        Conv2d,
        Dense,
        DepthwiseConv2d,
        Elementwise,
        Epilogue,
        GlobalAvgPool,
        LayoutOptions,
        Pool2d,
        Requant,
    )
    from vta_hw.config import DEFAULT, TINY, WIDE

    ep = Epilogue(requant=Requant(shift=8), relu=True)
    bias = Epilogue(bias=True, requant=Requant(multiplier=3, shift=9), relu=True)
    chan = Epilogue(bias=True, requant=Requant(per_channel=True), clip=(0, 100))
    res = Epilogue(requant=Requant(shift=7), residual=True, relu=True)
    plain = LayoutOptions()
    out = []
    for name, (h, c, o, k, s, p) in RESNET.items():
        op = Conv2d(1, c, h, h, o, k, k, (s, s), (p, p), ep, name=name)
        out.append((f"{name}-default", op, DEFAULT, plain, 2))
        if name in ("C2", "C5", "C8", "C11"):
            out.append((f"{name}-default-vt1", op, DEFAULT, plain, 1))
    small = {
        "conv3x3": Conv2d(1, 64, 14, 14, 64, 3, 3, (1, 1), (1, 1), ep, name="conv3x3"),
        "conv3x3-bias": Conv2d(1, 48, 20, 20, 80, 3, 3, (1, 1), (1, 1), bias, name="cb"),
        "conv1x1-s2-chan": Conv2d(1, 96, 28, 28, 64, 1, 1, (2, 2), (0, 0), chan, name="c1"),
        "conv3x3-residual": Conv2d(1, 32, 16, 16, 32, 3, 3, (1, 1), (1, 1), res, name="cr"),
        "stem-3ch": Conv2d(1, 3, 32, 32, 16, 3, 3, (1, 1), (1, 1), ep, name="stem"),
        "dw3x3": DepthwiseConv2d(1, 32, 56, 56, 3, 3, (1, 1), (1, 1), ep, name="dw"),
        "dw3x3-s2": DepthwiseConv2d(1, 96, 28, 28, 3, 3, (2, 2), (1, 1), bias, name="dws2"),
        "dense-512x10": Dense(1, 512, 10, ep, name="fc"),
        "dense-33x100x200": Dense(33, 100, 200, bias, name="fc2"),
    }
    for cfg in (TINY, DEFAULT, WIDE):
        for name, op in small.items():
            out.append((f"{name}-{cfg.name}", op, cfg, plain, 2))
    conv = small["conv3x3"]
    out.append(("conv3x3-nohalo-tiny", conv, TINY, LayoutOptions(input_halo=(0, 0)), 2))
    out.append(("stem-3ch-noim2col-tiny", small["stem-3ch"], TINY, LayoutOptions(im2col=False),
                2))
    alu = {
        "add": Elementwise((1, 64, 56, 56), (AluStep("add"),), name="add"),
        "rescale": Elementwise((1, 1024, 14, 14), (AluStep("mul", 3), AluStep("rshr", 2)),
                               name="rescale"),
        "maxpool": Pool2d(1, 64, 112, 112, "max", 3, 3, (2, 2), (1, 1), name="maxpool"),
        "avgpool": Pool2d(1, 32, 28, 28, "avg", 2, 2, (2, 2), (0, 0), name="avgpool"),
        "gap": GlobalAvgPool(1, 512, 7, 7, name="gap"),
    }
    for cfg in (TINY, DEFAULT):
        for name, op in alu.items():
            out.append((f"{name}-{cfg.name}", op, cfg, plain, 2))
    return out


def as_dict(s) -> dict:
    from dataclasses import asdict

    return {"kind": type(s).__name__, **asdict(s)}


def main() -> int:
    import time

    from compiler import default_schedule

    table = {}
    for name, op, cfg, options, vt in cases():
        t = time.perf_counter()
        table[name] = as_dict(default_schedule(op, cfg, options, virtual_threads=vt))
        print(f"{name:<28}{time.perf_counter() - t:7.2f} s  {table[name]}", flush=True)
    GOLDEN.write_text(json.dumps(table, indent=1) + "\n")
    print(f"wrote {GOLDEN} ({len(table)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
