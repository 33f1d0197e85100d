"""``vta compile MODEL.onnx -o M.vtam``: import, quantize, partition and lower a model.

The stages (docs/graph.md): the ONNX frontend (``--input-shape`` fixes dynamic dimensions),
the float passes, calibration on ``--calib DATA.npz`` (each model input by name, with or
without a leading axis of samples; a QDQ model brings its own scales instead), quantization
and fusion into opset ops, partitioning by cost over ``--targets`` (``--pin NODE=DEVICE``
forces one op), and lowering to a compiled module written atomically to ``-o``.

int8 or float: with ``--calib`` (or a QDQ model) the model is quantized, whatever
``--targets`` says.  Without either, a model whose targets leave out the accelerator
(``--targets cpu``) becomes a *float* module: the float passes, then every node a float host
step on the CPU (outputs as the float reference computes them); with ``vta`` among the
targets a missing ``--calib`` is an error (the accelerator runs int8 only).

The CPU side of the cost model is calibrated on *this* host: against a workstation CPU a
100 MHz accelerator loses, so by default convolutions stay on the CPU.  ``--targets vta``
puts every op the accelerator can run on it (the float boundaries always run on the host).
With ``gpu`` among the targets, ``--gpu-spec NAME`` (a preset of
``compiler.partition.gpu_model``) says which GPU to price: the ops its roofline and PCIe link
make cheaper there (GEMMs, convolutions, element-wise, pooling, float Softmax) become GPU
steps, run by ``vta run`` on the machine's NVIDIA GPU (one clear error without one).
``--tuning-log LOG`` (a JSON-lines log ``vta tune`` writes) compiles each accelerator op
with the best schedule measured for its workload, and the rest with the default
heuristic; the partitioner prices the ops with those schedules too.  A tuned schedule the
op cannot use falls back to the heuristic with a ``warning:`` line.
Each stage says what it is doing on stdout (with a spinner and the elapsed time on a
terminal).  Every input is checked before the compile starts; a failure is one ``error:``
line and leaves no output file.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from vta.commands._common import (
    InputFileError,
    add_config_args,
    add_output_arg,
    config_from_args,
    path_arg,
)
from vta.commands._model import add_model_args, partition_args, read_model, report_warnings
from vta.outputs import Outputs, writes_outputs
from vta.progress import waiting


def _tuning_provider(path: str, cfg):
    """The schedule provider of ``--tuning-log`` (read and checked now, before the compile
    starts) and the set it fills with the names of the ops it served a schedule.  A log
    with no record for ``cfg`` (tuned for another config) is a warning naming both."""
    from compiler.autotune.log import TuningLog, TuningLogError, log_provider

    p = Path(path)
    if p.is_dir():
        raise InputFileError(f"--tuning-log {path}: is a directory, expected a tuning log "
                             "(.jsonl, written by vta tune)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            base = log_provider(TuningLog(p))
            records = TuningLog(p).records()
        except TuningLogError as e:
            raise InputFileError(f"--tuning-log: {e}") from None
    if not records:
        torn = " (its only line is torn: an interrupted write)" if caught else ""
        raise InputFileError(f"--tuning-log {path}: the log holds no measurements{torn}; "
                             "tune first: vta tune MODEL --log LOG")
    report_warnings(caught)
    suffix = f"@{cfg.config_hash()}"
    if not any(r.key.endswith(suffix) for r in records):
        names = sorted({str(r.workload.get("cfg", {}).get("name", "?")) for r in records})
        print(f"warning: --tuning-log {path}: no record is for config {cfg.name!r} "
              f"({cfg.config_hash()}); the log was tuned for {', '.join(names)}",
              file=sys.stderr)
    tuned: set[str] = set()

    def provide(op, cfg, options):
        s = base(op, cfg, options)
        if s is not None:
            tuned.add(op.name)
        return s
    return provide, tuned


@writes_outputs
def _compile(args: argparse.Namespace, outs: Outputs) -> int:
    from compiler.api import ScheduleFallbackWarning
    from compiler.graph.lower import lower, lower_float
    from compiler.partition import explain

    out = outs.file(args.output, "-o")
    cfg = config_from_args(args)
    part = partition_args(args)
    targets, gpu = part.targets, part.gpu
    schedules, tuned = (_tuning_provider(args.tuning_log, cfg)
                        if args.tuning_log is not None else (None, set()))
    model = read_model(args, part)
    if not model.quantized:
        with waiting(f"lowering to float host steps on {','.join(targets)} for {cfg.name}",
                     stream=sys.stdout):
            lowered = lower_float(model.graph, cfg, **part.kwargs())
    else:
        with waiting(f"partitioning over {','.join(targets)} and compiling for {cfg.name}",
                     stream=sys.stdout), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ScheduleFallbackWarning)
            lowered = lower(model.graph, cfg, **part.kwargs(), schedules=schedules)
        report_warnings(caught)
    if args.explain:
        print(explain(lowered.partition))
    lowered.module.save(out)
    m = lowered.module
    macs = sum(s.macs for s in m.steps)
    on_acc = sum(s.macs for s in m.steps if s.device == "accelerator")
    print(f"model: {args.model} ({len(m.steps)} steps, {len(m.programs)} accelerator "
          f"program(s))")
    print(f"config: {cfg.name} at {cfg.target_clock_mhz} MHz; targets {','.join(targets)}")
    print(f"MACs on the accelerator: {on_acc} of {macs}"
          + (f" ({100 * on_acc / macs:.1f}%)" if macs else ""))
    if gpu is not None:
        on_gpu = [st for st in m.steps if st.device == "gpu"]
        print(f"GPU steps: {len(on_gpu)} of {len(m.steps)} (priced as {gpu.name}, "
              f"{gpu.arch}; {sum(st.macs for st in on_gpu)} MACs)")
    if args.tuning_log is not None:
        on_acc = [n for n in lowered.nodes if n.device == "accelerator"]
        hit = [n.step_name for n in on_acc if getattr(n.op, "name", None) in tuned]
        print(f"tuned schedules: {len(hit)} of {len(on_acc)} accelerator ops from "
              f"{args.tuning_log}" + (f" ({', '.join(hit)})" if hit else "")
              + ("; the others use the default heuristic" if len(hit) < len(on_acc) else ""))
    print(f"estimated latency: {lowered.partition.seconds * 1e3:.3f} ms")
    if m.memory is not None and m.programs:
        plan = m.memory
        print(f"accelerator DRAM: {plan.total_bytes} of {cfg.dram_bytes} bytes "
              f"({plan.resident_bytes} programs and weights + {plan.arena_bytes} activation "
              f"arena; {plan.no_reuse_bytes} without reuse)")
    if args.explain:
        transforms = m.layout_transforms
        print(f"layout transforms (device boundaries only): {len(transforms)}")
        for t in transforms:
            print(f"  {t.describe()}")
    print(f"module: {args.output}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compile", help="compile an ONNX model into a module (.vtam): "
                                       "quantize, partition, lower")
    add_model_args(p)
    add_output_arg(p, "the compiled module to write (.vtam)", required=True)
    p.add_argument("--explain", action="store_true",
                   help="print the partition: each op's device, its cost on each device, "
                        "why, and its runner-up device with the margin; every boundary's "
                        "bytes and seconds (link copy + layout transform)")
    path_arg(p, "--tuning-log", kind="in:tuning-log", metavar="FILE",
             help="a tuning log (.jsonl, from vta tune): compile each accelerator op with "
                  "the best schedule measured for it (the default heuristic for the rest)")
    add_config_args(p)
    p.set_defaults(func=_compile)
