"""The graph executor: runs a compiled module over the runtime's devices.

:class:`Executor` loads a :class:`~runtime.module.Module` once: every accelerator program
is linked into memory the accelerator device allocated (weights, micro-op kernels and
instructions resident: on the board they cross the UART once), and the CPU steps are
compiled into a host program (:mod:`runtime.host_program`): every step with a generated
kernel a call on buffers allocated at load, constants bound (weights packed) once, ReLU /
ReLU6 / residual adds fused into the producing kernel; the rest run in numpy.  Each sample then
runs the steps in order; a tensor moves between devices only at a device boundary, packed
into (or unpacked from) the blocked layout the program declares, and tensors passed
between the ops of one chained program never leave device memory.

The profile (one sample or a batch) has ``layers``, one entry per executed op (name, op
kind, device, macs, ``cycles`` on the accelerator or ``seconds`` on a host device,
``bytes_in``/``bytes_out`` copied across the device boundary), summed over the samples,
and ``totals`` (``accelerator_cycles``, ``macs_total``, ``macs_on_accelerator``,
``host_seconds``, ``samples`` and ``estimated_latency_ms``: per sample, accelerator cycles
at the config's ``target_clock_mhz`` plus host seconds, run one after the other, without
copies or layout packing).  Where the module records the partitioner's estimates
(``meta["estimates"]``, written by ``vta compile``), each layer also has ``estimated_s`` and
``measured_s`` (per sample) and the totals ``partition_estimate_ms``, the estimate of
``latency_ms``.

The batch's pipelined schedule (:mod:`runtime.pipeline`): each sample is a chain of
stages -- host steps and the packing/unpacking of a program's boundary tensors (measured),
and per program launch one accelerator stage: its copies over the device's link
(``Device.link_profile``, :mod:`runtime.links`) and its cycles at the target clock
(modelled).  A two-resource list schedule lets the accelerator run sample *i* while the
host runs sample *i-1*; a batch's is checked (:func:`runtime.pipeline.check_schedule`; one
sample's is its stages back to back, built directly) and gives
``totals``' ``latency_ms`` (one sample alone, end to end), ``sequential_ms`` and
``pipelined_ms`` (the batch), ``throughput_samples_per_s``, ``busy_ms`` per resource and
``link``.  Those figures are modelled (accelerator clock, measured host time, modelled
link), whatever the run's wall time.

The run itself overlaps too (``overlap=True``, the default, for a batch of more than one
sample on a module with accelerator programs; :mod:`runtime.overlap`): two samples are in
flight, each on its own host buffers (:meth:`runtime.host_program.HostProgram.replica`),
and while one worker thread runs sample *i*'s program on the device (copy in, launch,
synchronize, copy out: one serialized unit, since the programs share one arena) the
calling thread runs sample *i-1*'s (or *i+1*'s) host steps, packing and unpacking.  The
outputs and the profile's layers are exactly those of ``overlap=False`` (one sample after
another on the calling thread).

Per-op cycles of a chained program: where the device returns the simulator's
instruction records (``sim``), op *i* is charged the cycles from the retirement of op
*i-1*'s last instruction to that of its own (the ops' completions are ordered, so the
entries add up to the program's cycles exactly, while an op's loads that overlap the
previous op's compute are charged to the previous op).  Other devices (``rtl``,
``fpga``) report only the program's total: the program is then one entry, named by its
ops joined with ``+``.

Device memory follows the module's plan (:mod:`runtime.memory`): the executor refuses a
module larger than the device's memory, allocates the activation arena once and links
every program against it, so the programs' activations share bytes as planned; the
profile's ``memory`` reports the resident and arena bytes and what the arena would be
with no reuse.

The profile and the trace are built when first read, from what the run recorded (per
host step only its entry's sums and a (name, op, seconds) record on the hot path): a run
whose report nobody reads pays for neither.

The trace (:meth:`ModelRun.trace`) puts accelerator programs (and their ops, and their
link copies) and host ops (and layout packing) on one Chrome/Perfetto timeline, in
microseconds of the pipelined schedule.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np

from runtime.device import Buffer, Device, DeviceError, LaunchResult, LoadedProgram
from runtime.gpu_runner import GpuKernel, free_gpu_step, load_gpu_steps, open_gpu, run_gpu_step
from runtime.host_program import HostCall, HostProgram
from runtime.links import LinkProfile
from runtime.module import Module, ModuleError, Program, Step, pack_host, unpack_host
from runtime.overlap import run_overlapped, run_sequential
from runtime.pipeline import (
    ACCELERATOR,
    HOST,
    Slot,
    Stage,
    check_schedule,
    list_schedule,
    pipeline_totals,
    sequential_schedule,
    trace_events,
)
from vta_hw.errors import VtaError


class InputError(VtaError, ValueError):
    """Inputs that do not match the model's inputs (missing, misshaped, wrong dtype)."""


