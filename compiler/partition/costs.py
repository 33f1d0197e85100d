"""What each op costs on each device, and what each device boundary costs, in seconds.

* Accelerator: the cycles the operator compiler estimates for its default schedule
  (``CompiledOp.estimated_cycles``: the ``interleave`` pass's list schedule with
  instruction fetch in the loop, within a few cycles of the simulator) at
  ``HwConfig.target_clock_mhz``.  Capability is the compiler's own verdict: an op it
  refuses (any :class:`VtaError` from ``compile_op``) cannot run there.  Consecutive
  accelerator ops become one chained program in which the next op's loads may overlap the
  previous op's compute; no discount is modelled for that (the estimate stays an upper
  bound, and the partition it gives is the one a non-overlapping executor would want).
* CPU: what the graph executor pays for the llvmlite kernels (``cpu_gpu_backends``), measured
  once per host inside the executor (:mod:`compiler.partition.calibrate`: one after
  another, as in a run of host kernels; the first host step after an accelerator program
  runs about 2x slower with cold caches, which is priced with the program's launch).
  Per kernel kind (a fused-epilogue conv and a narrow-row conv
  with a separate requantization pass are different kinds), calibration ops from the test
  models' sizes to ImageNet layers give ``(work, seconds)`` samples and one line
  ``overhead + work / rate`` is fitted by least squares of the relative error
  (:func:`fit_cost`); work is MACs plus the weight bytes at a per-kind fitted factor for
  GEMM kinds, bytes touched for ALU kinds (:class:`CpuModel`).  The fit is cached as JSON
  under the VTA cache directory keyed by the host (:func:`cpu_model`).  Float ops the CPU
  runs without an opset description carry their own CPU cost (:class:`OpNode.cpu_seconds`;
  the lowering prices its host steps with the model's ``host`` kind).
* GPU: priced when the caller describes a GPU (a :class:`~compiler.partition.gpu_model.GpuSpec`:
  a roofline over the op's GPU kernels, :mod:`~compiler.partition.gpu_model`) or gives a
  node's GPU cost directly (``OpNode.gpu_seconds``, a cost table, which wins); the copies
  between the host and the GPU go over the spec's PCIe link (NCHW bytes, no layout
  transform), the GPU and the accelerator exchange through the host.
* Transfers: a tensor crossing between the host and the accelerator is copied in the blocked
  layout (:class:`opset.layout.ActLayout`, what the accelerator reads and writes) over the
  device's link (:mod:`runtime.links`, the table the executor models its copies with:
  bandwidth and per-transfer latency; the board's UART at its baud rate, 10 bits per byte),
  and packed from (``pack`` kind) or unpacked to (``unpack``) NCHW on the host, as the
  executor's ``pack_host``/``unpack_host`` cost inside a run; each program launch adds its
  pack and unpack stages' own time and the cold host step after it (``program`` kind,
  ``CostNode.program``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from compiler.partition.errors import PartitionError
from compiler.partition.gpu_model import GpuSpec, gpu_cost
from opset import ActLayout, Conv2d, Dense, DepthwiseConv2d, Elementwise, GlobalAvgPool, Pool2d
from runtime.links import GPU_LINKS, LINKS, LinkError, LinkProfile, uart_link
from runtime.links import link_for as device_link
from vta_hw.config import HwConfig
from vta_hw.errors import VtaError
from vta_hw.files import write_atomic

VTA, CPU, GPU = "vta", "cpu", "gpu"
DEVICES = (VTA, CPU, GPU)


# ----------------------------------------------------------------------------- links
def link_for(device: str) -> LinkProfile:
    """The link of a runtime device spec (:func:`runtime.links.link_for`: ``fpga:PORT@BAUD``
    is the board's UART at ``BAUD``, 10 bits per byte)."""
    try:
        return device_link(device)
    except LinkError as e:
        raise PartitionError(str(e)) from None


# ----------------------------------------------------------------------------- bytes
def tensor_bytes(shape: Sequence[int], cfg: HwConfig) -> tuple[int, int]:
    """(blocked bytes, NCHW bytes) of an int8 activation of ``shape`` (rank < 4 is viewed
    as N, C, 1, 1 like the opset does)."""
    s = tuple(int(v) for v in shape)
    if len(s) > 4 or not s:
        raise PartitionError(f"activation shape {s} must have rank 1 to 4")
    n, c, h, w = (s + (1, 1, 1))[:4] if len(s) >= 2 else (1, s[0], 1, 1)
    blocked = ActLayout(n, c, h, w, cfg.block_out, cfg.batch).nbytes
    return blocked, n * c * h * w


# ----------------------------------------------------------------------------- accelerator
@dataclass(frozen=True)
class AcceleratorCost:
    """The compiler's estimate for one op: cycles and seconds at the target clock, or why
    the accelerator cannot run it (``cycles`` None)."""

    cycles: int | None
    seconds: float | None
    reason: str = ""


def accelerator_cost(op, cfg: HwConfig, options=None, schedules=None) -> AcceleratorCost:
    """Compile ``op`` for ``cfg`` (with the DRAM layout ``options``, a
    :class:`compiler.layout.LayoutOptions`; default: the op alone; its schedule from the
    provider ``schedules``, a tuning log's best, else the default) and convert its estimated
    cycles to seconds at ``cfg.target_clock_mhz``; a compiler refusal means "not capable"."""
    from compiler.api import compile_op

    try:
        cycles = compile_op(op, cfg, options=options, schedules=schedules).estimated_cycles
    except VtaError as e:
        return AcceleratorCost(None, None, f"{type(e).__name__}: {e}")
    return AcceleratorCost(cycles, cycles / (cfg.target_clock_mhz * 1e6))


# ----------------------------------------------------------------------------- CPU model
CALIBRATION_VERSION = 8
GEMM_KINDS = ("conv2d", "conv2d_narrow", "depthwise_conv2d", "dense")
# pack/unpack: a boundary tensor's NCHW<->blocked transform on the host (runtime.module's
# pack_host/unpack_host, as the executor runs them); program: the host's fixed cost of one
# accelerator program launch beyond its tensors (its pack and unpack stages' own time, and
# the first host step after it running with cold caches);
# host: a numpy host step (quantize, dequantize, a float island), per byte it reads and
# writes
BOUNDARY_KINDS = ("pack", "unpack", "program", "host")
CPU_KINDS = (*GEMM_KINDS, "elementwise", "pool", *BOUNDARY_KINDS)


def cpu_features(op) -> tuple[str, float, float]:
    """(kind, work, weight bytes) of an opset op for the CPU model.

    The kinds follow the kernels the CPU runs (``cpu_gpu_backends.ops.quantized``), not the
    opset's names: a conv whose output rows are narrower than ``FUSE_MIN_WIDTH`` runs as a
    raw int32 convolution plus a separate requantization pass (``conv2d_narrow``, measured
    up to 2x the time of a fused conv of the same MACs), a wider one with the epilogue fused
    (``conv2d``).  Work: MACs for GEMM kinds, bytes read and written for element-wise ops
    and pooling (a window's pixels each count once).  Weight bytes (GEMM kinds): the
    kernels stream the weights, and at batch 1 or on a 7x7 map that, not the MACs, sets
    the time (a 4-row dense takes half the time of a 1-row one of the same MACs; a
    256-channel 3x3 conv on 7x7 2.4x a 128-channel one on 14x14 of the same MACs)."""
    if isinstance(op, Conv2d):
        from cpu_gpu_backends.ops.quantized import FUSE_MIN_WIDTH

        kind = "conv2d" if op.wo >= FUSE_MIN_WIDTH else "conv2d_narrow"
        return kind, float(op.macs), float(op.o * op.c * op.kh * op.kw)
    if isinstance(op, DepthwiseConv2d):
        return op.kind, float(op.macs), float(op.c * op.kh * op.kw)
    if isinstance(op, Dense):
        return "dense", float(op.macs), float(op.i * op.o)
    if isinstance(op, Elementwise):
        n = int(np.prod(op.shape))
        return "elementwise", float(n * (len(op.inputs()) + 1)), 0.0
    if isinstance(op, Pool2d):
        out = op.n * op.c * op.ho * op.wo
        return "pool", float(out * op.kh * op.kw + out), 0.0
    if isinstance(op, GlobalAvgPool):
        return "pool", float(op.n * op.c * (op.h * op.w + 1)), 0.0
    raise PartitionError(f"no CPU cost model for {type(op).__name__} ({getattr(op, 'name', op)})")


def fit_cost(points: Sequence[tuple[float, ...]]) -> tuple[float, ...]:
    """Non-negative ``(overhead, c_1, ..., c_k)`` of ``seconds = overhead + sum c_i x_i``
    from samples ``(x_1, ..., x_k, seconds)``, by least squares of the *relative* error
    (each sample weighted by 1 / seconds: a 60 us kernel's 20 us error matters as much as
    a 6 ms kernel's 2 ms).  A term whose coefficient comes out negative (the samples
    cannot tell it apart from the others) is dropped and the rest refitted."""
    if not points:
        raise PartitionError("fit_cost: no samples to fit")
    x = np.array([[1.0, *p[:-1]] for p in points], float)
    t = np.array([p[-1] for p in points], float)
    keep = list(range(x.shape[1]))
    coef = np.zeros(x.shape[1])
    while keep:
        a = x[:, keep] / t[:, None]
        sol, *_ = np.linalg.lstsq(a, np.ones(len(t)), rcond=None)
        if np.all(sol >= 0):
            coef[:] = 0.0
            coef[keep] = sol
            break
        keep.pop(int(np.argmin(sol)))
    return tuple(float(c) for c in coef)


def fit_weight_factor(points: Sequence[tuple[float, float, float]]) -> float:
    """MACs one weight byte costs as much as, >= 0, from ``(macs, weight bytes, seconds)``
    samples (:func:`fit_cost` of ``overhead + macs * x + weight_bytes * y``: ``y / x``; 0
    when the samples cannot separate the two or give no MAC cost)."""
    if len(points) < 3:
        return 0.0
    a = np.array([[1.0, m, w] for m, w, _ in points])
    if np.linalg.matrix_rank(a) < 3:
        return 0.0
    _, x, y = fit_cost(points)
    return float(y / x) if x > 0 and y > 0 else 0.0


def fit_line(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """(overhead >= 0, rate > 0) of ``seconds = overhead + work / rate`` (:func:`fit_cost`;
    a fit with no work term keeps a vanishing slope so the rate stays finite)."""
    overhead, slope = fit_cost(points) if points else (0.0, 0.0)
    return overhead, 1.0 / max(slope, 1e-18)


@dataclass(frozen=True)
class CpuModel:
    """``fits``: per kind, ``(overhead, rate)`` of ``seconds = overhead + work / rate``,
    fitted (:func:`fit_line`) to what the executor paid for the calibration ops on
    ``host`` (:mod:`compiler.partition.calibrate`); ``samples``: those measurements,
    ``(work, seconds)``, kept for the record (``benchmarks/cost_model.py`` checks the model
    on other ops).

    An op's work is :func:`cpu_features`' work plus its weight bytes times the kind's
    ``weight_factor`` (fitted at calibration; 0 for kinds without weights), so
    convolutions and dense layers of the same MACs but different weight sizes are told
    apart.  One line per kind, not an interpolation between samples: inside the executor
    every kernel pays the same wake-up and copy overhead (~100 us here), which a noisy
    sample between two others would otherwise turn into a step.
    """

    host: str
    fits: Mapping[str, tuple[float, float]]
    samples: Mapping[str, tuple[tuple[float, ...], ...]] = field(default_factory=dict)
    weight_factor: Mapping[str, float] = field(default_factory=dict)

    def seconds(self, kind: str, work: float) -> float:
        if kind not in self.fits:
            raise PartitionError(f"CPU model has no kind {kind!r}; known: {sorted(self.fits)}")
        overhead, rate = self.fits[kind]
        return overhead + work / rate

    def work(self, kind: str, base: float, weight_bytes: float) -> float:
        """An op's work units: its work plus its weight bytes at the kind's fitted factor."""
        return base + self.weight_factor.get(kind, 0.0) * weight_bytes

    def op_seconds(self, op) -> float:
        kind, base, wb = cpu_features(op)
        return self.seconds(kind, self.work(kind, base, wb))

    def pack_seconds(self, blocked: int, nchw: int) -> float:
        """Host seconds to pack one tensor into the blocked layout (a program's feed)."""
        return self.seconds("pack", blocked + nchw)

    def unpack_seconds(self, blocked: int, nchw: int) -> float:
        """Host seconds to unpack one blocked tensor (a program's result)."""
        return self.seconds("unpack", blocked + nchw)

    def program_seconds(self) -> float:
        """Host seconds one accelerator program launch costs beyond its tensors' packing
        and unpacking."""
        return self.seconds("program", 0.0)

    def scaled(self, factor: float, host: str = "",
               kinds: tuple[str, ...] | None = None) -> CpuModel:
        """The same kernels on a host ``factor`` times slower (an embedded host next to the
        accelerator rather than the machine that calibrated): every time times ``factor``,
        or only the times of ``kinds``."""
        if not factor > 0:
            raise PartitionError(f"CPU slow-down factor must be > 0, got {factor}")
        bad = sorted(set(kinds or ()) - set(self.fits))
        if bad:
            raise PartitionError(f"CPU model has no kind(s) {bad}; known: {sorted(self.fits)}")

        def f(kind: str) -> float:
            return factor if kinds is None or kind in kinds else 1.0
        return CpuModel(host or f"{self.host}/{factor:g}",
                        {k: (o * f(k), r / f(k)) for k, (o, r) in self.fits.items()},
                        {k: tuple((*p[:-1], p[-1] * f(k)) for p in v)
                         for k, v in self.samples.items()}, self.weight_factor)

    def to_json(self) -> dict:
        return {"version": CALIBRATION_VERSION, "host": self.host,
                "fits": {k: list(v) for k, v in self.fits.items()},
                "samples": {k: [list(p) for p in v] for k, v in self.samples.items()},
                "weight_factor": dict(self.weight_factor)}

    @classmethod
    def from_json(cls, d: dict) -> CpuModel:
        if d.get("version") != CALIBRATION_VERSION or set(d.get("fits", ())) != set(CPU_KINDS):
            raise ValueError("stale calibration")
        return cls(d["host"], {k: (float(a), float(b)) for k, (a, b) in d["fits"].items()},
                   {k: tuple(tuple(float(x) for x in p) for p in v)
                    for k, v in d.get("samples", {}).items()},
                   {k: float(v) for k, v in d.get("weight_factor", {}).items()})


def host_key() -> str:
    """What the calibration depends on: machine, CPU model, core count, Python."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = "|".join((platform.node(), platform.machine(), cpu, str(os.cpu_count()),
                     platform.python_version()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def kernels_version() -> str:
    """Hash of the CPU kernels' sources (``cpu_gpu_backends``, its ``ops``) and of what
    times them (``runtime/host_program.py``, ``runtime/executor.py``): the calibration
    measures these kernels, so a change to them (a new convolution form, a fused epilogue)
    measures again instead of pricing the new kernels with the old ones' times."""
    import cpu_gpu_backends

    pkg = Path(cpu_gpu_backends.__file__).resolve().parent
    runtime = pkg.parent / "runtime"
    files = sorted(pkg.glob("*.py")) + sorted((pkg / "ops").glob("*.py")) + [
        runtime / "host_program.py", runtime / "executor.py"]
    h = hashlib.sha256()
    for f in files:
        if f.exists():
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def calibration_ops() -> dict[str, list]:
    """The representative kernels measured per kind: sizes from the tiny layers of the test
    models (8 channels, 16x16) to typical ImageNet layers (3x3 and 1x1, stride 1 and 2,
    batch-1 to 64-row dense); ``benchmarks/cost_model.py`` checks the model on other
    shapes."""
    from opset import AluStep, Epilogue, Requant

    ep = Epilogue(requant=Requant(1, 8))
    add = (AluStep("add"),)

    def conv(i, c, h, o, k, s=1):
        return Conv2d(1, c, h, h, o, k, k, stride=s, pad=k // 2, epilogue=ep, name=f"cal_conv{i}")

    return {
        # output rows >= 16 wide: epilogue fused
        "conv2d": [conv(i, *a) for i, a in enumerate((
            (3, 16, 8, 3), (8, 16, 8, 3), (16, 16, 16, 3), (32, 32, 16, 3), (16, 32, 32, 3, 2),
            (32, 28, 32, 1), (64, 28, 64, 3), (64, 56, 64, 3)))],
        # narrower rows: raw conv + separate requantization
        "conv2d_narrow": [conv(10 + i, *a) for i, a in enumerate((
            (8, 8, 8, 3), (4, 8, 4, 1), (16, 8, 16, 3), (32, 14, 32, 1), (64, 14, 64, 3),
            (128, 14, 128, 3, 2), (128, 14, 128, 3), (256, 7, 256, 3)))],
        "depthwise_conv2d": [
            DepthwiseConv2d(1, c, h, h, k, k, stride=s, pad=k // 2, epilogue=ep,
                            name=f"cal_dw{i}")
            for i, (c, h, k, s) in enumerate(((8, 8, 8, 1), (16, 8, 3, 1), (16, 16, 3, 1),
                                              (32, 14, 3, 1), (96, 56, 3, 2), (64, 28, 3, 1),
                                              (128, 56, 3, 1)))],
        "dense": [Dense(m, k, n, epilogue=ep, name=f"cal_dense{i}")
                  for i, (m, k, n) in enumerate(((1, 8, 10), (1, 64, 64), (8, 128, 128),
                                                 (16, 256, 256), (64, 256, 256),
                                                 (4, 512, 256), (1, 512, 512), (1, 1024, 1024),
                                                 (8, 512, 512), (1, 4096, 2048)))],
        "elementwise": [Elementwise((1, c, h, h), add, name=f"cal_add{i}")
                        for i, (c, h) in enumerate(((8, 8), (16, 8), (16, 16), (16, 32),
                                                    (64, 28), (128, 56)))],
        "pool": [Pool2d(1, 16, 8, 8, "max", 2, 2, 2, 0, name="cal_pool0"),
                 Pool2d(1, 8, 16, 16, "max", 2, 2, 2, 0, name="cal_pool1"),
                 Pool2d(1, 16, 32, 32, "max", 2, 2, 2, 0, name="cal_pool2"),
                 Pool2d(1, 64, 56, 56, "max", 3, 3, 2, 1, name="cal_pool3"),
                 GlobalAvgPool(1, 8, 8, 8, name="cal_gap0"),
                 GlobalAvgPool(1, 256, 14, 14, name="cal_gap1")],
    }


def calibrate_cpu(rounds: int = 8) -> CpuModel:
    """Measure :func:`calibration_ops` and the boundary work inside the executor
    (:func:`compiler.partition.calibrate.measure_in_executor`) and fit each kind."""
    from compiler.partition.calibrate import measure_in_executor

    ops = [op for group in calibration_ops().values() for op in group]
    times = measure_in_executor(ops, rounds)
    raw: dict[str, list[tuple[float, float, float]]] = {}
    for op, t in zip(ops, times.ops, strict=True):
        kind, base, wb = cpu_features(op)
        raw.setdefault(kind, []).append((base, wb, float(t)))
    factor = {k: fit_weight_factor(v) for k, v in raw.items() if k in GEMM_KINDS}
    samples: dict[str, tuple[tuple[float, float], ...]] = {
        k: tuple((b + factor.get(k, 0.0) * wb, t) for b, wb, t in v) for k, v in raw.items()}
    fits = {k: fit_line(v) for k, v in samples.items()}
    fits["host"] = fit_line(times.host)
    # a program's pack (unpack) stage: its own cost + per tensor a call + the bytes
    program = 0.0
    for kind, pts in (("pack", times.pack), ("unpack", times.unpack)):
        stage, call, per_byte = fit_cost(pts)
        fits[kind] = (call, 1.0 / max(per_byte, 1e-18))
        program += stage
    # and the first host step after a program runs colder
    fits["program"] = (program + max(times.after_program, 0.0), 1e18)
    samples |= {"pack": times.pack, "unpack": times.unpack, "host": times.host}
    return CpuModel(host_key(), fits, samples, factor)


def cpu_model(cache_dir: Path | None = None, recalibrate: bool = False) -> CpuModel:
    """The host's CPU model: read from ``<cache>/partition/cpu-v<version>-<host key>-<kernels
    version>.json`` or measured once (a few seconds) and written there atomically."""
    from vta_hw.cosim.verilator import cache_root

    # the format version is in the name: worktrees of different versions sharing the cache
    # would otherwise overwrite each other's calibration on every run
    name = f"cpu-v{CALIBRATION_VERSION}-{host_key()}-{kernels_version()}.json"
    path = Path(cache_dir or cache_root()) / "partition" / name
    if not recalibrate and path.exists():
        try:
            return CpuModel.from_json(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError):
            pass  # stale or corrupt: measure again
    model = calibrate_cpu()
    write_atomic(path, json.dumps(model.to_json(), indent=1))
    return model


# ----------------------------------------------------------------------------- the graph
@dataclass(frozen=True)
class OpNode:
    """One node of the op DAG to partition.

    op: an opset op (the accelerator and the CPU can be asked about it), or None for a float
    op only the host runs, which then needs ``cpu_seconds``.  inputs: names of producing
    nodes or graph inputs.  shape: the output shape (taken from ``op`` when it has one).
    gpu_seconds: the GPU's cost (a cost table; None: priced from the GpuSpec, if any).
    itemsize: bytes per element of its output (4 for a float op's): the NCHW bytes a copy
    to or from the GPU moves (the accelerator's copies are int8 in the blocked layout).
    """

    name: str
    op: object | None
    inputs: tuple[str, ...] = ()
    shape: tuple[int, ...] | None = None
    cpu_seconds: float | None = None
    gpu_seconds: float | None = None
    itemsize: int = 1


@dataclass(frozen=True)
class CostNode:
    """A node as the solver sees it.

    costs: seconds on each capable device.  incapable: device -> why not.  inputs: producing
    node names.  out_bytes: bytes its output moves when it crosses a boundary (blocked
    layout).  transfer: (from, to) -> seconds to move the output across that boundary.
    kind: "op", "input" (a graph input, on the host) or "output" (a graph output, back to
    the host).  cycles: the accelerator estimate, for explain.  layout: (from, to) -> the
    part of ``transfer`` that is the host's layout transform (packing into or unpacking
    from the blocked layout; the rest is the link copy), for explain.  program: the host's
    seconds for launching an accelerator program beyond its tensors, paid by the first
    node of each chained program (:func:`~compiler.partition.solve.latency`).
    """

    name: str
    costs: Mapping[str, float]
    inputs: tuple[str, ...] = ()
    out_bytes: int = 0
    transfer: Mapping[tuple[str, str], float] = field(default_factory=dict)
    incapable: Mapping[str, str] = field(default_factory=dict)
    kind: str = "op"
    label: str = ""
    cycles: int | None = None
    layout: Mapping[tuple[str, str], float] = field(default_factory=dict)
    program: float = 0.0


def _transfers(blocked: int, nchw: int, link: LinkProfile, cpu: CpuModel,
               gpu: LinkProfile | None, itemsize: int = 1
               ) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], float]]:
    """Seconds to move one tensor across each device pair -- the link copy of the blocked
    bytes plus the host's NCHW->blocked packing (to the accelerator) or blocked->NCHW
    unpacking (back) -- and the layout-transform part of each.  With a GPU, its link's copy
    of the NCHW elements at ``itemsize`` bytes (through the host between the GPU and the
    accelerator)."""
    copy = link.seconds(blocked)
    layout = {(CPU, VTA): cpu.pack_seconds(blocked, nchw),
              (VTA, CPU): cpu.unpack_seconds(blocked, nchw)}
    out = {k: copy + v for k, v in layout.items()}
    if gpu is not None:
        g = gpu.seconds(nchw * itemsize)
        out |= {(CPU, GPU): g, (GPU, CPU): g, (GPU, VTA): g + out[CPU, VTA],
                (VTA, GPU): g + out[VTA, CPU]}
        layout |= {(GPU, VTA): layout[CPU, VTA], (VTA, GPU): layout[VTA, CPU]}
    return out, layout


