"""CPU backend benchmark: generated kernels against OpenBLAS sgemm and onnxruntime, side by side.

Run: ``python benchmarks/cpu_backend.py`` (``--quick`` for a reduced CI smoke run).

Measured in one run, with 1 and with 2 threads (ours: the kernel thread pool; numpy: OpenBLAS
threads, set per subprocess; onnxruntime: ``intra_op_num_threads``):

* fp32 GEMM 512 and 1024 (GFLOP/s): ours (B packing included in every call) vs numpy sgemm;
* int8 GEMM (int32 accumulation, GOP/s): ours vs the same numpy fp32 sgemm;
* every distinct convolution shape of ResNet-18 (batch 1, 224x224): our fp32 and int8 kernels
  (weights bound once, as onnxruntime does with initializers) vs onnxruntime
  (``ORT_ENABLE_ALL``) running a one-node fp32 Conv model of the same shape;
* int8 against int8, one thread: our int8 GEMM and conv kernels (weights bound once) vs
  onnxruntime's quantized kernels on the same shapes, weights as initializers.  Every ORT
  variant computes the same signed int8 product as ours, and its output is checked against
  ours: ``MatMulInteger`` / ``ConvInteger`` with int8 x int8 (int32 out: our semantics
  exactly), the same ops with uint8 activations and zero point 128 (``a_u8 - 128 == a_s8``:
  ORT's u8 x s8 path, int32 out), and ``QLinearConv`` with uint8 activations, zero point 128
  and a power-of-two output scale (ORT's quantized-model conv: it also requantizes to uint8,
  extra work for ORT and a 4x smaller output).  Each variant races ours in its own
  round-robin; the ratio is the fastest ORT variant's time / our time in that race.

Every time is the minimum of several runs (the machine is shared).  The last line is
``cpu_backend: gemm_fp32_speed=.. gemm_int8_speed=.. conv_fp32_speed=.. conv_int8_speed=..``:
reference time / our time (above 1: we are faster), each a geometric mean over the
single-thread rows (GEMM: both sizes; conv: all shapes), followed by
``gemm_int8_vs_ort_int8=.. conv_int8_vs_ort_int8=..`` (against the fastest ORT int8 variant)
and ``gemm_int8_vs_ort_s8s8=.. conv_int8_vs_ort_s8s8=..`` (against MatMulInteger /
ConvInteger with int8 x int8 inputs, the op with exactly our semantics) and
``conv_int8_requant_cost=..``: the time of the whole quantized conv (``opset.Conv2d`` with
bias, per-channel requantization and ReLU: the raw int8 kernel plus the fused epilogue kernel,
int8 out) over the raw int8 conv's, single thread, geometric mean over the shapes.
The 2-thread geometric means are printed just above it: on a shared machine with 2 vCPUs
they mostly measure the neighbours.  References and our kernels are timed round-robin so they
see the same background load.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import round_robin  # noqa: E402

from cpu_gpu_backends.backend import CpuBackend, CpuOptions  # noqa: E402
from cpu_gpu_backends.ops.conv2d import conv2d_plan  # noqa: E402
from cpu_gpu_backends.ops.gemm import dense_plan  # noqa: E402
from cpu_gpu_backends.ops.quantized import op_plan  # noqa: E402
from opset import Conv2d, Epilogue, Requant  # noqa: E402

# (C_in, C_out, H=W, kernel, stride, pad) -- the 11 distinct conv shapes of ResNet-18
RESNET18_CONVS = [
    (3, 64, 224, 7, 2, 3), (64, 64, 56, 3, 1, 1), (64, 128, 56, 3, 2, 1),
    (64, 128, 56, 1, 2, 0), (128, 128, 28, 3, 1, 1), (128, 256, 28, 3, 2, 1),
    (128, 256, 28, 1, 2, 0), (256, 256, 14, 3, 1, 1), (256, 512, 14, 3, 2, 1),
    (256, 512, 14, 1, 2, 0), (512, 512, 7, 3, 1, 1),
]


def race(calls: list[tuple], repeats: int, threads: int, warmup: int = 2) -> list[float]:
    """Minimum time of each ``(fn, *args)`` in ``calls``.

    Single-threaded, the calls are timed round-robin so the reference and our kernels see the
    same background load.  Multi-threaded, each call is timed in its own block followed by a
    pause: OpenBLAS and onnxruntime workers spin-wait after a call and would otherwise steal
    the second core from whoever runs next."""
    if threads == 1:
        wall, _ = round_robin({i: partial(fn, *args) for i, (fn, *args) in enumerate(calls)},
                              repeats, warmup)
        return [wall[i] for i in range(len(calls))]
    best = [math.inf] * len(calls)
    for i, (fn, *args) in enumerate(calls):
        time.sleep(0.3)
        for _ in range(warmup):
            fn(*args)
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn(*args)
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def blas_threads(n: int):
    """Context limiting OpenBLAS to ``n`` threads (threadpoolctl), or None if unavailable."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=n, user_api="blas")


