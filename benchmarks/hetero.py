"""Heterogeneous offload, end to end (issue 21's acceptance benchmark): whole-model CPU speed,
the partitioner's cost model and the transformer encoder, in one run.

Three parts, each its own benchmark with its own table (run them alone for detail):

* ``benchmarks/hetero_cpu.py``: fp32 ResNet-18 and MobileNet-v2 on the CPU path against
  onnxruntime fp32, and the int8 CPU path (ResNet-18) against onnxruntime running the QDQ
  model from ``quantize_static`` and against onnxruntime fp32; one thread (the summary) and
  two (the table); every reference raced round-robin in the same run, minimum of several;
* ``benchmarks/cost_model.py``: per-op estimates against simulated cycles (accelerator) and
  measured kernel times (CPU): Spearman rank correlation per device; every assignment of
  small graphs on several configs (``tiny``, ``default``, a bandwidth-starved one) measured
  end to end against the chosen partition;
* ``benchmarks/encoder.py``: the 2-layer BERT-style encoder (sequence 128, hidden 256, 4
  heads): its MAC fraction on the accelerator and its error against onnxruntime fp32.

    python benchmarks/hetero.py           # the issue's sizes (about 10 minutes here)
    python benchmarks/hetero.py --quick   # small sizes (CI smoke test)

Last line: ``hetero: resnet18_fp32_vs_ort=<x> mobilenetv2_fp32_vs_ort=<x>
resnet18_int8_vs_ort_int8=<x> resnet18_int8_vs_ort_fp32=<x> cost_rank_corr_acc=<x>
cost_rank_corr_cpu=<x> partition_vs_best=<x> encoder_acc_mac_frac=<x>``: ``*_vs_ort*`` is
onnxruntime's time divided by ours (one thread; higher is better), ``partition_vs_best`` the
chosen partition's measured time over the best assignment's, worst case (1.0 is optimal).
Goals: fp32 >= 0.9, int8 >= 1.0 against ORT int8 and >= 1.5 against ORT fp32, both rank
correlations >= 0.9, ``partition_vs_best`` <= 1.05, encoder MAC fraction >= 0.9.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

KEYS = ("resnet18_fp32_vs_ort", "mobilenetv2_fp32_vs_ort", "resnet18_int8_vs_ort_int8",
        "resnet18_int8_vs_ort_fp32", "cost_rank_corr_acc", "cost_rank_corr_cpu",
        "partition_vs_best", "encoder_acc_mac_frac")
GOALS = {"resnet18_fp32_vs_ort": (">=", 0.9), "mobilenetv2_fp32_vs_ort": (">=", 0.9),
         "resnet18_int8_vs_ort_int8": (">=", 1.0), "resnet18_int8_vs_ort_fp32": (">=", 1.5),
         "cost_rank_corr_acc": (">=", 0.9), "cost_rank_corr_cpu": (">=", 0.9),
         "partition_vs_best": ("<=", 1.05), "encoder_acc_mac_frac": (">=", 0.9),
         "rel_err_vs_ort": ("<=", 0.02)}


def _section(title: str) -> None:
    print(f"\n## {title}", flush=True)


def measure(quick: bool) -> dict[str, float]:
    """Every figure of the three parts, printed as each part finishes."""
    from cost_model import measure_costs
    from encoder import measure_encoder
    from hetero_cpu import measure_cpu

    figures: dict[str, float] = {}
    _section("whole models on the CPU against onnxruntime")
    figures.update(measure_cpu(quick))
    _section("the partitioner's cost model against measurements")
    costs = measure_costs(quick, emit=print)
    figures.update({k: v for k, v in costs.items() if isinstance(v, int | float)})
    _section("transformer encoder")
    enc = measure_encoder(quick)
    print(f"MACs on the accelerator {enc['encoder_acc_mac_frac']:.4f}; relative error against "
          f"onnxruntime fp32 {enc['rel_err_vs_ort']:.4f}")
    figures.update(encoder_acc_mac_frac=enc["encoder_acc_mac_frac"],
                   rel_err_vs_ort=enc["rel_err_vs_ort"])
    return figures


def goal_table(figures: dict[str, float]) -> list[str]:
    """One row per figure with a goal: value, goal, met or not."""
    rows = [f"{'figure':<28}{'value':>10}  goal"]
    for key, (cmp, bound) in GOALS.items():
        v = figures[key]
        ok = v >= bound if cmp == ">=" else v <= bound
        rows.append(f"{key:<28}{v:>10.4f}  {cmp} {bound:<5} {'met' if ok else 'NOT met'}")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (CI smoke test)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    figures = measure(args.quick)
    _section(f"summary ({time.perf_counter() - t0:.0f} s)")
    print("\n".join(goal_table(figures)))
    print("hetero: " + " ".join(f"{k}={figures[k]:.3f}" if k != "encoder_acc_mac_frac"
                                else f"{k}={figures[k]:.4f}" for k in KEYS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
