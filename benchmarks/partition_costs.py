"""How well does the partitioner's CPU model predict this host's llvmlite kernels?

The partitioner prices every op on the CPU with a model calibrated once per host
(``compiler.partition.costs.cpu_model``: each op kind timed at a few sizes, interpolated).
This calibrates it afresh (or reads the cache with ``--cached``), then times ops the
calibration never saw and prints predicted against measured seconds.  The machine is shared
and noisy, so each measurement is the best of several calls; the ratio that counts is the
one measured in this run.

    python benchmarks/partition_costs.py            # fresh calibration, 6 ops
    python benchmarks/partition_costs.py --cached   # the model the partitioner would use

Summary line: ``partition_costs: ops=<n> within_3x=<k> max_ratio=<x> spearman=<x>``
(``max_ratio``: the largest of predicted/measured and measured/predicted).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from compiler.partition.costs import cpu_model, measure_op  # noqa: E402
from opset import (  # noqa: E402
    AluStep,
    Conv2d,
    Dense,
    DepthwiseConv2d,
    Elementwise,
    Epilogue,
    Pool2d,
    Requant,
)

EP = Epilogue(requant=Requant(1, 8))
OPS = (
    Conv2d(1, 32, 28, 28, 32, 3, 3, pad=1, epilogue=EP, name="conv3x3"),
    Conv2d(1, 128, 14, 14, 128, 1, 1, epilogue=EP, name="conv1x1"),
    DepthwiseConv2d(1, 32, 28, 28, 3, 3, pad=1, epilogue=EP, name="depthwise"),
    Dense(4, 512, 256, epilogue=EP, name="dense"),
    Elementwise((1, 32, 28, 28), (AluStep("max", 0),), name="relu"),
    Pool2d(1, 32, 28, 28, "avg", 2, 2, 2, 0, name="avgpool"),
)


def _ranks(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x)).astype(float)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cached", action="store_true", help="use the cached host calibration")
    args = ap.parse_args()
    if args.cached:
        model = cpu_model()
    else:
        with tempfile.TemporaryDirectory() as d:
            model = cpu_model(Path(d), recalibrate=True)
    rows = []
    for op in OPS:
        measured = min(measure_op(op) for _ in range(3))
        rows.append((op.name, model.op_seconds(op), measured))
    print(f"{'op':<12}{'predicted us':>14}{'measured us':>14}{'ratio':>8}")
    ratios = []
    for name, p, m in rows:
        ratios.append(max(p / m, m / p))
        print(f"{name:<12}{p * 1e6:>14.1f}{m * 1e6:>14.1f}{p / m:>8.2f}")
    pred = np.array([r[1] for r in rows])
    meas = np.array([r[2] for r in rows])
    rho = float(np.corrcoef(_ranks(pred), _ranks(meas))[0, 1])
    within = sum(r <= 3.0 for r in ratios)
    print(f"partition_costs: ops={len(rows)} within_3x={within} max_ratio={max(ratios):.2f} "
          f"spearman={rho:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
