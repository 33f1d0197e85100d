"""The GPU in the partitioner: the roofline of ``gpu_model`` (priced from the kernels the
GPU would launch), a GPU cost table (``OpNode.gpu_seconds``) solved by the same solver with
pins, and the host<->GPU copies priced on the spec's PCIe link.  No GPU is needed."""

from __future__ import annotations

import dataclasses
import re

import pytest

from compiler.partition.api import partition
from compiler.partition.costs import (
    CPU_KINDS,
    AcceleratorCost,
    CpuModel,
    OpNode,
    build_cost_graph,
)
from compiler.partition.errors import PartitionError
from compiler.partition.gpu_model import GPUS, THREADS_PER_SM_BUSY, gpu_cost, gpu_spec
from compiler.partition.solve import crossings, explain, latency
from opset import AluStep, Conv2d, Dense, DepthwiseConv2d, Elementwise, Epilogue, Requant
from runtime.host_ops import HostOp, OnnxHostOp
from runtime.links import GPU_LINKS
from vta_hw.config import DEFAULT

EP = Epilogue(requant=Requant(1, 8))
A100 = GPUS["a100"]


def flat_cpu(seconds: float = 1e-3) -> CpuModel:
    """A CPU on which every kernel and layout transform costs ``seconds``."""
    return CpuModel("flat", {k: (seconds, 1e30) for k in CPU_KINDS})


def no_vta(op, cfg) -> AcceleratorCost:
    return AcceleratorCost(None, None, "test: no accelerator")


def test_presets_and_bad_specs_are_named():
    assert gpu_spec("l4").arch == "sm_89" and gpu_spec("a100").link_profile is GPU_LINKS[
        "pcie4x16"]
    with pytest.raises(PartitionError, match=r"--gpu-spec 'h200'.*\['a100', 'l4', 'rtx4090'\]"):
        gpu_spec("h200")
    with pytest.raises(PartitionError, match="efficiency must be in"):
        dataclasses.replace(A100, efficiency=0.0)
    with pytest.raises(PartitionError, match="unknown link 'nvlink'"):
        dataclasses.replace(A100, link="nvlink")
    with pytest.raises(PartitionError, match="sms must be > 0"):
        dataclasses.replace(A100, sms=0)


def test_roofline_compute_bound_gemm_memory_bound_elementwise():
    big = Conv2d(1, 256, 56, 56, 512, 3, 3, pad=(1, 1), epilogue=EP)  # 392 blocks of 256
    g = gpu_cost(big, A100)
    assert g.kernels == 2 and g.utilization == 1.0  # tiled GEMM + requantization
    assert g.compute_s == pytest.approx(2 * big.macs / (A100.int_ops * A100.efficiency))
    assert g.compute_s > g.memory_s
    assert g.seconds == pytest.approx(2 * A100.launch_s + g.compute_s)
    add = Elementwise((1, 64, 56, 56), (AluStep("add"),))
    e = gpu_cost(add, A100)
    assert e.kernels == 1 and e.compute_s == 0.0
    assert e.memory_s == pytest.approx(3 * 64 * 56 * 56 / A100.mem_bytes_per_s)
    # a faster memory makes the element-wise op cheaper, not the compute-bound conv
    fast = dataclasses.replace(A100, mem_bytes_per_s=10 * A100.mem_bytes_per_s)
    assert gpu_cost(add, fast).seconds < e.seconds
    assert gpu_cost(big, fast).seconds == pytest.approx(g.seconds)


def test_a_kernel_that_cannot_fill_the_gpu_is_priced_by_its_threads():
    """The depthwise kernel runs one thread per output row: on a 108-SM GPU that is a
    fraction of the threads that keep it busy, and the compute time grows by that much."""
    dw = DepthwiseConv2d(1, 32, 28, 28, 3, 3, pad=(1, 1), epilogue=EP)
    d = gpu_cost(dw, A100)
    threads = 7 * 128  # main kernel: n * c * output rows = 896, in 128-thread blocks
    assert d.utilization == pytest.approx(threads / (A100.sms * THREADS_PER_SM_BUSY))
    assert d.compute_s == pytest.approx(2 * dw.macs / (A100.int_ops * A100.efficiency
                                                       * d.utilization))


def test_ops_the_gpu_cannot_run_say_why():
    q = HostOp("quantize", "q", (1, 8), scale=0.5)
    assert gpu_cost(q, A100).seconds is None and "cpu" in gpu_cost(q, A100).reason
    ln = OnnxHostOp("ln", "Erf", {}, ((2, 8),), ("float32",), (2, 8), "float32")
    assert "no GPU kernel for the float ONNX op Erf" in gpu_cost(ln, A100).reason
    sm = OnnxHostOp("sm", "Softmax", {"axis": -1}, ((2, 8),), ("float32",), (2, 8), "float32")
    s = gpu_cost(sm, A100)
    assert s.seconds == pytest.approx(A100.launch_s + 2 * 2 * 8 * 4 / A100.mem_bytes_per_s)
    sm0 = OnnxHostOp("sm0", "Softmax", {"axis": 0}, ((2, 8),), ("float32",), (2, 8), "float32")
    assert "reduces the last axis" in gpu_cost(sm0, A100).reason


