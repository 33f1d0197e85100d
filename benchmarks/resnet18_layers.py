"""ResNet-18 convolution layers on the simulated accelerator, with and without latency hiding.

The layers C1..C11 of the TVM/VTA benchmarks (batch 1; C1 is the 7x7 stride-2 stem with 3
input channels, C2..C11 the 3x3 and 1x1 layers), each compiled by the operator compiler with
its default schedule on the ``default`` preset (1x16x16, 8 B/cycle DRAM, 32-cycle latency)
and run on the cycle-accurate simulator.  The epilogue is the one of the TVM benchmark:
requantize by a rounding right shift of 8 and ReLU (clipping to int8 is free).  Every output
is checked bit for bit against the numpy reference.

Per layer: MACs, simulated cycles, ideal cycles (MACs / (batch x block_in x block_out)),
utilization (ideal / simulated), the same with one virtual thread (no latency hiding), and
whether the layer is compute-bound on the roofline: its arithmetic intensity (MACs per byte
of compulsory DRAM traffic: int8 input, weights and output) at least the ridge point
``macs_per_cycle / dram_bytes_per_cycle``.  ``cap`` is the utilization the layer could reach
at best on this core: its ``C/bi x KH x KW`` GEMM cycles per output element (channels padded
to the block) plus the ALU cycles its init and epilogue cost on the same compute module --
none for this epilogue: the first GEMM of each tile overwrites the accumulators (no reset
pass) and the GEMM out mirror applies the shift and ReLU (ALU OUTMODE).

    python benchmarks/resnet18_layers.py               # all layers
    python benchmarks/resnet18_layers.py --quick       # C8, C10, C11 (smoke test)
    python benchmarks/resnet18_layers.py --out DIR     # where the roofline PNG goes

Cycle counts are deterministic: one run is the measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compiler import (  # noqa: E402
    Conv2d,
    Epilogue,
    LayoutOptions,
    Requant,
    compile_op,
    default_schedule,
)
from compiler.pipeline import estimate_cycles  # noqa: E402
from compiler.schedule.heuristic import epilogue_alu_cycles  # noqa: E402
from opset import reference as ref  # noqa: E402
from vta_hw.config import DEFAULT, HwConfig  # noqa: E402
from vta_sim import simulate  # noqa: E402

# name: (input size, in channels, out channels, kernel, stride, pad)
LAYERS = {
    "C1": (224, 3, 64, 7, 2, 3),
    "C2": (56, 64, 64, 3, 1, 1),
    "C3": (56, 64, 128, 3, 2, 1),
    "C4": (56, 64, 128, 1, 2, 0),
    "C5": (28, 128, 128, 3, 1, 1),
    "C6": (28, 128, 256, 3, 2, 1),
    "C7": (28, 128, 256, 1, 2, 0),
    "C8": (14, 256, 256, 3, 1, 1),
    "C9": (14, 256, 512, 3, 2, 1),
    "C10": (14, 256, 512, 1, 2, 0),
    "C11": (7, 512, 512, 3, 1, 1),
}
QUICK = ("C8", "C10", "C11")
# how often each layer occurs in ResNet-18 (stage 1: four 3x3 convs at 56x56; stages 2-4: the
# first block's strided 3x3 and 1x1 downsample, then three 3x3 convs at the stage's size):
# the network's convolutions are these weighted, 1.81 G MACs in all
RESNET18_COUNTS = {"C1": 1, "C2": 4, "C3": 1, "C4": 1, "C5": 3, "C6": 1, "C7": 1, "C8": 3,
                   "C9": 1, "C10": 1, "C11": 3}
SHIFT = 8


def layer_op(name: str) -> Conv2d:
    h, c, o, k, s, p = LAYERS[name]
    return Conv2d(1, c, h, h, o, k, k, s, p,
                  Epilogue(requant=Requant(shift=SHIFT), relu=True), name=name)


def compulsory_bytes(op: Conv2d) -> int:
    return op.n * op.c * op.h * op.w + op.o * op.c * op.kh * op.kw + op.n * op.o * op.ho * op.wo


def layer_data(op: Conv2d, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Random int8 input and weights of ``op`` and the numpy reference output."""
    x = rng.integers(-128, 128, (op.n, op.c, op.h, op.w), dtype=np.int8)
    w = rng.integers(-128, 128, (op.o, op.c, op.kh, op.kw), dtype=np.int8)
    return x, w, ref.conv2d(x, w, op)


