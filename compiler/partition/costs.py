"""What each op costs on each device, and what each device boundary costs, in seconds.

* Accelerator: the cycles the operator compiler estimates for its default schedule
  (``CompiledOp.estimated_cycles``, the ``interleave`` pass's list schedule, ~0.3% from the
  simulator) at ``HwConfig.target_clock_mhz``.  Capability is the compiler's own verdict: an
  op it refuses (any :class:`VtaError` from ``compile_op``) cannot run there.  Consecutive
  accelerator ops become one chained program in which the next op's loads may overlap the
  previous op's compute; no discount is modelled for that (the estimate stays an upper
  bound, and the partition it gives is the one a non-overlapping executor would want).
* CPU: a model of the llvmlite kernels (``cpu_gpu_backends.quantized_op``) calibrated once on
  this host: for each kernel kind (a fused-epilogue conv and a narrow-row conv with a
  separate requantization pass are different kinds), six kernels from small to
  ImageNet-layer sizes are timed and the time is interpolated in the work (MACs plus the
  weight bytes at a per-kind fitted factor for GEMM kinds, bytes touched for ALU kinds and
  layout transforms), extrapolated as ``overhead + work / rate`` beyond them
  (:class:`CpuModel`).  The fit is cached as JSON under the VTA cache directory keyed by the
  host (:func:`cpu_model`).  Float ops the CPU runs without an opset description carry their
  own CPU cost (:class:`OpNode.cpu_seconds`).
* GPU: priced when the caller describes a GPU (a :class:`~compiler.partition.gpu_model.GpuSpec`:
  a roofline over the op's GPU kernels, :mod:`~compiler.partition.gpu_model`) or gives a
  node's GPU cost directly (``OpNode.gpu_seconds``, a cost table, which wins); the copies
  between the host and the GPU go over the spec's PCIe link (NCHW bytes, no layout
  transform), the GPU and the accelerator exchange through the host.
* Transfers: a tensor crossing between the host and the accelerator is copied in the blocked
  layout (:class:`opset.layout.ActLayout`, what the accelerator reads and writes) over the
  device's link (:mod:`runtime.links`, the table the executor models its copies with:
  bandwidth and per-transfer latency; the board's UART at its baud rate, 10 bits per byte),
  and packed from or unpacked to NCHW on the host (the CPU model's ``layout`` rate).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
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


def accelerator_cost(op, cfg: HwConfig, options=None) -> AcceleratorCost:
    """Compile ``op``'s default schedule for ``cfg`` (with the DRAM layout ``options``, a
    :class:`compiler.layout.LayoutOptions`; default: the op alone) and convert its estimated
    cycles to seconds at ``cfg.target_clock_mhz``; a compiler refusal means "not capable"."""
    from compiler.api import compile_op

    try:
        cycles = compile_op(op, cfg, options=options).estimated_cycles
    except VtaError as e:
        return AcceleratorCost(None, None, f"{type(e).__name__}: {e}")
    return AcceleratorCost(cycles, cycles / (cfg.target_clock_mhz * 1e6))


# ----------------------------------------------------------------------------- CPU model
CALIBRATION_VERSION = 7
CPU_KINDS = ("conv2d", "conv2d_narrow", "depthwise_conv2d", "dense", "elementwise", "pool",
             "layout")
GEMM_KINDS = ("conv2d", "conv2d_narrow", "depthwise_conv2d", "dense")


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


def fit_weight_factor(points: Sequence[tuple[float, float, float]]) -> float:
    """MACs one weight byte costs as much as, >= 0, from ``(macs, weight bytes, seconds)``
    samples: least squares of ``seconds = overhead + macs * x + weight_bytes * y``, ``y / x``
    (0 when the samples cannot separate the two or give a non-positive MAC cost)."""
    a = np.array([[1.0, m, w] for m, w, _ in points])
    t = np.array([p[2] for p in points])
    if len(points) < 3 or np.linalg.matrix_rank(a) < 3:
        return 0.0
    (_, x, y), *_ = np.linalg.lstsq(a, t, rcond=None)
    return float(y / x) if x > 0 and y > 0 else 0.0


@dataclass(frozen=True)
class CpuModel:
    """The measured ``(work, seconds)`` samples of each kind on ``host``.

    An op's work is :func:`cpu_features`' work plus its weight bytes times the kind's
    ``weight_factor`` (fitted by :func:`fit_weight_factor` at calibration; 0 for kinds
    without weights), so convolutions and dense layers of the same MACs but different
    weight sizes are told apart.

    Between samples the time is interpolated linearly (made non-decreasing in work): the
    kernels have a step where they start splitting the loop over the thread pool (an
    element-wise op costs ~12 us below ~4K elements and ~60 us from there to a million on
    the 2-core development host), which one overhead-plus-rate line cannot follow.  Below
    the smallest sample the smallest sample's time is used; beyond the largest, ``fits``
    (``overhead, rate``: the line through the two largest samples) extrapolates.
    """

    host: str
    fits: Mapping[str, tuple[float, float]]
    samples: Mapping[str, tuple[tuple[float, float], ...]] = field(default_factory=dict)
    weight_factor: Mapping[str, float] = field(default_factory=dict)

    def seconds(self, kind: str, work: float) -> float:
        if kind not in self.fits:
            raise PartitionError(f"CPU model has no kind {kind!r}; known: {sorted(self.fits)}")
        overhead, rate = self.fits[kind]
        pts = sorted(self.samples.get(kind, ()))
        if not pts or work > pts[-1][0]:
            line = overhead + work / rate
            return max(line, pts[-1][1]) if pts else line
        ws = np.array([p[0] for p in pts])
        ts = np.maximum.accumulate(np.array([p[1] for p in pts]))
        return float(np.interp(work, ws, ts))

    def work(self, kind: str, base: float, weight_bytes: float) -> float:
        """An op's work units: its work plus its weight bytes at the kind's fitted factor."""
        return base + self.weight_factor.get(kind, 0.0) * weight_bytes

    def op_seconds(self, op) -> float:
        kind, base, wb = cpu_features(op)
        return self.seconds(kind, self.work(kind, base, wb))

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
                        {k: tuple((w, t * f(k)) for w, t in v)
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
                   {k: tuple((float(a), float(b)) for a, b in v)
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


def calibration_ops() -> dict[str, list]:
    """The representative kernels measured per kind: sizes from a few thousand work units
    to typical ImageNet layers (3x3 and 1x1, stride 1 and 2, batch-1 to 64-row dense), so
    interpolation covers the step where the kernels go parallel (calibrating takes ten
    seconds or so, once per host).  ``benchmarks/cost_model.py`` checks the model on other
    shapes."""
    from opset import AluStep, Epilogue, Requant

    ep = Epilogue(requant=Requant(1, 8))
    add = (AluStep("add"),)

    def conv(i, c, h, o, k, s=1):
        return Conv2d(1, c, h, h, o, k, k, stride=s, pad=k // 2, epilogue=ep, name=f"cal_conv{i}")

    return {
        # output rows >= 16 wide: epilogue fused
        "conv2d": [conv(i, *a) for i, a in enumerate((
            (16, 16, 16, 3), (32, 32, 16, 3), (16, 32, 32, 3, 2), (32, 28, 32, 1),
            (64, 28, 64, 3), (64, 56, 64, 3)))],
        # narrower rows: raw conv + separate requantization
        "conv2d_narrow": [conv(10 + i, *a) for i, a in enumerate((
            (16, 8, 16, 3), (32, 14, 32, 1), (64, 14, 64, 3), (128, 14, 128, 3, 2),
            (128, 14, 128, 3), (256, 7, 256, 3)))],
        "depthwise_conv2d": [
            DepthwiseConv2d(1, c, h, h, 3, 3, stride=s, pad=1, epilogue=ep, name=f"cal_dw{i}")
            for i, (c, h, s) in enumerate(((16, 8, 1), (16, 16, 1), (32, 14, 1), (96, 56, 2),
                                           (64, 28, 1), (128, 56, 1)))],
        "dense": [Dense(m, k, n, epilogue=ep, name=f"cal_dense{i}")
                  for i, (m, k, n) in enumerate(((1, 64, 64), (16, 256, 256), (64, 256, 256),
                                                 (1, 512, 512), (1, 1024, 1024),
                                                 (1, 4096, 2048)))],
        "elementwise": [Elementwise((1, c, h, h), add, name=f"cal_add{i}")
                        for i, (c, h) in enumerate(((16, 8), (16, 16), (16, 32), (64, 28),
                                                    (128, 56)))],
        "pool": [Pool2d(1, 16, 8, 8, "max", 2, 2, 2, 0, name="cal_pool0"),
                 Pool2d(1, 16, 32, 32, "max", 2, 2, 2, 0, name="cal_pool1"),
                 Pool2d(1, 64, 56, 56, "max", 3, 3, 2, 1, name="cal_pool2"),
                 GlobalAvgPool(1, 256, 14, 14, name="cal_gap")],
    }


def measure_seconds(fn, args: Sequence[np.ndarray], repeats: int = 15) -> float:
    """Best wall time of ``repeats`` calls of ``fn(*args)`` after one warm-up call: the
    least disturbed by other processes on a shared machine (a median here moved 4x with the
    load on the thread pool's wake-ups)."""
    fn(*args)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t)
    return float(min(times))


