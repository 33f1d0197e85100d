"""Accelerator/host overlap: the wall time of a batch run one sample after another
(``Executor(overlap=False)``) against two samples in flight (the default), on the
simulator.

The model is the transformer encoder of ``compiler.frontend.model_zoo`` quantized as in
``benchmarks/encoder.py`` (``targets=("vta",)`` on the ``default`` preset: the projections
and attention matmuls on the accelerator; Softmax, LayerNorm, Gelu, the residual Adds and
the quantize/dequantize boundaries on the host), so host and accelerator (simulator) time
are of the same order.  Both executors run the same batch, alternately, the minimum of
``--runs`` each; the outputs must be identical.  The simulator is Python and holds the GIL
for most of its time, so the host steps overlap it only where they release the GIL
(numpy's larger operations, the ctypes kernel calls): the gain is bounded well below the
modelled ``pipelined_ms`` / ``sequential_ms`` of the profile.

    python benchmarks/overlap.py [--samples 8] [--runs 3] [--seq 64] [--hidden 128]

Summary line: ``overlap: samples=<n> sequential_s=<x> overlapped_s=<x> speedup=<x>``
(``speedup``: sequential over overlapped wall time, higher is better), preceded by the
host share of the sequential run (the profile's measured host seconds over its wall time).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._timing import best_of  # noqa: E402
from compiler.frontend import import_onnx  # noqa: E402
from compiler.frontend.model_zoo import encoder  # noqa: E402
from compiler.graph.lower import lower  # noqa: E402
from compiler.graph.pipeline import run_quantization  # noqa: E402
from compiler.graph.quantize import samples_from_arrays  # noqa: E402
from runtime.cpu_device import CpuDevice  # noqa: E402
from runtime.devices import open_device  # noqa: E402
from runtime.executor import Executor  # noqa: E402
from vta_hw.config import preset  # noqa: E402


def encoder_module(seq: int, hidden: int, heads: int = 4):
    """The quantized encoder module (2 layers), and a random input batch maker."""
    model = encoder(layers=2, seq=seq, hidden=hidden, heads=heads, seed=0)
    graph = import_onnx(model)
    rng = np.random.default_rng(0)
    calib = {"input": rng.standard_normal((4, 1, seq, hidden)).astype(np.float32)}
    q = run_quantization(graph, samples_from_arrays(graph, calib), two_digits=True)
    return lower(q, preset("default"), targets=("vta",)).module


def measure(samples: int, runs: int, seq: int, hidden: int) -> dict[str, float]:
    module = encoder_module(seq, hidden)
    x = np.random.default_rng(1).standard_normal((samples, 1, seq, hidden)).astype(np.float32)
    feeds = {"input": x}
    exs = {mode: Executor(module, open_device("sim", module.config), overlap=mode,
                          host=CpuDevice(threads=1)) for mode in (False, True)}
    try:
        outs = {mode: ex.run(feeds) for mode, ex in exs.items()}  # warm-up
        for n in module.outputs:
            if not np.array_equal(outs[False].outputs[n], outs[True].outputs[n]):
                raise SystemExit(f"overlap: output {n!r} differs from the sequential run")
        best = {False: float("inf"), True: float("inf")}
        for _ in range(runs):
            for mode, ex in exs.items():
                secs, _ = best_of(lambda ex=ex: ex.run(feeds), 1)
                best[mode] = min(best[mode], secs)
    finally:
        for ex in exs.values():
            ex.close()
    host = outs[False].profile["totals"]["host_seconds"]
    return {"samples": samples, "sequential_s": best[False], "overlapped_s": best[True],
            "speedup": best[False] / best[True], "host_share": host / best[False]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--runs", type=int, default=3, help="timed runs per mode (minimum)")
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=128)
    a = ap.parse_args(argv)
    f = measure(a.samples, a.runs, a.seq, a.hidden)
    print(f"encoder seq {a.seq} hidden {a.hidden}: host share of the sequential run "
          f"{f['host_share']:.2f}")
    print(f"overlap: samples={f['samples']} sequential_s={f['sequential_s']:.3f} "
          f"overlapped_s={f['overlapped_s']:.3f} speedup={f['speedup']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