class ModelRun:
    """Outputs by model output name (with the sample axis when the inputs had one), the
    profile (see the module docstring) and the trace events.  The profile and the events
    are built from the run's measurements on first read, each once: a run whose report
    nobody reads does not pay for its schedule (the same figures whenever it is read)."""

    def __init__(self, outputs: dict[str, np.ndarray], report: _Report) -> None:
        self.outputs = outputs
        self._report = report

    @property
    def profile(self) -> dict[str, Any]:
        return self._report.profile

    @property
    def events(self) -> list[dict[str, Any]]:
        return self._report.events

    def trace(self) -> dict[str, Any]:
        return {"traceEvents": self.events, "displayTimeUnit": "ns"}

    def __repr__(self) -> str:
        return f"ModelRun(outputs={sorted(self.outputs)})"


# A host step's stage as the hot path records it: (name, op kind, seconds); the report
# turns it into its pipeline Stage (and trace slice) only when it is read.
_HostRecord = tuple[str, str, float]


class _Report:
    """One run's profile and trace, built lazily from what the run recorded: the layers'
    entries (summed over samples), each sample's chain of stages (host steps as
    :data:`_HostRecord`), and the executor's fixed facts (module, clock, link, device)."""

    def __init__(self, ex: Executor, layers: dict[str, dict[str, Any]],
                 chains: list[list[Stage | _HostRecord]]) -> None:
        self._ex = ex
        self._layers = layers
        self._chains = chains

    @cached_property
    def stages(self) -> list[list[Stage]]:
        return [[_host_stage(*r) if isinstance(r, tuple) else r for r in chain]
                for chain in self._chains]

    @cached_property
    def slots(self) -> tuple[Slot, ...]:
        """The batch's pipelined schedule.  One sample's list schedule is its stages one
        after the other (each waits for the previous, whatever the resource), so it is
        built directly; a batch's is listed and checked (runtime.pipeline)."""
        if len(self.stages) == 1:
            return sequential_schedule(self.stages)
        slots = list_schedule(self.stages)
        check_schedule(self.stages, slots)
        return slots

    @cached_property
    def profile(self) -> dict[str, Any]:
        ex = self._ex
        profile = ex._profile(list(self._layers.values()), len(self._chains))
        profile["totals"].update(pipeline_totals(self.stages, self.slots),
                                 link=ex.link.name if ex.link else None)
        return profile

    @cached_property
    def events(self) -> list[dict[str, Any]]:
        return self._ex._trace_header() + trace_events(self.slots)