_SGEMM_SNIPPET = """
import sys, time, numpy as np
n, reps = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
a = rng.standard_normal((n, n), dtype=np.float32); b = rng.standard_normal((n, n), dtype=np.float32)
for _ in range(3): a @ b
best = 1e9
for _ in range(reps):
    t0 = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t0)
print(best)
"""


def numpy_sgemm_time(n: int, threads: int, repeats: int) -> float:
    """OpenBLAS reads its thread count at load time: measure in a fresh process."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", _SGEMM_SNIPPET, str(n), str(repeats)],
                         env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def ort_conv_session(c: int, oc: int, h: int, k: int, s: int, p: int, w: np.ndarray,
                     threads: int):

    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, h])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    node = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[k, k], strides=[s, s],
                            pads=[p] * 4)
    graph = helper.make_graph([node], "conv", [x], [y], [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = min(model.ir_version, 8)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


def one_node_session(node, inputs: list, consts: dict[str, np.ndarray], out_type: int,
                     threads: int):
    """An onnxruntime session running the single ``node``; ``consts`` become initializers."""
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    graph = helper.make_graph([node], node.op_type, inputs,
                              [helper.make_tensor_value_info("y", out_type, None)],
                              [numpy_helper.from_array(v, k) for k, v in consts.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = min(model.ir_version, 8)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


def as_u8_zp128(a: np.ndarray) -> np.ndarray:
    """int8 -> uint8 with zero point 128: ``u - 128 == a`` (flip the sign bit)."""
    return (a.view(np.uint8) ^ np.uint8(0x80)).astype(np.uint8)


def ort_int8_gemm_variants(ai: np.ndarray, bi: np.ndarray, threads: int) -> dict[str, tuple]:
    """ORT MatMulInteger computing ``ai @ bi`` (int32), as ``{label: (fn, *args)}``."""
    from onnx import TensorProto, helper

    m, k = ai.shape
    s8 = one_node_session(helper.make_node("MatMulInteger", ["a", "b"], ["y"]),
                          [helper.make_tensor_value_info("a", TensorProto.INT8, [m, k])],
                          {"b": bi}, TensorProto.INT32, threads)
    u8 = one_node_session(helper.make_node("MatMulInteger", ["a", "b", "za"], ["y"]),
                          [helper.make_tensor_value_info("a", TensorProto.UINT8, [m, k])],
                          {"b": bi, "za": np.array(128, np.uint8)}, TensorProto.INT32, threads)
    return {"MatMulInteger s8*s8": (s8.run, None, {"a": ai}),
            "MatMulInteger u8(zp128)*s8": (u8.run, None, {"a": as_u8_zp128(ai)})}


def ort_int8_conv_variants(xi: np.ndarray, wi: np.ndarray, k: int, s: int, p: int,
                           threads: int, shift: int) -> dict[str, tuple]:
    """ORT's quantized convolutions of ``xi`` by ``wi``: ConvInteger (int32 out) with s8 and
    with u8 (zero point 128) activations, and QLinearConv (u8, zero point 128) whose output
    is ``clip(round(acc / 2**shift)) + 128`` in uint8."""
    from onnx import TensorProto, helper

    attrs = {"kernel_shape": [k, k], "strides": [s, s], "pads": [p] * 4}
    shape = list(xi.shape)
    s8 = one_node_session(helper.make_node("ConvInteger", ["x", "w"], ["y"], **attrs),
                          [helper.make_tensor_value_info("x", TensorProto.INT8, shape)],
                          {"w": wi}, TensorProto.INT32, threads)
    u8 = one_node_session(helper.make_node("ConvInteger", ["x", "w", "zx"], ["y"], **attrs),
                          [helper.make_tensor_value_info("x", TensorProto.UINT8, shape)],
                          {"w": wi, "zx": np.array(128, np.uint8)}, TensorProto.INT32, threads)
    one = np.array(1.0, np.float32)
    q = one_node_session(
        helper.make_node("QLinearConv", ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy"], ["y"],
                         **attrs),
        [helper.make_tensor_value_info("x", TensorProto.UINT8, shape)],
        {"sx": one, "zx": np.array(128, np.uint8), "w": wi, "sw": one,
         "zw": np.array(0, np.int8), "sy": np.array(2.0 ** shift, np.float32),
         "zy": np.array(128, np.uint8)}, TensorProto.UINT8, threads)
    xu = as_u8_zp128(xi)
    return {"ConvInteger s8*s8": (s8.run, None, {"x": xi}),
            "ConvInteger u8(zp128)*s8": (u8.run, None, {"x": xu}),
            "QLinearConv u8(zp128)*s8 ->u8": (q.run, None, {"x": xu})}


def ort_int8_mismatch(label: str, got: np.ndarray, ours: np.ndarray, shift: int) -> str | None:
    """Why an ORT variant does not compute our product (QLinearConv: requantized by
    2**shift), or None when it does.  Some onnxruntime builds compute u8 x s8 with 16-bit
    saturating pair sums (``vpmaddubsw`` without VNNI): not the exact product, but still the
    int8 kernel an ORT user gets, so such a variant is raced and flagged, not dropped."""
    if label.startswith("QLinearConv"):
        want = np.clip(np.rint(ours / 2.0 ** shift), -128, 127).astype(np.int16) + 128
        got = got.astype(np.int16)
    else:
        want = ours
    if got.shape == want.shape and np.array_equal(got, want):
        return None
    wrong = int(np.count_nonzero(got != want)) if got.shape == want.shape else got.size
    return f"{wrong} of {want.size} outputs differ from the exact product"


def race_int8_vs_ort(label: str, ours: tuple, variants: dict[str, tuple], ops: int,
                     repeats: int, shift: int = 0) -> tuple[float, float]:
    """Time ours against each ORT variant, one head-to-head round-robin per variant (1
    thread: the slow ConvInteger variants, whose im2col buffers flush the caches, would
    otherwise also slow down whoever runs after them); print one row per variant and return
    (fastest ORT variant's time) / (our time in that race), and the same for the int8 x int8
    variant (the first, which must compute our product exactly).  A variant whose output is
    not our exact product is flagged under its row with how many outputs differ."""
    want = ours[0](*ours[1:])
    ratios = []
    for i, (name, (fn, *args)) in enumerate(variants.items()):
        why = ort_int8_mismatch(name, fn(*args)[0], want, shift)
        if why is not None and i == 0:
            raise AssertionError(f"{label}: onnxruntime {name}: {why}")
        mine, t = race([ours, (fn, *args)], repeats, 1)
        ratios.append((t, t / mine))
        print(f"{label:24s} {name:31s} {t * 1e3:9.3f} {mine * 1e3:9.3f} {ops / t / 1e9:8.1f} "
              f"{ops / mine / 1e9:8.1f} {t / mine:6.2f}")
        if why is not None:
            print(f"{'':24s}   not exact on this host: {why}")
    return min(ratios)[1], ratios[0][1]


def geomean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def int8_vs_ort(be: CpuBackend, gemm_sizes: list[int], convs: list[tuple], repeats: int,
                rng: np.random.Generator) -> dict[str, list[tuple[float, float]]]:
    """Our int8 kernels against onnxruntime's int8 kernels, one thread, same shapes."""
    out: dict[str, list[tuple[float, float]]] = {"gemm_int8": [], "conv_int8": []}
    print(f"# int8 vs onnxruntime int8 (1 thread, weights bound / initializers; "
          f"min of {repeats} runs)")
    print(f"{'case':24s} {'onnxruntime op':31s} {'ort ms':>9s} {'i8 ms':>9s} {'ort G/s':>8s} "
          f"{'i8 G/s':>8s} {'i8 x':>6s}")
    for n in gemm_sizes:
        ai = rng.integers(-128, 128, (n, n), dtype=np.int8)
        bi = rng.integers(-128, 128, (n, n), dtype=np.int8)
        ours = be.compile(dense_plan(n, n, n, "i8")).bind(b=bi)
        out["gemm_int8"].append(race_int8_vs_ort(
            f"gemm {n}", (ours, ai), ort_int8_gemm_variants(ai, bi, 1), 2 * n ** 3, repeats))
    for (c, oc, h, k, s, p) in convs:
        xi = rng.integers(-128, 128, (1, c, h, h), dtype=np.int8)
        wi = rng.integers(-128, 128, (oc, c, k, k), dtype=np.int8)
        oh = (h + 2 * p - k) // s + 1
        shift = max(0, int(np.log2(c * k * k * 128 * 128)) - 9)  # outputs mostly in range
        ours = be.compile(conv2d_plan(xi.shape, wi.shape, "i8", s, p)).bind(w=wi)
        out["conv_int8"].append(race_int8_vs_ort(
            f"conv {c}->{oc} {h}x{h} k{k} s{s}", (ours, xi),
            ort_int8_conv_variants(xi, wi, k, s, p, 1, shift),
            2 * oc * oh * oh * c * k * k, repeats, shift))
    for key, v in out.items():
        print(f"# {key} vs fastest onnxruntime int8, threads=1: geomean speed "
              f"{geomean([f for f, _ in v]):.2f}; vs its int8 x int8 op "
              f"{geomean([s for _, s in v]):.2f}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="reduced sizes and repeats (CI smoke)")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per measurement")
    args = ap.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 20)
    gemm_sizes = [128] if args.quick else [512, 1024]
    convs = [RESNET18_CONVS[1], RESNET18_CONVS[3]] if args.quick else RESNET18_CONVS
    thread_counts = (1, 2)
    backends = {t: CpuBackend(CpuOptions(threads=t)) for t in thread_counts}
    rng = np.random.default_rng(0)
    ratios: dict[str, list[float]] = {"gemm_fp32": [], "gemm_int8": [], "conv_fp32": [],
                                      "conv_int8": []}
    requant_cost: list[float] = []  # quantized conv (int8 out) time / raw int8 conv time

    print(f"# cpu_backend benchmark (min of {repeats} runs; threads 1 and 2)")
    print(f"{'case':34s} {'thr':>3s} {'ref ms':>9s} {'f32 ms':>9s} {'i8 ms':>9s} "
          f"{'ref G/s':>8s} {'f32 G/s':>8s} {'i8 G/s':>8s} {'f32 x':>6s} {'i8 x':>6s}")
    for n in gemm_sizes:
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        ai = rng.integers(-128, 128, (n, n), dtype=np.int8)
        bi = rng.integers(-128, 128, (n, n), dtype=np.int8)
        for t in thread_counts:
            be = backends[t]
            f32 = be.compile(dense_plan(n, n, n, "f32"))
            i8 = be.compile(dense_plan(n, n, n, "i8"))
            limit = blas_threads(t)
            if limit is not None:
                with limit:
                    ref, ours32, ours8 = race([(np.matmul, a, b), (f32, a, b), (i8, ai, bi)],
                                              repeats, t)
            else:  # OpenBLAS reads its thread count at load: measure it in a subprocess
                ours32, ours8 = race([(f32, a, b), (i8, ai, bi)], repeats, t)
                ref = numpy_sgemm_time(n, t, repeats)
            ops = 2 * n ** 3
            ratios["gemm_fp32"].append(ref / ours32)
            ratios["gemm_int8"].append(ref / ours8)
            print(f"{'gemm ' + str(n) + ' (ref: numpy sgemm)':34s} {t:3d} {ref * 1e3:9.3f} "
                  f"{ours32 * 1e3:9.3f} {ours8 * 1e3:9.3f} {ops / ref / 1e9:8.1f} "
                  f"{ops / ours32 / 1e9:8.1f} {ops / ours8 / 1e9:8.1f} {ref / ours32:6.2f} "
                  f"{ref / ours8:6.2f}")
    for (c, oc, h, k, s, p) in convs:
        x = rng.standard_normal((1, c, h, h), dtype=np.float32)
        w = (rng.standard_normal((oc, c, k, k), dtype=np.float32) * 0.1).astype(np.float32)
        xi = rng.integers(-128, 128, x.shape, dtype=np.int8)
        wi = rng.integers(-128, 128, w.shape, dtype=np.int8)
        oh = (h + 2 * p - k) // s + 1
        ops = 2 * oc * oh * oh * c * k * k
        for t in thread_counts:
            be = backends[t]
            f32 = be.compile(conv2d_plan(x.shape, w.shape, "f32", s, p)).bind(w=w)
            i8 = be.compile(conv2d_plan(x.shape, w.shape, "i8", s, p)).bind(w=wi)
            sess = ort_conv_session(c, oc, h, k, s, p, w, t)
            ref_out = sess.run(None, {"x": x})[0]
            np.testing.assert_allclose(f32(x), ref_out, rtol=1e-3, atol=1e-3)
            ref, ours32, ours8 = race([(sess.run, None, {"x": x}), (f32, x), (i8, xi)],
                                      repeats, t)
            ratios["conv_fp32"].append(ref / ours32)
            ratios["conv_int8"].append(ref / ours8)
            if t == 1:  # the whole quantized op: the raw kernel + the opset epilogue kernel
                op = Conv2d(1, c, h, h, oc, k, k, stride=s, pad=p, epilogue=Epilogue(
                    bias=True, requant=Requant(per_channel=True, pre_shift=2), relu=True))
                q8 = be.compile(op_plan(op)).bind(
                    w=wi, bias=rng.integers(-999, 999, oc).astype(np.int32),
                    multiplier=rng.integers(1, 999, oc).astype(np.int32),
                    shift=rng.integers(8, 16, oc).astype(np.int32))
                raw8, quant8 = race([(i8, xi), (q8, xi)], repeats, t)
                requant_cost.append(quant8 / raw8)
                print(f"{'  + opset epilogue (int8 out)':34s} {t:3d} {'':9s} {'':9s} "
                      f"{quant8 * 1e3:9.3f}   x{quant8 / raw8:.3f} the raw int8 conv")
            label = f"conv {c}->{oc} {h}x{h} k{k} s{s} (ref: ort)"
            print(f"{label:34s} {t:3d} {ref * 1e3:9.3f} {ours32 * 1e3:9.3f} "
                  f"{ours8 * 1e3:9.3f} {ops / ref / 1e9:8.1f} {ops / ours32 / 1e9:8.1f} "
                  f"{ops / ours8 / 1e9:8.1f} {ref / ours32:6.2f} {ref / ours8:6.2f}")
    vs_ort = int8_vs_ort(backends[1], gemm_sizes, convs, repeats, rng)
    for be in backends.values():
        be.launcher.close()
    for key in ratios:
        for t in thread_counts:
            per_t = ratios[key][thread_counts.index(t)::len(thread_counts)]
            print(f"# {key} threads={t}: geomean speed {geomean(per_t):.2f}")
    # the summary uses the 1-thread rows: on a shared 2-vCPU machine the 2-thread rows mostly
    # measure the neighbours (they are printed above for the side-by-side view)
    summary = " ".join(f"{k}_speed={geomean(v[::len(thread_counts)]):.2f}"
                       for k, v in ratios.items())
    summary += "".join(f" {k}_vs_ort_int8={geomean([f for f, _ in v]):.2f}"
                       for k, v in vs_ort.items())
    summary += "".join(f" {k}_vs_ort_s8s8={geomean([s for _, s in v]):.2f}"
                       for k, v in vs_ort.items())
    summary += f" conv_int8_requant_cost={geomean(requant_cost):.3f}"
    print(f"cpu_backend: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
