"""Whole models through the toolkit: ResNet-18 and MobileNet-v2 compiled and simulated.

Each model (``compiler.frontend.model_zoo``: the torchvision layouts written with
onnx.helper, seeded random weights, batch 1, 224x224) goes the way ``vta compile`` and
``vta run`` take it: ONNX import, the float passes, calibration (two random samples) and
int8 quantization, partitioning and lowering to a compiled module, then one inference on
the cycle-accurate simulator (``--device sim``) through the graph executor.  The output is
checked bit for bit against the numpy integer reference (``evaluate_quantized``).

Hardware: the ``default`` preset (VTA's 1x16x16 core, 100 MHz target clock) with
``targets=("vta",)``, so every op the accelerator can run is on it.  Why not the
latency-minimizing partition over ``vta,cpu``: the partitioner's CPU model is calibrated on
*this* host, where the llvmlite int8 kernels beat a 100 MHz accelerator (docs/graph.md,
"The cost model"), so it would keep the convolutions on the workstation's CPU and the
benchmark would measure the CPU.  The figures asked for are those of the accelerator.

Reported per model: compile seconds (import + quantization + partition + lowering: what
``vta compile`` does; the lowering alone in brackets), simulation wall seconds (loading the
module on the device and running one sample), accelerator cycles, the fraction of the MACs
that run on the accelerator, and the estimated latency at the configured clock (the
profile's ``estimated_latency_ms``: accelerator cycles at ``target_clock_mhz`` plus the host
steps' measured seconds).  Peak RSS is ``resource.getrusage(RUSAGE_SELF).ru_maxrss``, the
process's high-water mark (interpreter and libraries included) read after each model: the
ResNet-18 figure covers ResNet-18 alone, since it runs first.

    python benchmarks/models.py           # ResNet-18 and MobileNet-v2, 224x224
    python benchmarks/models.py --quick   # 32x32, a quarter of the width (smoke test)

Goals (issue 20): compile under 10 s, simulate under 5 s, under 1 GB.  Compile and
simulation times are one run each (a compile is minutes of deterministic work, not a
microbenchmark); cycle counts are deterministic.

Summary line: ``models: resnet18_compile_s=<x> resnet18_sim_s=<x> resnet18_rss_mb=<x>
resnet18_cycles=<n> resnet18_acc_mac_frac=<x> mobilenetv2_cycles=<n>`` followed by
``mobilenetv2_compile_s``, ``mobilenetv2_sim_s``, ``mobilenetv2_acc_mac_frac``,
``rss_mb`` (the peak over both), ``resnet18_latency_ms``, ``mobilenetv2_latency_ms`` and
``exact`` (1 when both models equal the integer reference bit for bit).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compiler.frontend import import_onnx  # noqa: E402
from compiler.frontend.model_zoo import mobilenet_v2, resnet18  # noqa: E402
from compiler.graph.lower import lower  # noqa: E402
from compiler.graph.pipeline import run_quantization  # noqa: E402
from compiler.graph.quantize import evaluate_quantized  # noqa: E402
from runtime.devices import open_device  # noqa: E402
from runtime.executor import Executor  # noqa: E402
from vta_hw.config import preset  # noqa: E402

CALIB_SAMPLES = 2


@dataclass(frozen=True)
class ModelFigures:
    name: str
    ops: int
    compile_s: float
    lower_s: float
    sim_s: float
    rss_mb: float
    cycles: int
    macs: int
    acc_mac_frac: float
    latency_ms: float
    exact: bool


def measure(name: str, build, size: int, width: float, preset_name: str) -> ModelFigures:
    """Compile ``build(size, width)`` for ``preset_name`` with every op on the accelerator,
    run one sample on the simulator, and check it against the integer reference."""
    cfg = preset(preset_name)
    model = build(size=size, width=width)
    rng = np.random.default_rng(0)
    shape = (1, 3, size, size)
    calib = [{"input": rng.standard_normal(shape).astype(np.float32)}
             for _ in range(CALIB_SAMPLES)]
    x = rng.standard_normal(shape).astype(np.float32)

    t0 = time.perf_counter()
    qgraph = run_quantization(import_onnx(model), calib)
    t1 = time.perf_counter()
    lowered = lower(qgraph, cfg, targets=("vta",))
    t2 = time.perf_counter()

    device = open_device("sim", cfg)
    t3 = time.perf_counter()
    ex = Executor(lowered.module, device)
    try:
        run = ex.run({"input": x})
    finally:
        ex.close()
    t4 = time.perf_counter()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    want = evaluate_quantized(qgraph, {"input": x})["logits"]
    got = run.outputs["logits"]
    exact = bool(np.array_equal(got, want)) and float(np.ptp(got)) > 0
    totals = run.profile["totals"]
    macs = int(totals["macs_total"])
    return ModelFigures(name, len(lowered.module.steps), t2 - t0, t2 - t1, t4 - t3, rss_mb,
                        int(totals["accelerator_cycles"]), macs,
                        totals["macs_on_accelerator"] / macs if macs else 0.0,
                        float(totals["estimated_latency_ms"]), exact)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="32x32 inputs and a quarter of the width (smoke test)")
    ap.add_argument("--preset", default="default", help="hardware preset (default: default)")
    args = ap.parse_args()
    size, width = (32, 0.25) if args.quick else (224, 1.0)
    cfg = preset(args.preset)
    print(f"config {cfg.name} ({cfg.config_hash()}) at {cfg.target_clock_mhz} MHz, "
          f"targets vta, input 1x3x{size}x{size}, width {width}")
    figures = [measure("resnet18", resnet18, size, width, args.preset),
               measure("mobilenetv2", mobilenet_v2, size, width, args.preset)]
    head = (f"{'model':<12}{'steps':>6}{'compile s':>11}{'(lower s)':>11}{'sim s':>8}"
            f"{'peak MB':>9}{'cycles':>12}{'GMACs':>8}{'on acc':>8}{'latency ms':>12}"
            f"{'exact':>7}")
    print(head)
    for f in figures:
        print(f"{f.name:<12}{f.ops:>6}{f.compile_s:>11.2f}{f.lower_s:>11.2f}{f.sim_s:>8.2f}"
              f"{f.rss_mb:>9.0f}{f.cycles:>12}{f.macs / 1e9:>8.3f}{f.acc_mac_frac:>8.3f}"
              f"{f.latency_ms:>12.3f}{'yes' if f.exact else 'NO':>7}")
    r, m = figures
    if not args.quick:
        print(f"goals: compile < 10 s ({'met' if r.compile_s < 10 else 'missed'}), simulate < 5 s "
              f"({'met' if r.sim_s < 5 else 'missed'}), < 1 GB "
              f"({'met' if max(r.rss_mb, m.rss_mb) < 1024 else 'missed'})")
    print(f"models: resnet18_compile_s={r.compile_s:.2f} resnet18_sim_s={r.sim_s:.2f} "
          f"resnet18_rss_mb={r.rss_mb:.0f} resnet18_cycles={r.cycles} "
          f"resnet18_acc_mac_frac={r.acc_mac_frac:.3f} mobilenetv2_cycles={m.cycles} "
          f"mobilenetv2_compile_s={m.compile_s:.2f} mobilenetv2_sim_s={m.sim_s:.2f} "
          f"mobilenetv2_acc_mac_frac={m.acc_mac_frac:.3f} rss_mb={max(r.rss_mb, m.rss_mb):.0f} "
          f"resnet18_latency_ms={r.latency_ms:.3f} mobilenetv2_latency_ms={m.latency_ms:.3f} "
          f"exact={int(r.exact and m.exact)}")
    return 0 if r.exact and m.exact else 1


if __name__ == "__main__":
    sys.exit(main())
