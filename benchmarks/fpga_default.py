"""Bitstream for the `default` core (1x16x16) on the ULX3S-85F: resources, Fmax, peak GOPS.

The `default` preset's buffers (VTA's: 32 KiB uop, 32 KiB inp, 256 KiB wgt, 128 KiB acc,
32 KiB out) need 217 DP16KD blocks before the SoC's DRAM, and the LFE5U-85F has 208, so the
flow refuses it in its fit stage (printed below, with the numbers).  What is built instead is
`default-85f`: the same 1x16x16 core, pipelines, queues and DRAM model, with the weight
buffer halved (log_wgt_buff_depth 10 -> 9: 128 KiB, 57 blocks instead of 114) and the
largest SoC DRAM that then fits (three copies of 16 KiB).

What a user of the board gets is not Fmax alone but how fast a model runs, so before the
build the ResNet-18 convolutions (``resnet18_layers.py``: layers C1..C11 weighted by how often
they occur in the network, compiled for the built config and run on the cycle-accurate
simulator, outputs checked bit for bit) give the network's cycles, and after it the latency and
the effective GOP/s (useful operations per second: peak x utilization) at the reported Fmax.

    python benchmarks/fpga_default.py              # ~10 min Yosys + ~30 min nextpnr here
    python benchmarks/fpga_default.py --out DIR --seed 2
    python benchmarks/fpga_default.py --seed 1-3 --jobs 2   # the fastest of three placements
    python benchmarks/fpga_default.py --config F.json       # a candidate (e.g. deeper pipelines)
    python benchmarks/fpga_default.py --fmax 63.18          # no build: cycles at this Fmax
    python benchmarks/fpga_default.py --summary DIR/summary.json   # no build: a recorded one

Ends with one line:
``fpga_default: lut4=<n> ff=<n> dp16kd=<n> mult18=<n> fmax_mhz=<f> timing_met=<0|1>
peak_gops=<f> seed=<n> resnet18_cycles=<n> resnet18_ms=<x> effective_gops=<x>`` (peak GOPS =
2 x 256 MACs x Fmax; the seed of the kept placement); without a build (``--fmax``,
``--summary``) ``fpga_default: config=<name> fmax_mhz=<f> peak_gops=<f> resnet18_cycles=<n>
resnet18_ms=<x> effective_gops=<x> built=0``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resnet18_layers import NetworkCycles, resnet18_conv_cycles  # noqa: E402

from vta_hw.config import DEFAULT, DEFAULT_85F, HwConfig, resolve  # noqa: E402
from vta_hw.errors import VtaError  # noqa: E402
from vta_hw.fpga.cli import parse_seeds, seed_sweep_lines  # noqa: E402
from vta_hw.fpga.flow import FlowOptions, bitstream, fit  # noqa: E402
from vta_hw.fpga.resources import FitError  # noqa: E402

VARIANT = DEFAULT_85F  # the preset: DEFAULT with log_wgt_buff_depth=9


def positive_mhz(text: str) -> float:
    """argparse type of ``--fmax``: a clock frequency in MHz above 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of MHz") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} MHz: expected a frequency above 0")
    return v


def recorded_fmax(path: Path, cfg: HwConfig) -> float:
    """The Fmax of a previous run's ``summary.json``, which must be of ``cfg``."""
    try:
        d = json.loads(path.read_text())
        fmax, chash = float(d["fmax_mhz"]), d["config_hash"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"error: --summary {path}: not a summary.json of this benchmark "
                         f"({type(e).__name__}: {e})") from None
    if chash != cfg.config_hash():
        raise SystemExit(f"error: --summary {path} is of config {d.get('config')!r} "
                         f"({chash}), not of {cfg.name!r} ({cfg.config_hash()}); pass its "
                         f"config with --config")
    return fmax


def network_cycles(cfg: HwConfig) -> NetworkCycles:
    net = resnet18_conv_cycles(cfg)
    print(f"ResNet-18 convolutions on '{cfg.name}' (compiler + simulator, outputs checked): "
          + " ".join(f"{n}={c}" for n, c in net.layer_cycles.items()))
    print(f"ResNet-18 conv cycles (C1..C11 weighted by occurrence): {net.cycles} for "
          f"{net.macs} MACs (utilization {net.macs / cfg.macs_per_cycle / net.cycles:.3f})")
    return net


def throughput_fields(net: NetworkCycles, fmax_mhz: float) -> str:
    return (f"resnet18_cycles={net.cycles} resnet18_ms={net.latency_ms(fmax_mhz):.1f} "
            f"effective_gops={net.effective_gops(fmax_mhz):.1f}")


def main(argv: list[str] | None = None) -> int:  # noqa: C901 - one report, read top to bottom
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="vta_out/fpga_default", help="build directory")
    ap.add_argument("--config", type=Path, metavar="FILE",
                    help="build this HwConfig JSON (`vta config show` output is accepted) "
                         "instead of 'default' (or default-85f where it does not fit)")
    ap.add_argument("--seed", type=parse_seeds, default=(1,),
                    help="nextpnr seed(s): 2, 1,2,5 or 1-3 (the fastest is kept)")
    ap.add_argument("--jobs", type=int, default=1, help="seeds placed in parallel")
    ap.add_argument("--no-progress", action="store_true")
    nobuild = ap.add_mutually_exclusive_group()
    nobuild.add_argument("--fmax", type=positive_mhz, metavar="MHZ",
                         help="no build: the ResNet-18 figures at this Fmax")
    nobuild.add_argument("--summary", type=Path, metavar="FILE",
                         help="no build: the Fmax of a previous run's summary.json")
    args = ap.parse_args(argv)

    cfg = None
    if args.config is not None:
        try:
            cfg = resolve(None, args.config)
        except (VtaError, OSError) as e:
            raise SystemExit(f"error: --config {args.config}: {e}") from None
    if args.fmax is not None or args.summary is not None:
        cfg = cfg or VARIANT
        fmax = args.fmax if args.fmax is not None else recorded_fmax(args.summary, cfg)
        net = network_cycles(cfg)
        print(f"fpga_default: config={cfg.name} fmax_mhz={fmax:.2f} "
              f"peak_gops={2 * cfg.macs_per_cycle * fmax / 1e3:.1f} "
              f"{throughput_fields(net, fmax)} built=0")
        return 0

    opts = FlowOptions(seeds=args.seed, jobs=args.jobs, progress=not args.no_progress)
    if cfg is not None:
        print(f"== building '{cfg.name}' ({cfg.config_hash()}) from {args.config}")
    else:
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
    net = network_cycles(cfg)
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
               "peak_gops": rep.peak_gops, "stage_seconds": rep.stage_seconds,
               "resnet18_layer_cycles": net.layer_cycles, "resnet18_cycles": net.cycles,
               "resnet18_ms": net.latency_ms(rep.fmax_mhz),
               "effective_gops": net.effective_gops(rep.fmax_mhz)}
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"fpga_default: lut4={summary['lut4']} ff={summary['ff']} "
          f"dp16kd={summary['dp16kd']} mult18={summary['mult18']} "
          f"fmax_mhz={rep.fmax_mhz:.2f} timing_met={int(bool(rep.timing_met))} "
          f"peak_gops={rep.peak_gops:.1f} seed={rep.details['seed']} "
          f"{throughput_fields(net, rep.fmax_mhz)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
