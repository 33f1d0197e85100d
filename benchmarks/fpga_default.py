"""Bitstream for the `default` core (1x16x16) on the ULX3S-85F: resources, Fmax, peak GOPS.

The `default` preset's buffers (VTA's: 32 KiB uop, 32 KiB inp, 256 KiB wgt, 128 KiB acc,
32 KiB out) need 217 DP16KD blocks before the SoC's DRAM, and the LFE5U-85F has 208, so the
flow refuses it in its fit stage (printed below, with the numbers).  What is built instead is
`default-85f`: the same 1x16x16 core, pipelines, queues and DRAM model, with the weight
buffer halved (log_wgt_buff_depth 10 -> 9: 128 KiB, 57 blocks instead of 114) and the
largest SoC DRAM that then fits (three copies of 16 KiB).

    python benchmarks/fpga_default.py              # ~10 min Yosys + ~30 min nextpnr here
    python benchmarks/fpga_default.py --out DIR --seed 2
    python benchmarks/fpga_default.py --seed 1-3 --jobs 2   # the fastest of three placements

Ends with one line:
``fpga_default: lut4=<n> ff=<n> dp16kd=<n> mult18=<n> fmax_mhz=<f> timing_met=<0|1>
peak_gops=<f> seed=<n>`` (peak GOPS = 2 x 256 MACs x Fmax; the seed of the kept placement).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vta_hw.config import DEFAULT, DEFAULT_85F  # noqa: E402
from vta_hw.fpga.cli import parse_seeds, seed_sweep_lines  # noqa: E402
from vta_hw.fpga.flow import FlowOptions, bitstream, fit  # noqa: E402
from vta_hw.fpga.resources import FitError  # noqa: E402

VARIANT = DEFAULT_85F  # the preset: DEFAULT with log_wgt_buff_depth=9


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="vta_out/fpga_default", help="build directory")
    ap.add_argument("--seed", type=parse_seeds, default=(1,),
                    help="nextpnr seed(s): 2, 1,2,5 or 1-3 (the fastest is kept)")
    ap.add_argument("--jobs", type=int, default=1, help="seeds placed in parallel")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)

    opts = FlowOptions(seeds=args.seed, jobs=args.jobs, progress=not args.no_progress)
    print(f"== preset 'default' ({DEFAULT.config_hash()}) on ulx3s-85f")
    try:
        fit(DEFAULT, opts)
        cfg = DEFAULT
        print("fits: building it")
    except FitError as e:
        print(f"does not fit (refused before synthesis):\n{e}\n")
        cfg = VARIANT
        print(f"== building '{cfg.name}' ({cfg.config_hash()}): default with "
              f"log_wgt_buff_depth=9 (wgt {cfg.wgt_buff_bytes // 1024} KiB)")
    res = bitstream(cfg, args.out, opts)
    rep = res.report
    print(rep.table())
    print(seed_sweep_lines(rep.details), end="")
    print(f"bitstream: {res.bitstream}")
    d = rep.to_dict()
    summary = {"config": cfg.name, "config_hash": cfg.config_hash(),
               "dram_bytes": rep.dram_bytes, **{k: d[k]["used"] for k in
                                                 ("lut4", "ff", "dp16kd", "mult18")},
               "fmax_mhz": rep.fmax_mhz, "timing_met": rep.timing_met,
               "seed": rep.details["seed"], "seed_sweep": rep.details.get("seed_sweep"),
               "peak_gops": rep.peak_gops, "stage_seconds": rep.stage_seconds}
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"fpga_default: lut4={summary['lut4']} ff={summary['ff']} "
          f"dp16kd={summary['dp16kd']} mult18={summary['mult18']} "
          f"fmax_mhz={rep.fmax_mhz:.2f} timing_met={int(bool(rep.timing_met))} "
          f"peak_gops={rep.peak_gops:.1f} seed={rep.details['seed']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
