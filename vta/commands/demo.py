"""``vta demo``: one quantized convolution layer through the whole stack.

The operator compiler tiles, tensorizes and double-buffers a conv2d + bias + requantize +
ReLU layer for the chosen hardware; the simulator device runs it once (its record gives
the statistics, the timeline and the trace); the result is checked bit for bit against a
numpy integer reference and against the llvmlite CPU backend's int8 convolution; with
``--rtl`` the same bundle also runs on the RTL device (Verilator), which must agree on every
DRAM byte and on the cycle count.  It prints
cycles, utilization and where it wrote the timeline, trace and bundle.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from vta.commands._common import (
    UsageError,
    add_config_args,
    add_output_arg,
    config_from_args,
    prepare_device,
)
from vta.outputs import Outputs, writes_outputs
from vta_hw.errors import VtaError

MAX_SIZE = 224  # ImageNet's input size: larger layers belong in a benchmark, not a demo
MAX_CHANNELS = 512  # ResNet-18's widest layer


class DemoMismatchError(VtaError):
    """Two devices disagree on the demo's output (a bug: please report it)."""


def _reference(x: np.ndarray, w: np.ndarray, bias: np.ndarray, shift: int, pad: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """int64 numpy conv2d, then the epilogue: +bias, rounding shift, ReLU, saturate."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1
    acc = np.zeros((n, o, ho, wo), np.int64)
    for u in range(kh):
        for v in range(kw):
            acc += np.einsum("nchw,oc->nohw", xp[:, :, u:u + ho, v:v + wo],
                             w[:, :, u, v].astype(np.int64))
    y = acc + bias.reshape(1, -1, 1, 1)
    y = (y + (1 << (shift - 1))) >> shift
    return acc, np.clip(np.maximum(y, 0), -128, 127).astype(np.int8)


def _check(name: str, got: np.ndarray, want: np.ndarray) -> None:
    if not np.array_equal(got, want):
        bad = int(np.count_nonzero(got != want))
        raise DemoMismatchError(f"{name} differs from the numpy reference in {bad} values")


@writes_outputs
def _demo(args: argparse.Namespace, outs: Outputs) -> int:
    import cpu_gpu_backends
    import vta.api
    from vta_sim.plots import timeline
    from vta_sim.trace import write_trace

    for flag, value, most in (("--size", args.size, MAX_SIZE),
                              ("--channels", args.channels, MAX_CHANNELS)):
        if not 1 <= value <= most:
            raise UsageError(f"{flag} must be a positive integer up to {most} (the demo "
                             f"checks it against numpy on this host), got {value}")
    cfg = config_from_args(args)
    final = Path(args.output)
    out = outs.directory(args.output, "-o/--output")  # staged: appears only if all checks pass
    assert out is not None
    c, hw, o = args.channels, args.size, args.channels
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, size=(1, c, hw, hw), dtype=np.int8)
    w = rng.integers(-128, 128, size=(o, c, 3, 3), dtype=np.int8)
    bias = rng.integers(-4096, 4096, size=o).astype(np.int32)
    shift = 10
    acc_ref, y_ref = _reference(x, w, bias, shift, pad=1)

    print(f"vta demo: conv2d 3x3 {c}x{hw}x{hw} -> {o} + bias + requantize + ReLU, "
          f"int8, on preset {cfg.name!r} ({cfg.batch}x{cfg.block_in}x{cfg.block_out} GEMM "
          f"core, {cfg.target_clock_mhz:g} MHz)")
    t = time.perf_counter()
    res = vta.api.conv2d(x, w, bias, padding=1, shift=shift, relu=True, cfg=cfg, device="sim")
    sim = res.result.detail  # the simulator's record of this one run
    t_run = time.perf_counter() - t
    _check("accelerator (simulator) output", res.output, y_ref)
    s = res.stats
    print(f"  compiled + simulated in {t_run:.2f} s: {s.instructions} instructions, "
          f"schedule {res.compiled.schedule}")
    print(f"  accelerator output == numpy integer reference: yes ({y_ref.size} int8 values)")

    cpu = cpu_gpu_backends.conv2d(x.shape, w.shape, dtype="i8", padding=1)
    t = time.perf_counter()
    acc_cpu = cpu(x, w)
    t_cpu = time.perf_counter() - t
    _check("CPU backend int8 convolution", np.asarray(acc_cpu, np.int64), acc_ref)
    print(f"  llvmlite CPU backend int8 conv == numpy: yes ({t_cpu * 1e3:.1f} ms on the host)")

    print(f"  cycles: {s.cycles}  ({s.seconds * 1e3:.3f} ms at {cfg.target_clock_mhz:g} MHz)")
    print(f"  MACs: {s.macs}  ideal cycles: {s.ideal_cycles:.0f}  GEMM utilization: "
          f"{100 * s.utilization:.1f}%  DRAM traffic: {s.dram_bytes} bytes")
    for m in ("load", "compute", "store"):
        ms = s.modules[m]
        print(f"    {m:8s} busy {100 * ms.busy / s.cycles:5.1f}%  "
              f"stalled {100 * ms.stalled / s.cycles:5.1f}%")
    res.bundle.save(out / "conv.vtab")
    timeline(sim, out / "timeline.png")
    write_trace(sim, out / "trace.json")
    print(f"  timeline plot: {final / 'timeline.png'}")
    print(f"  trace (open in ui.perfetto.dev): {final / 'trace.json'}")
    print(f"  bundle (rerun with `vta sim {final / 'conv.vtab'}`): {final / 'conv.vtab'}")
    if args.rtl:
        from runtime.devices import open_device, run_bundle

        prepare_device("rtl", cfg)
        print("  RTL: running the bundle on the Verilator model...")
        rtl = run_bundle(open_device("rtl", cfg), res.bundle)
        if rtl.cycles != sim.cycles or rtl.dram != sim.dram:
            raise DemoMismatchError(f"RTL ran {rtl.cycles} cycles vs the simulator's "
                                    f"{sim.cycles}, DRAM equal: {rtl.dram == sim.dram}")
        print(f"  RTL (Verilator) == simulator: {rtl.cycles} cycles, identical DRAM")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="end-to-end demo: compile, simulate, check against numpy")
    add_config_args(p)
    p.add_argument("--size", type=int, default=28, help="input height and width (default 28)")
    p.add_argument("--channels", type=int, default=64, help="in/out channels (default 64)")
    p.add_argument("--rtl", action="store_true",
                   help="also run the bundle on the Verilator RTL model and compare")
    add_output_arg(p, "output directory, written only when every check passes (default "
                      "vta_out/demo)", kind="out:dir", default="vta_out/demo")
    p.set_defaults(func=_demo)