class Executor:
    """A module loaded on ``device`` (an open accelerator device) and the host CPU.

    ``host``: the CPU device for host steps (default: one is opened when the module has
    any); ``gpu``: the GPU for the module's GPU steps (default: the machine's first CUDA
    GPU, opened when the module has any; :mod:`runtime.gpu_runner`); ``overlap``: run a
    batch with two samples in flight (see the module docstring; False: one after another,
    the reference the overlapped run matches exactly).  Counters:
    ``loaded_bytes`` (written once at load), ``copied_in_bytes`` / ``copied_out_bytes``
    (per-run transfers, both directions and devices)."""

    def __init__(self, module: Module, device: Device, *, host: Device | None = None,
                 gpu: Device | None = None, overlap: bool = True) -> None:
        self.module = module
        self.overlap = overlap
        self._replicas: list[HostProgram] = []
        self.device = device
        self.cfg = module.config
        self.loaded_bytes = 0
        self.copied_in_bytes = 0
        self.copied_out_bytes = 0
        self.handles: list[LoadedProgram] = []
        self.arena: Buffer | None = None
        plan = module.memory
        if plan is not None and module.programs:
            cap = device.memory_bytes
            if cap is not None and plan.total_bytes > cap:
                raise DeviceError(
                    f"{device.name}: the module needs {plan.total_bytes} bytes of device "
                    f"memory ({plan.resident_bytes} programs and weights + {plan.arena_bytes} "
                    f"activation arena), the device has {cap}")
            if plan.arena_bytes:
                self.arena = device.allocate(plan.arena_bytes)
        for p in module.programs:
            self.handles.append(device.load(p.bundle, arena=self.arena) if self.arena
                                else device.load(p.bundle))
            self.loaded_bytes += len(p.bundle.dram)
        self.gpu, self.gpu_kernels = _load_gpu_steps(module, gpu)
        self.loaded_bytes += sum(k.resident_bytes for k in self.gpu_kernels.values())
        self.host = host
        self.link = device.link_profile
        if self.link is None and module.programs:
            raise DeviceError(f"{device.name}: the device reports no link_profile "
                              "(runtime.links), so its copies cannot be modelled")
        self.host_program: HostProgram | None = None
        if any(s.device == "cpu" for s in module.steps):
            if self.host is None:
                from runtime.cpu_device import CpuDevice

                self.host = CpuDevice()
            backend = getattr(self.host, "backend", None)
            if backend is None:
                raise DeviceError(f"host device {self.host.name!r} has no CPU kernel backend "
                                  "(expected a runtime.cpu_device.CpuDevice)")
            # every CPU step with a generated kernel, compiled with its constants bound
            # (weights packed) and its buffers allocated: runtime.host_program
            self.host_program = HostProgram(module, backend)
            self.loaded_bytes += self.host_program.loaded_bytes
        self._macs = [s.macs for s in module.steps]
        self._routes = _routes(module, self.gpu_kernels)

    @property
    def kernels(self) -> dict[int, HostCall]:
        """The compiled CPU steps by step index (the rest of the host steps run in numpy)."""
        return self.host_program.calls if self.host_program is not None else {}

    def close(self) -> None:
        """Release the programs' device memory and the host buffers."""
        for h in reversed(self.handles):  # newest first: a bump allocator shrinks
            self.device.free(h.image)
        self.handles = []
        if self.arena is not None:
            self.device.free(self.arena)
            self.arena = None
        self.host_program = None
        self._replicas = []
        for g in self.gpu_kernels.values():
            free_gpu_step(self.gpu, g)
        self.gpu_kernels = {}

    # ------------------------------------------------------------------ running
    def run(self, inputs: Mapping[str, Any]) -> ModelRun:
        """Run every sample; outputs keep the sample axis when the inputs had one.  With
        ``overlap`` and more than one sample, two samples are in flight
        (:mod:`runtime.overlap`); the outputs and profile are those of the sequential run."""
        samples, batched = check_inputs(self.module, inputs)
        layers: dict[str, dict[str, Any]] = {}
        chains: list[list[Stage | _HostRecord]] = [[] for _ in samples]
        overlap = self.overlap and len(samples) > 1 and bool(self.module.programs)
        progs = self._host_slots(2 if overlap else 1)

        def start(k: int) -> Any:
            return lambda slot: self._sample(samples[k], progs[slot], layers, chains[k])

        starts = [start(k) for k in range(len(samples))]
        if overlap:
            envs = run_overlapped(starts, self._accelerate)
        else:
            envs = run_sequential(starts, self._accelerate)
        outs = {n: [e[n] for e in envs] for n in self.module.outputs}
        outputs = {n: (np.stack(v) if batched else v[0]) for n, v in outs.items()}
        return ModelRun(outputs, _Report(self, layers, chains))

    def _host_slots(self, n: int) -> list[HostProgram | None]:
        """The host programs of ``n`` samples in flight: the loaded one, then replicas with
        their own buffers on the same bound kernels (made on first use, kept)."""
        prog = self.host_program
        if prog is None:
            return [None] * n
        while len(self._replicas) < n - 1:
            self._replicas.append(prog.replica())
        return [prog, *self._replicas[:n - 1]]

    def _sample(self, sample, prog: HostProgram | None, layers, stages):
        """One sample's steps in order, as a job of :mod:`runtime.overlap`: it yields each
        accelerator program's (index, packed feeds) and receives its launch result and raw
        results; it returns the model outputs (copies: host buffers are reused)."""
        m = self.module
        env: dict[str, np.ndarray] = {**m.constants, **sample}
        for route, i in self._routes:
            if route is _HOST:
                self._run_host(i, prog, env, layers, stages)
            elif route is _GPU:
                self._run_gpu(i, env, layers, stages)
            else:
                yield from self._run_program(i, m.programs[i], env, layers, stages)
        return {n: np.array(env[n], copy=True) for n in m.outputs}

    def _accelerate(self, request: tuple[int, list[tuple[Any, np.ndarray]]]
                    ) -> tuple[LaunchResult, list[tuple[Any, bytes]]]:
        """One program on the accelerator, a serialized unit (the activation arena holds
        one program): copy the packed feeds in, launch, synchronize, copy the results out.
        Runs on the overlap's worker thread, the only one using the device then."""
        index, packed = request
        handle, p = self.handles[index], self.module.programs[index]
        for t, data in packed:
            self.device.copy_in(handle.buffer(t.symbol), data)
        result = self.device.launch(handle)
        done = self.device.synchronize()
        result = result if result is not None else done
        assert isinstance(result, LaunchResult) and result.cycles is not None
        return result, [(t, self.device.copy_out(handle.buffer(t.symbol))) for t in p.results]

    def _run_program(self, index: int, p: Program, env, layers,
                     stages: list[Stage | _HostRecord]):
        """Pack the feeds (host), copy in, run and copy out (the accelerator and its link:
        yielded to the job's driver), unpack the results (host): three stages of the
        sample's chain."""
        m = self.module
        name = "+".join(m.steps[i].name for i in p.steps)
        t0 = time.perf_counter()
        packed = [(t, pack_host(t.layout, _fed(t.layout, t.tensor, env), t.pad_value))
                  for t in p.feeds]
        pack_s = time.perf_counter() - t0
        result, raws = yield index, packed
        bytes_in: dict[int, int] = {}
        for t, data in packed:
            self.copied_in_bytes += data.nbytes
            owner = next(i for i in p.steps if t.tensor in m.steps[i].inputs.values())
            bytes_in[owner] = bytes_in.get(owner, 0) + data.nbytes
        bytes_out: dict[int, int] = {}
        for t, raw in raws:
            self.copied_out_bytes += len(raw)
            owner = next(i for i in p.steps if m.steps[i].output == t.tensor)
            bytes_out[owner] = bytes_out.get(owner, 0) + len(raw)
        t0 = time.perf_counter()
        for t, raw in raws:
            env[t.tensor] = unpack_host(t.layout, raw).reshape(m.tensors[t.tensor].shape)
        unpack_s = time.perf_counter() - t0
        spans = _attribute(p, result)
        assert self.link is not None
        ops = None if spans is None else [(m.steps[i], lo, hi)
                                          for i, (lo, hi) in zip(p.steps, spans, strict=True)]
        stages += _program_stages(name, index, self.link, self.cfg.target_clock_mhz,
                                  result.cycles, ops, [d.nbytes for _, d in packed],
                                  [len(r) for _, r in raws], pack_s, unpack_s)
        if spans is None:
            steps = [m.steps[i] for i in p.steps]
            entry = _entry(layers, "+".join(s.name for s in steps),
                           "+".join(s.op.kind for s in steps), self.device.name,
                           sum(s.macs for s in steps))
            entry["cycles"] += result.cycles
            entry["bytes_in"] += sum(bytes_in.values())
            entry["bytes_out"] += sum(bytes_out.values())
        else:
            for i, (lo, hi) in zip(p.steps, spans, strict=True):
                s = m.steps[i]
                entry = _entry(layers, s.name, s.op.kind, self.device.name, s.macs)
                entry["cycles"] += hi - lo
                entry["bytes_in"] += bytes_in.get(i, 0)
                entry["bytes_out"] += bytes_out.get(i, 0)

    def _run_host(self, i: int, prog: HostProgram | None, env, layers,
                  stages: list[Stage | _HostRecord]) -> None:
        """A host step: its compiled call (the hot path of a CPU model: the call, its
        entry and its stage record), or the kernel it is fused into, or numpy."""
        call = prog.calls.get(i) if prog is not None else None
        if call is not None:
            t0 = time.perf_counter()
            call.run(env)
            secs = time.perf_counter() - t0
            entry = layers.get(call.name)
            if entry is None:
                entry = self._call_entry(layers, i, call)
            entry["macs"] += self._macs[i]
            entry["seconds"] += secs
            stages.append((call.name, call.op_kind, secs))
        elif prog is not None and i in prog.fused_into:
            # computed by the kernel of the step it is fused into
            s = self.module.steps[i]
            entry = _entry(layers, s.name, s.op.kind, "cpu", self._macs[i], host=True)
            entry["fused_into"] = self.module.steps[prog.fused_into[i]].name
        else:
            self._run_boundary(self.module.steps[i], env, layers, stages)

    def _call_entry(self, layers: dict[str, dict[str, Any]], i: int, call: HostCall
                    ) -> dict[str, Any]:
        """The profile entry of step ``i``'s compiled call, created on its first run."""
        s = self.module.steps[i]
        entry = _entry(layers, s.name, s.op.kind, "cpu", 0, host=True)
        if call.fused:
            entry["fused"] = [self.module.steps[j].name for j in call.fused]
        return entry

    def _run_gpu(self, i: int, env, layers, stages: list[Stage | _HostRecord]) -> None:
        """A GPU step: copies over PCIe, kernels, synchronize (measured; on the host's
        resource of the pipelined schedule, since the host waits for it)."""
        k, s = self.gpu_kernels[i], self.module.steps[i]
        t = self.module.tensors[s.output]
        env[s.output], secs, nin, nout = run_gpu_step(self.gpu, k, env, t.dtype, t.shape)
        self.copied_in_bytes += nin
        self.copied_out_bytes += nout
        entry = _entry(layers, s.name, s.op.kind, "gpu", s.macs, host=True)
        entry["seconds"] += secs
        entry["bytes_in"] += nin
        entry["bytes_out"] += nout
        stages.append((s.name, s.op.kind, secs))

    def _run_boundary(self, s: Step, env, layers,
                      stages: list[Stage | _HostRecord]) -> None:
        """A host step in numpy (a boundary, a float island, an int8 move): no device
        copy; its MACs count (a float convolution's) in the profile's totals."""
        t0 = time.perf_counter()
        xs = [env[s.inputs[spec.name]] for spec in s.op.inputs()]
        env[s.output] = s.op.run(*xs)
        secs = time.perf_counter() - t0
        entry = _entry(layers, s.name, s.op.kind, "cpu", s.macs, host=True)
        entry["seconds"] += secs
        entry["bytes_in"] += sum(int(np.asarray(x).nbytes) for x in xs)
        entry["bytes_out"] += int(env[s.output].nbytes)
        stages.append((s.name, s.op.kind, secs))

    # ------------------------------------------------------------------ reports
    def _trace_header(self) -> list[dict[str, Any]]:
        return [{"name": "process_name", "ph": "M", "pid": 0,
                 "args": {"name": f"accelerator {self.device.name} ({self.cfg.name}, "
                                  f"{self.cfg.target_clock_mhz} MHz)"}},
                {"name": "thread_name", "ph": "M", "pid": 0, "tid": 0,
                 "args": {"name": "programs"}},
                {"name": "thread_name", "ph": "M", "pid": 0, "tid": 1,
                 "args": {"name": "ops"}},
                {"name": "thread_name", "ph": "M", "pid": 0, "tid": 2,
                 "args": {"name": f"link copies ({self.link.name if self.link else '-'})"}},
                {"name": "process_name", "ph": "M", "pid": 1, "args": {"name": "host cpu"}},
                {"name": "thread_name", "ph": "M", "pid": 1, "tid": 0,
                 "args": {"name": "host ops"}},
                {"name": "thread_name", "ph": "M", "pid": 1, "tid": 1,
                 "args": {"name": "layout pack/unpack"}}]

    def _profile(self, layers: list[dict[str, Any]], samples: int) -> dict[str, Any]:
        _estimates(layers, self.module.meta, self.cfg.target_clock_mhz, samples)
        acc = [e for e in layers if "cycles" in e]
        cycles = sum(e["cycles"] for e in acc)
        host = sum(e["seconds"] for e in layers if "seconds" in e)
        macs = sum(e["macs"] for e in layers)
        latency = (cycles / (self.cfg.target_clock_mhz * 1e3) + host * 1e3) / samples
        memory = self.module.memory
        est = self.module.meta.get("estimated_latency_s")
        return {"layers": layers, "totals": {
            "accelerator_cycles": cycles, "macs_total": macs,
            "macs_on_accelerator": sum(e["macs"] for e in acc), "host_seconds": host,
            "samples": samples, "clock_mhz": self.cfg.target_clock_mhz,
            "estimated_latency_ms": latency,
            **({"partition_estimate_ms": est * 1e3} if est is not None else {})},
            **({"memory": memory.summary()} if memory is not None else {})}


