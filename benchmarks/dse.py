"""Design-space exploration: ``vta dse`` on ResNet-18, and the fast estimate against Yosys.

Part 1, the sweep: ResNet-18 (``compiler.frontend.model_zoo``, 224x224, batch 1, seeded
random weights, calibrated on random samples) over a 50-point space around the
``default-85f`` preset (GEMM shape x weight buffer x DRAM bus width x DRAM latency x clock,
plus two explicit points), every op the accelerator can run on it, ``--workers 2`` (this
machine's two cores), from an empty output directory: each point compiled with the
heuristic schedules, run once on the cycle-accurate simulator (timing only) and given the
resource estimate; the 24 pairs that differ only in their clock are compiled and simulated
once (``compiler.dse.point.timing_key``).  wall_s is the whole ``vta dse`` run;
pareto_points counts the points on any resource's front.  The line before the summary
gives the workers' CPU seconds too: on a machine shared with other jobs, their sum over
the worker count is what the sweep takes on idle cores.

Part 2, the estimate: ``estimate_resources`` against Yosys (``vta hw synth``, cached by
config hash: minutes per config the first time) on six configs that are *not* among the
calibration runs (``vta_hw/fpga/resource_calibration.json``; checked here by config hash):
small cores around ``tiny`` whose synthesis takes 1-4 minutes each.  est_lut_err /
est_ff_err are the largest relative errors over them; est_bram_exact / est_dsp_exact are 1
when DP16KD / MULT18X18D match Yosys on all six.

    python benchmarks/dse.py              # ResNet-18, 50 points; six configs against Yosys
    python benchmarks/dse.py --points 4   # the first 4 points only (time per point)
    python benchmarks/dse.py --quick      # a small CNN, 8 points; one config against Yosys
    python benchmarks/dse.py --estimate-only   # part 2 only: the six configs against Yosys

Summary line: ``dse: points=<n> wall_s=<x> est_lut_err=<x> est_ff_err=<x>
est_bram_exact=<0|1> est_dsp_exact=<0|1> pareto_points=<n>``; with ``--estimate-only``
``dse-estimate: configs=<n> est_lut_err=<x> est_ff_err=<x> est_bram_exact=<0|1>
est_dsp_exact=<0|1>``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import onnx  # noqa: E402

from vta.cli import main as vta_main  # noqa: E402
from vta_hw.config import TINY  # noqa: E402
from vta_hw.fpga.flow import FlowOptions, synth  # noqa: E402
from vta_hw.fpga.resources import RESOURCES, estimate_resources  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BOARD = "ulx3s-85f"
DEVICE = "LFE5U-85F"

# configs the estimate was not calibrated on (checked against the calibration table)
VALIDATION = {
    "v_1x2x4": dict(log_block_in=1, log_block_out=2),
    "v_1x4x2": dict(log_block_in=2, log_block_out=1),
    "v_bus16_lat8": dict(log_dram_bytes_per_cycle=4, dram_latency=8),
    "v_2x2x2": dict(log_batch=1, log_block_in=1, log_block_out=1),
    "v_1x4x8_bufs9": dict(log_block_out=3, log_inp_buff_depth=9, log_acc_buff_depth=9,
                          log_out_buff_depth=9),
    "v_pipe6_cmdq16": dict(gemm_pipeline_depth=6, alu_pipeline_depth=3, log_cmd_queue_depth=4),
}

RESNET_SPACE = {
    "base": "default-85f",
    "axes": {"gemm": ["1x8x8", "1x8x16", "1x16x16"], "log_wgt_buff_depth": [8, 9],
             "log_dram_bytes_per_cycle": [3, 4], "dram_latency": [16, 32],
             "target_clock_mhz": [75, 100]},
    "points": [{"gemm": "1x16x8"}, {"gemm": "1x16x16", "log_inp_buff_depth": 10}],
}
QUICK_SPACE = {"base": "tiny", "axes": {"gemm": ["1x4x4", "1x8x8"],
                                        "log_inp_buff_depth": [7, 8],
                                        "target_clock_mhz": [60, 80]}}


def validation_configs(names=None):
    """The validation configs, refusing any the estimate was calibrated on."""
    table = json.loads((ROOT / "vta_hw/fpga/resource_calibration.json").read_text())
    calibrated = {p["config_hash"] for p in table["points"]}
    out = []
    for name, kw in VALIDATION.items():
        if names is not None and name not in names:
            continue
        cfg = TINY.replace(name=name, **kw)
        if cfg.config_hash() in calibrated:
            raise SystemExit(f"error: validation config {name} is in the calibration table")
        out.append(cfg)
    return out


def estimate_errors(cfgs, work: Path) -> dict[str, float]:
    """Largest relative LUT4/FF error and exactness of DP16KD/MULT18 against Yosys."""
    lut = ff = 0.0
    bram = dsp = True
    print(f"{'config':<16}" + "".join(f"{r:>16}" for r in RESOURCES) + f"{'yosys s':>9}")
    for cfg in cfgs:
        t0 = time.perf_counter()
        rep = synth(cfg, work / cfg.config_hash(), FlowOptions(board=BOARD, progress=False))
        got = {r: rep.report.resources[r].used for r in RESOURCES}
        est = estimate_resources(cfg, DEVICE).used
        lut = max(lut, abs(est["lut4"] - got["lut4"]) / got["lut4"])
        ff = max(ff, abs(est["ff"] - got["ff"]) / got["ff"])
        bram &= est["dp16kd"] == got["dp16kd"]
        dsp &= est["mult18"] == got["mult18"]
        print(f"{cfg.name:<16}" + "".join(f"{est[r]:>7} / {got[r]:<6}" for r in RESOURCES)
              + f"{time.perf_counter() - t0:>9.1f}", flush=True)
    return {"lut": lut, "ff": ff, "bram": int(bram), "dsp": int(dsp)}


def estimate_only(quick: bool) -> int:
    """Part 2 alone: the estimate against Yosys (cached by config hash) on the validation
    configs, without the sweep."""
    cfgs = validation_configs({"v_1x4x2"} if quick else None)
    with tempfile.TemporaryDirectory() as tmp:
        err = estimate_errors(cfgs, Path(tmp))
    print(f"dse-estimate: configs={len(cfgs)} est_lut_err={err['lut']:.4f} "
          f"est_ff_err={err['ff']:.4f} est_bram_exact={err['bram']} est_dsp_exact={err['dsp']}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small CNN, 8 points, 1 config")
    ap.add_argument("--points", type=int, help="only the first N points of the space")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", help="output directory (default: a fresh temporary one, so "
                                  "nothing comes from the cache)")
    ap.add_argument("--estimate-only", action="store_true",
                    help="only part 2: the resource estimate against Yosys, no sweep")
    args = ap.parse_args()
    if args.estimate_only:
        return estimate_only(args.quick)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        if args.quick:
            from tests.compiler.dse.small_cnn import small_cnn

            model, space = small_cnn(), dict(QUICK_SPACE)
        else:
            from compiler.frontend.model_zoo import resnet18

            model, space = resnet18(size=224, width=1.0), dict(RESNET_SPACE)
        if args.points is not None:
            from compiler.dse.space import parse_space

            picked = parse_space(space)[:args.points]
            space = {"base": space["base"], "points": [dict(p.values) for p in picked]}
        onnx.save(model, d / "model.onnx")
        (d / "space.json").write_text(json.dumps(space))
        out = Path(args.out) if args.out else d / "out"
        t0 = time.perf_counter()
        rc = vta_main(["dse", str(d / "model.onnx"), "--space", str(d / "space.json"), "-o",
                       str(out), "--workers", str(args.workers)])
        wall = time.perf_counter() - t0
        if rc != 0:
            return rc
        points = json.loads((out / "dse.json").read_text())["points"]
        pareto = json.loads((out / "pareto.json").read_text())["points"]
        ran = sum(p["status"] == "ok" for p in points)
        computed = [p for p in points if p["status"] == "ok" and not p["shared_with"]]
        per = [p["seconds"] for p in computed]
        cpu = [p["cpu_seconds"] for p in computed]
        if per:
            print(f"computed {len(computed)} of {len(points)} points (the others share a "
                  f"computed point's cycles: same config but the clock); per computed point "
                  f"{min(per):.1f}-{max(per):.1f} s wall of one worker (mean "
                  f"{sum(per) / len(per):.1f} s), {min(cpu):.1f}-{max(cpu):.1f} s CPU (mean "
                  f"{sum(cpu) / len(cpu):.1f} s); {len(points)} points in {wall:.1f} s wall, "
                  f"{sum(cpu):.0f} CPU-s in the workers ({sum(cpu) / args.workers:.0f} s "
                  f"on {args.workers} idle cores)")
        cfgs = validation_configs({"v_1x4x2"} if args.quick else None)
        err = estimate_errors(cfgs, d / "synth")
    print(f"dse: points={ran} wall_s={wall:.1f} est_lut_err={err['lut']:.4f} "
          f"est_ff_err={err['ff']:.4f} est_bram_exact={err['bram']} "
          f"est_dsp_exact={err['dsp']} pareto_points={len(pareto)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
