"""Quantization of a float graph to int8 opset ops with fused epilogues (``docs/graph.md``).

    from compiler.graph.quantize import quantize_model, evaluate_quantized
    qgraph = quantize_model(graph, calib_samples, method="mse")   # or a QDQ model's scales
    outputs = evaluate_quantized(qgraph, {"x": x})                # the numpy integer reference
    print(quantization_report(qgraph, calib_samples))             # per-layer SQNR

Modules: ``calibrate`` (observers and calibrators), ``qdq`` (a QDQ model's own scales),
``requant`` (rescale factors -> the hardware's requantization), ``fuse`` (the quantize and
fuse pass), ``qgraph`` (the quantized graph and its evaluation), ``report`` (SQNR per layer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from compiler.graph.ir import Graph
from compiler.graph.quantize.calibrate import (
    METHODS,
    CalibrationError,
    calibrate,
    calibrate_ranges,
    samples_from_arrays,
)
from compiler.graph.quantize.fuse import (
    QuantizeError,
    WeightQuant,
    quantize_graph,
)
from compiler.graph.quantize.qdq import has_qdq, strip_qdq
from compiler.graph.quantize.qgraph import QNode, QuantizedGraph, evaluate_quantized
from compiler.graph.quantize.report import LayerQuality, QuantReport, quantization_report


def quantize_model(graph: Graph, samples: Sequence[Mapping[str, np.ndarray]] | None = None,
                   *, method: str = "minmax", per_channel: bool = True,
                   percentile: float = 99.99, two_digits: bool = False,
                   dynamic_matmul: bool = False) -> QuantizedGraph:
    """Calibrate (unless the graph is a QDQ model, whose scales and zero points win;
    calibration then only fills values its pairs leave out) and quantize + fuse ``graph``
    (after the float passes).  Calibrated activations are symmetric, except a float
    island's output that only constant-weight convolutions and matmuls read and whose range
    is lopsided (a Gelu output): it gets a zero point.  ``two_digits``:
    every activation the host quantizes for a matmul with constant weights goes in as two
    int8 digits (about 12 bits, at twice that matmul's MACs; see :func:`quantize_graph`).
    """
    weights: dict[str, WeightQuant] = {}
    fixed: dict[str, float] = {}
    zero_points: dict[str, int] = {}
    if has_qdq(graph):
        graph, fixed, zero_points, weights = strip_qdq(graph)
    scales: dict[str, float] = {}
    lowest: dict[str, float] = {}
    if samples:
        ranges = calibrate_ranges(graph, samples, method=method, percentile=percentile)
        # a value that was 0 on every sample (a dead channel's ReLU) gets an arbitrary scale
        scales = {k: (v if v > 0 else 1.0) / 127.0 for k, (_, v) in ranges.items()}
        lowest = {k: lo for k, (lo, _) in ranges.items()}
    elif not fixed:
        raise CalibrationError("a float model needs calibration samples to be quantized")
    scales.update(fixed)
    return quantize_graph(graph, scales, per_channel=per_channel, weights=weights,
                          act_zero_points=zero_points, model_quantized=set(fixed),
                          two_digits=two_digits, act_lowest=lowest,
                          dynamic_matmul=dynamic_matmul)


__all__ = ["quantize_model", "quantize_graph", "calibrate", "calibrate_ranges",
           "samples_from_arrays",
           "evaluate_quantized",
           "quantization_report", "strip_qdq", "has_qdq", "QuantizedGraph", "QNode",
           "QuantReport", "LayerQuality", "WeightQuant", "QuantizeError", "CalibrationError",
           "METHODS"]