_HOST, _GPU, _ACCELERATOR = "host", "gpu", "accelerator"


def _routes(module: Module, gpu_steps: Mapping[int, Any]) -> tuple[tuple[str, int], ...]:
    """A sample's walk over the module, fixed at load: (route, index) per host or GPU step
    (index: the step's) and per accelerator program (index: the program's, at its first
    step; its other steps are its own).  Routes are compared by identity in the hot loop."""
    out: list[tuple[str, int]] = []
    i = 0
    while i < len(module.steps):
        s = module.steps[i]
        if s.device == "accelerator":
            assert s.program is not None
            out.append((_ACCELERATOR, s.program))
            i = module.programs[s.program].steps[-1] + 1
        else:
            out.append((_GPU if i in gpu_steps else _HOST, i))
            i += 1
    return tuple(out)


def check_inputs(module: Module, inputs: Mapping[str, Any]
                 ) -> tuple[list[dict[str, np.ndarray]], bool]:
    """Per-sample input dicts, and whether the inputs carried a leading sample axis;
    InputError names the first input that is missing, unexpected, misshaped or of the
    wrong dtype."""
    m = module
    missing = [n for n in m.inputs if n not in inputs]
    if missing:
        raise InputError(f"inputs: missing array(s) {missing}; the model's inputs are "
                         + ", ".join(f"{n} {m.tensors[n].dtype}{m.tensors[n].shape}"
                                     for n in m.inputs))
    extra = sorted(set(inputs) - set(m.inputs))
    if extra:
        raise InputError(f"inputs: unexpected array(s) {extra}; the model's inputs are "
                         f"{list(m.inputs)}")
    counts, arrays = set(), {}
    for n in m.inputs:
        t, a = m.tensors[n], np.asarray(inputs[n])
        if a.dtype != np.dtype(t.dtype):
            raise InputError(f"input {n!r}: dtype {a.dtype}, expected {t.dtype}")
        if a.shape == t.shape:
            counts.add(None)
            a = a[None]
        elif a.ndim == len(t.shape) + 1 and a.shape[1:] == t.shape and a.shape[0] >= 1:
            counts.add(a.shape[0])
        else:
            raise InputError(f"input {n!r}: shape {a.shape}, expected {t.shape} or "
                             f"(samples, {', '.join(map(str, t.shape))})")
        arrays[n] = a
    if len(counts) != 1:
        raise InputError("inputs: every input must have the same number of samples (or "
                         "all none)")
    batched = counts != {None}
    count = next(iter(arrays.values())).shape[0]
    return [{n: a[k] for n, a in arrays.items()} for k in range(count)], batched


