"""Accelerator/host overlap: the wall time of a batch run one sample after another
(``Executor(overlap=False)``) against two samples in flight (the default), on the
simulator.

The simulator is Python: one program launch costs tens of milliseconds of wall time
whatever its size, while the int8 CPU kernels run a whole small ResNet in a few.  For host
and accelerator time of the same order, the default model is ResNet-18 (model_zoo, input
128x128, width 1.0, seeded weights, calibrated on four random samples) with every
convolution pinned to the CPU and the classifier (``fc``) on the accelerator: per sample
the CPU runs the convolutions while the simulator runs the previous sample's ``fc``.
``--model encoder``: the transformer encoder of ``benchmarks/encoder.py`` (``targets
vta``: Softmax, LayerNorm, Gelu and the quantize/dequantize boundaries on the host),
where the simulator dominates (the host is a few percent of the time).

Both executors run the same batch, alternately, the minimum of ``--runs`` each; the
outputs must be identical.  The simulator holds the GIL for most of its time, so the host
steps overlap it only where they release the GIL (the ctypes kernel calls, numpy's larger
operations): the gain is bounded well below the profile's modelled
``sequential_ms / pipelined_ms``.

    python benchmarks/overlap.py [--model resnet18|encoder] [--samples 8] [--runs 3]

Summary line: ``overlap: samples=<n> sequential_s=<x> overlapped_s=<x> speedup=<x>``
(``speedup``: sequential over overlapped wall time, higher is better), preceded by the
host share of the sequential run (the profile's measured host seconds over its wall time)
and the cores the overlapped run used (process CPU time over wall time: near 1.0 means
the second core was busy elsewhere, and no overlap can pay off).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._timing import best_of  # noqa: E402
from compiler.frontend import import_onnx  # noqa: E402
from compiler.frontend.model_zoo import encoder, resnet18  # noqa: E402
from compiler.graph.lower import lower  # noqa: E402
from compiler.graph.pipeline import run_quantization  # noqa: E402
from compiler.graph.quantize import samples_from_arrays  # noqa: E402
from runtime.cpu_device import CpuDevice  # noqa: E402
from runtime.devices import open_device  # noqa: E402
from runtime.executor import Executor  # noqa: E402
from vta_hw.config import preset  # noqa: E402


def build(model: str) -> tuple[Any, tuple[int, ...]]:
    """The quantized module and its input's shape (see the module docstring)."""
    rng = np.random.default_rng(0)
    if model == "encoder":
        onnx_model, shape = encoder(layers=2, seq=64, hidden=128, heads=4, seed=0), \
            (1, 64, 128)
    else:
        onnx_model, shape = resnet18(size=128, width=1.0, classes=10, seed=0), (1, 3, 128, 128)
    graph = import_onnx(onnx_model)
    calib = {"input": rng.standard_normal((4, *shape)).astype(np.float32)}
    if model == "encoder":
        q = run_quantization(graph, samples_from_arrays(graph, calib), two_digits=True)
        return lower(q, preset("default"), targets=("vta",)).module, shape
    q = run_quantization(graph, samples_from_arrays(graph, calib))
    pins = {n.name: "vta" if n.name == "fc" else "cpu" for n in q.nodes
            if n.name == "fc" or "conv" in n.name or "downsample" in n.name}
    return lower(q, preset("default"), targets=("vta", "cpu"), pins=pins).module, shape


def measure(model: str, samples: int, runs: int) -> dict[str, float]:
    module, shape = build(model)
    x = np.random.default_rng(1).standard_normal((samples, *shape)).astype(np.float32)
    feeds = {"input": x}
    exs = {mode: Executor(module, open_device("sim", module.config), overlap=mode,
                          host=CpuDevice(threads=1)) for mode in (False, True)}
    try:
        outs = {mode: ex.run(feeds) for mode, ex in exs.items()}  # warm-up
        for n in module.outputs:
            if not np.array_equal(outs[False].outputs[n], outs[True].outputs[n]):
                raise SystemExit(f"overlap: output {n!r} differs from the sequential run")
        best = {False: float("inf"), True: float("inf")}
        cores = 0.0
        for _ in range(runs):
            for mode, ex in exs.items():
                cpu = time.process_time()
                secs, _ = best_of(lambda ex=ex: ex.run(feeds), 1)
                if secs < best[mode]:
                    best[mode] = secs
                    if mode:
                        cores = (time.process_time() - cpu) / secs
    finally:
        for ex in exs.values():
            ex.close()
    host = outs[False].profile["totals"]["host_seconds"]
    return {"samples": samples, "sequential_s": best[False], "overlapped_s": best[True],
            "speedup": best[False] / best[True], "host_share": host / best[False],
            "cores_used": cores}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--runs", type=int, default=3, help="timed runs per mode (minimum)")
    ap.add_argument("--model", choices=("resnet18", "encoder"), default="resnet18")
    a = ap.parse_args(argv)
    f = measure(a.model, a.samples, a.runs)
    print(f"{a.model}: host share of the sequential run {f['host_share']:.2f}; cores used "
          f"by the overlapped run {f['cores_used']:.2f} (process CPU time / wall time)")
    print(f"overlap: samples={f['samples']} sequential_s={f['sequential_s']:.3f} "
          f"overlapped_s={f['overlapped_s']:.3f} speedup={f['speedup']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
