"""``vta demo``: a model trained here, compiled for the accelerator and run, end to end.

The story a new user should see in under a minute, through the same public APIs ``vta
compile`` and ``vta run`` use:

1. train a small CNN on scikit-learn's bundled digits (:mod:`compiler.frontend.digits`:
   numpy, seeded, about a second) and export it to ONNX;
2. import it, calibrate on training images, quantize to int8, partition it over
   ``--targets`` (default ``vta``: every op the accelerator runs goes there, the host keeps
   the float boundaries) and lower it to a compiled module (``digits.vtam``);
3. run the held-out images through the executor on the simulator device, in batches of
   ``--batch`` images (the model's batch dimension);
4. print float against int8 accuracy, the per-layer profile (device, MACs, cycles, GEMM
   utilization, DRAM traffic) and the latency at the configured clock, and write the
   timeline, roofline and cycles-against-MACs plots, the Perfetto traces, the profile, the
   module and its inputs (so ``vta run`` reproduces every number).

Checks, as in the rest of the toolkit: the accelerator's outputs equal the numpy integer
reference of the quantized graph and the llvmlite CPU backend running the same quantized
graph, bit for bit; with ``--rtl`` one batch also runs on the Verilator RTL model, which
must leave the same DRAM bytes after the same cycles.  Outputs are staged and appear in
``-o DIR`` only when every check passed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from vta.commands._common import (
    UsageError,
    add_config_args,
    add_output_arg,
    config_from_args,
    positive_int,
    prepare_device,
)
from vta.outputs import Outputs, writes_outputs
from vta_hw.errors import VtaError

TEST_IMAGES = 360  # held out (the rest of the 1797 train and calibrate)
CALIB_IMAGES = 200


class DemoMismatchError(VtaError):
    """Two devices disagree on the demo's output (a bug: please report it)."""


def _sim_device(cfg):
    """The simulator device, keeping each program's last launch (its instruction record
    draws the timeline and the instruction-level trace)."""
    from runtime.sim_device import SimDevice

    class Recording(SimDevice):
        def __init__(self, cfg) -> None:
            super().__init__(cfg)
            self.last: dict[int, object] = {}  # insn_addr -> LaunchResult

        def launch(self, handle, *args, **kwargs):
            result = super().launch(handle, *args, **kwargs)
            self.last[handle.insn_addr] = result
            return result

    return Recording(cfg)


def _run(module, device, inputs):
    """Run ``inputs`` through ``module`` on ``device``; returns the run, the device's whole
    DRAM image (None on a host device) and each program's instruction address on it, both
    taken before the module is unloaded."""
    from runtime.executor import Executor

    ex = Executor(module, device)
    try:
        run = ex.run(inputs)
        return run, getattr(device, "dram", None), [h.insn_addr for h in ex.handles]
    finally:
        ex.close()


def _check(name: str, got: np.ndarray, want: np.ndarray) -> None:
    if not np.array_equal(got, want):
        bad = int(np.count_nonzero(got != want))
        raise DemoMismatchError(f"{name} differs from the accelerator's in {bad} of "
                                f"{got.size} values")


