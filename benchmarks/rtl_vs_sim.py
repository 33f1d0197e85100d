"""The same program on the Verilator model of the RTL and on the cycle-accurate simulator.

Both must report the same cycle count (and the same final DRAM); the benchmark compares their
speed in simulated cycles per wall-clock second.  The program is a GEMM-heavy blocked matrix
multiply (``vta_sim.workloads.blocked_matmul``) on the ``default`` preset (1x16x16), about
1.2 M cycles.  The RTL time is the C++ harness process (start, image load, simulation, image
write) as ``vta rtl-sim`` runs it; the Verilator build is cached and timed separately.  Each
side reports the minimum of ``--runs`` repetitions (the machine is shared).

    python benchmarks/rtl_vs_sim.py            # default: 256x512x1024 matmul, ~1.2 M cycles
    python benchmarks/rtl_vs_sim.py --quick    # a small matmul on the tiny preset (smoke test)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_of  # noqa: E402

from vta_hw.config import DEFAULT, TINY  # noqa: E402
from vta_sim import simulate  # noqa: E402
from vta_sim.workloads import blocked_matmul  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small program on tiny (smoke test)")
    ap.add_argument("--runs", type=int, default=3, help="repetitions (minimum is reported)")
    args = ap.parse_args(argv)
    from vta_hw.cosim.verilator import build, run_bundle

    cfg, shape = (TINY, (16, 32, 64)) if args.quick else (DEFAULT, (256, 512, 1024))
    w = blocked_matmul(cfg, *shape)
    t_build, _ = best_of(lambda: build(cfg), 1)
    sim_s, sim = best_of(lambda: simulate(w.bundle), args.runs)
    rtl_runs = [run_bundle(w.bundle) for _ in range(args.runs)]
    rtl = min(rtl_runs, key=lambda r: r.wall_s)
    rtl_s = rtl.wall_s
    equal = int(rtl.cycles == sim.cycles and rtl.dram == sim.dram)
    sim_rate = sim.cycles / sim_s
    rtl_rate = rtl.cycles / rtl_s
    m, n, k = shape
    rows = [
        ("program", f"blocked_matmul {m}x{n}x{k} on {cfg.name} "
                    f"({cfg.batch}x{cfg.block_in}x{cfg.block_out}), "
                    f"{sim.stats.instructions} instructions"),
        ("cycles", f"simulator {sim.cycles:,}, RTL {rtl.cycles:,} "
                   f"({'equal' if equal else 'DIFFERENT'}; final DRAM "
                   f"{'equal' if rtl.dram == sim.dram else 'DIFFERENT'})"),
        ("simulator", f"{sim_s:.4f} s, {sim_rate:,.0f} cycles/s"),
        ("RTL (Verilator)", f"{rtl_s:.4f} s, {rtl_rate:,.0f} cycles/s "
                            f"(build {t_build:.1f} s, cached by config hash)"),
        ("ratio", f"simulator {sim_rate / rtl_rate:.1f}x the RTL's cycles/s"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"rtl_vs_sim: cycles_equal={equal} sim_cycles_per_s={sim_rate:.0f} "
          f"rtl_cycles_per_s={rtl_rate:.0f} speedup={sim_rate / rtl_rate:.1f}")
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
