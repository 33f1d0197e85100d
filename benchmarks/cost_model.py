"""How good is the partitioner's cost model, and the partition it chooses?

Three checks, all measured in this run (docs/graph.md, "The cost model"):

1. **Per-op estimates against measurements, per device.**  Accelerator: the compiler's
   estimate (``compile_op(op, cfg).estimated_cycles``, what the partitioner prices) against
   the cycles of running the op on the ``sim`` device (exact), on each config.  CPU: the
   host's CPU model, calibrated at the start of this run (``--cached``: the cached one), on
   ops its calibration never saw, against the op as the executor runs it, timed the way
   the calibration times (:func:`compiler.partition.calibrate.measure_in_executor`: one
   module, each op between accelerator programs and host steps, best over the rounds).
   Ops: convolutions (3x3, 1x1, stride 2, a wide one), depthwise (stride 1 and 2), dense
   (batch 1, 4 and 8), max/avg/global pooling, element-wise add and ReLU, and three as the
   quantizer emits them (bias, per-channel requantization, a residual, an 8x8 global-pool
   depthwise).  Per device: Spearman rank correlation and mean absolute relative error
   ``|est - meas| / meas``.
2. **Exhaustive check on small graphs.**  Small CNNs (``tests/compiler/graph/lower_models``)
   quantized and lowered with every legal assignment of their opset ops to {vta, cpu}
   (:func:`compiler.partition.baselines.assignments`), each run on the simulator; its
   end-to-end time is what the partitioner minimizes, measured: the executor profile's
   ``latency_ms`` (one sample alone: accelerator cycles at the config's clock and the
   copies over the device's link modelled -- the simulator has no link to time -- host
   steps and the layout packing at the boundaries measured).  Fairly: every assignment is
   loaded once and measured in round-robin rounds (each round runs each once, in turn, so
   a burst of load hits them alike), then the contenders (within 15% of the fastest),
   the chosen partition and the baselines get twice as many rounds more, and each is the
   least of its runs -- the ones compared have had the same number of runs.  The
   partition chosen must be within 5% of the best measured assignment.  Configs:
   ``tiny``, ``default`` and ``starved`` (``default`` with 1 DRAM byte per cycle and 400
   cycles of DRAM latency).
3. **Cost-based against the baselines** on each (model, config): all-accelerator (every opset
   op on the accelerator) and onnxruntime-style greedy claiming
   (:func:`compiler.partition.baselines.greedy_claim`, targets vta then cpu), measured the
   same way.

    python benchmarks/cost_model.py            # everything (a few minutes)
    python benchmarks/cost_model.py --quick    # six ops, one model, tiny only (the smoke test)

    python benchmarks/cost_model.py --part ops # check 1 only (under a minute)
    python benchmarks/cost_model.py --cached   # the cached CPU model, not calibrated afresh

Summary line: ``cost_model: acc_spearman=<x> acc_mare=<x> cpu_spearman=<x> cpu_mare=<x>
within_5pct=<k>/<n> partition_vs_best=<x> beats_both=<k>/<n>`` (``partition_vs_best``: the
worst over the graphs of chosen/best measured time; ``--part`` keeps the items of the
checks run).  :func:`measure_costs` returns the same figures (and the tables) to
``benchmarks/hetero.py``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from compiler.api import compile_op  # noqa: E402
from compiler.frontend import import_onnx  # noqa: E402
from compiler.graph.lower import Lowered, lower  # noqa: E402
from compiler.graph.pipeline import run_quantization  # noqa: E402
from compiler.graph.quantize import samples_from_arrays  # noqa: E402
from compiler.partition.baselines import assignments, greedy_claim  # noqa: E402
from compiler.partition.calibrate import measure_in_executor, random_inputs  # noqa: E402
from compiler.partition.costs import CpuModel, calibrate_cpu, cpu_model  # noqa: E402
from opset import (  # noqa: E402
    AluStep,
    Conv2d,
    Dense,
    DepthwiseConv2d,
    Elementwise,
    Epilogue,
    GlobalAvgPool,
    Pool2d,
    Requant,
)
from runtime.devices import open_device  # noqa: E402
from runtime.executor import Executor  # noqa: E402
from tests.compiler.graph.lower_models import calib, islands_cnn, small_cnn  # noqa: E402
from vta.api import run_compiled  # noqa: E402
from vta_hw.config import DEFAULT, HwConfig, preset  # noqa: E402

EP = Epilogue(requant=Requant(1, 8))
OPS = (
    Conv2d(1, 32, 28, 28, 32, 3, 3, pad=1, epilogue=EP, name="conv3x3"),
    Conv2d(1, 64, 14, 14, 64, 1, 1, epilogue=EP, name="conv1x1"),
    Conv2d(1, 32, 28, 28, 64, 3, 3, stride=2, pad=1, epilogue=EP, name="conv3x3_s2"),
    Conv2d(1, 16, 56, 56, 16, 3, 3, pad=1, epilogue=EP, name="conv3x3_wide"),
    DepthwiseConv2d(1, 32, 28, 28, 3, 3, pad=1, epilogue=EP, name="depthwise"),
    DepthwiseConv2d(1, 64, 28, 28, 3, 3, stride=2, pad=1, epilogue=EP, name="depthwise_s2"),
    Conv2d(1, 128, 7, 7, 128, 1, 1, epilogue=EP, name="conv1x1_7x7"),
    Conv2d(1, 3, 32, 32, 16, 3, 3, pad=1, epilogue=EP, name="conv_stem"),
    Dense(1, 512, 256, epilogue=EP, name="dense"),
    Dense(8, 512, 512, epilogue=EP, name="dense_b8"),
    Dense(4, 256, 128, epilogue=EP, name="dense_b4"),
    Pool2d(1, 32, 28, 28, "max", 2, 2, 2, 0, name="maxpool"),
    Pool2d(1, 32, 28, 28, "avg", 3, 3, 2, 1, name="avgpool"),
    GlobalAvgPool(1, 64, 14, 14, name="gap"),
    Elementwise((1, 32, 28, 28), (AluStep("add"),), name="add"),
    Elementwise((1, 64, 14, 14), (AluStep("max", 0),), name="relu"),
    # as the quantizer emits them: bias, per-channel requantization, a residual, global
    # pooling as an 8x8 depthwise (short programs: on slow DRAM, fetching their
    # instructions is most of their time)
    Dense(1, 8, 10, epilogue=Epilogue(bias=True, requant=Requant(1, 0, 1, per_channel=True)),
          name="fc_bias"),
    DepthwiseConv2d(1, 8, 8, 8, 8, 8, epilogue=Epilogue(requant=Requant(21695, 19)),
                    name="gap_dw8x8"),
    Conv2d(1, 8, 8, 8, 8, 3, 3, pad=1, epilogue=Epilogue(
        bias=True, requant=Requant(1, 0, 3, per_channel=True), residual=True, relu=True),
        name="conv_res"),
)
# enough for a rank correlation that means something (two points always give +-1)
QUICK_OPS = ("conv1x1", "conv_stem", "dense_b8", "maxpool", "relu", "fc_bias")
STARVED = replace(DEFAULT, name="starved", log_dram_bytes_per_cycle=0, dram_latency=400)
MODELS = {"small_cnn": small_cnn, "islands_cnn": islands_cnn}


# ----------------------------------------------------------------------------- statistics
def ranks(x: np.ndarray) -> np.ndarray:
    """Ranks from 0, ties sharing their mean rank."""
    x = np.asarray(x, float)
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(len(x), dtype=float)
    for v in np.unique(x):
        tie = x == v
        r[tie] = r[tie].mean()
    return r


def spearman(est: np.ndarray, meas: np.ndarray) -> float:
    """Spearman's rank correlation (Pearson's on the ranks)."""
    if len(est) < 2:
        return float("nan")
    return float(np.corrcoef(ranks(est), ranks(meas))[0, 1])


def mare(est: np.ndarray, meas: np.ndarray) -> float:
    """Mean absolute relative error of the estimates."""
    est, meas = np.asarray(est, float), np.asarray(meas, float)
    return float(np.mean(np.abs(est - meas) / meas))


# ----------------------------------------------------------------------------- 1. per op
@dataclass(frozen=True)
class OpRow:
    device: str
    config: str
    op: str
    estimate: float
    measured: float


def accelerator_rows(ops, configs: list[HwConfig]) -> list[OpRow]:
    """Estimated against simulated cycles of every op each config can compile."""
    rows = []
    rng = np.random.default_rng(0)
    for cfg in configs:
        for op in ops:
            compiled = compile_op(op, cfg)
            inputs = dict(zip([s.name for s in op.inputs()], random_inputs(op, rng),
                              strict=True))
            sim = run_compiled(compiled, inputs, "sim").cycles
            rows.append(OpRow("vta", cfg.name, op.name, compiled.estimated_cycles, sim))
    return rows


def cpu_rows(ops, model: CpuModel, runs: int) -> list[OpRow]:
    """The CPU model against each op as the executor runs it (timed the way the
    calibration times, :func:`compiler.partition.calibrate.measure_in_executor`: every op
    once per round between accelerator programs and host steps, best over ``4 * runs``
    rounds)."""
    meas = measure_in_executor(ops, rounds=4 * runs, seed=1).ops
    return [OpRow("cpu", "host", op.name, model.op_seconds(op), float(t))
            for op, t in zip(ops, meas, strict=True)]


def per_op_table(rows: list[OpRow]) -> list[str]:
    lines = [f"{'device':<7}{'config':<9}{'op':<14}{'estimate':>12}{'measured':>12}"
             f"{'est/meas':>10}"]
    for r in rows:
        unit = (lambda v: f"{v:>12.0f}") if r.device == "vta" else (lambda v: f"{v * 1e6:>10.1f}us")
        lines.append(f"{r.device:<7}{r.config:<9}{r.op:<14}{unit(r.estimate)}"
                     f"{unit(r.measured)}{r.estimate / r.measured:>10.3f}")
    return lines


# ----------------------------------------------------------------------------- 2./3. graphs
def quantized(make) -> object:
    g = import_onnx(make())
    return run_quantization(g, samples_from_arrays(g, calib()))


def stage_seconds(run) -> dict[tuple, float]:
    """Seconds of each stage of a one-sample run, from its trace: host steps, the packing
    and unpacking of each program's boundary tensors, each program's cycles at the clock
    and its link copies -- the stages whose sum is the profile's ``latency_ms``."""
    out: dict[tuple, float] = {}
    for ev in run.events:
        if ev.get("ph") == "X" and (ev["pid"], ev["tid"]) in ((1, 0), (1, 1), (0, 0), (0, 2)):
            key = (ev["pid"], ev["tid"], ev["name"])
            out[key] = out.get(key, 0.0) + ev["dur"] * 1e-6
    return out


