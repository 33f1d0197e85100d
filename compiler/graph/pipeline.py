"""The model pipeline: import -> float passes -> calibrate/quantize -> lower.

The float graph passes are one readable tuple of named passes, run by :func:`run_passes`,
which verifies the graph after every pass and can dump it (text) after each one.
Quantization and fusion follow (:func:`run_quantization`: calibration needs sample inputs,
so it is a stage with parameters rather than a ``Graph -> Graph`` pass); partitioning,
layout and memory planning come after (``compiler.graph.lower``); see ``docs/graph.md``.

:func:`compile_model` is the one spelling of the whole chain that ``vta compile``/``vta
tune`` (``vta.commands._model``), the tuner's task extraction, the design-space sweep and
``vta demo`` share: a model compiled with the same options is the same module whichever
of them compiled it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from compiler.graph.errors import GraphError
from compiler.graph.ir import Graph, format_graph, verify
from compiler.graph.passes import (
    eliminate_dead,
    fold_batch_norm,
    fold_constants,
    infer_shapes,
    remove_identities,
)
from compiler.graph.quantize import QuantizedGraph, quantize_model

Pass = Callable[[Graph], Graph]

FLOAT_PASSES: tuple[tuple[str, Pass], ...] = (
    ("infer_shapes", infer_shapes),
    ("fold_constants", fold_constants),
    ("remove_identities", remove_identities),
    ("fold_batch_norm", fold_batch_norm),
    ("fold_constants_after_bn", fold_constants),
    ("eliminate_dead", eliminate_dead),
    ("infer_shapes_final", infer_shapes),
)

Dump = Callable[[str, Graph], None] | str | Path | None


def run_passes(graph: Graph, passes: Sequence[tuple[str, Pass]] = FLOAT_PASSES, *,
               dump: Dump = None) -> Graph:
    """Run ``passes`` in order, verifying after each.  ``dump``: a callable
    ``(pass name, graph)``, or a directory that receives ``NN_<pass>.txt`` per pass
    (``00_input.txt`` is the graph before the first pass)."""
    if isinstance(dump, (str, Path)):
        folder = Path(dump)
        folder.mkdir(parents=True, exist_ok=True)
        counter = iter(range(len(passes) + 1))

        def write(name: str, g: Graph) -> None:
            (folder / f"{next(counter):02d}_{name}.txt").write_text(format_graph(g))
        sink: Callable[[str, Graph], None] | None = write
    else:
        sink = dump
    verify(graph, require_types=False, where="the frontend (pipeline input)")
    if sink is not None:
        sink("input", graph)
    for name, fn in passes:
        graph = verify(fn(graph), where=name)
        if sink is not None:
            sink(name, graph)
    return graph


def run_quantization(graph: Graph, samples: Sequence[Mapping[str, np.ndarray]] | None = None,
                     *, method: str = "minmax", per_channel: bool = True,
                     percentile: float = 99.99, two_digits: bool = False,
                     dynamic_matmul: bool = False, dump: Dump = None) -> QuantizedGraph:
    """The float passes, then calibration on ``samples`` (a QDQ model brings its own
    scales), quantization and fusion into opset ops: the graph the partitioner receives.
    ``dump`` as for :func:`run_passes`, plus ``NN_quantize_and_fuse.txt`` (the quantized
    graph, one line per node with its kind)."""
    graph = run_passes(graph, FLOAT_PASSES, dump=dump)  # 00_input ... NN_<last pass>
    qgraph = quantize_model(graph, samples, method=method, per_channel=per_channel,
                            percentile=percentile, two_digits=two_digits,
                            dynamic_matmul=dynamic_matmul)
    if isinstance(dump, (str, Path)):
        (Path(dump) / f"{len(FLOAT_PASSES) + 1:02d}_quantize_and_fuse.txt").write_text(
            qgraph.format())
    return qgraph


# ----------------------------------------------------------------------------- the chain
RANDOM_CALIB_SAMPLES = 2  # uncalibrated="random": cycles and shapes do not need real data

Uncalibrated = Literal["error", "float", "random"]
Progress = Callable[[str, str], AbstractContextManager]
"""``progress(stage, text)``: a context manager around each stage (``import``,
``float``, ``quantize``, ``lower``); ``text`` says what the stage does (the CLI prints it
while it runs)."""


class CalibrationRequired(GraphError):
    """A float model without calibration data (nor QDQ scales) where int8 is wanted.
    ``graph``: the imported model, so a caller can name its inputs in its own words."""

    def __init__(self, graph: Graph) -> None:
        want = ", ".join(f"{n} {list(graph.types[n].shape)}" for n in graph.inputs)
        super().__init__(f"model {graph.name!r} is a float model: give calibration data (one "
                         f"array per input: {want}) or a QDQ model")
        self.graph = graph


@dataclass(frozen=True)
class CompiledModel:
    """What :func:`compile_model` produced.

    source: the imported float graph (before the float passes; None when the model was
    given quantized).  graph: the quantized graph, or the float graph after the float
    passes when it was left float (``uncalibrated="float"``).  lowered: the partitioned
    module (``compiler.graph.lower.Lowered``; None when no config was given).  samples:
    how many calibration samples set the scales (0: the model's QDQ scales, or float)."""

    source: Graph | None
    graph: Any
    lowered: Any = None
    samples: int = 0

    @property
    def quantized(self) -> bool:
        from compiler.graph.quantize import QuantizedGraph

        return isinstance(self.graph, QuantizedGraph)


def _calib_arrays(calib: Mapping[str, np.ndarray] | str | os.PathLike
                  ) -> dict[str, np.ndarray]:
    if isinstance(calib, (str, os.PathLike)):
        with np.load(calib) as f:
            return {k: f[k] for k in f.files}
    return dict(calib)


def _random_samples(graph: Graph, seed: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{n: rng.standard_normal(graph.types[n].shape).astype(np.float32)
             for n in graph.inputs} for _ in range(RANDOM_CALIB_SAMPLES)]


def compile_model(model: Any, cfg: Any = None, *,
                  input_shapes: Mapping[str, Sequence[int]] | None = None,
                  calib: Mapping[str, np.ndarray] | str | os.PathLike | None = None,
                  calibrator: str = "minmax", two_digits: bool = False,
                  dynamic_matmul: bool = False,
                  uncalibrated: Uncalibrated = "error", seed: int = 0,
                  targets: Sequence[str] = ("vta", "cpu"),
                  pins: Mapping[str, str] | None = None, device: str = "sim",
                  gpu: Any = None, schedules: Any = None,
                  progress: Progress | None = None) -> CompiledModel:
    """Import ``model``, calibrate and quantize it, and lower it for ``cfg``.

    model: an ONNX file path (read once, from its path: errors name the file, external
    weights are found beside it), a ModelProto or bytes, or a ``QuantizedGraph`` (the
    import and quantization are then skipped: a sweep quantizes once and lowers for every
    config).  input_shapes: fixes the inputs' shapes (``--input-shape``).

    calib: calibration data (one array per model input, with or without a leading axis of
    samples; or an ``.npz`` path) for ``calibrator`` (minmax, percentile, mse) and
    ``two_digits`` / ``dynamic_matmul`` (see :func:`run_quantization`).  Without it a QDQ
    model keeps its own scales, and a float model is,
    by ``uncalibrated``: ``"error"`` (:class:`CalibrationRequired`), ``"float"`` (left
    float: the float passes only, for a CPU-only module) or ``"random"``
    (``RANDOM_CALIB_SAMPLES`` seeded standard-normal samples: what a cycle count needs).

    cfg: the accelerator to lower for (None: stop after quantization).  targets, pins,
    device, gpu, schedules: as :func:`compiler.graph.lower.lower` takes them (a float
    graph is lowered with :func:`~compiler.graph.lower.lower_float`, which takes no
    schedules).  progress: see :data:`Progress`.
    """
    from compiler.graph.quantize import QuantizedGraph, has_qdq, samples_from_arrays

    if uncalibrated not in ("error", "float", "random"):
        raise ValueError(f"uncalibrated={uncalibrated!r}: expected 'error', 'float' or "
                         "'random'")

    def stage(name: str, text: str) -> AbstractContextManager:
        return progress(name, text) if progress is not None else nullcontext()

    source: Graph | None = None
    n_samples = 0
    if isinstance(model, QuantizedGraph):
        graph: Any = model
    else:
        from compiler.frontend import import_onnx

        if isinstance(model, (str, os.PathLike)):
            label, model = os.fspath(model), Path(model)
        else:
            label = getattr(getattr(model, "graph", None), "name", None) or "the model"
        shapes = {k: tuple(v) for k, v in (input_shapes or {}).items()}
        with stage("import", f"importing {label}"):
            source = import_onnx(model, input_shapes=shapes or None)
        samples = None
        if calib is not None:
            samples = samples_from_arrays(source, _calib_arrays(calib))
        elif not has_qdq(source):
            if uncalibrated == "error":
                raise CalibrationRequired(source)
            if uncalibrated == "random":
                samples = _random_samples(source, seed)
        if samples is None and not has_qdq(source):
            with stage("float", "running the float passes (a float module)"):
                graph = run_passes(source)
        else:
            n_samples = len(samples or ())
            with stage("quantize", "quantizing" + (
                    f" ({n_samples} calibration samples, {calibrator})" if samples
                    else " (the model's QDQ scales)")):
                graph = run_quantization(source, samples, method=calibrator,
                                         two_digits=two_digits,
                                         dynamic_matmul=dynamic_matmul)
    if cfg is None:
        return CompiledModel(source, graph, None, n_samples)
    from compiler.graph.lower import lower, lower_float

    with stage("lower", f"partitioning over {','.join(targets)} and compiling for "
                        f"{cfg.name}"):
        if isinstance(graph, QuantizedGraph):
            lowered = lower(graph, cfg, targets=tuple(targets), pins=pins, device=device,
                            schedules=schedules, gpu=gpu)
        else:
            lowered = lower_float(graph, cfg, targets=tuple(targets), pins=pins,
                                  device=device, gpu=gpu)
    return CompiledModel(source, graph, lowered, n_samples)


__all__ = ["FLOAT_PASSES", "run_passes", "run_quantization", "compile_model",
           "CompiledModel", "CalibrationRequired", "RANDOM_CALIB_SAMPLES", "Progress"]
