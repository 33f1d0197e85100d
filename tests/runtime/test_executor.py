"""The graph executor: a module built by the builder, saved and loaded, runs a batch of
samples on the simulator (and the RTL for one small case) bit-exact against
``opset.reference`` chained in numpy, with one profile entry per op, weights uploaded
once, and a trace across devices."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from compiler.module_builder import build_module
from runtime.device import Buffer, Device, LaunchResult
from runtime.executor import Executor, InputError, check_inputs
from runtime.module import layout_nbytes, load_module
from runtime.sim_device import SimDevice
from tests.runtime.models import branchy, build_cnn, cnn, images, reference_run
from tests.toolchain import require_verilator
from vta_hw.config import TINY

SAMPLES = 3


class CountingDevice(Device):
    """Delegates to ``inner`` and counts what crosses to it: bytes loaded (program images),
    bytes copied in per run, and every launch's result; ``keep_detail=False`` drops the
    simulator's records (a device that reports only a program's total)."""

    def __init__(self, inner: Device, keep_detail: bool = True) -> None:
        self.inner, self.keep_detail = inner, keep_detail
        self.name = inner.name
        self.memory_bytes = inner.memory_bytes
        self.loaded = self.copied_in = 0
        self.launches: list[LaunchResult] = []

    @property
    def link_profile(self):
        return self.inner.link_profile

    def allocate(self, nbytes: int) -> Buffer:
        return self.inner.allocate(nbytes)

    def copy_in(self, buf: Buffer, data) -> None:
        self.copied_in += len(data) if isinstance(data, bytes) else np.asarray(data).nbytes
        self.inner.copy_in(buf, data)

    def copy_out(self, buf: Buffer) -> bytes:
        return self.inner.copy_out(buf)

    def load(self, program: Any, **kw: Any) -> Any:
        self.loaded += len(program.dram)
        return self.inner.load(program, **kw)

    def launch(self, handle: Any, *args: Any, **kwargs: Any) -> LaunchResult:
        r = self.inner.launch(handle)
        if not self.keep_detail:
            r = LaunchResult(r.device, r.cycles, r.wall_seconds, r.stats, None)
        self.launches.append(r)
        return r

    def synchronize(self) -> Any:
        return self.inner.synchronize()

    def free(self, buf: Buffer) -> None:
        self.inner.free(buf)


@pytest.fixture(scope="module", params=[(False, "cpu"), (True, "cpu"), (False, "accelerator")],
                ids=["separate", "chained", "dense-on-accelerator"])
def case(request, tmp_path_factory):
    chained, fc = request.param
    path = build_cnn(TINY, chained=chained, fc=fc).save(tmp_path_factory.mktemp("m") / "m.vtam")
    module = load_module(path, TINY)
    dev = CountingDevice(SimDevice(TINY))
    ex = Executor(module, dev)
    x = images(SAMPLES)
    run = ex.run({"image": x})
    return (chained, fc), module, dev, ex, x, run


def test_outputs_are_bit_exact_against_the_reference(case):
    (chained, fc), module, dev, ex, x, run = case
    nodes, consts = cnn(chained, fc=fc)
    assert run.outputs["logits"].shape == (SAMPLES, 1, 10)
    for k in range(SAMPLES):
        want = reference_run(nodes, consts, {"image": x[k]})["logits"]
        np.testing.assert_array_equal(run.outputs["logits"][k], want)
    assert len({run.outputs["logits"][k].tobytes() for k in range(SAMPLES)}) == SAMPLES


def test_one_profile_entry_per_op(case):
    (chained, _), module, dev, ex, x, run = case
    layers, totals = run.profile["layers"], run.profile["totals"]
    assert [e["name"] for e in layers] == [s.name for s in module.steps]
    for e, s in zip(layers, module.steps, strict=True):
        assert e["op"] == s.op.kind and e["macs"] == SAMPLES * s.op.macs
        if s.device == "accelerator":
            assert e["device"] == "sim" and e["cycles"] > 0 and "seconds" not in e
        else:
            assert e["device"] == "cpu" and e["seconds"] > 0 and "cycles" not in e
        assert e["bytes_out"] >= 0 and e["bytes_in"] >= 0
    # the per-op cycles of each program add up to the launches' cycles exactly
    assert totals["accelerator_cycles"] == sum(r.cycles for r in dev.launches)
    assert totals["accelerator_cycles"] == sum(e.get("cycles", 0) for e in layers)
    assert totals["macs_total"] == SAMPLES * sum(s.op.macs for s in module.steps)
    assert totals["macs_on_accelerator"] == SAMPLES * sum(
        s.op.macs for s in module.steps if s.device == "accelerator")
    assert totals["host_seconds"] == pytest.approx(sum(e.get("seconds", 0) for e in layers))
    want_ms = (totals["accelerator_cycles"] / (TINY.target_clock_mhz * 1e3)
               + totals["host_seconds"] * 1e3) / SAMPLES
    assert totals["estimated_latency_ms"] == pytest.approx(want_ms)
    assert totals["samples"] == SAMPLES
    if chained:  # t1 stays on the device between conv1 and conv1b
        by = {e["name"]: e for e in layers}
        assert by["conv1"]["bytes_out"] == 0 and by["conv1b"]["bytes_in"] == 0
        assert by["conv1"]["cycles"] > 0 and by["conv1b"]["cycles"] > by["conv1"]["cycles"]


def test_weights_are_uploaded_once(case):
    _, module, dev, ex, x, run = case
    assert dev.loaded == sum(len(p.bundle.dram) for p in module.programs)
    per_sample = sum(layout_nbytes(t.layout) for p in module.programs for t in p.feeds)
    assert dev.copied_in == SAMPLES * per_sample
    weights = sum(module.constants[n].nbytes for n in ("w1", "w2"))
    assert per_sample > 0
    assert per_sample < weights  # nothing as large as the weights is sent per sample
    before = (dev.loaded, dev.copied_in)
    ex.run({"image": x[0]})  # one more sample: only its input crosses again
    assert (dev.loaded, dev.copied_in) == (before[0], before[1] + per_sample)


def test_unbatched_inputs_give_unbatched_outputs(case):
    _, module, dev, ex, x, run = case
    one = ex.run({"image": x[1]})
    np.testing.assert_array_equal(one.outputs["logits"], run.outputs["logits"][1])
    assert one.profile["totals"]["samples"] == 1


def test_trace_shows_the_pipelined_schedule(case):
    """Accelerator programs (with their link copies) and host ops on one timeline: never two
    slices at once on one resource, each sample's stages in order, and consecutive samples
    overlapping across the two resources."""
    (chained, fc), module, dev, ex, x, run = case
    trace = json.loads(json.dumps(run.trace()))
    slices = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert {e["pid"] for e in slices} == {0, 1}
    names = {e["name"] for e in slices}
    assert {s.name for s in module.steps} <= names
    if chained:
        assert "conv1+conv1b" in names
    host = [e for e in slices if e["pid"] == 1 and e["tid"] == 0]
    layout = [e for e in slices if e["pid"] == 1 and e["tid"] == 1]
    programs = [e for e in slices if e["pid"] == 0 and e["tid"] == 0]
    copies = [e for e in slices if e["pid"] == 0 and e["tid"] == 2]
    n_host = sum(s.device == "cpu" for s in module.steps)
    assert len(host) == n_host * SAMPLES and len(programs) == len(module.programs) * SAMPLES
    assert len(copies) == 2 * len(programs) and len(layout) == 2 * len(programs)
    assert all(e["dur"] > 0 for e in copies)
    resources = {"host": host + layout, "accelerator": programs + copies}
    for on in resources.values():
        ordered = sorted(on, key=lambda e: e["ts"])
        for a, b in zip(ordered, ordered[1:], strict=False):
            assert a["ts"] + a["dur"] <= b["ts"] + 1e-6, (a, b)
    for k in range(SAMPLES):  # one sample's slices run one after another
        mine = sorted((e for e in host + layout + programs if e["args"]["sample"] == k),
                      key=lambda e: e["ts"])
        for a, b in zip(mine, mine[1:], strict=False):
            assert a["ts"] + a["dur"] <= b["ts"] + 1e-6, (a, b)
    # consecutive samples on the two resources at once: which way round depends on the
    # measured host times (the next sample's packing during this one's program, or this
    # one's host steps during the next one's program); a non-delay schedule has one of them
    overlap = [(a["name"], b["name"]) for a in programs for b in host + layout
               if abs(a["args"]["sample"] - b["args"]["sample"]) == 1
               and a["ts"] < b["ts"] + b["dur"] and b["ts"] < a["ts"] + a["dur"]]
    assert overlap
    totals = run.profile["totals"]
    end = max(e["ts"] + e["dur"] for e in slices)
    assert end == pytest.approx(totals["pipelined_ms"] * 1e3)
    assert totals["pipelined_ms"] < totals["sequential_ms"]


def test_without_instruction_records_a_program_is_one_entry():
    module = build_cnn(TINY, chained=True)
    dev = CountingDevice(SimDevice(TINY), keep_detail=False)
    run = Executor(module, dev).run({"image": images(1)})
    names = [e["name"] for e in run.profile["layers"]]
    assert names == ["conv1+conv1b", "pool", "conv2", "gap", "fc"]
    assert run.profile["layers"][0]["op"] == "conv2d+conv2d"
    assert run.profile["layers"][0]["cycles"] == dev.launches[0].cycles


@pytest.mark.parametrize("inputs, match", [
    ({}, "missing array"),
    ({"image": images(2), "other": images(1)}, "unexpected array"),
    ({"image": images(2)[:, :, :2]}, r"shape \(2, 1, 2, 8, 8\), expected \(1, 3, 8, 8\)"),
    ({"image": images(2).astype(np.int16)}, "dtype int16, expected int8"),
    ({"image": images(2)[:, 0]}, "shape"),
])
def test_bad_inputs_are_named(inputs, match):
    module = build_cnn(TINY)
    with pytest.raises(InputError, match=match):
        check_inputs(module, inputs)


def test_rtl_gives_the_simulators_bytes_and_cycles():
    require_verilator()
    from runtime.rtl_device import RtlSimDevice

    module = build_cnn(TINY, size=4)
    x = images(SAMPLES, size=4)
    sim = Executor(module, SimDevice(TINY)).run({"image": x})
    rtl = Executor(module, RtlSimDevice(TINY)).run({"image": x})
    np.testing.assert_array_equal(rtl.outputs["logits"], sim.outputs["logits"])
    assert (rtl.profile["totals"]["accelerator_cycles"]
            == sim.profile["totals"]["accelerator_cycles"])
    assert [e["name"] for e in rtl.profile["layers"]] == [s.name for s in module.steps]


def test_residual_elementwise_and_pool_programs_with_two_outputs():
    nodes, consts = branchy()
    module = build_module(nodes, TINY, constants=consts, outputs=["y", "t3"])
    (first, second) = module.programs
    assert second.steps == (2, 3, 4)  # c2 -> add -> ap chained
    assert sorted(t.tensor for t in second.feeds) == ["t1", "t2", "x"]
    assert sorted(t.tensor for t in second.results) == ["t3", "y"]  # t4 stays on the device
    x = np.random.default_rng(4).integers(-128, 128, (2, 1, 8, 6, 6), dtype=np.int8)
    run = Executor(module, SimDevice(TINY)).run({"x": x})
    for k in range(2):
        env = reference_run(nodes, consts, {"x": x[k]})
        for name in ("y", "t3"):
            np.testing.assert_array_equal(run.outputs[name][k], env[name])


def test_a_step_on_the_gpu_without_a_gpu_is_one_clear_error(tmp_path):
    """A module with a GPU step on a machine without a usable GPU is refused at load,
    naming the steps and why there is no GPU (tests/runtime/test_gpu_steps.py runs one
    where there is)."""
    from runtime.device import DeviceError
    from runtime.gpu_runner import open_gpu

    nodes, consts = cnn(fc="gpu")
    module = load_module(build_module(nodes, TINY, constants=consts, outputs=["logits"])
                         .save(tmp_path / "gpu.vtam"))
    assert module.partition["fc"] == "gpu"
    try:
        open_gpu()
    except DeviceError:
        pass
    else:
        pytest.skip("a GPU is present: the no-GPU error cannot be exercised")
    with pytest.raises(DeviceError, match=r"step\(s\) \['fc'\] are assigned to the gpu, and "
                                          r"there is no usable GPU here \(GpuDevice.*"
                                          r"--gpu sim.*--targets vta,cpu"):
        Executor(module, SimDevice(TINY))