def _chain() -> tuple[list[OpNode], dict]:
    """x -> a -> b -> c -> d (four dense layers of one shape), output d."""
    dense = Dense(1, 256, 256, epilogue=EP)
    names = ["a", "b", "c", "d"]
    nodes = [OpNode(n, dataclasses.replace(dense, name=n), (p,))
             for n, p in zip(names, ["x", *names[:-1]], strict=True)]
    return nodes, {"x": (1, 256)}


def test_a_gpu_cost_table_is_solved_with_pins_and_priced_transfers():
    """GPU costs given per node (a table): b and c are 10x cheaper on the GPU, a and d
    dearer.  The solver moves b and c there when the two PCIe copies cost less than what
    they save, and keeps them on the CPU when the link is slow; a pin holds."""
    nodes, inputs = _chain()
    table = {"a": 5e-3, "b": 1e-4, "c": 1e-4, "d": 5e-3}
    nodes = [dataclasses.replace(n, gpu_seconds=table[n.name]) for n in nodes]
    kw = dict(cpu=flat_cpu(1e-3), accelerator=no_vta, gpu=A100)
    p = partition(nodes, inputs, ["d"], DEFAULT, targets=("vta", "cpu", "gpu"), **kw)
    assert {k: v for k, v in p.assignment.items() if k in table} == {
        "a": "cpu", "b": "gpu", "c": "gpu", "d": "cpu"}
    link = A100.link_profile
    copies = crossings(p.graph, p.assignment)
    assert [(t, s, d, n) for t, s, d, n, _ in copies] == [("a", "cpu", "gpu", 256),
                                                          ("c", "gpu", "cpu", 256)]
    assert all(sec == pytest.approx(link.seconds(256)) for *_, sec in copies)
    assert p.seconds == pytest.approx(2e-3 + 2e-4 + 2 * link.seconds(256))
    assert re.search(r"^\s*b\s+-> gpu\b", explain(p), re.M)
    # a pin to the CPU splits the GPU run: c alone does not pay for its two copies
    p2 = partition(nodes, inputs, ["d"], DEFAULT, targets=("vta", "cpu", "gpu"),
                   pins={"b": "cpu"}, **kw)
    assert p2.assignment["b"] == "cpu" and p2.assignment["c"] == "gpu"
    assert p2.seconds == pytest.approx(3e-3 + 1e-4 + 2 * link.seconds(256))
    # savings smaller than the two copies keep everything on the CPU
    close = [dataclasses.replace(n, gpu_seconds=0.995e-3) for n in nodes]
    p3 = partition(close, inputs, ["d"], DEFAULT, targets=("vta", "cpu", "gpu"), **kw)
    assert {p3.assignment[n] for n in table} == {"cpu"}
    # the copies follow the spec's link: PCIe 3.0 costs more per byte than 4.0
    slow = dataclasses.replace(A100, link="pcie3x16")
    graph = build_cost_graph(nodes, inputs, ["d"], DEFAULT, cpu=flat_cpu(1e-3),
                             accelerator=no_vta, gpu=slow)
    a = next(n for n in graph if n.name == "a")
    assert a.transfer[("cpu", "gpu")] == pytest.approx(GPU_LINKS["pcie3x16"].seconds(256))
    assert a.transfer[("gpu", "vta")] == pytest.approx(
        GPU_LINKS["pcie3x16"].seconds(256) + a.transfer[("cpu", "vta")])


def test_the_spec_prices_opset_ops_and_the_solver_uses_the_gpu_when_cheaper():
    """No table: with a GpuSpec the big convolutions go to the GPU; with a GPU whose
    launches cost a second, nothing does; GPU-incapable host nodes stay on the CPU."""
    big = Conv2d(1, 64, 56, 56, 64, 3, 3, pad=(1, 1), epilogue=EP, name="conv")
    nodes = [OpNode("conv", big, ("x",)),
             OpNode("post", None, ("conv",), (1, 64, 56, 56), cpu_seconds=1e-5)]
    kw = dict(cpu=flat_cpu(5e-3), accelerator=no_vta)
    p = partition(nodes, {"x": (1, 64, 56, 56)}, ["post"], DEFAULT,
                  targets=("vta", "cpu", "gpu"), gpu=A100, **kw)
    assert p.assignment["conv"] == "gpu" and p.assignment["post"] == "cpu"
    node = next(n for n in p.graph if n.name == "conv")
    assert node.costs["gpu"] == pytest.approx(gpu_cost(big, A100).seconds)
    assert next(n for n in p.graph if n.name == "post").incapable["gpu"] == \
        "no GPU kernel for this host step"
    sluggish = dataclasses.replace(A100, launch_s=1.0)
    p2 = partition(nodes, {"x": (1, 64, 56, 56)}, ["post"], DEFAULT,
                   targets=("vta", "cpu", "gpu"), gpu=sluggish, **kw)
    assert p2.assignment["conv"] == "cpu"
    # with the GPU left out of the targets the spec changes nothing
    p3 = partition(nodes, {"x": (1, 64, 56, 56)}, ["post"], DEFAULT, targets=("vta", "cpu"),
                   gpu=A100, **kw)
    assert p3.assignment["conv"] == "cpu"
    assert latency(p3.graph, p3.assignment) == pytest.approx(5e-3 + 1e-5)