@writes_outputs
def _demo(args: argparse.Namespace, outs: Outputs) -> int:
    from compiler.frontend import digits
    from compiler.graph.pipeline import compile_model
    from compiler.graph.quantize import evaluate_quantized
    from compiler.graph.reference import evaluate
    from compiler.partition import parse_targets
    from vta.layer_report import layer_rows, roofline_points
    from vta_sim.plots import layer_cycles, roofline, timeline
    from vta_sim.trace import write_trace

    cfg = config_from_args(args)
    targets = parse_targets(args.targets)
    if "gpu" in targets:
        raise UsageError(f"--targets {args.targets}: the demo runs on the accelerator and the "
                         "CPU (vta, cpu); for GPU steps compile the demo's digits.onnx with "
                         "`vta compile --targets vta,cpu,gpu --gpu-spec NAME`")
    if TEST_IMAGES % args.batch:
        divisors = [d for d in range(1, TEST_IMAGES + 1) if TEST_IMAGES % d == 0]
        raise UsageError(f"--batch {args.batch}: the {TEST_IMAGES} held-out images must split "
                         f"into whole batches; use one of {', '.join(map(str, divisors))}")
    final = Path(args.output)
    out = outs.directory(args.output, "-o/--output")  # staged: appears only if all checks pass
    assert out is not None
    t_all = time.perf_counter()
    print(f"vta demo: a CNN trained on scikit-learn's digits, int8 on preset {cfg.name!r} "
          f"({cfg.batch}x{cfg.block_in}x{cfg.block_out} GEMM core at "
          f"{cfg.target_clock_mhz:g} MHz)")

    # 1. data and training
    data = digits.load_data(test_size=TEST_IMAGES)
    t = time.perf_counter()
    net = digits.train(data, epochs=args.epochs)
    print(f"  trained conv3x3(16) -> conv3x3/2(32) -> fc(10) on {len(data.x_train)} images "
          f"({args.epochs} epochs, numpy) in {time.perf_counter() - t:.1f} s")
    model = digits.to_onnx(net, batch=args.batch)
    (out / "digits.onnx").write_bytes(model.SerializeToString())

    # 2. import, calibrate + quantize, partition + lower: what `vta compile` does
    t = time.perf_counter()
    b = args.batch
    calib = data.x_train[:CALIB_IMAGES - CALIB_IMAGES % b].reshape(-1, b, 1, 8, 8)
    compiled = compile_model(model, cfg, calib={"x": calib}, targets=targets)
    graph, qgraph, module = compiled.source, compiled.graph, compiled.lowered.module
    module.save(out / "digits.vtam")
    on_acc = [s.name for s in module.steps if s.device == "accelerator"]
    on_host = [s.name for s in module.steps if s.device != "accelerator"]
    print(f"  compiled in {time.perf_counter() - t:.1f} s (calibrated on {calib.size // 64} "
          f"training images, int8, per-channel weights; partitioned over "
          f"{','.join(targets)}): accelerator {', '.join(on_acc) or '-'}; host "
          f"{', '.join(on_host) or '-'}")

    # 3. run the held-out images on the simulator: what `vta run` does
    x_test = data.x_test.reshape(-1, b, 1, 8, 8)
    np.savez(out / "inputs.npz", x=x_test)
    np.save(out / "labels.npy", data.y_test)
    device = _sim_device(cfg)
    t = time.perf_counter()
    run, _, addrs = _run(module, device, {"x": x_test})
    t_run = time.perf_counter() - t
    logits = run.outputs["logits"]
    print(f"  ran {len(x_test)} batches of {b} on the simulator in {t_run:.1f} s")

    # checks: numpy integer reference and the CPU backend, bit for bit
    ref = np.stack([evaluate_quantized(qgraph, {"x": xb})["logits"] for xb in x_test])
    _check("the numpy integer reference of the quantized graph", ref, logits)
    cpu_module = compile_model(qgraph, cfg, targets=("cpu",)).lowered.module
    from runtime.cpu_device import CpuDevice

    cpu_run = _run(cpu_module, CpuDevice(), {"x": x_test})[0]
    _check("the llvmlite CPU backend's run of the same quantized graph",
           cpu_run.outputs["logits"], logits)
    where = "on the accelerator" if module.programs else "on the CPU (no accelerator step)"
    print(f"  module outputs == numpy integer reference == llvmlite CPU backend: yes "
          f"({logits.size} values)")

    # accuracy
    float_logits = np.stack([evaluate(graph, {"x": xb})["logits"] for xb in x_test])
    y = data.y_test
    pred_f = float_logits.reshape(-1, 10).argmax(1)
    pred_q = logits.reshape(-1, 10).argmax(1)
    print(f"  accuracy on {len(y)} held-out images: float {100 * np.mean(pred_f == y):.1f}%, "
          f"int8 {where} {100 * np.mean(pred_q == y):.1f}% (same prediction for "
          f"{100 * np.mean(pred_f == pred_q):.1f}%)")

    # 4. the profile, per batch of b images
    rows = layer_rows(module, run.profile)
    tot = run.profile["totals"]
    mhz = cfg.target_clock_mhz
    print(f"  per-layer profile (per batch of {b} images):")
    print(f"    {'layer':<20}{'op':<12}{'device':<8}{'MACs':>10}{'cycles':>10}{'util':>7}"
          f"{'DRAM B':>9}{'time':>11}")
    for r in rows:
        if r.cycles is not None:
            cols = f"{r.cycles:>10}{100 * r.utilization:>6.1f}%{r.dram_bytes or 0:>9}" \
                   f"{r.cycles / mhz:>9.1f}us"
        else:
            cols = f"{'-':>10}{'-':>7}{'-':>9}{r.seconds * 1e6:>9.1f}us"
        print(f"    {r.name:<20}{r.op:<12}{r.device:<8}{r.macs:>10}{cols}")
    n = tot["samples"]
    cycles = tot["accelerator_cycles"] // n
    acc_ms = cycles / (mhz * 1e3)
    print(f"  accelerator cycles: {cycles} per batch ({tot['macs_on_accelerator'] // n} of "
          f"{tot['macs_total'] // n} MACs on the accelerator)")
    if module.programs:
        print(f"  latency at {mhz:g} MHz: accelerator {acc_ms:.3f} ms per batch of {b} "
              f"({1e3 * acc_ms / b:.1f} us per image); with the host steps (measured) "
              f"{tot['estimated_latency_ms']:.3f} ms; end to end with link copies and layout "
              f"packing {tot['latency_ms']:.3f} ms ({tot['link']} link, modelled)")
    else:
        print(f"  latency: every step on the host, {tot['estimated_latency_ms']:.3f} ms per "
              f"batch of {b} (measured; the clock does not apply)")

    # plots and traces
    (out / "profile.json").write_text(json.dumps(run.profile, indent=1))
    (out / "trace.json").write_text(json.dumps(run.trace()))
    written = [("digits.onnx", "the float model"), ("digits.vtam", "the compiled module"),
               ("inputs.npz", "the held-out images"), ("labels.npy", "their labels"),
               ("profile.json", "the per-layer profile"),
               ("trace.json", "host and accelerator ops, open in ui.perfetto.dev")]
    for k, (prog, addr) in enumerate(zip(module.programs, addrs, strict=True)):
        launch = device.last[addr]  # the program's last batch
        ops = "+".join(module.steps[i].name for i in prog.steps)
        tag = "" if k == 0 else f"_{k}"
        timeline(launch.detail, out / f"timeline{tag}.png",
                 title=f"{cfg.name}: accelerator program {k} ({ops}), one batch of {b}: "
                       f"{launch.cycles} cycles")
        write_trace(launch.detail, out / f"program{tag}_trace.json")
        written += [(f"timeline{tag}.png", f"program {k} ({ops}): the accelerator's modules "
                                           "over one batch"),
                    (f"program{tag}_trace.json", f"program {k}: every instruction of one "
                                                 "batch, ui.perfetto.dev")]
    if addrs:
        points = roofline_points(rows, device.last[addrs[0]].stats)
        roofline(points, cfg, out / "roofline.png",
                 title=f"Roofline ({cfg.name}): the digits CNN's layers")
        layer_cycles(points, cfg, out / "layers.png")
        written += [("roofline.png", "each layer under the compute and bandwidth roofs"),
                    ("layers.png", "each layer's cycles against its MACs and the GEMM peak")]
    print(f"  wrote to {final}/:")
    for name, note in written:
        print(f"    {name:<22}{note}")
    print(f"  same numbers again: vta run {final / 'digits.vtam'} --inputs "
          f"{final / 'inputs.npz'} -o out.npz --profile profile.json")

    if args.rtl:
        from runtime.devices import open_device

        prepare_device("rtl", cfg)
        first = x_test[:1]
        sim_run, sim_dram, _ = _run(module, _sim_device(cfg), {"x": first})
        rtl_run, rtl_dram, _ = _run(module, open_device("rtl", cfg), {"x": first})
        sc = sim_run.profile["totals"]["accelerator_cycles"]
        rc = rtl_run.profile["totals"]["accelerator_cycles"]
        if rc != sc or rtl_dram != sim_dram:
            raise DemoMismatchError(f"RTL ran {rc} cycles vs the simulator's {sc}; DRAM "
                                    f"equal: {rtl_dram == sim_dram}")
        _check("the RTL's logits", rtl_run.outputs["logits"], sim_run.outputs["logits"])
        print(f"  RTL (Verilator) == simulator on one batch: {rc} cycles, identical DRAM "
              f"({len(rtl_dram)} bytes)")
    print(f"  done in {time.perf_counter() - t_all:.1f} s")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="end to end: train a digits CNN, compile it for the "
                                    "accelerator, simulate, profile, check against numpy")
    add_config_args(p)
    p.add_argument("--batch", type=positive_int, default=40,
                   help=f"images per model run (the ONNX batch dimension; divides "
                        f"{TEST_IMAGES}; default 40)")
    p.add_argument("--epochs", type=positive_int, default=6,
                   help="training epochs (default 6: ~98%% held-out accuracy)")
    p.add_argument("--targets", default="vta",
                   help="devices the ops may run on: vta, vta,cpu (cost-based) or cpu "
                        "(default vta: every op the accelerator runs goes there)")
    p.add_argument("--rtl", action="store_true",
                   help="also run one batch on the Verilator RTL model and compare DRAM "
                        "bytes and cycles with the simulator")
    add_output_arg(p, "output directory, written only when every check passes (default "
                      "vta_out/demo)", kind="out:dir", default="vta_out/demo")
    p.set_defaults(func=_demo)