def measure_in_rotation(calls: Sequence[tuple[Callable, Sequence[np.ndarray]]],
                        rounds: int = 12) -> np.ndarray:
    """Best wall time of each ``fn(*args)`` over ``rounds`` rounds that call every one once
    in turn (after a warm-up round).  In a graph each kernel runs once between other
    kernels, with its data and code no longer in cache; timed back to back (a kernel's own
    data hot) the kernels measured 1.3-2x faster than in the executor.  Rounds also spread
    a burst of load on a shared machine over all kernels instead of one kernel's repeats."""
    for fn, args in calls:
        fn(*args)
    best = np.full(len(calls), np.inf)
    for _ in range(rounds):
        for i, (fn, args) in enumerate(calls):
            t = time.perf_counter()
            fn(*args)
            best[i] = min(best[i], time.perf_counter() - t)
    return best


def random_inputs(op, rng: np.random.Generator) -> list[np.ndarray]:
    out = []
    for s in op.inputs():
        lo, hi = (-128, 128) if s.dtype == "int8" else (-1000, 1000)
        out.append(rng.integers(lo, hi, s.shape).astype(np.dtype(s.dtype)))
    return out


# an op's constant operands: the executor binds them once at load (weights packed then)
CONSTANT_ROLES = ("w", "bias", "multiplier", "shift")