def _out_shape(n: OpNode) -> tuple[int, ...]:
    if n.op is not None and hasattr(n.op, "output"):
        return tuple(n.op.output().shape)
    if n.shape is None:
        raise PartitionError(f"node {n.name!r}: a float node needs its output shape")
    return tuple(n.shape)


def build_cost_graph(nodes: Sequence[OpNode], graph_inputs: Mapping[str, Sequence[int]],
                     outputs: Sequence[str], cfg: HwConfig, device: str = "sim",
                     cpu: CpuModel | None = None,
                     accelerator: Callable[[object, HwConfig], AcceleratorCost] = accelerator_cost,
                     gpu: GpuSpec | None = None) -> tuple[CostNode, ...]:
    """Price every node on every device that can run it and every tensor on every boundary.

    ``accelerator`` prices one op (default :func:`accelerator_cost`, which compiles it); a
    caller that compiles the ops anyway, or prices one graph on several configs, passes a
    memoized one.  ``gpu``: the GPU to price opset ops on (:func:`.gpu_model.gpu_cost`) and
    whose link the host<->GPU copies take; nodes' own ``gpu_seconds`` win over it.  Without
    it, a graph with ``gpu_seconds`` is priced on the default PCIe 4.0 x16 link.

    Graph inputs become ``input`` nodes on the host and each graph output gets an ``output``
    node on the host, so bringing data in and results back is priced like any transfer.
    """
    cpu = cpu or cpu_model()
    link = link_for(device)
    gpu_link = gpu.link_profile if gpu is not None else (
        GPU_LINKS["pcie4x16"] if any(n.gpu_seconds is not None for n in nodes) else None)
    out: list[CostNode] = []
    for name, shape in graph_inputs.items():
        b, nb = tensor_bytes(shape, cfg)
        tr, lay = _transfers(b, nb, link, cpu, gpu_link)
        out.append(CostNode(name, {CPU: 0.0}, (), b, tr, kind="input", label="graph input",
                            layout=lay))
    for n in nodes:
        costs: dict[str, float] = {}
        incapable: dict[str, str] = {}
        cycles = None
        label = "float op"
        if n.op is not None:
            label = f"{type(n.op).__name__} ({n.op.macs} MACs)"
            acc = accelerator(n.op, cfg)
            if acc.seconds is None:
                incapable[VTA] = acc.reason
            else:
                costs[VTA], cycles = acc.seconds, acc.cycles
            costs[CPU] = n.cpu_seconds if n.cpu_seconds is not None else cpu.op_seconds(n.op)
        else:
            incapable[VTA] = "a float op (no opset description)"
            if n.cpu_seconds is None:
                raise PartitionError(f"node {n.name!r}: a float node needs cpu_seconds")
            costs[CPU] = n.cpu_seconds
        if n.gpu_seconds is not None:
            costs[GPU] = n.gpu_seconds
        elif gpu is not None and n.op is not None:
            g = gpu_cost(n.op, gpu)
            if g.seconds is None:
                incapable[GPU] = g.reason
            else:
                costs[GPU] = g.seconds
        elif gpu_link is not None:
            incapable[GPU] = ("no GPU kernel for this host step" if gpu is not None
                              else "no GPU cost given")
        b, nb = tensor_bytes(_out_shape(n), cfg)
        tr, lay = _transfers(b, nb, link, cpu, gpu_link, n.itemsize)
        out.append(CostNode(n.name, costs, tuple(n.inputs), b, tr, incapable, "op", label,
                            cycles, lay, cpu.program_seconds() if VTA in costs else 0.0))
    for o in outputs:
        out.append(CostNode(f"output:{o}", {CPU: 0.0}, (o,), kind="output",
                            label="graph output"))
    return tuple(out)


__all__ = ["LINKS", "LinkProfile", "uart_link", "link_for", "tensor_bytes", "AcceleratorCost",
           "accelerator_cost", "cpu_features", "fit_weight_factor", "CpuModel", "host_key",
           "calibration_ops", "GEMM_KINDS",
           "fit_cost", "fit_line", "calibrate_cpu", "BOUNDARY_KINDS",
           "cpu_model",
           "OpNode", "CostNode",
           "build_cost_graph", "VTA", "CPU", "GPU", "DEVICES"]
