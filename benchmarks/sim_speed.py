"""How fast the cycle-accurate simulator runs a GEMM-heavy program.

The program is one ResNet-18 3x3 convolution layer (56x56, 64 -> 64 channels, stride 1,
pad 1: 115.6 M MACs) from the hand-written blocked-conv generator, on the `default` preset.
The reference measured in the same run is the per-micro-op golden model (tests/reference.py,
one Python operation per lane).  By default it runs a reduced layer (6x6, 16 -> 16 channels)
and its time is scaled per MAC to the measured layer: an extrapolation, labelled as such in
the table and as ``golden=extrapolated`` in the summary line.  ``--golden full`` runs the
golden model on the same layer instead (minutes: one Python operation per MAC), checks that
its output equals the simulator's, and reports ``golden=measured``.

    python benchmarks/sim_speed.py                  # full layer, golden model extrapolated
    python benchmarks/sim_speed.py --golden full    # full layer, golden model measured on it
    python benchmarks/sim_speed.py --quick          # a small layer (CI smoke test)

The last line is ``sim_speed: layer_wall_s=.. cycles=.. cycles_per_s=.. insns_per_s=..
golden_s=.. golden=extrapolated|measured``.
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
    ap.add_argument("--golden", choices=("extrapolate", "full"), default="extrapolate",
                    help="golden model on a reduced layer scaled per MAC (default), or on the "
                         "same layer (slow)")
    args = ap.parse_args(argv)
    cfg = DEFAULT
    h, c = (14, 32) if args.quick else (56, 64)
    t_build, w = best_of(lambda: blocked_conv2d(cfg, h, h, c, c), 1)
    wall, res = best_of(lambda: simulate(w.bundle), args.runs)
    got = np.frombuffer(res.read(w.bundle, w.output), np.int8).reshape(w.expected.shape)
    correct = bool(np.array_equal(got, w.expected))

    from tests.reference import run_reference

    if args.golden == "full":
        ref_layer_s, machine = best_of(lambda: run_reference(w.bundle), 1)
        golden_out = w.bundle.read(w.output, bytes(machine.dram))
        correct = correct and golden_out == res.read(w.bundle, w.output)
        ref_note = "measured on this layer"
    else:
        small = blocked_conv2d(cfg, 6, 6, 16, 16)
        t_ref, _ = best_of(lambda: run_reference(small.bundle), 1)
        ref_layer_s = t_ref / small.macs * w.macs
        ref_note = (f"EXTRAPOLATED per MAC from {t_ref:.2f} s on a 6x6 16->16 layer "
                    f"({small.macs:,} MACs); --golden full measures it")

    s = res.stats
    rows = [
        ("layer", f"conv3x3 {h}x{h}, {c}->{c} (default 1x16x16)"),
        ("MACs", f"{w.macs:,}"),
        ("instructions", f"{s.instructions:,}"),
        ("simulated cycles", f"{res.cycles:,}"),
        ("GEMM utilization", f"{100 * s.utilization:.1f}%"),
        ("output == numpy" + (" == golden model" if args.golden == "full" else ""),
         "yes" if correct else "NO"),
        ("program generation", f"{t_build:.3f} s"),
        (f"simulator wall (min of {args.runs})", f"{wall:.3f} s"),
        ("simulated cycles / s", f"{res.cycles / wall:,.0f}"),
        ("instructions / s", f"{s.instructions / wall:,.0f}"),
        ("per-micro-op golden model", f"{ref_layer_s:.1f} s ({ref_note})"),
        ("speedup over the golden model", f"{ref_layer_s / wall:.0f}x"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print(f"sim_speed: layer_wall_s={wall:.3f} cycles={res.cycles} "
          f"cycles_per_s={res.cycles / wall:.0f} insns_per_s={s.instructions / wall:.0f} "
          f"golden_s={ref_layer_s:.1f} "
          f"golden={'measured' if args.golden == 'full' else 'extrapolated'}")
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