def bound_kernel(op, rng: np.random.Generator) -> tuple[Callable, list[np.ndarray]]:
    """``op``'s llvmlite kernel as the executor runs it -- random constants bound once (the
    weight packing done), so calls take only the activations -- and random activations."""
    import cpu_gpu_backends as cb

    kernel = cb.quantized_op(op)
    arrays = dict(zip([spec.name for spec in op.inputs()], random_inputs(op, rng), strict=True))
    consts = {k: a for k, a in arrays.items() if k in CONSTANT_ROLES}
    if consts:
        kernel = kernel.bind(**consts)
    return kernel, [a for k, a in arrays.items() if k not in consts]


def measure_op(op, rng: np.random.Generator | None = None) -> float:
    """Seconds one call of ``op``'s llvmlite kernel takes on this host (constants bound)."""
    return measure_seconds(*bound_kernel(op, rng or np.random.default_rng(0)))


def fit_line(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """(overhead >= 0, rate > 0) for ``seconds = overhead + work / rate`` by least squares."""
    w = np.array([p[0] for p in points])
    t = np.array([p[1] for p in points])
    slope, icpt = np.polyfit(w, t, 1) if len(points) > 1 and np.ptp(w) > 0 else (0.0, 0.0)
    if slope <= 0 or icpt < 0:  # degenerate: no overhead, rate through the mean
        icpt = max(0.0, min(float(icpt), float(t.min())))
        slope = max(float(np.mean((t - icpt) / w)), 1e-15)
    return float(icpt), float(1.0 / slope)


def calibrate_cpu() -> CpuModel:
    """Measure :func:`calibration_ops` and the NCHW->blocked transform; fit each kind."""
    import cpu_gpu_backends as cb

    rng = np.random.default_rng(0)
    kernels = [(cpu_features(op), *bound_kernel(op, rng))
               for ops in calibration_ops().values() for op in ops]
    layouts = []
    for c, h in ((16, 8), (16, 16), (16, 32), (64, 28), (64, 56)):
        lay = ActLayout(1, c, h, h, 16, 1)
        x = rng.integers(-128, 128, (1, c, h, h)).astype(np.int8)
        layouts.append((float(lay.nbytes + x.nbytes), cb.nchw_to_blocked(lay), [x]))
    best = measure_in_rotation([(k, x) for _, k, x in kernels]
                               + [(k, x) for _, k, x in layouts])
    raw: dict[str, list[tuple[float, float, float]]] = {}
    for ((kind, base, wb), _, _), t in zip(kernels, best, strict=False):
        raw.setdefault(kind, []).append((base, wb, float(t)))
    factor = {k: fit_weight_factor(v) for k, v in raw.items() if k in GEMM_KINDS}
    samples: dict[str, tuple[tuple[float, float], ...]] = {
        k: tuple((b + factor.get(k, 0.0) * wb, t) for b, wb, t in v) for k, v in raw.items()}
    samples["layout"] = tuple((w, float(t)) for (w, _, _), t in zip(layouts,
                                                                     best[len(kernels):],
                                                                     strict=True))
    fits = {k: fit_line(sorted(v)[-2:]) for k, v in samples.items()}
    return CpuModel(host_key(), fits, samples, factor)


def cpu_model(cache_dir: Path | None = None, recalibrate: bool = False) -> CpuModel:
    """The host's CPU model: read from ``<cache>/partition/cpu-v<version>-<host key>.json``
    or measured once (a few seconds) and written there atomically."""
    from vta_hw.cosim.verilator import cache_root

    # the format version is in the name: worktrees of different versions sharing the cache
    # would otherwise overwrite each other's calibration on every run
    name = f"cpu-v{CALIBRATION_VERSION}-{host_key()}.json"
    path = Path(cache_dir or cache_root()) / "partition" / name
    if not recalibrate and path.exists():
        try:
            return CpuModel.from_json(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError):
            pass  # stale or corrupt: measure again
    model = calibrate_cpu()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(model.to_json(), indent=1))
    os.replace(tmp, path)
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
    the host).  cycles: the accelerator estimate, for explain.
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