def _fed(layout: Mapping[str, Any], tensor: str, env: Mapping[str, np.ndarray]
         ) -> np.ndarray:
    """The logical array a feed packs: its tensor, or the rows it stacks (``tensors``:
    per-channel rows computed at run time, such as a requantization table)."""
    if "tensors" in layout:
        return np.stack([np.asarray(env[r]).reshape(-1) for r in layout["tensors"]])
    return env[tensor].reshape(_logical_shape(layout))


def _logical_shape(layout: Mapping[str, Any]) -> tuple[int, ...]:
    if layout["kind"] == "dense":
        return (int(layout["rows"]), int(layout["cols"]))
    if layout["kind"] == "wgt":
        return tuple(int(layout[k]) for k in ("o", "i", "kh", "kw"))
    return tuple(int(layout[k]) for k in ("n", "c", "h", "w"))


def _estimates(layers: list[dict[str, Any]], meta: Mapping[str, Any], mhz: float,
               samples: int) -> None:
    """Each layer's compile-time estimate beside its measurement, per sample, in seconds
    (``estimated_s``, ``measured_s``: host seconds, or accelerator cycles at ``mhz``),
    where the module's manifest records the partitioner's estimates (``meta["estimates"]``
    by step name; an entry of several chained ops, ``a+b``, sums theirs)."""
    est = meta.get("estimates")
    if not isinstance(est, Mapping):
        return
    for e in layers:
        parts = e["name"].split("+")
        if all(p in est for p in parts):
            spent = e["seconds"] if "seconds" in e else e["cycles"] / (mhz * 1e6)
            e["estimated_s"] = float(sum(est[p] for p in parts))
            e["measured_s"] = spent / samples


