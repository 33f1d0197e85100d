"""The transformer encoder through the toolkit: its MAC fraction on the accelerator, its
error against onnxruntime fp32 and bit-exactness against the integer reference.

The model is ``compiler.frontend.model_zoo.encoder`` (2 layers, sequence 128, hidden 256, 4
heads, FFN 1024: the issue's size; seeded random weights), calibrated on four random normal
samples (minmax), quantized, lowered with ``targets=("vta",)`` on the ``default`` preset
(every projection and both attention matmuls a Dense on the accelerator; Softmax, LayerNorm,
Gelu and the residual Adds float on the host) and run once on the simulator with another
random input.  ``--quick``: sequence 32, hidden 64.

    python benchmarks/encoder.py [--quick]

Summary line: ``encoder: encoder_acc_mac_frac=<x> rel_err_vs_ort=<x> exact=<0|1>
compile_s=<x> sim_s=<x> cycles=<n>`` (``rel_err_vs_ort``: relative L2 error of the int8
output against onnxruntime fp32; the issue's goals: MAC fraction >= 0.9, error <= 0.02).
``encoder_figures`` is what a combined benchmark imports.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compiler.frontend import import_onnx  # noqa: E402
from compiler.frontend.model_zoo import encoder  # noqa: E402
from compiler.graph.lower import lower  # noqa: E402
from compiler.graph.pipeline import run_quantization  # noqa: E402
from compiler.graph.quantize import evaluate_quantized, samples_from_arrays  # noqa: E402
from runtime.devices import open_device  # noqa: E402
from runtime.executor import Executor  # noqa: E402
from vta_hw.config import preset  # noqa: E402

CALIB_SAMPLES = 4


def encoder_figures(*, layers: int = 2, seq: int = 128, hidden: int = 256,
                    heads: int = 4) -> dict[str, float]:
    """Compile and simulate the encoder; its MAC fraction, error and timings."""
    import onnxruntime as ort

    model = encoder(layers=layers, seq=seq, hidden=hidden, heads=heads)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    graph = import_onnx(model)
    calib = {"input": rng.standard_normal((CALIB_SAMPLES, 1, seq, hidden)).astype(np.float32)}
    q = run_quantization(graph, samples_from_arrays(graph, calib))
    module = lower(q, preset("default"), targets=("vta",)).module
    compile_s = time.perf_counter() - t0
    x = rng.standard_normal((1, seq, hidden)).astype(np.float32)
    t0 = time.perf_counter()
    ex = Executor(module, open_device("sim", module.config))
    try:
        run = ex.run({"input": x})
    finally:
        ex.close()
    sim_s = time.perf_counter() - t0
    got = run.outputs["output"]
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"input": x})[0]
    totals = run.profile["totals"]
    return {
        "encoder_acc_mac_frac": totals["macs_on_accelerator"] / totals["macs_total"],
        "rel_err_vs_ort": float(np.linalg.norm(got - ref) / np.linalg.norm(ref)),
        "exact": float(np.array_equal(got, evaluate_quantized(q, {"input": x})["output"])),
        "compile_s": compile_s, "sim_s": sim_s, "cycles": totals["accelerator_cycles"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="sequence 32, hidden 64")
    args = ap.parse_args(argv)
    f = encoder_figures(seq=32, hidden=64) if args.quick else encoder_figures()
    print(f"encoder: encoder_acc_mac_frac={f['encoder_acc_mac_frac']:.4f} "
          f"rel_err_vs_ort={f['rel_err_vs_ort']:.4f} exact={int(f['exact'])} "
          f"compile_s={f['compile_s']:.1f} sim_s={f['sim_s']:.1f} cycles={int(f['cycles'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