class Timer:
    """Lowered assignments measured end to end, as the executor runs one sample: the
    profile's ``latency_ms`` stages (accelerator cycles at the clock and link copies
    modelled, host steps and the layout packing measured), each stage the least over the
    runs made (the least disturbed run of each step: the sum of the totals' minimum would
    need every step undisturbed in one run, which on a loaded machine is luck, and the
    steps that every assignment shares would decide the ranking).  Each assignment stays
    loaded on its own simulator, so a round measures only runs."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x
        self.executors: dict[tuple, Executor] = {}

    def add(self, key: tuple, low: Lowered) -> None:
        if key not in self.executors:
            ex = Executor(low.module, open_device("sim", low.module.config))
            ex.run({"x": self.x})  # warm-up: page faults, first calls
            self.executors[key] = ex

    def rounds(self, keys: list[tuple], count: int, stages: dict[tuple, dict]) -> dict:
        """``count`` rounds, each running every one of ``keys`` once in turn (so a burst
        of load on the shared machine hits them alike); ``stages`` keeps each one's least
        time per stage.  Returns each key's seconds (the sum of its stages' least)."""
        for _ in range(count):
            for k in keys:
                run = self.executors[k].run({"x": self.x})
                best = stages.setdefault(k, {})
                for st, t in stage_seconds(run).items():
                    best[st] = min(best.get(st, np.inf), t)
        return {k: sum(stages[k].values()) for k in keys}

    def close(self) -> None:
        for ex in self.executors.values():
            ex.close()
        self.executors = {}


@dataclass(frozen=True)
class GraphResult:
    model: str
    config: str
    count: int
    chosen: float
    best: float
    best_assignment: dict
    all_vta: float
    greedy: float
    chosen_assignment: dict
    predicted: float  # the chosen partition's modelled seconds
    best_predicted: float  # the cost model's seconds of the best measured assignment


def check_graph(name: str, q, cfg: HwConfig, cpu: CpuModel, runs: int,
                free: int | None) -> GraphResult:
    """Measure every legal assignment of ``q``'s opset ops on ``cfg`` (only the first
    ``free`` ops varied when given, the rest on the CPU), partitioned with the CPU model
    ``cpu``, fairly: ``runs`` round-robin rounds over every assignment, then ``2 * runs``
    more over the contenders (within 15% of the fastest so far) together with the chosen
    partition, all-accelerator and greedy claiming; then the leader and the chosen one
    (and the baselines) head to head with ``3 * runs`` fresh rounds, whose result is
    reported (:class:`Timer`: each stage its least over the rounds)."""
    from compiler.partition.solve import latency

    x = calib(1, seed=5)["x"][0]
    chosen = lower(q, cfg, targets=("vta", "cpu"), cpu=cpu)
    graph = chosen.partition.graph
    ops = [n.name for n in graph if n.kind == "op" and "vta" in n.costs]
    fixed = {n: "cpu" for n in ops[free:]} if free is not None else {}

    def key(assign) -> tuple:
        return tuple(sorted((n, assign[n]) for n in ops))

    k_chosen = key(chosen.partition.assignment)
    k_greedy = key(greedy_claim(graph, ("vta", "cpu")).assignment)
    k_vta = key(dict.fromkeys(ops, "vta"))
    every = [key(a) for a in assignments(graph, ("vta", "cpu"), fixed)]
    timer = Timer(x)
    try:
        # the baselines too when ``free`` leaves them out of the enumeration
        for k in dict.fromkeys([*every, k_chosen, k_greedy, k_vta]):
            timer.add(k, lower(q, cfg, targets=("vta", "cpu"), pins=dict(k), cpu=cpu))
        stages: dict[tuple, dict] = {}
        first = timer.rounds(list(timer.executors), runs, stages)
        fastest = min(first[k] for k in every)
        again = list(dict.fromkeys([*(k for k in every if first[k] <= 1.15 * fastest),
                                    k_chosen, k_greedy, k_vta]))
        second = timer.rounds(again, 2 * runs, stages)
        lead = min((k for k in again if k in every or k == k_chosen), key=second.get)
        # the chosen one against the winner, afresh: the least of many near-equal noisy
        # contenders is biased low (the winner's curse), so the comparison is redone with
        # new runs, the baselines alongside
        final = timer.rounds(list(dict.fromkeys([lead, k_chosen, k_greedy, k_vta])),
                             3 * runs, {})
    finally:
        timer.close()
    # the best of every assignment measured in the final rounds: the baselines are
    # legal assignments too, and one that beats the leader there is the best measured
    best = min(final, key=final.get)
    return GraphResult(name, cfg.name, len(every), final[k_chosen], final[best], dict(best),
                       final[k_vta], final[k_greedy], dict(k_chosen),
                       chosen.partition.seconds,
                       latency(graph, {**chosen.partition.assignment, **dict(best)}))


def short(assign: dict) -> str:
    """``conv1,pool1 on vta`` style: the ops on the accelerator."""
    on = [n for n, d in assign.items() if d == "vta"]
    return ",".join(on) if on else "(all cpu)"


def measure_costs(quick: bool = False, *, runs: int = 3, cached: bool = False,
                  part: str = "all", emit=None) -> dict:
    """The three checks (module docstring) as figures, for ``benchmarks/hetero.py``:
    ``cost_rank_corr_acc`` and ``cost_rank_corr_cpu`` (Spearman of estimate against
    measurement per device), ``partition_vs_best`` (the worst over the enumerated graphs and
    configs of the chosen partition's measured time over the best assignment's),
    ``acc_mare``, ``cpu_mare``, ``within_5pct``, ``beats_both`` (``k/n`` strings),
    ``table`` (the printed tables, one string) and ``summary`` (the ``cost_model: ...``
    line).  ``emit``: called with each line as it is ready (``print`` streams them)."""
    if part not in ("ops", "graphs", "all"):
        raise ValueError(f"part must be ops, graphs or all, got {part!r}")
    if quick:
        ops = [op for op in OPS if op.name in QUICK_OPS]
        configs, models, free = [preset("tiny")], {"small_cnn": small_cnn}, 2
    else:
        ops, configs, models, free = list(OPS), [preset("tiny"), DEFAULT, STARVED], MODELS, None
    # calibrated in this run (fewer rounds when quick), on the machine as loaded now, like
    # the measurements
    model = cpu_model() if cached else calibrate_cpu(rounds=3 if quick else 8)
    lines: list[str] = []

    def out(line: str) -> None:
        lines.append(line)
        if emit is not None:
            emit(line)

    figures: dict = {}
    if part in ("ops", "all"):
        figures |= per_op_report(ops, configs, model, runs, out)
    if part in ("graphs", "all"):
        figures |= graphs_report(models, configs, model, runs, free, out)
    summary = "cost_model: " + " ".join(
        f"{k}={v:.4f}" if k.endswith("mare") else f"{k}={v:.3f}" if isinstance(v, float)
        else f"{k}={v}" for k, v in figures.items())
    return {"cost_rank_corr_acc": figures.get("acc_spearman"),
            "cost_rank_corr_cpu": figures.get("cpu_spearman"),
            "partition_vs_best": figures.get("partition_vs_best"),
            **figures, "table": "\n".join(lines), "summary": summary}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="six ops, one model with two ops free, tiny only (smoke test)")
    ap.add_argument("--runs", type=int, default=3, help="measurements per timing (best of)")
    ap.add_argument("--cached", action="store_true",
                    help="the cached host calibration instead of calibrating in this run")
    ap.add_argument("--part", choices=("ops", "graphs", "all"), default="all",
                    help="per-op estimates only, graphs only, or both")
    args = ap.parse_args()
    r = measure_costs(args.quick, runs=args.runs, cached=args.cached, part=args.part,
                      emit=lambda line: print(line, flush=True))
    print(r["summary"])
    return 0


def per_op_report(ops, configs: list[HwConfig], model: CpuModel, runs: int, out) -> dict:
    """Check 1: the table (through ``out``), and its figures."""
    acc = accelerator_rows(ops, configs)
    cpu = cpu_rows(ops, model, runs)
    out("1. per-op estimates (accelerator: cycles, estimate vs simulated; cpu: seconds as "
        "the executor runs it)")
    for line in per_op_table(acc + cpu):
        out(line)
    figures: dict = {}
    for dev, rows in (("acc", acc), ("cpu", cpu)):
        est = np.array([r.estimate for r in rows])
        meas = np.array([r.measured for r in rows])
        rho, err = spearman(est, meas), mare(est, meas)
        out(f"  {dev}: ops={len(rows)} spearman={rho:.3f} mean_abs_rel_err={err:.3f}")
        figures |= {f"{dev}_spearman": rho, f"{dev}_mare": err}
    return figures


def graphs_report(models, configs: list[HwConfig], cpu: CpuModel, runs: int,
                  free: int | None, out) -> dict:
    """Checks 2 and 3: the table (through ``out``), and its figures."""
    out("")
    out("2./3. every assignment measured end to end (ms, the profile's latency_ms: "
        "accelerator and link copies at the clock, host measured; pred: the cost model's)")
    out(f"{'model':<12}{'config':<9}{'n':>5}{'chosen':>9}{'pred':>8}{'best':>9}{'pred':>8}"
        f"{'ratio':>7}{'all-vta':>9}{'greedy':>9}  chosen on vta / best on vta")
    results = []
    for mname, make in models.items():
        q = quantized(make)
        for cfg in configs:
            r = check_graph(mname, q, cfg, cpu, runs, free)
            results.append(r)
            out(f"{r.model:<12}{r.config:<9}{r.count:>5}{r.chosen * 1e3:>9.3f}"
                f"{r.predicted * 1e3:>8.3f}{r.best * 1e3:>9.3f}{r.best_predicted * 1e3:>8.3f}"
                f"{r.chosen / r.best:>7.3f}{r.all_vta * 1e3:>9.3f}"
                f"{r.greedy * 1e3:>9.3f}  {short(r.chosen_assignment)} / "
                f"{short(r.best_assignment)}")
    within = sum(r.chosen <= 1.05 * r.best for r in results)
    worst = max(r.chosen / r.best for r in results)
    beats = sum(r.chosen < r.all_vta and r.chosen < r.greedy for r in results)
    return {"within_5pct": f"{within}/{len(results)}", "partition_vs_best": worst,
            "beats_both": f"{beats}/{len(results)}"}


if __name__ == "__main__":
    sys.exit(main())
