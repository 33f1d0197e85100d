"""``vta dse MODEL.onnx --space SPACE.json -o DIR``: which accelerator to build for a model.

Every point of the space (``compiler.dse.space``: a base config and axes whose product gives
the points, and/or an explicit list) is compiled for the model (the heuristic schedules, or
``--tune-trials N`` measurements per accelerator workload), run once on the cycle-accurate
simulator (cycles, latency at the point's clock, GEMM utilization per layer) and given the
fast resource estimate on ``--board``'s FPGA (whether it fits, naming what does not).  The
points run on the autotuner's runners: ``--workers N`` local processes (time limit per point
``--timeout``, a crashed point recorded and the sweep going on) or ``--dask ADDRESS``.

``DIR`` is also the cache: finished points are kept by config hash, so a rerun computes only
what is missing (an interrupted sweep resumes; the same sweep again computes nothing).  It
gets ``dse.csv``, ``dse.json``, ``pareto.json`` (the front of latency against each
resource), ``pareto.png`` and ``layers.png`` (per-layer utilization of the fastest point that
fits).  ``--synth-front`` runs Yosys (``vta hw synth``, cached) on the Pareto points and adds
its counts to the tables.  A float model without ``--calib`` is calibrated on random samples:
cycles do not depend on the data.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vta.commands._common import (
    UsageError,
    add_output_arg,
    add_runner_args,
    non_negative_int,
    path_arg,
    positive_int,
    read_input,
)
from vta_hw.files import atomic_path


def _plot_atomic(path: Path, draw) -> Path:
    with atomic_path(path, suffix=path.suffix) as tmp:
        draw(tmp)
    return path


def write_plots(results, written, out: Path, device: str) -> list[Path]:
    """``pareto.png`` (latency against each resource, fitting and non-fitting points
    marked, the fronts and the chosen point) and ``layers.png`` (per-layer utilization of
    the chosen point), written atomically; returns their paths."""
    from compiler.dse.sweep import plot_data
    from vta_sim.plots import layer_utilization, pareto_scatter

    scatter, capacity = plot_data(results)
    best = written.chosen
    name = None if best is None else best.point.name
    files = [_plot_atomic(out / "pareto.png", lambda p: pareto_scatter(
        scatter, written.fronts, capacity, p, chosen=name,
        title=f"Latency against resources on the {device}"))]
    if best is not None:
        cfg = best.point.cfg
        files.append(_plot_atomic(out / "layers.png", lambda p: layer_utilization(
            [(x.name, x.utilization, x.cycles) for x in best.layers], p,
            title=f"Per-layer GEMM utilization of {name} ({cfg.batch}x{cfg.block_in}x"
                  f"{cfg.block_out}, {cfg.target_clock_mhz:g} MHz, {best.latency_ms:.3f} ms)")))
    return files


def _dse(args: argparse.Namespace) -> int:
    from compiler.autotune.measure import make_runner
    from compiler.dse.point import PointResult, SweepJob, evaluate_point
    from compiler.dse.space import load_space
    from compiler.dse.sweep import (
        PointCache,
        fingerprint,
        reason,
        run_points,
        synth_points,
        write_outputs,
    )
    from compiler.partition import parse_targets
    from vta.commands._model import parse_input_shapes
    from vta.outputs import check_directory
    from vta.progress import ProgressBar, waiting
    from vta_hw.fpga.boards import board

    read_input(args.model, "model", text=False)
    if args.calib is not None:
        read_input(args.calib, "--calib", text=False)
    read_input(args.space, "--space", text=True)
    points = load_space(args.space)
    b = board(args.board)
    targets = parse_targets(args.targets)
    if "vta" not in targets:
        raise UsageError(f"--targets {args.targets}: a sweep of accelerator configs needs vta "
                         "among the targets")
    out = check_directory(args.output, "-o")
    out.mkdir(parents=True, exist_ok=True)
    shapes = parse_input_shapes(args.input_shape or [])
    job = SweepJob(str(Path(args.model).resolve()),
                   None if args.calib is None else str(Path(args.calib).resolve()),
                   tuple(sorted(shapes.items())), tuple(targets), b.part, args.tune_trials,
                   str((out / "tuning").resolve()), args.seed)
    cache = PointCache(out / "points", fingerprint(job))
    invalid = sum(p.cfg is None for p in points)
    print(f"space: {len(points)} points ({invalid} invalid) from {args.space}; model "
          f"{args.model}; device {b.part} ({b.name}); "
          + (f"{args.tune_trials} tuning trials per workload" if args.tune_trials
             else "heuristic schedules"))
    counts = {"cached": 0, "computed": 0}
    workers = args.workers if args.dask is None else 1
    with ProgressBar(len(points), unit="points") as bar:
        def seen(r: PointResult, cached: bool) -> None:
            counts["cached" if cached else "computed"] += 1
            what = f"{r.latency_ms:.3f} ms" if r.ok else r.status
            fit = "" if r.fits is None else (", fits" if r.fits else ", does not fit")
            if cached:
                bar.skip(1)
            else:
                bar.note(f"  {r.point.name}: {what}{fit} ({r.seconds:.1f} s)")
                bar.advance(1, status=f"last {r.point.name}")

        with make_runner(workers, args.dask, args.timeout, measure=evaluate_point,
                         result=PointResult) as runner:
            bar.start_clock()
            results = run_points(job, points, runner, cache, batch=max(1, workers),
                                 on_result=seen)
    print(f"points: {counts['computed']} computed, {counts['cached']} from the cache in {out}")
    synth = None
    if args.synth_front:
        from compiler.dse.pareto import fronts

        names = {n for ns in fronts(results).values() for n in ns}
        with waiting(f"Yosys on the {len(names)} Pareto point(s) (cached by config hash; "
                     "minutes each the first time)"):
            synth = synth_points(results, names, b.name, out / "synth")
    written = write_outputs(results, out, device=b.part, synth=synth)
    plots = write_plots(results, written, out, b.part)
    ok = [r for r in results if r.ok]
    fit = [r for r in ok if r.fits]
    print(f"compiled and simulated: {len(ok)} of {len(results)}; fit the {b.part}: {len(fit)}")
    for r in results:
        why = reason(r)
        if why:
            print(f"  {r.point.name}: {why.splitlines()[0][:200]}")
    for res, names in written.fronts.items():
        print(f"pareto (latency vs {res}): {', '.join(names) or '-'}")
    best = written.chosen
    if best is not None:
        cfg = best.point.cfg
        used = ", ".join(f"{k} {v['used']}" for k, v in best.resources.items()
                         if isinstance(v, dict) and "used" in v)
        print(f"chosen (fastest that fits): {best.point.name} {cfg.batch}x{cfg.block_in}x"
              f"{cfg.block_out} at {cfg.target_clock_mhz:g} MHz: {best.latency_ms:.3f} ms, "
              f"{best.cycles} cycles, utilization {100 * best.utilization:.1f}%; {used}")
    else:
        print("chosen: none (no point compiled and fits the device)")
    if synth:
        for name, counts_y in synth.items():
            r = next(x for x in results if x.point.name == name)
            print(f"  yosys {name}: " + ", ".join(
                f"{k} {v} (estimate {r.resources[k]['used']})" for k, v in counts_y.items()))
    print("wrote: " + ", ".join(str(p) for p in (*written.files, *plots)))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from vta_hw.fpga.boards import BOARDS

    p = sub.add_parser("dse", help="design-space exploration: compile, simulate and estimate "
                                   "a model on every config of a space; Pareto front and plots")
    path_arg(p, "model", kind="in:onnx", help="the ONNX model (.onnx)")
    path_arg(p, "--space", kind="in:raw", metavar="FILE", required=True,
             help="the space (JSON: a 'base' preset or config, 'axes' of HwConfig fields "
                  "or 'gemm' shapes whose product gives the points, and/or 'points')")
    add_output_arg(p, "the output directory (tables, plots; also the cache of finished "
                      "points)", kind="out:dir", required=True)
    add_runner_args(
        p, title="where the points run", workers_default=2,
        workers_help="local worker processes (default 2; 0: in this process, no time limit)",
        dask_help="run the points on a Dask cluster (scheduler address); the workers must "
                  "read MODEL and --calib at the same paths",
        timeout_default=1800.0, timeout_help="time limit per point in seconds (default 1800)")
    p.add_argument("--tune-trials", type=non_negative_int, default=0, metavar="N",
                   help="tune each accelerator workload with N measurements per point "
                        "(default 0: the heuristic schedules)")
    p.add_argument("--synth-front", action="store_true",
                   help="run Yosys on the Pareto points to confirm the estimate (cached)")
    p.add_argument("--board", default="ulx3s-85f", choices=sorted(BOARDS),
                   help="the board whose FPGA the estimate checks (default ulx3s-85f)")
    p.add_argument("--targets", default="vta",
                   help="devices the ops may run on (default vta: every op the accelerator "
                        "can run is on it)")
    path_arg(p, "--calib", kind="in:npz", metavar="FILE",
             help="calibration data (.npz); default: random samples (cycles do not depend "
                  "on the data)")
    p.add_argument("--input-shape", action="append", metavar="NAME=DIMS",
                   help="fix an input's shape, e.g. data=1x3x224x224 (repeatable)")
    p.add_argument("--seed", type=positive_int, default=1, help=argparse.SUPPRESS)
    p.set_defaults(func=_dse)


__all__ = ["register"]