def _entry(layers: dict[str, dict[str, Any]], name: str, kind: str, device: str, macs: int,
           *, host: bool = False) -> dict[str, Any]:
    """The profile entry of op ``name`` (created on first use; summed over samples)."""
    if name not in layers:
        layers[name] = {"name": name, "op": kind, "device": device, "macs": 0,
                        ("seconds" if host else "cycles"): 0.0 if host else 0,
                        "bytes_in": 0, "bytes_out": 0}
    layers[name]["macs"] += macs
    return layers[name]


def _slice(name: str, pid: int, tid: int, ts: float, dur: float,
           args: dict[str, Any]) -> dict[str, Any]:
    """A trace slice, ``ts`` and ``dur`` in microseconds relative to its stage's start."""
    return {"name": name, "ph": "X", "pid": pid, "tid": tid, "ts": ts, "dur": dur,
            "args": args}


def _program_stages(name: str, index: int, link: LinkProfile, mhz: float, cycles: int,
                    ops: list[tuple[Step, int, int]] | None, copied_in: list[int],
                    copied_out: list[int], pack_s: float, unpack_s: float) -> list[Stage]:
    """The stages of one program launch (runtime.pipeline): packing its feeds on the host
    (measured), copying them in over ``link``, running ``cycles`` at ``mhz`` and copying
    the results out (modelled, one accelerator stage), unpacking on the host (measured).
    ``ops``: each op's (step, first, last cycle) within the run, where attributed."""
    copy_in = sum(link.seconds(n) for n in copied_in) * 1e6  # microseconds
    copy_out = sum(link.seconds(n) for n in copied_out) * 1e6
    run = cycles / mhz
    device = [_slice(f"copy in {name}", 0, 2, 0.0, copy_in,
                     {"bytes": sum(copied_in), "link": link.name}),
              _slice(name, 0, 0, copy_in, run, {"cycles": cycles, "program": index}),
              _slice(f"copy out {name}", 0, 2, copy_in + run, copy_out,
                     {"bytes": sum(copied_out), "link": link.name})]
    device += [_slice(s.name, 0, 1, copy_in + lo / mhz, (hi - lo) / mhz,
                      {"op": s.op.kind, "cycles": hi - lo}) for s, lo, hi in ops or ()]
    out = [Stage(name, ACCELERATOR, (copy_in + run + copy_out) / 1e6, tuple(device))]
    if copied_in:
        out.insert(0, Stage(f"pack {name}", HOST, pack_s, (
            _slice(f"pack {name}", 1, 1, 0.0, pack_s * 1e6, {"program": index}),)))
    if copied_out:
        out.append(Stage(f"unpack {name}", HOST, unpack_s, (
            _slice(f"unpack {name}", 1, 1, 0.0, unpack_s * 1e6, {"program": index}),)))
    return out


