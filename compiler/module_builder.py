"""Build a compiled module (``.vtam``) from opset operators with device assignments.

The graph lowering (and the tests) describe a model as a list of :class:`Node` in
execution order: an opset op, the device kind that runs it, which tensor feeds each of its
operands and which tensor it writes.  :func:`build_module` compiles the accelerator nodes
(consecutive ones chained into one program, :func:`compiler.api.chain`, so a tensor passed
between them never leaves device memory and the next op's loads overlap the previous op's
compute), keeps the weights of every node resident (in the program image on the
accelerator; as module constants for host kernels), plans the device memory of the
activation tensors (one arena shared by every program, tensors whose lifetimes do not
overlap sharing bytes: :mod:`compiler.memory_plan`), refuses a module that does not fit
the configured DRAM, and returns a :class:`runtime.module.Module`; :func:`write_module`
saves it atomically.

Choices made here:

* An operand produced by the previous op of the same program is read with
  ``input_halo=(0, 0)`` (the loads insert the padding), so producer and consumer agree on
  its layout; a run of accelerator ops whose hand-off layouts still differ (a conv output
  feeding a dense, say) is split into two programs, with the tensor crossing to the host
  and back.
* Inputs the host feeds to the accelerator use ActLayout or the dense layout (no im2col
  patches: the executor packs fed tensors with numpy from the module's data alone), so
  accelerator convs are compiled with ``im2col=False``.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from compiler.api import (
    ChainedProgram,
    CompiledOp,
    ScheduleProvider,
    chain,
    check_chainable,
    compile_op,
    planned_op,
)
from compiler.errors import LayoutError, OpError
from compiler.layout import ConstLayout, LayoutOptions, UopLayout
from compiler.memory_plan import Live, capacity_error, memory_plan, plan_arena
from runtime.module import (
    DEVICE_KINDS,
    MemoryPlan,
    Module,
    Program,
    Step,
    TensorInfo,
    Transfer,
    layout_to_json,
    save_module,
)
from vta_hw.bundle import link_align
from vta_hw.config import HwConfig
from vta_hw.errors import VtaError

ACTIVATION_OPERANDS = ("x", "a", "b", "residual")


@dataclass(frozen=True)
class Node:
    """One operator of the model: ``op`` run on ``device`` (accelerator, cpu or gpu);
    ``inputs`` maps each operand of ``op.inputs()`` to a tensor name (a model input, a
    constant or another node's output); ``output`` names the tensor it writes."""

    op: object
    device: str
    inputs: Mapping[str, str]
    output: str
    name: str = ""

    @property
    def step_name(self) -> str:
        return self.name or self.op.name


@dataclass(frozen=True)
class Quant:
    """Quantization parameters of one tensor: real = scale * (q - zero_point)."""

    scale: float
    zero_point: int = 0


@dataclass
class _Group:
    """A run of consecutive accelerator nodes starting at node ``start``."""

    start: int
    nodes: list[Node] = field(default_factory=list)


def _logical(shape: tuple[int, ...]) -> str:
    return {4: "NCHW", 2: "NC"}.get(len(shape), "")


def _check_nodes(nodes: Sequence[Node], constants: Mapping[str, np.ndarray]) -> dict:
    """Tensor name -> (shape, dtype), from the operands' specs; validates the wiring."""
    shapes: dict[str, tuple[tuple[int, ...], str]] = {}
    produced: set[str] = set()
    names = set()
    for n in nodes:
        if n.device not in DEVICE_KINDS:
            raise OpError(f"{n.step_name}: unknown device {n.device!r}; expected one of "
                          f"{DEVICE_KINDS}")
        if n.step_name in names:
            raise OpError(f"two nodes are named {n.step_name!r}")
        names.add(n.step_name)
        specs = {s.name: s for s in n.op.inputs()}
        if set(n.inputs) != set(specs):
            raise OpError(f"{n.step_name}: operands {sorted(n.inputs)} given, the op takes "
                          f"{sorted(specs)}")
        for operand, t in n.inputs.items():
            spec = specs[operand]
            if t in constants:
                c = np.asarray(constants[t])
                if c.shape != spec.shape or str(c.dtype) != spec.dtype:
                    raise OpError(f"{n.step_name}: constant {t!r} for {operand} is "
                                  f"{c.dtype}{c.shape}, expected {spec.dtype}{spec.shape}")
            elif t in shapes:
                have, dt = shapes[t]
                if int(np.prod(have)) != int(np.prod(spec.shape)) or dt != spec.dtype:
                    raise OpError(f"{n.step_name}: tensor {t!r} is {dt}{have}, operand "
                                  f"{operand} needs {spec.dtype}{spec.shape}")
            else:
                shapes[t] = (spec.shape, spec.dtype)
        if n.output in produced or n.output in constants:
            raise OpError(f"{n.step_name}: tensor {n.output!r} is written twice")
        out = n.op.output()
        shapes[n.output] = (out.shape, out.dtype)
        produced.add(n.output)
    return shapes


def _groups(nodes: Sequence[Node]) -> list[_Group]:
    groups: list[_Group] = []
    for i, n in enumerate(nodes):
        if n.device != "accelerator":
            continue
        if groups and groups[-1].start + len(groups[-1].nodes) == i:
            groups[-1].nodes.append(n)
        else:
            groups.append(_Group(i, [n]))
    return groups


def chain_options(reads_inner: bool) -> LayoutOptions:
    """The layout options an accelerator node is compiled with: no im2col (a chained
    program hands blocked activations from op to op), and for a node that reads a tensor
    an earlier op of its chain writes, loads that insert the padding (``input_halo=(0,
    0)``: the producer stores no halo)."""
    return LayoutOptions(im2col=False, input_halo=(0, 0) if reads_inner else None)


def _compile_run(nodes: list[Node], cfg: HwConfig, constants,
                 schedules: ScheduleProvider | None = None
                 ) -> list[list[tuple[Node, CompiledOp]]]:
    """Compile a run of consecutive accelerator nodes (schedules from ``schedules``, see
    :func:`build_module`) and split it where the hand-off layouts differ; returns the
    chains (each a list of (node, compiled op)).

    Whether a node joins the chain before it depends on its tensors' layouts alone,
    which the layout pass gives without a schedule (:func:`compiler.api.planned_op`):
    so a node that starts a new chain is compiled once, with the options it keeps (no
    ``input_halo=(0, 0)`` for a tensor it reads from the host), not first with the
    options it would have had inside the chain."""
    chains: list[list[tuple[Node, CompiledOp]]] = []
    for n in nodes:
        current = chains[-1] if chains else []
        inner = {m.output for m, _ in current}
        reads_inner = any(t in inner for t in n.inputs.values())
        options = chain_options(reads_inner)
        joins = bool(current) and _chainable(current, n, _planned(n, cfg, options, schedules),
                                             constants)
        if not joins:
            options = chain_options(False)
        c = compile_op(n.op, cfg, options=options, schedules=schedules)
        if joins:
            current.append((n, c))
        else:
            chains.append([(n, c)])
    return chains


def _planned(n: Node, cfg: HwConfig, options: LayoutOptions,
             schedules: ScheduleProvider | None) -> CompiledOp:
    """``n``'s op planned with ``options`` (its layouts only); an op the layout pass
    refuses is compiled instead, so the error is the compiler's, as without planning."""
    try:
        return planned_op(n.op, cfg, options)
    except VtaError:
        return compile_op(n.op, cfg, options=options, schedules=schedules)


def _chainable(current: list[tuple[Node, CompiledOp]], n: Node, c: CompiledOp,
               constants) -> bool:
    """Whether ``n`` (compiled or planned as ``c``) can join the chain ``current``."""
    pairs = [*current, (n, c)]
    try:
        check_chainable([op for _, op in pairs], [_names(m, op, constants) for m, op in pairs])
    except LayoutError:
        return False
    return True


def _runtime_rows(n: Node, t, constants) -> list[str] | None:
    """The module tensors of a per-channel constant tensor whose rows are all computed at
    run time (a requantization table from run-time scales), None if all are constants;
    rows mixing the two cannot be packed by either side."""
    if not isinstance(t.layout, ConstLayout):
        return None
    given = [n.inputs[r] for r in t.source]
    runtime = [g for g in given if g not in constants]
    if not runtime:
        return None
    if len(runtime) != len(given):
        raise OpError(f"{n.step_name}: per-channel rows {list(t.source)} mix constants and "
                      "run-time tensors; give all of them at run time or none")
    return given


def _names(n: Node, c: CompiledOp, constants) -> dict[str, str]:
    """Local DRAM tensor -> global name: activations by their module tensor (so a tensor
    one op writes and the next reads is one DRAM tensor), and so is a weight fed at run
    time (an activation-activation matmul's second operand) and per-channel rows computed
    at run time (named after their first row's tensor); constants left per op."""
    m = {}
    for t in c.tensors:
        if t.role == "output":
            m[t.name] = n.output
        elif (t.role == "input" and len(t.source) == 1
              and (t.source[0] in ACTIVATION_OPERANDS or t.source[0] == "w")
              and n.inputs[t.source[0]] not in constants):
            m[t.name] = n.inputs[t.source[0]]
        elif t.role == "input" and (rows := _runtime_rows(n, t, constants)) is not None:
            m[t.name] = rows[0]
    return m


def _chain(pairs: list[tuple[Node, CompiledOp]], constants) -> ChainedProgram:
    return chain([c for _, c in pairs], [_names(n, c, constants) for n, c in pairs])


@dataclass(frozen=True)
class _Draft:
    """A chained program before its bundle is built: what the memory plan needs (its
    transient tensors and their lifetimes) and what the bundle and the Program take."""

    pairs: list[tuple[Node, CompiledOp]]
    first_step: int
    cp: ChainedProgram
    per_op: list[dict[str, np.ndarray]]
    fed: list[str]
    feeds: list[Transfer]
    results: list[Transfer]
    owners: list[int]

    @property
    def last_step(self) -> int:
        return self.first_step + len(self.pairs) - 1

    def live(self, k: int) -> list[Live]:
        """The program's tensors that may share the module's arena, with their lifetimes
        in module steps (see :mod:`runtime.memory`): a fed tensor from the program's first
        step, a result to its last, any other from its writer to its last reader."""
        out = {t.tensor for t in self.results}
        lives = []
        for g in self.cp.transient(self.fed):
            users = self.cp.users(g)
            first = self.first_step if g in self.fed else self.first_step + users[0]
            last = self.last_step if g in out else self.first_step + users[-1]
            lives.append(Live(k, g, g, self.cp.tensors[g][0].layout.nbytes, first, last))
        return lives

    def program(self, arena: dict[str, int], arena_bytes: int) -> Program:
        bundle = self.cp.bundle(self.per_op, fed=self.fed, arena=arena,
                                arena_bytes=arena_bytes)
        return Program(bundle, tuple(range(self.first_step, self.last_step + 1)),
                       tuple(self.feeds), tuple(self.results), tuple(self.owners))


def _draft(pairs: list[tuple[Node, CompiledOp]], first_step: int, constants,
           consumers_outside: set[str]) -> _Draft:
    cp = _chain(pairs, constants)
    per_op = []
    fed: list[str] = []
    feeds: list[Transfer] = []
    for n, _ in pairs:
        arrays = {}
        for operand, t in n.inputs.items():
            if t in constants:
                arrays[operand] = np.asarray(constants[t])
        per_op.append(arrays)
    for g in cp.inputs:
        t, i = cp.tensors[g]
        if t.role != "input" or isinstance(t.layout, UopLayout):
            continue
        n, c = pairs[i]
        rows = _runtime_rows(n, t, constants)
        if rows is not None:  # the executor stacks the rows' tensors and packs them
            fed.append(g)
            feeds.append(Transfer(g, rows[0], {**layout_to_json(t.layout), "tensors": rows}))
            continue
        operand = t.source[0] if len(t.source) == 1 else None
        if operand is None or n.inputs.get(operand) in constants:
            continue
        fed.append(g)
        pad = int(getattr(n.op, "pad_value", 0)) if t.name == "x" else 0
        feeds.append(Transfer(g, n.inputs[operand], layout_to_json(t.layout), pad))
    results = []
    for n, c in pairs:
        if n.output in consumers_outside:
            results.append(Transfer(n.output, n.output, layout_to_json(c.output.layout)))
    bases = np.cumsum([0] + [c.stream_length for _, c in pairs]).tolist()
    owners, last = [], 0
    for node in cp.instrs:
        if node.seq >= 0:
            last = bisect.bisect_right(bases, node.seq) - 1
        owners.append(first_step + last)
    return _Draft(pairs, first_step, cp, per_op, fed, feeds, results, owners)


def _plan_programs(drafts: Sequence[_Draft], cfg: HwConfig
                   ) -> tuple[tuple[Program, ...], MemoryPlan]:
    """Place every program's transient tensors in one arena (liveness-based reuse, see
    :mod:`compiler.memory_plan`), build the bundles against it and check the module fits
    the configured DRAM."""
    align = link_align(cfg)
    lives = [t for k, d in enumerate(drafts) for t in d.live(k)]
    slots, arena_bytes, no_reuse = plan_arena(lives, align)
    programs = tuple(
        d.program({s.symbol: s.offset for s in slots if s.program == k}, arena_bytes)
        for k, d in enumerate(drafts))
    plan = memory_plan(slots, arena_bytes, no_reuse, [p.bundle for p in programs], align)
    err = capacity_error(plan, cfg, ["+".join(n.step_name for n, _ in d.pairs)
                                     for d in drafts])
    if err is not None:
        raise err
    return programs, plan


def build_module(nodes: Sequence[Node], cfg: HwConfig, *, constants: Mapping[str, np.ndarray],
                 outputs: Sequence[str], quant: Mapping[str, Quant] | None = None,
                 meta: Mapping[str, object] | None = None,
                 schedules: ScheduleProvider | None = None) -> Module:
    """Compile ``nodes`` (in execution order) into a module (see the module docstring).

    constants: weights and tables by tensor name.  outputs: the model's output tensors;
    its inputs are the tensors no node writes and no constant holds, in first-use order.
    quant: quantization parameters of the tensors that have them.  schedules: where each
    accelerator op's schedule comes from (``compile_op``'s provider, a tuning log's best;
    None: the heuristic)."""
    nodes = list(nodes)
    constants = {k: np.asarray(v, order="C") for k, v in constants.items()}  # 0-d stays 0-d
    quant = dict(quant or {})
    shapes = _check_nodes(nodes, constants)
    written = {n.output for n in nodes}
    inputs = tuple(t for t in shapes if t not in written)
    for o in outputs:
        if o not in written:
            raise OpError(f"model output {o!r} is not written by any node")
    # compile: consecutive accelerator nodes, split where layouts differ
    order: list[list[tuple[Node, CompiledOp]]] = []
    for g in _groups(nodes):
        order += _compile_run(g.nodes, cfg, constants, schedules)
    index = {id(n): i for i, n in enumerate(nodes)}
    drafts, prog_of = [], {}
    for pairs in order:
        members = {id(n) for n, _ in pairs}
        inner_outputs = {n.output for n, _ in pairs}
        outside = {t for m in nodes if id(m) not in members for t in m.inputs.values()}
        outside |= set(outputs)
        k = len(drafts)
        drafts.append(_draft(pairs, index[id(pairs[0][0])], constants,
                             outside & inner_outputs))
        for n, _ in pairs:
            prog_of[id(n)] = k
    programs, plan = _plan_programs(drafts, cfg)
    steps = tuple(Step(n.step_name, n.op, n.device, dict(n.inputs), n.output,
                       prog_of.get(id(n))) for n in nodes)
    tensors = {}
    for name in [*constants, *shapes]:
        if name in tensors:
            continue
        if name in constants:
            shape, dtype, role = tuple(constants[name].shape), str(constants[name].dtype), "const"
        else:
            shape, dtype = shapes[name]
            role = ("input" if name in inputs else "output" if name in outputs
                    else "activation")
        q = quant.get(name)
        tensors[name] = TensorInfo(name, tuple(shape), dtype, role,
                                   None if q is None else float(q.scale),
                                   None if q is None else int(q.zero_point), _logical(shape))
    used = {t for n in nodes for t in n.inputs.values()}
    unused = sorted(set(constants) - used)
    if unused:
        raise OpError(f"constant(s) {unused} are not used by any node")
    return Module(cfg, tensors, inputs, tuple(outputs), steps, programs, constants,
                  dict(meta or {}), plan)


def write_module(path: str | os.PathLike, nodes: Sequence[Node], cfg: HwConfig, **kw) -> Path:
    """:func:`build_module` and save it atomically to ``path``."""
    return save_module(build_module(nodes, cfg, **kw), path)


__all__ = ["Node", "Quant", "build_module", "chain_options", "write_module"]
