"""Calibration: the range of every float activation, observed on sample inputs.

The float reference (``compiler.graph.reference.evaluate(..., keep=True)``) runs on each
calibration sample and an observer per value collects what it sees.  Activations are
quantized per tensor and mostly symmetrically (zero point 0, see ``docs/graph.md``), so a
value's range is one number, ``amax``, and its int8 scale is ``amax / 127``
(:func:`calibrate_ranges` also keeps the lowest value seen, for the few values quantized
asymmetrically).  Three calibrators choose ``amax``:

- ``minmax``: the largest magnitude seen (never clips, wastes levels on rare outliers);
- ``percentile``: the ``percentile``-th percentile of the magnitudes (clips rare outliers);
- ``mse``: the clipping threshold that minimizes the mean squared quantize-dequantize error
  over the observed values (a 1-D search over candidate thresholds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from compiler.graph.errors import GraphError
from compiler.graph.ir import Graph
from compiler.graph.reference import evaluate

METHODS = ("minmax", "percentile", "mse")
_MAX_KEPT = 200_000  # magnitudes kept per value for percentile / mse (a strided subsample)


class CalibrationError(GraphError):
    """Calibration data or a calibrator setting the graph cannot use."""


def _subsample(a: np.ndarray, limit: int) -> np.ndarray:
    step = max(1, a.size // limit)
    return a[::step]


def quantize_error(values: np.ndarray, amax: float) -> float:
    """Mean squared error of symmetric int8 quantize-dequantize with threshold ``amax``."""
    s = amax / 127.0
    q = np.clip(np.rint(values / s), -127, 127) * s
    return float(np.mean((values - q) ** 2))


def choose_amax(magnitudes: np.ndarray, method: str, percentile: float = 99.99) -> float:
    """``amax`` of one value from its observed magnitudes (|x|) with the given calibrator."""
    if magnitudes.size == 0:
        return 0.0
    top = float(magnitudes.max())
    if top == 0.0 or method == "minmax":
        return top
    if method == "percentile":
        return float(np.percentile(magnitudes, percentile)) or top
    if method == "mse":
        candidates = top * np.linspace(0.05, 1.0, 96)
        errors = [quantize_error(magnitudes, t) for t in candidates]
        return float(candidates[int(np.argmin(errors))])
    raise CalibrationError(f"unknown calibrator {method!r}; expected one of {list(METHODS)}")


def samples_from_arrays(graph: Graph, arrays: Mapping[str, np.ndarray]
                        ) -> list[dict[str, np.ndarray]]:
    """Calibration samples from the ``--calib`` npz convention: each model input name maps
    to an array of that input's shape (one sample) or with one extra leading axis of
    samples (the same count for every input)."""
    counts: dict[str, int] = {}
    for name in graph.inputs:
        want = graph.types[name].shape
        if name not in arrays:
            raise CalibrationError(f"calibration data has no array for model input {name!r} "
                                   f"(expected shape {list(want)} or [samples, "
                                   f"{', '.join(map(str, want))}])")
        got = np.shape(arrays[name])
        if got == want:
            counts[name] = 0
        elif len(got) == len(want) + 1 and got[1:] == want and got[0] > 0:
            counts[name] = got[0]
        else:
            raise CalibrationError(f"calibration array {name!r} has shape {list(got)}; "
                                   f"expected {list(want)} or [samples, "
                                   f"{', '.join(map(str, want))}]")
    if len(set(counts.values())) > 1:
        raise CalibrationError(f"calibration arrays disagree on the number of samples: "
                               f"{ {k: v or 1 for k, v in counts.items()} }")
    n = next(iter(counts.values()), 0)
    if n == 0:
        return [{k: np.asarray(arrays[k]) for k in graph.inputs}]
    return [{k: np.asarray(arrays[k][i]) for k in graph.inputs} for i in range(n)]


def calibrate(graph: Graph, samples: Sequence[Mapping[str, np.ndarray]], *,
              method: str = "minmax", percentile: float = 99.99) -> dict[str, float]:
    """``amax`` of every float activation (graph inputs and node outputs, not constants)
    of ``graph`` observed on ``samples`` (each a mapping input name -> array)."""
    return {n: amax for n, (_, amax) in calibrate_ranges(
        graph, samples, method=method, percentile=percentile).items()}


def calibrate_ranges(graph: Graph, samples: Sequence[Mapping[str, np.ndarray]], *,
                     method: str = "minmax", percentile: float = 99.99
                     ) -> dict[str, tuple[float, float]]:
    """``(lowest, amax)`` of every float activation: the smallest value observed (a
    value that is never much below 0, such as a Gelu output, may be quantized
    asymmetrically over ``[lowest, amax]``) and ``amax`` as :func:`calibrate` chooses it."""
    if method not in METHODS:
        raise CalibrationError(f"unknown calibrator {method!r}; expected one of {list(METHODS)}")
    if not 0.0 < percentile <= 100.0:
        raise CalibrationError(f"percentile must be in (0, 100], got {percentile}")
    if not samples:
        raise CalibrationError("calibration needs at least one sample")
    names = [n for n in graph.inputs] + [o for node in graph.nodes for o in node.outputs if o]
    names = [n for n in names if graph.types[n].dtype.startswith("float")]
    kept: dict[str, list[np.ndarray]] = {n: [] for n in names}
    top: dict[str, float] = dict.fromkeys(names, 0.0)
    low: dict[str, float] = dict.fromkeys(names, 0.0)
    per_sample = max(1, _MAX_KEPT // len(samples))
    for sample in samples:
        env = evaluate(graph, sample, keep=True)
        for n in names:
            a = np.asarray(env[n], np.float64).reshape(-1)
            if a.size:
                mag = np.abs(a)
                top[n] = max(top[n], float(mag.max()))
                low[n] = min(low[n], float(a.min()))
                if method != "minmax":
                    kept[n].append(_subsample(mag, per_sample))
    if method == "minmax":
        return {n: (low[n], top[n]) for n in names}
    return {n: (low[n], choose_amax(np.concatenate(kept[n]) if kept[n] else np.zeros(0),
                                    method, percentile)) for n in names}


__all__ = ["calibrate", "calibrate_ranges", "samples_from_arrays", "choose_amax", "quantize_error",
           "CalibrationError", "METHODS"]
