"""The per-layer quantization report: where the int8 model departs from the float one.

For every node of the quantized graph that computes a layer (``accel`` ops and float
islands), the SQNR of its output, dequantized, against the float model's value on the
calibration samples: ``10 log10(sum x^2 / sum (x - x_q)^2)`` in dB (accumulated error: each
layer sees the quantized outputs of the layers before it).  ``drop_db`` is how much a layer
loses relative to the worst of its inputs; a layer is flagged when it drops at least
``flag_drop_db`` or ends below ``flag_min_db`` — the accuracy cliffs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from compiler.graph.quantize.qgraph import QuantizedGraph, evaluate_quantized
from compiler.graph.reference import evaluate


def sqnr_db(signal_energy: float, noise_energy: float) -> float:
    if noise_energy == 0.0:
        return float("inf")
    if signal_energy == 0.0:
        return float("-inf")
    return float(10.0 * np.log10(signal_energy / noise_energy))


@dataclass(frozen=True)
class LayerQuality:
    name: str
    kind: str
    op: str
    value: str
    sqnr_db: float
    drop_db: float
    flagged: bool


@dataclass(frozen=True)
class QuantReport:
    layers: tuple[LayerQuality, ...]
    flag_drop_db: float
    flag_min_db: float

    @property
    def flagged(self) -> tuple[LayerQuality, ...]:
        return tuple(layer for layer in self.layers if layer.flagged)

    def layer(self, name: str) -> LayerQuality:
        return next(la for la in self.layers if la.name == name)

    def table(self) -> str:
        head = f"{'layer':<28} {'op':<16} {'kind':<6} {'SQNR dB':>8} {'drop dB':>8}"
        lines = [head, "-" * len(head)]
        for la in self.layers:
            lines.append(f"{la.name[:28]:<28} {la.op[:16]:<16} {la.kind:<6} "
                         f"{la.sqnr_db:8.2f} {la.drop_db:8.2f}" + ("  <-- loses most"
                                                                   if la.flagged else ""))
        n = len(self.flagged)
        lines.append(f"{n} layer(s) flagged (drop >= {self.flag_drop_db:g} dB or SQNR < "
                     f"{self.flag_min_db:g} dB)")
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.table()


def quantization_report(qgraph: QuantizedGraph, samples: Sequence[Mapping[str, np.ndarray]],
                        *, flag_drop_db: float = 10.0, flag_min_db: float = 15.0
                        ) -> QuantReport:
    """SQNR of every layer of ``qgraph`` against its float graph on ``samples``."""
    signal: dict[str, float] = {}
    noise: dict[str, float] = {}
    for sample in samples:
        ref = evaluate(qgraph.float_graph, sample, keep=True)
        got = evaluate_quantized(qgraph, sample, keep=True)
        for name, src in qgraph.source.items():
            if src not in ref or name not in got:
                continue
            x = np.asarray(ref[src], np.float64)
            y = np.asarray(got[name], np.float64)
            if name in qgraph.scales:
                y = (y - qgraph.zero_point(name)) * qgraph.scales[name]
            signal[name] = signal.get(name, 0.0) + float(np.sum(x * x))
            noise[name] = noise.get(name, 0.0) + float(np.sum((x - y) ** 2))
    quality = {n: sqnr_db(signal[n], noise[n]) for n in signal}
    layers = []
    for node in qgraph.nodes:
        if node.kind not in ("accel", "host", "float") or node.output not in quality:
            continue
        ins = [quality[i] for i in node.inputs if i in quality]
        s = quality[node.output]
        drop = max(0.0, min(ins) - s) if ins and np.isfinite(min(ins)) else 0.0
        op = type(node.op).__name__ if node.kind == "accel" else node.node.op
        layers.append(LayerQuality(node.name, node.kind, op, node.output, s, drop,
                                   drop >= flag_drop_db or s < flag_min_db))
    return QuantReport(tuple(layers), flag_drop_db, flag_min_db)


__all__ = ["quantization_report", "QuantReport", "LayerQuality", "sqnr_db"]
