"""``vta tune MODEL.onnx --log LOG.jsonl --trials N``: search the schedules of a model's layers.

The model is read as ``vta compile`` reads it (the same ``--calib``, ``--targets``, ``--pin``
... options: ``vta/commands/_model.py``), and its accelerator operators become tuning tasks,
one per distinct workload (layers of the same shape share one).  The ``--trials`` budget is
spread over the tasks by headroom (``compiler.autotune.budget``: a minimum each, the rest by
what tuning the task could save in the model's cycles), and each task is searched in turn
(``--explorer``: the XGBoost-guided simulated annealing by default, or random or grid
search), every candidate compiled and run on the simulator in ``--workers`` local processes
or on a Dask cluster (``--dask tcp://host:port``), each cut off after ``--timeout`` seconds.

Every measurement is appended to ``--log`` as it arrives, so an interrupted run resumes where
it stopped: run the same command again (records in the log count as trials done).  ``vta
compile MODEL --tuning-log LOG`` then compiles each layer with its best logged schedule.

On stderr a progress bar shows the trials done, the current layer's best cycles and the time
left; at the end a table on stdout gives each task's default and tuned cycles and the
model's speedup over the tuned layers.  ``--plot curve.png`` also runs random search on the
same budget (logged to ``LOG.random.jsonl`` beside the log, so a rerun redraws without
measuring) and draws the model's cycles against trials for both searches, plus a panel per
task.  Every input is checked before any work; a mistake is one ``error:`` line.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from vta.commands._common import (
    UsageError,
    add_config_args,
    add_runner_args,
    config_from_args,
    path_arg,
)
from vta.commands._model import add_model_args, partition_args, read_model, warning_lines
from vta.outputs import PLOT_SUFFIXES, Outputs, check_file, writes_outputs
from vta.progress import ProgressBar, waiting

EXPLORERS = ("model", "random", "grid")
EXPLORER_LABEL = {"model": "model-guided", "random": "random", "grid": "grid"}


def _default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else os.cpu_count() or 1)


@dataclass(frozen=True)
class TaskOutcome:
    """One task's tuning: its trials and the tuner's result."""

    task: object  # compiler.autotune.tasks.Task
    trials: int
    result: object  # compiler.autotune.tuner.TuneResult


def baseline_log_path(log: Path) -> Path:
    """Where ``--plot`` logs its random-search baseline: ``tune.jsonl`` ->
    ``tune.random.jsonl`` beside it."""
    return log.with_name(f"{log.stem}.random{log.suffix or '.jsonl'}")


def check_args(args: argparse.Namespace) -> None:
    """The option values argparse cannot check alone, checked before any work (one
    ``error:`` line each; ``--workers``, ``--dask`` and ``--timeout`` are argparse types:
    ``add_runner_args``)."""
    if args.trials < 1:
        raise UsageError(f"--trials must be at least 1, got {args.trials}")


def layer_label(layers: tuple[str, ...], width: int = 24) -> str:
    """``conv2`` or ``conv2 (+3)`` for a workload four layers share, cut to ``width``."""
    text = layers[0] if layers else "?"
    more = f" (+{len(layers) - 1})" if len(layers) > 1 else ""
    if len(text) + len(more) > width:
        text = text[:max(1, width - len(more) - 1)] + "~"
    return text + more


def _cycles(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def summary_table(outcomes: list[TaskOutcome]) -> str:
    """Per task: layers, workload, trials, default and tuned cycles, speedup; then the
    model's cycles over the tuned layers (each task's cycles times its layers)."""
    head = f"{'layer':<24} {'workload':<44} {'trials':>6} {'default':>11} {'tuned':>11} " \
           f"{'speedup':>8}"
    lines = [head, "-" * len(head)]
    total_d = total_t = 0
    for o in outcomes:
        r = o.result
        d = r.default.cycles if r.default is not None and r.default.ok else None
        t = r.best_cycles  # the default is among the measured: never above it
        speed = f"{d / t:.2f}x" if d and t else "-"
        n = max(1, len(o.task.layers))
        if d is not None and t is not None:
            total_d += n * d
            total_t += n * t
        wl = o.task.workload.describe()
        wl = wl if len(wl) <= 44 else wl[:43] + "~"
        lines.append(f"{layer_label(o.task.layers):<24} {wl:<44} {o.trials:>6} "
                     f"{_cycles(d):>11} {_cycles(t):>11} {speed:>8}")
    lines.append("-" * len(head))
    speed = f"{total_d / total_t:.2f}x" if total_t else "-"
    lines.append(f"{'model (tuned layers)':<24} {'':<44} "
                 f"{sum(o.trials for o in outcomes):>6} {_cycles(total_d):>11} "
                 f"{_cycles(total_t):>11} {speed:>8}")
    return "\n".join(lines)


def _histories(log, outcomes: list[TaskOutcome]) -> list[list[int | None]]:
    """Each task's measured cycles in log order (None: failed), the first ``trials``."""
    out = []
    for o in outcomes:
        recs = log.records(o.task.workload.key)[:max(1, o.trials)]
        out.append([r.cycles if r.status == "ok" else None for r in recs])
    return out


