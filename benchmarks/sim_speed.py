"""How fast the cycle-accurate simulator runs a GEMM-heavy program.

The program is one ResNet-18 3x3 convolution layer (56x56, 64 -> 64 channels, stride 1,
pad 1: 115.6 M MACs) from the hand-written blocked-conv generator, on the `default` preset.
The reference measured in the same run is the per-micro-op golden model (tests/reference.py)
on a reduced layer, scaled per MAC to the full layer (labelled as an extrapolation).

    python benchmarks/sim_speed.py            # full layer
    python benchmarks/sim_speed.py --quick    # a small layer (CI smoke test)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_of  # noqa: E402

from vta_hw.config import DEFAULT  # noqa: E402
from vta_sim import simulate  # noqa: E402
from vta_sim.workloads import blocked_conv2d  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small layer (smoke test)")
    ap.add_argument("--runs", type=int, default=5, help="repetitions (minimum is reported)")
    args = ap.parse_args(argv)
    cfg = DEFAULT
    h, c = (14, 32) if args.quick else (56, 64)
    t_build, w = best_of(lambda: blocked_conv2d(cfg, h, h, c, c), 1)
    wall, res = best_of(lambda: simulate(w.bundle), args.runs)
    got = np.frombuffer(res.read(w.bundle, w.output), np.int8).reshape(w.expected.shape)
    correct = bool(np.array_equal(got, w.expected))

    from tests.reference import run_reference

    small = blocked_conv2d(cfg, 6, 6, 16, 16)
    t_ref, _ = best_of(lambda: run_reference(small.bundle), 1)
    ref_layer_s = t_ref / small.macs * w.macs

    s = res.stats
    rows = [
        ("layer", f"conv3x3 {h}x{h}, {c}->{c} (default 1x16x16)"),
        ("MACs", f"{w.macs:,}"),
        ("instructions", f"{s.instructions:,}"),
        ("simulated cycles", f"{res.cycles:,}"),
        ("GEMM utilization", f"{100 * s.utilization:.1f}%"),
        ("output == numpy", "yes" if correct else "NO"),
        ("program generation", f"{t_build:.3f} s"),
        (f"simulator wall (min of {args.runs})", f"{wall:.3f} s"),
        ("simulated cycles / s", f"{res.cycles / wall:,.0f}"),
        ("instructions / s", f"{s.instructions / wall:,.0f}"),
        ("per-micro-op reference (extrapolated)", f"{ref_layer_s:.1f} s"),
        ("speedup over the reference", f"{ref_layer_s / wall:.0f}x"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print(f"sim_speed: layer_wall_s={wall:.3f} cycles={res.cycles} "
          f"cycles_per_s={res.cycles / wall:.0f} insns_per_s={s.instructions / wall:.0f}")
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
