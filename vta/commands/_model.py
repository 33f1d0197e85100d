"""The model options ``vta compile`` and ``vta tune`` share, and the steps they share.

A tuning log serves ``vta compile`` only when ``vta tune`` saw the accelerator ops exactly as
the compile builds them: the same import (``--input-shape``), quantization (``--calib``,
``--calibrator``, ``--two-digits``, ``--dynamic-matmul``) and partition (``--targets``,
``--pin``, ``--device``, ``--gpu-spec``).  So both commands declare these options with
:func:`add_model_args` and read the model with :func:`read_model`, and a user tunes with the
options they compile with.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from vta.commands._common import UsageError, path_arg, read_npz
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


@dataclass(frozen=True)
class PartitionArgs:
    """How the model is partitioned: what ``compiler.graph.lower.lower`` takes as keywords
    (:meth:`kwargs`)."""

    targets: tuple[str, ...]
    pins: dict[str, str]
    device: str
    gpu: Any = None  # a compiler.partition.gpu_model.GpuSpec

    def kwargs(self) -> dict[str, Any]:
        return {"targets": self.targets, "pins": self.pins, "device": self.device,
                "gpu": self.gpu}


@dataclass(frozen=True)
class Model:
    """A model read from the command line: ``graph`` is the quantized graph
    (``quantized``) or the float graph after the float passes."""

    graph: Any
    quantized: bool
    partition: PartitionArgs


def partition_args(args: argparse.Namespace) -> PartitionArgs:
    """The partition options, checked (before any work)."""
    from compiler.partition import parse_pins, parse_targets
    from compiler.partition.gpu_model import gpu_spec

    targets = tuple(parse_targets(args.targets))
    pins = parse_pins(args.pin or [])
    gpu = gpu_spec(args.gpu_spec) if args.gpu_spec is not None else None
    if gpu is not None and "gpu" not in targets:
        raise UsageError(f"--gpu-spec {args.gpu_spec}: the targets {args.targets!r} leave out "
                         "gpu; add it (--targets vta,cpu,gpu)")
    return PartitionArgs(targets, dict(pins), args.device, gpu)


def read_model(args: argparse.Namespace, part: PartitionArgs) -> Model:
    """Import ``args.model`` and quantize it (``--calib`` or the model's QDQ scales), or run
    the float passes when neither is given and the targets leave out the accelerator (a
    float model is an error with ``vta`` among the targets: the accelerator runs int8):
    :func:`compiler.graph.pipeline.compile_model` up to the lowering.  Each stage says what
    it does on stdout."""
    from compiler.graph.pipeline import CalibrationRequired, compile_model

    shapes = parse_input_shapes(args.input_shape or [])
    calib = read_npz(args.calib, "--calib") if args.calib is not None else None
    texts = {"float": "running the float passes (a float module: no --calib)"}

    def progress(stage: str, text: str):
        return waiting(texts.get(stage, text), stream=sys.stdout)

    try:
        # a path, read once: errors (missing, a directory, empty, not ONNX) name the file,
        # and external weights are found beside it
        compiled = compile_model(args.model, input_shapes=shapes or None, calib=calib,
                                 calibrator=args.calibrator, two_digits=args.two_digits,
                                 dynamic_matmul=args.dynamic_matmul,
                                 uncalibrated="error" if "vta" in part.targets else "float",
                                 progress=progress)
    except CalibrationRequired as e:
        graph = e.graph
        want = ", ".join(f"{n} {list(graph.types[n].shape)}" for n in graph.inputs)
        raise UsageError(f"model {args.model!r} is a float model and the accelerator runs int8: "
                         f"give calibration data with --calib DATA.npz (one array per input: "
                         f"{want}, or with a leading axis of samples), or compile it as a "
                         "float model with --targets cpu; only a QDQ model carries its own "
                         "scales") from None
    return Model(compiled.graph, compiled.quantized, part)


def report_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Caught warnings (a torn last line of a tuning log, a tuned schedule an op cannot use)
    as ``warning: ...`` lines on stderr, each text once, instead of Python's two-line
    warning format."""
    seen = set()
    for w in caught:
        text = str(w.message)
        if text not in seen:
            seen.add(text)
            print(f"warning: {text}", file=sys.stderr)


@contextmanager
def warning_lines() -> Iterator[None]:
    """The warnings raised inside the block, reported (:func:`report_warnings`) when it
    ends."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            report_warnings(caught)


def add_model_args(p: argparse.ArgumentParser) -> None:
    """The model parameter and the import, quantization and partition options."""
    path_arg(p, "model", kind="in:onnx", help="the ONNX model (.onnx)")
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
    p.add_argument("--dynamic-matmul", action="store_true",
                   help="quantize the operands of a matmul of two activations that the host "
                        "computes in float (softmax probabilities) with scales taken from "
                        "each run, the accelerator's requantization table computed per run")
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


__all__ = ["Model", "PartitionArgs", "add_model_args", "parse_input_shapes", "partition_args",
           "read_model", "report_warnings", "warning_lines"]