def draw_plot(path: Path, cfg_name: str, searches: dict[str, tuple[object, list[TaskOutcome]]]
              ) -> None:
    """The model's cycles against trials for each search (label -> (log, outcomes)), and a
    panel per task (the nine with the most trials, in model order)."""
    from compiler.autotune.curves import best_so_far, model_curve, plot_curves

    curves, panels = {}, {}
    first = next(iter(searches.values()))[1]
    defaults = [o.result.default.cycles if o.result.default is not None
                and o.result.default.ok else (o.result.best_cycles or 0) for o in first]
    weights = [max(1, len(o.task.layers)) for o in first]
    shown = sorted(range(len(first)), key=lambda k: (-first[k].trials, k))[:9]
    for label, (log, outcomes) in searches.items():
        hist = _histories(log, outcomes)
        curves[label] = model_curve(hist, defaults, weights)
        for k in sorted(shown):
            name = f"{layer_label(first[k].task.layers)}: {first[k].task.workload.op.kind}"
            panels.setdefault(name, {})[label] = best_so_far(hist[k], start=defaults[k])
    plot_curves(curves, path, title=f"model cycles over the tuned layers ({cfg_name})",
                ylabel="cycles (sum over layers)", panels=panels)


def _tune_all(tasks, trials: list[int], *, runner, log, explorer: str, seed: int,
              bar: ProgressBar, what: str) -> list[TaskOutcome]:
    """Tune each task in turn with its trials, advancing ``bar`` per measurement.  The
    model-guided search of a task starts from a ranking model trained on every other
    workload in the log (the tasks before it, and earlier runs: transfer)."""
    from compiler.autotune.cost_model import RankModel
    from compiler.autotune.tuner import tune

    outcomes = []
    for task, n in zip(tasks, trials, strict=True):
        key = task.workload.key
        model = None
        if explorer == "model" and any(r.key != key for r in log.records()):
            model = RankModel.from_records(log, exclude=[key], seed=seed)
        done = min(len(log.measured(key)), n)  # what tune() counts as done (resume)
        bar.skip(done)
        name = layer_label(task.layers)
        logged = log.best(key)
        state = {"best": logged.cycles if logged is not None else None}

        def on_result(result, name=name, state=state) -> None:
            if result.ok and (state["best"] is None or result.cycles < state["best"]):
                state["best"] = result.cycles
            bar.advance(1, f"{what} {name}: best {_cycles(state['best'])} cycles")

        bar.set_status(f"{what} {name}: best {_cycles(state['best'])} cycles")
        result = tune(task.workload, n, runner=runner, log=log, explorer=explorer,
                      seed=seed, model=model, on_result=on_result)
        # a task whose trials were all in the log: the bar already counted them
        outcomes.append(TaskOutcome(task, n, result))
        d = result.default.cycles if result.default is not None and result.default.ok else None
        bar.note(f"{what} {name} ({task.workload.op.kind}, {n} trials): default "
                 f"{_cycles(d)} -> {_cycles(result.best_cycles)} cycles")
    return outcomes


