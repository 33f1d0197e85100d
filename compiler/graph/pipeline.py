"""The float graph pipeline: one readable tuple of named passes, run by :func:`run_passes`,
which verifies the graph after every pass and can dump it (text) after each one.

Quantization and fusion follow (:func:`run_quantization`: calibration needs sample inputs,
so it is a stage with parameters rather than a ``Graph -> Graph`` pass); partitioning,
layout and memory planning come after; see ``docs/graph.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

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


__all__ = ["FLOAT_PASSES", "run_passes", "run_quantization"]
