"""Time ops the way the graph executor runs them: inside a module, between other steps.

Timed back to back in a tight loop (a kernel's data, code and thread pool hot) the llvmlite
kernels ran faster than the executor's profile reports them inside a model, and how much
depends on what ran before: right after an accelerator program (the simulator's Python and
numpy work evicts the caches, the kernel's idle worker thread must be woken) a small conv
took 2x its time after another host kernel.  The boundary work is the same story:
``pack_host`` of a 2 KB tensor took 17 us alone and 30-55 us inside the executor.  So the
CPU model is calibrated from measurements of the executor itself
(:func:`measure_in_executor`): one module whose steps are first the ops measured, one
after another on the CPU (as a run of host kernels), then, for each boundary shape, quantize
steps, an accelerator program of one or two int8 ReLUs (its feeds packed and its results
unpacked on the host) and dequantize steps, with a probe kernel or a dequantize first after
the program and again after a host step (what a program costs the host step that follows
it).  The module runs ``rounds`` times (every step once per round, in turn) and each step's
time is its least over the rounds (the least disturbed by other processes on a shared
machine).  What is read is the executor's own profile: each host step's ``seconds`` and the
``pack``/``unpack`` host stages of each program, so a change to how the executor runs host
steps changes the calibration with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# activations (C, H) of the accelerator programs and host steps that give the pack, unpack
# and host-step samples: 256 B to 200 KB (tiny test models to ImageNet layers)
BOUNDARY_SHAPES = ((4, 8), (16, 8), (16, 16), (16, 32), (64, 28), (64, 56))
CONSTANT_ROLES = ("w", "bias", "multiplier", "shift")


def _probe():
    """A small conv (8 -> 8 channels, 3x3, 16x16: a test model's layer) timed warm, after
    other kernels, and cold, first after an accelerator program."""
    from opset import Conv2d, Epilogue, Requant

    return Conv2d(1, 8, 16, 16, 8, 3, 3, pad=1, epilogue=Epilogue(requant=Requant(1, 8)),
                  name="cal_probe")


@dataclass(frozen=True)
class ExecutorTimes:
    """Least seconds over the rounds: ``ops`` one per op measured, in order; ``pack`` and
    ``unpack`` as ``(tensors, blocked + NCHW bytes of them all, seconds)`` per program (a
    program's feeds are packed in one host stage, its results unpacked in one, so the
    samples of one- and two-tensor programs separate the stage's own cost from each
    tensor's); ``host`` as ``(bytes, seconds)``, the mean of a quantize and a dequantize
    step of one shape (float32 and int8: 5 bytes an element, as ``compiler.graph.lower``
    prices a host step), each after another host step; ``after_program``: how much longer
    the first host step after an accelerator program takes than the same step after a
    host step (the mean of a dequantize's and a small conv kernel's, each the median over
    the programs: the simulator's run leaves the host's caches cold)."""

    ops: tuple[float, ...]
    pack: tuple[tuple[int, float, float], ...]
    unpack: tuple[tuple[int, float, float], ...]
    host: tuple[tuple[float, float], ...]
    after_program: float = 0.0


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
    config; the boundary programs take every shape of ``shapes`` with one and with two
    tensors."""
    from compiler.module_builder import Node, build_module
    from opset import ActLayout, AluStep, Elementwise
    from runtime.devices import open_device
    from runtime.executor import Executor
    from runtime.module import HostOp
    from vta_hw.config import DEFAULT

    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    rng = np.random.default_rng(seed)
    nodes, consts, inputs = [], {}, {}

    def cpu_node(op, name: str) -> None:
        wiring = {}
        for spec, arr in zip(op.inputs(), random_inputs(op, rng), strict=True):
            t = f"{name}.{spec.name}"
            (consts if spec.name in CONSTANT_ROLES else inputs)[t] = arr
            wiring[spec.name] = t
        nodes.append(Node(op, "cpu", wiring, f"{name}.out", name))

    # the ops one after another, as in a run of host kernels; then the probe kernel warm
    for k, op in enumerate(ops):
        cpu_node(op, f"op{k}")
    cpu_node(_probe(), "probe")
    boundary = []
    for k, ((c, h), width) in enumerate((s, w) for s in shapes for w in (1, 2)):
        shape = (1, c, h, h)
        tags = [f"{k}{'ab'[i]}" for i in range(width)]
        for t in tags:
            inputs[f"b{t}.in"] = rng.standard_normal(shape).astype(np.float32)
            nodes.append(Node(HostOp("quantize", f"q{t}", shape, scale=0.05), "cpu",
                              {"x": f"b{t}.in"}, f"b{t}.q", f"q{t}"))
        # consecutive accelerator nodes: one program with ``width`` feeds and results
        nodes += [Node(Elementwise(shape, (AluStep("max", 0),), name=f"relu{t}"),
                       "accelerator", {"a": f"b{t}.q"}, f"b{t}.r", f"relu{t}") for t in tags]
        if width == 2:  # the probe kernel first after the program: cold
            cpu_node(_probe(), f"probe{k}")
        nodes += [Node(HostOp("dequantize", f"dq{t}", shape, scale=0.05), "cpu",
                       {"x": f"b{t}.r"}, f"b{t}.out", f"dq{t}") for t in tags]
        # the first dequantize again, now after a host step (with one tensor the first
        # dequantize is the first host step after the program: cold)
        nodes.append(Node(HostOp("dequantize", f"dqw{k}", shape, scale=0.05), "cpu",
                          {"x": f"b{tags[0]}.r"}, f"b{k}.warm", f"dqw{k}"))
        n = c * h * h
        work = float(ActLayout(1, c, h, h, DEFAULT.block_out, DEFAULT.batch).nbytes + n)
        boundary.append((k, tags, work, n))
    outputs = [n.output for n in nodes if n.name.startswith(("op", "dq", "probe"))]
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
    pack, unpack, host, cold_step, cold_kernel = [], [], [], [], []
    for k, tags, work, n in boundary:
        prog = "+".join(f"relu{t}" for t in tags)
        pack.append((len(tags), work * len(tags), best[f"pack {prog}"]))
        unpack.append((len(tags), work * len(tags), best[f"unpack {prog}"]))
        host += [(5.0 * n, (best[f"q{t}"] + best[f"dqw{k}"]) / 2) for t in tags]
        if len(tags) == 1:
            cold_step.append(best[f"dq{tags[0]}"] - best[f"dqw{k}"])
        else:
            cold_kernel.append(best[f"probe{k}"] - best["probe"])
    # the first host step after a program: a numpy step or a kernel, as often as not
    after = (float(np.median(cold_step)) + float(np.median(cold_kernel))) / 2
    return ExecutorTimes(tuple(best[f"op{k}"] for k in range(len(ops))), tuple(pack),
                         tuple(unpack), tuple(host), after)


__all__ = ["ExecutorTimes", "measure_in_executor", "random_inputs", "BOUNDARY_SHAPES",
           "CONSTANT_ROLES"]
