"""Time ops the way the graph executor runs them: inside a module, between other steps.

Timed back to back (a kernel's data, code and thread pool hot) the llvmlite kernels ran
1.5-3x faster than the executor's profile reports them inside a model: there each host
kernel follows an accelerator program (the simulator's Python and numpy work evicts the
caches, the kernel's idle worker thread must be woken) or a numpy host step, and the
executor copies its operands in and out around it.  The boundary work is the same story:
``pack_host`` of a 2 KB tensor took 17 us alone and 35-55 us inside the executor.  So the
CPU model is calibrated from measurements of the executor itself (:func:`measure_in_executor`):
one module whose steps are, for every op measured, the op on the CPU, then a quantize step,
a one-op accelerator program (an int8 ReLU, so its feed is packed and its result unpacked
on the host) and a dequantize step -- the same alternation of host kernels, numpy host steps
and accelerator programs a partitioned model has.  The module runs ``rounds`` times (every
step once per round, in turn) and each step's time is its least over the rounds (the
least disturbed by other processes on a shared machine).  What is read is the executor's
own profile: each host step's ``seconds`` and the ``pack``/``unpack`` host stages of each
program, so a change to how the executor runs host steps changes the calibration with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# activations (C, H) of the accelerator programs and host steps that give the pack, unpack
# and host-step samples: 256 B to 200 KB (tiny test models to ImageNet layers)
BOUNDARY_SHAPES = ((4, 8), (16, 8), (16, 16), (16, 32), (64, 28), (64, 56))
CONSTANT_ROLES = ("w", "bias", "multiplier", "shift")


@dataclass(frozen=True)
class ExecutorTimes:
    """Least seconds over the rounds: ``ops`` one per op measured, in order; ``pack`` and
    ``unpack`` as ``(blocked + NCHW bytes, seconds)`` per boundary shape; ``host`` as
    ``(bytes, seconds)``, the mean of a quantize and a dequantize step of that shape (float32
    and int8: 5 bytes an element, as ``compiler.graph.lower`` prices a host step)."""

    ops: tuple[float, ...]
    pack: tuple[tuple[float, float], ...]
    unpack: tuple[tuple[float, float], ...]
    host: tuple[tuple[float, float], ...]


def random_inputs(op, rng: np.random.Generator) -> list[np.ndarray]:
    """Random operands of an opset op (int8 in range, int32 tables in a small range)."""
    out = []
    for s in op.inputs():
        lo, hi = (-128, 128) if s.dtype == "int8" else (-1000, 1000)
        out.append(rng.integers(lo, hi, s.shape).astype(np.dtype(s.dtype)))
    return out


def measure_in_executor(ops: Sequence, rounds: int = 8, *, seed: int = 0,
                        shapes: Sequence[tuple[int, int]] = BOUNDARY_SHAPES) -> ExecutorTimes:
    """Run ``ops`` (opset ops the CPU runs) through the executor as described in the
    module docstring, with the accelerator programs on the simulator of the ``default``
    config.  The boundary after op ``k`` has shape ``shapes[k]``, the first one beyond
    them (so every shape is sampled once, the small first one most, and the simulator
    does not spend the calibration's time on large ReLUs)."""
    from compiler.module_builder import Node, build_module
    from opset import ActLayout, AluStep, Elementwise
    from runtime.devices import open_device
    from runtime.executor import Executor
    from runtime.host_ops import HostOp
    from vta_hw.config import DEFAULT

    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    rng = np.random.default_rng(seed)
    nodes, consts, inputs = [], {}, {}
    count = max(len(ops), len(shapes))
    boundary = []
    for k in range(count):
        if k < len(ops):
            op = ops[k]
            wiring = {}
            for spec, arr in zip(op.inputs(), random_inputs(op, rng), strict=True):
                t = f"op{k}.{spec.name}"
                (consts if spec.name in CONSTANT_ROLES else inputs)[t] = arr
                wiring[spec.name] = t
            nodes.append(Node(op, "cpu", wiring, f"op{k}.out", f"op{k}"))
        c, h = shapes[k] if k < len(shapes) else shapes[0]
        shape = (1, c, h, h)
        inputs[f"b{k}.in"] = rng.standard_normal(shape).astype(np.float32)
        nodes += [
            Node(HostOp("quantize", f"q{k}", shape, scale=0.05), "cpu", {"x": f"b{k}.in"},
                 f"b{k}.q", f"q{k}"),
            Node(Elementwise(shape, (AluStep("max", 0),), name=f"relu{k}"), "accelerator",
                 {"a": f"b{k}.q"}, f"b{k}.r", f"relu{k}"),
            Node(HostOp("dequantize", f"dq{k}", shape, scale=0.05), "cpu", {"x": f"b{k}.r"},
                 f"b{k}.out", f"dq{k}"),
        ]
        n = c * h * h
        boundary.append((ActLayout(1, c, h, h, DEFAULT.block_out, DEFAULT.batch).nbytes, n))
    outputs = [n.output for n in nodes if n.name.startswith(("op", "dq"))]
    module = build_module(nodes, DEFAULT, constants=consts, outputs=outputs)
    best: dict[str, float] = {}
    ex = Executor(module, open_device("sim", DEFAULT))
    try:
        for _ in range(rounds + 1):  # a first round warms up (page faults, caches)
            run = ex.run(inputs)
            seen = {e["name"]: e["seconds"] for e in run.profile["layers"] if "seconds" in e}
            seen |= {ev["name"]: ev["dur"] * 1e-6 for ev in run.events
                     if ev.get("ph") == "X" and ev["name"].startswith(("pack ", "unpack "))}
            if not best:
                best = dict.fromkeys(seen, np.inf)
                continue
            for name, s in seen.items():
                best[name] = min(best[name], s)
    finally:
        ex.close()
    return ExecutorTimes(
        tuple(best[f"op{k}"] for k in range(len(ops))),
        tuple((float(b + n), best[f"pack relu{k}"]) for k, (b, n) in enumerate(boundary)),
        tuple((float(b + n), best[f"unpack relu{k}"]) for k, (b, n) in enumerate(boundary)),
        tuple((5.0 * n, (best[f"q{k}"] + best[f"dq{k}"]) / 2)
              for k, (_, n) in enumerate(boundary)))


__all__ = ["ExecutorTimes", "measure_in_executor", "random_inputs", "BOUNDARY_SHAPES",
           "CONSTANT_ROLES"]
