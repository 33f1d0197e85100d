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
    UsageError,
    add_config_args,
    add_output_arg,
    config_from_args,
    path_arg,
    read_npz,
)
from vta.outputs import Outputs, writes_outputs
from vta.progress import waiting


def parse_input_shapes(items: list[str]) -> dict[str, tuple[int, ...]]:
    """``--input-shape name=1x3x32x32`` (repeatable) -> {name: shape}."""
    shapes: dict[str, tuple[int, ...]] = {}
    for item in items:
        name, eq, dims = item.partition("=")
        try:
            shape = tuple(int(d) for d in dims.lower().split("x")) if dims else ()
        except ValueError:
            shape = ()
        if not eq or not name or not shape or any(d < 1 for d in shape):
            raise UsageError(f"--input-shape {item!r}: expected NAME=DIMS with DIMS positive "
                             "whole numbers joined by 'x' (data=1x3x224x224)")
        if name in shapes:
            raise UsageError(f"--input-shape: input {name!r} is given twice")
        shapes[name] = shape
    return shapes


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
    _report_warnings(caught)
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


def _report_warnings(caught) -> None:
    """Warnings of the tuning log and its schedules as ``warning:`` lines on stderr."""
    seen = set()
    for w in caught:
        text = str(w.message)
        if text not in seen:
            seen.add(text)
            print(f"warning: {text}", file=sys.stderr)


@writes_outputs
def _compile(args: argparse.Namespace, outs: Outputs) -> int:
    from compiler.api import ScheduleFallbackWarning
    from compiler.frontend import import_onnx
    from compiler.graph.lower import lower, lower_float
    from compiler.graph.pipeline import run_passes, run_quantization
    from compiler.graph.quantize import has_qdq, samples_from_arrays
    from compiler.partition import explain, parse_pins, parse_targets
    from compiler.partition.gpu_model import gpu_spec

    out = outs.file(args.output, "-o")
    cfg = config_from_args(args)
    targets = parse_targets(args.targets)
    pins = parse_pins(args.pin or [])
    gpu = gpu_spec(args.gpu_spec) if args.gpu_spec is not None else None
    if gpu is not None and "gpu" not in targets:
        raise UsageError(f"--gpu-spec {args.gpu_spec}: the targets {args.targets!r} leave out "
                         "gpu; add it (--targets vta,cpu,gpu)")
    shapes = parse_input_shapes(args.input_shape or [])
    calib = read_npz(args.calib, "--calib") if args.calib is not None else None
    schedules, tuned = (_tuning_provider(args.tuning_log, cfg)
                        if args.tuning_log is not None else (None, set()))
    with waiting(f"importing {args.model}", stream=sys.stdout):
        # read from its path, once: errors (missing, a directory, empty, not ONNX) name the
        # file, and external weights are found beside it
        graph = import_onnx(Path(args.model), input_shapes=shapes or None)
    samples = None
    if calib is not None:
        samples = samples_from_arrays(graph, calib)
    elif not has_qdq(graph) and "vta" in targets:
        want = ", ".join(f"{n} {list(graph.types[n].shape)}" for n in graph.inputs)
        raise UsageError(f"model {args.model!r} is a float model and the accelerator runs int8: "
                         f"give calibration data with --calib DATA.npz (one array per input: "
                         f"{want}, or with a leading axis of samples), or compile it as a "
                         "float model with --targets cpu; only a QDQ model carries its own "
                         "scales")
    if samples is None and not has_qdq(graph):
        with waiting("running the float passes (a float module: no --calib)",
                     stream=sys.stdout):
            fgraph = run_passes(graph)
        with waiting(f"lowering to float host steps on {','.join(targets)} for {cfg.name}",
                     stream=sys.stdout):
            lowered = lower_float(fgraph, cfg, targets=targets, pins=pins, device=args.device,
                                  gpu=gpu)
    else:
        with waiting("quantizing" + (f" ({len(samples)} calibration samples, "
                                     f"{args.calibrator})" if samples
                                     else " (the model's QDQ scales)"), stream=sys.stdout):
            qgraph = run_quantization(graph, samples, method=args.calibrator,
                                      two_digits=args.two_digits)
        with waiting(f"partitioning over {','.join(targets)} and compiling for {cfg.name}",
                     stream=sys.stdout), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ScheduleFallbackWarning)
            lowered = lower(qgraph, cfg, targets=targets, pins=pins, device=args.device,
                            gpu=gpu, schedules=schedules)
        _report_warnings(caught)
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
    path_arg(p, "model", kind="in:onnx", help="the ONNX model (.onnx)")
    add_output_arg(p, "the compiled module to write (.vtam)", required=True)
    path_arg(p, "--calib", kind="in:npz", metavar="FILE",
             help="calibration data (.npz: one array per model input name, with or without a "
                  "leading axis of samples); required unless the model is QDQ or the "
                  "targets leave out vta (then the module is float, on the cpu)")
    p.add_argument("--calibrator", default="minmax",
                   choices=("minmax", "percentile", "mse"),
                   help="activation range calibrator (default minmax)")
    p.add_argument("--two-digits", action="store_true",
                   help="feed every activation the host quantizes for a matmul with constant "
                        "weights as two int8 digits (about 12 bits, twice those MACs; a "
                        "transformer's LayerNorm and Gelu outputs)")
    p.add_argument("--targets", default="vta,cpu",
                   help="devices the ops may run on: vta,cpu[,gpu] (default vta,cpu; the "
                        "CPU cost model is this host's, so use 'vta' to put every op the "
                        "accelerator can run on it)")
    p.add_argument("--gpu-spec", metavar="NAME",
                   help="the NVIDIA GPU to price with --targets ...,gpu (a roofline from its "
                        "datasheet: a100, l4, rtx4090); the module runs its GPU steps on the "
                        "GPU of the machine that runs it")
    p.add_argument("--pin", action="append", metavar="NODE=DEVICE",
                   help="force one op onto a device (repeatable)")
    p.add_argument("--input-shape", action="append", metavar="NAME=DIMS",
                   help="fix an input's shape, e.g. data=1x3x224x224 (repeatable)")
    p.add_argument("--device", default="sim",
                   help="the runtime device the module is for (its link prices transfers: "
                        "sim, rtl, fpga:PORT, fpga:sim; default sim)")
    p.add_argument("--explain", action="store_true",
                   help="print the partition: each op's device, its cost on each device, "
                        "why, and its runner-up device with the margin; every boundary's "
                        "bytes and seconds (link copy + layout transform)")
    path_arg(p, "--tuning-log", kind="in:tuning-log", metavar="FILE",
             help="a tuning log (.jsonl, from vta tune): compile each accelerator op with "
                  "the best schedule measured for it (the default heuristic for the rest)")
    add_config_args(p)
    p.set_defaults(func=_compile)