def _host_stage(name: str, op_kind: str, seconds: float) -> Stage:
    """A host step's stage of the pipelined schedule, with its one trace slice."""
    return Stage(name, HOST, seconds, (_slice(name, 1, 0, 0.0, seconds * 1e6, {"op": op_kind}),))


def _attribute(p: Program, result: LaunchResult) -> list[tuple[int, int]] | None:
    """(start, end) cycles of each of the program's ops (see the module docstring), or
    None when the device kept no instruction records."""
    records = getattr(result.detail, "records", None)
    if not records or not p.insn_steps:
        return None
    last = {i: -1 for i in p.steps}
    for r in records:
        if 0 <= r.index < len(p.insn_steps):
            owner = p.insn_steps[r.index]
            last[owner] = max(last[owner], r.retire + 1)
    spans, prev = [], 0
    for j, i in enumerate(p.steps):
        end = result.cycles if j == len(p.steps) - 1 else max(prev, last[i])
        end = min(end, result.cycles)
        spans.append((prev, end))
        prev = end
    return spans


def _load_gpu_steps(module: Module, gpu: Device | None
                    ) -> tuple[Device | None, dict[int, GpuKernel]]:
    """The GPU and the module's GPU steps loaded on it (none: no GPU opened).  A module
    with GPU steps on a machine without a usable GPU is one DeviceError naming them."""
    steps = [i for i, s in enumerate(module.steps) if s.device == "gpu"]
    if not steps:
        return gpu, {}
    if gpu is None:
        try:
            gpu = open_gpu()
        except DeviceError as e:
            names = [module.steps[i].name for i in steps]
            raise DeviceError(f"module step(s) {names} are assigned to the gpu, and there is "
                              f"no usable GPU here ({e}); run the module on a machine with an "
                              "NVIDIA GPU, emulate the GPU's steps bit for bit with `vta run "
                              "--gpu sim`, or recompile with --targets vta,cpu") from None
    return gpu, load_gpu_steps(gpu, {i: module.steps[i] for i in steps}, module.constants)


def open_executor(module: Module, spec: str, **kw: Any) -> Executor:
    """An executor on the accelerator device ``spec`` (sim, rtl, fpga:PORT, fpga:sim)."""
    from runtime.devices import open_device

    if not isinstance(module, Module):
        raise ModuleError(f"expected a compiled module, got {type(module).__name__}")
    return Executor(module, open_device(spec, module.config, **kw))


__all__ = ["Executor", "ModelRun", "InputError", "check_inputs", "open_executor"]