def _transfers(blocked: int, nchw: int, link: LinkProfile, cpu: CpuModel,
               gpu: LinkProfile | None, itemsize: int = 1) -> dict[tuple[str, str], float]:
    """Seconds to move one tensor across each device pair: the link copy of the blocked
    bytes plus the host's NCHW<->blocked transform; with a GPU, its link's copy of the NCHW
    elements at ``itemsize`` bytes (through the host between the GPU and the accelerator)."""
    t = link.seconds(blocked) + cpu.seconds("layout", blocked + nchw)
    out = {(VTA, CPU): t, (CPU, VTA): t}
    if gpu is not None:
        g = gpu.seconds(nchw * itemsize)
        out |= {(CPU, GPU): g, (GPU, CPU): g, (GPU, VTA): g + t, (VTA, GPU): g + t}
    return out


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
        out.append(CostNode(name, {CPU: 0.0}, (), b, _transfers(b, nb, link, cpu, gpu_link),
                            kind="input", label="graph input"))
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
        out.append(CostNode(n.name, costs, tuple(n.inputs), b,
                            _transfers(b, nb, link, cpu, gpu_link, n.itemsize), incapable,
                            "op", label, cycles))
    for o in outputs:
        out.append(CostNode(f"output:{o}", {CPU: 0.0}, (o,), kind="output",
                            label="graph output"))
    return tuple(out)


__all__ = ["LINKS", "LinkProfile", "uart_link", "link_for", "tensor_bytes", "AcceleratorCost",
           "accelerator_cost", "cpu_features", "fit_weight_factor", "CpuModel", "host_key",
           "calibration_ops", "GEMM_KINDS",
           "measure_op", "bound_kernel", "measure_in_rotation", "fit_line", "calibrate_cpu",
           "cpu_model",
           "OpNode", "CostNode",
           "build_cost_graph", "VTA", "CPU", "GPU", "DEVICES"]
