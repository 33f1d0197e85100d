"""``vta run FILE --device D``: run a program bundle (.vtab) or a compiled module (.vtam).

What the file is comes from its content (the manifest's format), not its extension.

* A bundle is validated on the simulator first (decode, ranges, hazards, deadlock, races:
  ``runtime.validate``), before a device is opened (opening ``fpga:sim`` may build a
  model), and every run is bounded by ``--max-cycles`` (default: derived from the
  simulated run).
* A module runs its whole model (``runtime.executor``) on ``--inputs IN.npz`` (each model
  input by name, with or without a leading sample axis) and writes ``-o OUT.npz`` (each
  model output by name, keeping the sample axis), optionally the per-layer profile
  (``--profile``, JSON) and a Perfetto trace across devices (``--trace``).  Every input
  is checked before a device is opened; a failure leaves no output file.  A module's GPU
  steps (``vta compile --targets ...,gpu --gpu-spec NAME``) run on the machine's NVIDIA GPU
  (``--gpu cuda``, the default; one error line without one) or on the SIMT emulator
  (``--gpu sim``: the GPU's bits, no GPU needed).  ``--threads N`` sizes the CPU kernels'
  thread pool (default: up to 2 here).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from vta.commands._common import (
    UsageError,
    add_config_args,
    add_output_arg,
    config_from_args,
    config_given,
    path_arg,
    positive_int,
    prepare_device,
    read_input,
    read_npz,
)
from vta.outputs import Outputs, writes_outputs
from vta_hw.bundle import Bundle


def _is_module_file(path: str) -> bool:
    from runtime.module import MODULE_FORMAT, read_manifest

    d = read_manifest(path)
    if d is None:  # unreadable: judge by the name, so the error speaks of the right kind
        return str(path).endswith(".vtam")
    return d.get("format") == MODULE_FORMAT


def _close(device) -> None:
    close = getattr(device, "close", None)
    if close is not None:
        close()


@writes_outputs
def _run(args: argparse.Namespace, outs: Outputs) -> int:
    read_input(args.program, "program", text=False)  # missing, directory, empty
    if _is_module_file(args.program):
        return _run_module(args, outs)
    for flag, value in (("--inputs", args.inputs), ("-o", args.output),
                        ("--profile", args.profile), ("--trace", args.trace),
                        ("--gpu", args.gpu)):
        if value is not None:
            raise UsageError(f"{flag} applies to a compiled module (.vtam); {args.program!r} "
                             "is a program bundle")
    return _run_bundle(args, outs)


def _run_bundle(args: argparse.Namespace, outs: Outputs) -> int:
    from runtime.devices import open_device, run_bundle
    from runtime.validate import validate_bundle

    dram_out = outs.file(args.dram_out, "--dram-out")
    bundle = Bundle.load(args.program)
    if config_given(args):
        bundle.check_config(config_from_args(args))
    if args.device != "sim":  # fail before opening (and maybe building) the device
        validate_bundle(bundle, max_cycles=args.max_cycles)
    prepare_device(args.device, bundle.config)
    device = open_device(args.device, bundle.config, max_cycles=args.max_cycles)
    try:
        result = run_bundle(device, bundle)
    finally:
        _close(device)
    print(f"cycles: {result.cycles}")
    print(f"device: {args.device}")
    if dram_out:
        dram_out.write_bytes(result.dram)
        print(f"final DRAM: {args.dram_out}")
    return 0


def _run_module(args: argparse.Namespace, outs: Outputs) -> int:
    from runtime.devices import open_device
    from runtime.executor import Executor, check_inputs
    from runtime.module import load_module

    if args.dram_out is not None:
        raise UsageError(f"--dram-out applies to a program bundle; {args.program!r} is a "
                         "compiled module (use --trace or --profile)")
    out = outs.file(args.output, "-o")
    profile = outs.file(args.profile, "--profile")
    trace = outs.file(args.trace, "--trace")
    module = load_module(args.program, config_from_args(args) if config_given(args) else None)
    if args.inputs is None:
        raise UsageError("a compiled module needs --inputs IN.npz (one array per model input: "
                         + ", ".join(f"{n} {module.tensors[n].dtype}{module.tensors[n].shape}"
                                     for n in module.inputs) + ")")
    inputs = read_npz(args.inputs, "--inputs")
    check_inputs(module, inputs)
    if out is None:
        raise UsageError("a compiled module needs -o OUT.npz for its outputs")
    prepare_device(args.device, module.config)
    device = open_device(args.device, module.config, max_cycles=args.max_cycles)
    gpu = None
    if args.gpu == "sim":
        from runtime.gpu_sim_device import GpuSimDevice

        gpu = GpuSimDevice()
    try:
        host = None
        if args.threads is not None:
            from runtime.cpu_device import CpuDevice

            host = CpuDevice(threads=args.threads)
        ex = Executor(module, device, host=host, gpu=gpu)
        try:
            run = ex.run(inputs)
        finally:
            ex.close()
    finally:
        _close(device)
    with open(out, "wb") as f:
        np.savez(f, **run.outputs)
    t = run.profile["totals"]
    print(f"samples: {t['samples']}")
    if module.programs:
        print(f"accelerator cycles: {t['accelerator_cycles']} ({t['macs_on_accelerator']} of "
              f"{t['macs_total']} MACs on the accelerator)")
        print(f"estimated latency: {t['estimated_latency_ms']:.3f} ms per sample (the "
              f"accelerator at {module.config.target_clock_mhz} MHz, the host measured)")
    else:  # no accelerator program: the clock says nothing about this module
        print(f"every step on the host: {t['estimated_latency_ms']:.3f} ms per sample measured "
              f"({t['macs_total']} MACs over {t['samples']} sample(s))")
    if t.get("link"):
        print(f"modelled over the {t['link']} link: {t['latency_ms']:.3f} ms per sample end to "
              f"end; the batch {t['pipelined_ms']:.3f} ms pipelined ({t['sequential_ms']:.3f} "
              f"ms sequential), {t['throughput_samples_per_s']:.1f} samples/s")
    print(f"device: {args.device}")
    on_gpu = sum(1 for st in module.steps if st.device == "gpu")
    if on_gpu:
        print(f"gpu: {on_gpu} step(s) on {'the SIMT emulator' if gpu else 'the CUDA GPU'}")
    print(f"outputs: {args.output} ({', '.join(module.outputs)})")
    if profile:
        profile.write_text(json.dumps(run.profile, indent=1))
        print(f"profile: {args.profile}")
        print_estimates(run.profile)
    if trace:
        trace.write_text(json.dumps(run.trace()))
        print(f"trace: {args.trace}")
    return 0


def print_estimates(profile: dict) -> None:
    """The partitioner's estimate beside the measurement, per op and for the graph, where
    the module recorded its estimates (``vta compile`` does)."""
    rows = [e for e in profile["layers"] if "estimated_s" in e]
    if not rows:
        return
    t = profile["totals"]
    if "partition_estimate_ms" in t and "latency_ms" in t:
        print(f"estimated at compile time: {t['partition_estimate_ms']:.3f} ms per sample, "
              f"measured {t['latency_ms']:.3f} ms")
    print(f"  {'op':<24}{'device':<13}{'estimated':>12}{'measured':>12}{'est/meas':>10}")
    for e in rows:
        ratio = e["estimated_s"] / e["measured_s"] if e["measured_s"] > 0 else float("inf")
        print(f"  {e['name']:<24}{e['device']:<13}{e['estimated_s'] * 1e6:>10.1f}us"
              f"{e['measured_s'] * 1e6:>10.1f}us{ratio:>10.2f}")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a program bundle (.vtab) or a compiled model (.vtam) "
                                   "on a device (sim, rtl, fpga:PORT)")
    path_arg(p, "program", kind="in:program",
             help="program bundle (.vtab) or compiled module (.vtam), told apart by content")
    p.add_argument("--device", default="sim",
                   help="sim (default), rtl, rtl:amaranth, fpga:/dev/ttyUSB0[@BAUD], fpga:sim")
    path_arg(p, "--inputs", kind="in:npz", metavar="FILE",
             help="module: the model's inputs (.npz: one array per input name, with or "
                  "without a leading axis of samples)")
    add_output_arg(p, "module: write the model's outputs (.npz, by output name)")
    path_arg(p, "--profile", kind="out:file", metavar="FILE",
             help="module: write the per-layer profile (JSON) and print each op's "
                  "compile-time estimate against its measured time")
    path_arg(p, "--trace", kind="out:file", metavar="FILE",
             help="module: write a Perfetto/Chrome trace of accelerator and host ops")
    path_arg(p, "--dram-out", kind="out:file", metavar="FILE",
             help="bundle: write the final DRAM image")
    p.add_argument("--gpu", choices=("cuda", "sim"),
                   help="module: where its GPU steps run: cuda (the machine's NVIDIA GPU, "
                        "the default) or sim (the SIMT emulator: no GPU needed)")
    p.add_argument("--max-cycles", type=positive_int, metavar="N",
                   help="give up (error) after N cycles (default: twice the simulated run "
                        "plus 1024)")
    p.add_argument("--threads", type=positive_int, metavar="N",
                   help="module: threads of the CPU kernels' pool (default: up to 2)")
    add_config_args(p)
    p.set_defaults(func=_run)