def run_layer(name: str, virtual_threads: int, x: np.ndarray, w: np.ndarray,
              expected: np.ndarray, cfg: HwConfig = DEFAULT) -> dict:
    op = layer_op(name)
    t0 = time.perf_counter()
    opts = LayoutOptions()
    sched = default_schedule(op, cfg, opts, virtual_threads=virtual_threads)
    compiled = compile_op(op, cfg, sched, opts)
    t1 = time.perf_counter()
    bundle = compiled.bundle({"x": x, "w": w})
    res = simulate(bundle)
    t2 = time.perf_counter()
    out = compiled.unpack_output(res.read(bundle, "y"))
    if not np.array_equal(out, expected):
        bad = int(np.count_nonzero(out != expected))
        raise SystemExit(f"{name} (virtual_threads={virtual_threads}): {bad} output values "
                         f"differ from the numpy reference")
    return {"cycles": res.cycles, "stats": res.stats, "schedule": sched,
            "estimated_cycles": estimate_cycles(op, sched, cfg, opts),
            "instructions": len(compiled.instrs), "uops": compiled.uop_count,
            "im2col": opts.use_im2col(op, cfg.block_in), "compile_s": t1 - t0,
            "sim_s": t2 - t1}


@dataclass(frozen=True)
class NetworkCycles:
    """ResNet-18's convolutions on one config: per-layer simulated cycles (latency hiding on,
    outputs checked bit for bit) and the network's sums (``RESNET18_COUNTS`` weights)."""

    layer_cycles: dict[str, int]
    cycles: int
    macs: int

    def latency_ms(self, fmax_mhz: float) -> float:
        return self.cycles / (fmax_mhz * 1e3)

    def effective_gops(self, fmax_mhz: float) -> float:
        """Useful operations (2 per MAC) per second at ``fmax_mhz``: peak x utilization."""
        return 2 * self.macs * fmax_mhz * 1e6 / self.cycles / 1e9


def resnet18_conv_cycles(cfg: HwConfig, seed: int = 2019) -> NetworkCycles:
    """Every layer of ``LAYERS`` compiled for ``cfg`` (default schedule, two virtual threads)
    and simulated once; the counts are deterministic (the data only checks the outputs)."""
    rng = np.random.default_rng(seed)
    per = {}
    for name in LAYERS:
        per[name] = run_layer(name, 2, *layer_data(layer_op(name), rng), cfg=cfg)["cycles"]
    return NetworkCycles(per, sum(RESNET18_COUNTS[n] * c for n, c in per.items()),
                         sum(RESNET18_COUNTS[n] * layer_op(n).macs for n in LAYERS))