@writes_outputs
def _tune(args: argparse.Namespace, outs: Outputs) -> int:
    check_args(args)
    log_path = check_file(args.log, "--log")
    plot = outs.file(args.plot, "--plot", suffixes=PLOT_SUFFIXES)
    if plot is not None and os.path.realpath(args.plot) == os.path.realpath(log_path):
        raise UsageError(f"--log and --plot both name {str(log_path)!r}")
    base_path = None
    if plot is not None and args.explorer != "random":
        base_path = check_file(baseline_log_path(log_path), "--plot's random-search log")
    cfg = config_from_args(args)
    part = partition_args(args)
    if "vta" not in part.targets:
        raise UsageError(f"--targets {args.targets!r} leaves out vta: there is nothing to tune "
                         "(tuning searches the accelerator's schedules)")

    from compiler.autotune.budget import allocate, headroom
    from compiler.autotune.log import TuningLog
    from compiler.autotune.measure import make_runner
    from compiler.autotune.tasks import extract_workloads

    log = TuningLog(log_path)
    with warning_lines():
        resumed = len(log.records())  # not a tuning log: one error line, before any work
    model = read_model(args, part)
    with waiting(f"finding the accelerator ops of {args.model} on {cfg.name}",
                 stream=sys.stdout):
        tasks = extract_workloads(model.graph, cfg, **part.kwargs())
    if not tasks:
        raise UsageError(f"model {args.model!r}: the partition puts no op on the accelerator, "
                         "so there is nothing to tune (--targets vta puts every op it can "
                         "run there)")
    if args.trials < len(tasks):
        raise UsageError(f"--trials {args.trials} is fewer than the {len(tasks)} workloads of "
                         f"{args.model!r}: give at least {len(tasks)} (each task measures its "
                         "default schedule first)")
    with waiting(f"estimating the headroom of {len(tasks)} workload(s)", stream=sys.stdout):
        rooms = [headroom(t.workload, seed=args.seed) for t in tasks]
    trials = allocate(tasks, args.trials, headrooms=rooms, seed=args.seed)
    print(f"model: {args.model}: {len(tasks)} workload(s) over "
          f"{sum(len(t.layers) for t in tasks)} accelerator layer(s) on {cfg.name}; "
          f"{sum(trials)} trials ({args.explorer} search)")
    for t, h, n in zip(tasks, rooms, trials, strict=True):
        print(f"  {layer_label(t.layers):<24} {t.workload.op.kind:<16} default "
              f"~{h.default_cycles:,} cycles, {100 * h.efficiency:.0f}% of its roofline: "
              f"{n} trials")
    workers = args.workers if args.workers is not None else _default_workers()
    where = f"the Dask cluster at {args.dask}" if args.dask else (
        f"{workers} local process(es)" if workers else "this process")
    print(f"measuring on the simulator in {where}; log: {args.log}"
          + (f" (resumed: {resumed} measurements in it)" if resumed else ""))
    try:
        runner = make_runner(workers=workers, dask=args.dask, timeout=args.timeout)
    except ValueError as e:  # an unreachable Dask scheduler
        raise UsageError(f"--dask {args.dask}: {e}" if args.dask else str(e)) from None
    searches = {}
    baseline = plot is not None and args.explorer != "random"
    total = sum(trials) * (2 if baseline else 1)
    with warning_lines(), runner, ProgressBar(total) as bar:
        bar.start_clock()
        outcomes = _tune_all(tasks, trials, runner=runner, log=log, explorer=args.explorer,
                             seed=args.seed, bar=bar, what=EXPLORER_LABEL[args.explorer])
        searches[EXPLORER_LABEL[args.explorer]] = (log, outcomes)
        if baseline:
            base = TuningLog(base_path)
            searches["random"] = (base, _tune_all(
                tasks, trials, runner=runner, log=base, explorer="random", seed=args.seed,
                bar=bar, what="random"))
    print(summary_table(outcomes))
    if plot is not None:
        draw_plot(plot, cfg.name, searches)
        print(f"plot: {args.plot}" + (f" (random baseline logged to {base_path})"
                                      if baseline else ""))
    print(f"log: {args.log} (vta compile {args.model} --tuning-log {args.log} ... uses it)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="search the schedules of a model's accelerator layers "
                                    "(measured on the simulator; a resumable JSON-lines log)")
    add_model_args(p)
    path_arg(p, "--log", kind="out:file", metavar="FILE", required=True,
             help="the tuning log (JSON lines) to append to; an existing log is resumed")
    p.add_argument("--trials", type=int, required=True, metavar="N",
                   help="measurements for the whole model, spread over its layers by headroom")
    p.add_argument("--explorer", choices=EXPLORERS, default="model",
                   help="model: XGBoost-guided simulated annealing (default); random; grid")
    add_runner_args(
        p, title="where candidates are measured", workers_default=None,
        workers_help="local measuring processes (default: one per CPU core; 0: in this "
                     "process, no time limit)",
        dask_help="a Dask scheduler to measure on (tcp://host:port)",
        timeout_default=60.0,
        timeout_help="seconds before a candidate's measurement is cut off and logged as "
                     "timed out (default 60)")
    p.add_argument("--seed", type=int, default=0, metavar="K",
                   help="seed of the search (default 0)")
    path_arg(p, "--plot", kind="out:plot", metavar="FILE",
             help="draw the model's cycles against trials, this search against random "
                  "search on the same budget (.png, .svg, .pdf, .jpg)")
    add_config_args(p)
    p.set_defaults(func=_tune)
