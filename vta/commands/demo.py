"""``vta demo``: an end-to-end run on the simulator, checked against numpy.

Builds a double-buffered blocked matrix multiply (int8 x int8 -> int32 -> requantized int8),
runs it on the cycle-accurate simulator, checks every output byte against numpy, and prints
cycles, utilization and where it wrote the timeline plot, trace and bundle.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from vta.commands._common import add_config_args, config_from_args
from vta_hw.errors import VtaError


class DemoMismatchError(VtaError):
    """The accelerator's result differs from numpy's (a bug: please report it)."""


def _demo(args: argparse.Namespace) -> int:
    from vta_sim import simulate
    from vta_sim.plots import timeline
    from vta_sim.trace import write_trace
    from vta_sim.workloads import blocked_matmul

    cfg = config_from_args(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.size < 1:
        raise DemoMismatchError(f"--size must be positive, got {args.size}")
    m = max(cfg.batch, args.size - args.size % cfg.batch)
    n, k = args.size, args.size
    n = max(cfg.block_out, n - n % cfg.block_out)
    k = max(cfg.block_in, k - k % cfg.block_in)
    w = blocked_matmul(cfg, m, n, k)
    bundle_path = w.bundle.save(out / "matmul.vtab")
    result = simulate(w.bundle)
    got = np.frombuffer(result.read(w.bundle, w.output), np.int8).reshape(w.expected.shape)
    if not np.array_equal(got, w.expected):
        raise DemoMismatchError("simulator output differs from numpy")
    s = result.stats
    print(f"vta demo: {m}x{k} @ {k}x{n} int8 matmul on preset {cfg.name!r} "
          f"({cfg.batch}x{cfg.block_in}x{cfg.block_out} GEMM core)")
    print(f"  output matches numpy: yes ({got.size} int8 values)")
    print(f"  cycles: {s.cycles}  ({s.seconds * 1e3:.3f} ms at {cfg.target_clock_mhz:g} MHz)")
    print(f"  MACs: {s.macs}  ideal cycles: {s.ideal_cycles:.0f}  "
          f"GEMM utilization: {100 * s.utilization:.1f}%")
    print(f"  instructions: {s.instructions}  DRAM traffic: {s.dram_bytes} bytes")
    print(f"  timeline plot: {timeline(result, out / 'timeline.png')}")
    print(f"  trace (open in ui.perfetto.dev): {write_trace(result, out / 'trace.json')}")
    print(f"  bundle (rerun with `vta sim {bundle_path}`): {bundle_path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="end-to-end demo on the simulator, checked against numpy")
    add_config_args(p)
    p.add_argument("--size", type=int, default=256, help="matrix size (default 256)")
    p.add_argument("--out", default="vta_out/demo", help="output directory (default vta_out/demo)")
    p.set_defaults(func=_demo)
