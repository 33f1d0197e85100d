"""The GPU's side of the cost model: an analytical roofline over the kernels the GPU runs.

There is no GPU on the development host, so the GPU cannot be calibrated like the CPU
(``costs.CpuModel``); it is described by a :class:`GpuSpec` (datasheet figures, one preset
per card) and each op is priced from its actual GPU plan (``runtime.gpu_steps.gpu_plan``,
the kernels the executor would launch):

``seconds = kernels * launch_s + max(ops / (peak * efficiency * utilization), bytes / bw)``

* ``ops``: 2 per MAC (the int8 kernels multiply-add in int32 on the CUDA cores: ``int_ops``
  is the card's int32 rate; float kernels use ``f32_flops``);
* ``utilization``: the threads launched by the op's narrowest kernel (the one whose
  parallelism bounds the op: the tiled GEMM of a conv, not its per-element epilogue) over
  the threads that keep every SM busy (``sms * THREADS_PER_SM_BUSY``), at most 1 -- a
  depthwise or pooling kernel with one thread per output row cannot fill a GPU, and this
  is what prices that;
* ``bytes``: every buffer of the plan once, scratch buffers twice (written, then read);
* ``efficiency``: the fraction of peak a tiled CUDA-core GEMM of this kind reaches.

Transfers between the host and the GPU use the card's PCIe link (``runtime.links.GPU_LINKS``)
with the tensor's NCHW bytes (the GPU kernels read NCHW: no layout transform); between the
GPU and the accelerator a tensor goes through the host (both copies plus the accelerator's
layout transform).

Presets (:data:`GPUS`; ``vta compile --gpu-spec NAME``) are sm_80 and newer, the
architectures the NVPTX backend emits for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from compiler.partition.errors import PartitionError
from runtime.links import GPU_LINKS, LinkProfile

THREADS_PER_SM_BUSY = 512  # 16 warps per SM: enough to hide arithmetic and memory latency


@dataclass(frozen=True)
class GpuSpec:
    """One NVIDIA GPU as the cost model sees it (all rates per second)."""

    name: str
    arch: str
    sms: int
    f32_flops: float
    int_ops: float
    mem_bytes_per_s: float
    launch_s: float
    link: str
    efficiency: float = 0.5
    source: str = ""

    def __post_init__(self) -> None:
        for field_name in ("sms", "f32_flops", "int_ops", "mem_bytes_per_s"):
            if not getattr(self, field_name) > 0:
                raise PartitionError(f"GpuSpec {self.name!r}: {field_name} must be > 0, got "
                                     f"{getattr(self, field_name)!r}")
        if not 0 < self.efficiency <= 1:
            raise PartitionError(f"GpuSpec {self.name!r}: efficiency must be in (0, 1], got "
                                 f"{self.efficiency!r}")
        if self.launch_s < 0:
            raise PartitionError(f"GpuSpec {self.name!r}: launch_s must be >= 0")
        if self.link not in GPU_LINKS:
            raise PartitionError(f"GpuSpec {self.name!r}: unknown link {self.link!r}; known: "
                                 f"{sorted(GPU_LINKS)}")

    @property
    def link_profile(self) -> LinkProfile:
        return GPU_LINKS[self.link]

    @property
    def busy_threads(self) -> int:
        return self.sms * THREADS_PER_SM_BUSY


GPUS: dict[str, GpuSpec] = {
    "a100": GpuSpec("a100", "sm_80", 108, 19.5e12, 19.5e12, 1.555e12, 5e-6, "pcie4x16",
                    source="A100 40GB PCIe datasheet: 19.5 TFLOPS fp32, int32 at the fp32 "
                           "rate (GA100), 1555 GB/s HBM2, PCIe 4.0 x16"),
    "l4": GpuSpec("l4", "sm_89", 58, 30.3e12, 15.1e12, 300e9, 5e-6, "pcie4x16",
                  source="L4 datasheet: 30.3 TFLOPS fp32, int32 at half the fp32 rate (Ada), "
                         "300 GB/s GDDR6, PCIe 4.0 x16"),
    "rtx4090": GpuSpec("rtx4090", "sm_89", 128, 82.6e12, 41.3e12, 1.008e12, 5e-6, "pcie4x16",
                       source="RTX 4090: 82.6 TFLOPS fp32, int32 at half the fp32 rate (Ada), "
                              "1008 GB/s GDDR6X, PCIe 4.0 x16"),
}


def gpu_spec(name: str) -> GpuSpec:
    """A preset by name (``--gpu-spec``); an unknown name lists the known ones."""
    if name not in GPUS:
        raise PartitionError(f"--gpu-spec {name!r}: unknown GPU; known: {sorted(GPUS)}")
    return GPUS[name]


@dataclass(frozen=True)
class GpuCost:
    """One op on the GPU: seconds, or why the GPU cannot run it (``seconds`` None); the
    roofline's parts for explanations and tests."""

    seconds: float | None
    reason: str = ""
    kernels: int = 0
    compute_s: float = 0.0
    memory_s: float = 0.0
    utilization: float = 0.0


def gpu_cost(op: object, spec: GpuSpec) -> GpuCost:
    """Price ``op`` (an opset op or a module host op) on ``spec`` from its GPU plan."""
    from runtime.gpu_steps import gpu_plan, gpu_unsupported

    why = gpu_unsupported(op)
    if why is not None:
        return GpuCost(None, why)
    plan = gpu_plan(op)
    threads = min(math.prod(st.grid) * math.prod(st.block) for st in plan.steps)
    util = min(1.0, threads / spec.busy_threads)
    nbytes = sum(b.size * b.ty.itemsize * (2 if b.role == "temp" else 1)
                 for b in plan.buffers)
    floats = any(b.ty.is_float for b in plan.outputs)
    peak = spec.f32_flops if floats else spec.int_ops
    compute = 2.0 * int(getattr(op, "macs", 0)) / (peak * spec.efficiency * util)
    memory = nbytes / spec.mem_bytes_per_s
    seconds = len(plan.steps) * spec.launch_s + max(compute, memory)
    return GpuCost(seconds, "", len(plan.steps), compute, memory, util)


__all__ = ["GpuSpec", "GPUS", "gpu_spec", "GpuCost", "gpu_cost", "THREADS_PER_SM_BUSY"]