def compute_cap(op: Conv2d, im2col: bool) -> float:
    """Ideal cycles over the compute module's cycles per output element (module docstring)."""
    cfg = DEFAULT
    bi = cfg.block_in
    red = -(-op.c * op.kh * op.kw // bi) if im2col else -(-op.c // bi) * op.kh * op.kw
    ideal = op.macs / cfg.macs_per_cycle
    outs = op.o // cfg.block_out * op.ho * op.wo
    return ideal / (outs * (red + epilogue_alu_cycles(op.epilogue)[1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    ap.add_argument("--out", default=".", help="directory for the roofline PNG and JSON")
    args = ap.parse_args(argv)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = QUICK if args.quick else tuple(LAYERS)
    cfg = DEFAULT
    ridge = cfg.macs_per_cycle / cfg.dram_bytes_per_cycle
    rng = np.random.default_rng(2019)
    rows = []
    print(f"ResNet-18 conv layers on '{cfg.name}' ({cfg.batch}x{cfg.block_in}x{cfg.block_out}, "
          f"{cfg.dram_bytes_per_cycle} B/cycle, DRAM latency {cfg.dram_latency}); epilogue "
          f"rshr {SHIFT} + ReLU; ridge {ridge:g} MACs/B")
    hdr = (f"{'layer':5s} {'shape':>24s} {'MACs':>11s} {'ideal':>9s} {'cycles':>9s} "
           f"{'util':>6s} {'cycles_vt1':>10s} {'util_vt1':>8s} {'cap':>7s} {'bound':>8s}  "
           "schedule (virtual_threads=2)")
    print(hdr)
    print("-" * len(hdr))
    for name in names:
        op = layer_op(name)
        x, w, expected = layer_data(op, rng)
        lh = run_layer(name, 2, x, w, expected)
        no = run_layer(name, 1, x, w, expected)
        ideal = op.macs / cfg.macs_per_cycle
        intensity = op.macs / compulsory_bytes(op)
        bound = "compute" if intensity >= ridge else "memory"
        s = lh["schedule"]
        sched = (f"co={s.tile_co} ci={s.tile_ci} h={s.tile_h} w={s.tile_w} {s.order}"
                 + (" im2col" if lh["im2col"] else ""))
        row = {"layer": name, "macs": op.macs, "ideal_cycles": ideal, "cycles": lh["cycles"],
               "util": ideal / lh["cycles"], "cycles_vt1": no["cycles"],
               "util_vt1": ideal / no["cycles"], "intensity": intensity, "bound": bound,
               "cap": compute_cap(op, lh["im2col"]), "schedule": repr(s),
               "instructions": lh["instructions"], "uops": lh["uops"],
               "compile_s": lh["compile_s"], "sim_s": lh["sim_s"], "stats": lh["stats"],
               "estimated_cycles": lh["estimated_cycles"]}
        rows.append(row)
        shape = f"{op.c}x{op.h}x{op.w}->{op.o} k{op.kh}s{op.stride[0]}"
        print(f"{name:5s} {shape:>24s} {op.macs:11d} {ideal:9.0f} {lh['cycles']:9d} "
              f"{row['util']:6.3f} {no['cycles']:10d} {row['util_vt1']:8.3f} "
              f"{row['cap']:7.3f} {bound:>8s}  {sched}")
    try:
        from vta_sim.plots import RooflinePoint, roofline

        # useful MACs (the layer's, not the channel-padded ones the core executed)
        png = roofline([RooflinePoint(r["layer"], replace(r["stats"], macs=r["macs"]))
                        for r in rows], cfg,
                       out_dir / "resnet18_roofline.png",
                       title=f"ResNet-18 conv layers on {cfg.name} (virtual_threads=2)")
        print(f"roofline: {png}")
    except ImportError as e:  # pragma: no cover - matplotlib is a dependency
        print(f"roofline skipped: {e}")
    (out_dir / "resnet18_layers.json").write_text(json.dumps(
        [{k: v for k, v in r.items() if k != "stats"} for r in rows], indent=2))
    cb = [r["util"] for r in rows if r["bound"] == "compute"]
    mean = float(np.mean([r["util"] for r in rows]))
    mean_vt1 = float(np.mean([r["util_vt1"] for r in rows]))
    cb3 = [r["util"] for r in rows if r["bound"] == "compute" and LAYERS[r["layer"]][3] == 3]
    if cb3:
        print(f"compute-bound 3x3 layers: min util {min(cb3):.3f}")
    err = max(rows, key=lambda r: abs(r["estimated_cycles"] - r["cycles"]) / r["cycles"])
    diff = err["estimated_cycles"] - err["cycles"]
    print(f"cost model (estimate_cycles, the interleave pass's list schedule) vs simulator: "
          f"largest error {100 * abs(diff) / err['cycles']:.3f}% ({diff:+d} cycles, "
          f"{err['layer']})")
    print(f"resnet18_layers: compute_bound_min_util={min(cb) if cb else float('nan'):.3f} "
          f"mean_util={mean:.3f} mean_util_no_latency_hiding={mean_vt1:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
