"""Accelerator/host overlap (runtime.overlap, ``Executor(overlap=True)``): a batch with
two samples in flight gives exactly the sequential run's outputs and profile, uses the
device from one thread at a time (the worker's), surfaces a device error as it is and
leaves no thread behind; the scheduler really runs host work while a request is served."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from compiler.frontend import import_onnx
from compiler.graph.lower import lower
from compiler.graph.pipeline import run_quantization
from compiler.module_builder import Node, build_module
from opset import AluStep, Conv2d, Elementwise, Epilogue, Pool2d, Requant
from runtime.cpu_device import CpuDevice
from runtime.device import DeviceError
from runtime.devices import open_device
from runtime.executor import Executor
from runtime.module import Module
from runtime.overlap import run_overlapped, run_sequential
from runtime.sim_device import SimDevice
from tests.compiler.graph.lower_models import calib, small_cnn
from tests.runtime.models import build_cnn, cnn, images, reference_run
from tests.runtime.test_executor import CountingDevice
from tests.runtime.test_host_program import _float_module, mixed_cnn
from vta_hw.config import TINY, preset

CFG = preset("default")


class GuardedDevice(CountingDevice):
    """Records which thread calls the device and fails if two calls ever overlap;
    ``fail_at``: the launch (counted from 1) that raises a DeviceError."""

    def __init__(self, inner: Any, fail_at: int | None = None) -> None:
        super().__init__(inner)
        self._lock = threading.Lock()
        self.threads: set[str] = set()
        self.clashes = 0
        self.fail_at = fail_at

    def _enter(self) -> None:
        if not self._lock.acquire(blocking=False):
            self.clashes += 1
            self._lock.acquire()
        self.threads.add(threading.current_thread().name)

    def copy_in(self, buf, data) -> None:
        self._enter()
        try:
            super().copy_in(buf, data)
        finally:
            self._lock.release()

    def copy_out(self, buf) -> bytes:
        self._enter()
        try:
            return super().copy_out(buf)
        finally:
            self._lock.release()

    def launch(self, handle, *args, **kwargs):
        self._enter()
        try:
            if self.fail_at is not None and len(self.launches) + 1 == self.fail_at:
                raise DeviceError(f"{self.name}: launch {self.fail_at} failed on purpose")
            return super().launch(handle)
        finally:
            self._lock.release()

    def synchronize(self):
        self._enter()
        try:
            return super().synchronize()
        finally:
            self._lock.release()


def _both(module: Module, cfg, feeds: dict[str, np.ndarray], **kw: Any):
    """(sequential run, overlapped run, the overlapped run's guarded device)."""
    out = []
    for overlap in (False, True):
        dev = GuardedDevice(open_device("sim", cfg))
        ex = Executor(module, dev, overlap=overlap, **kw)
        try:
            out.append((ex.run(feeds), dev))
        finally:
            ex.close()
    (seq, _), (ovl, dev) = out
    return seq, ovl, dev


def _same_profile(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Layers equal but for measured seconds; cycles and modelled totals identical."""
    def strip(e):
        return {k: v for k, v in e.items() if k not in ("seconds", "measured_s")}

    assert [strip(e) for e in a["layers"]] == [strip(e) for e in b["layers"]]
    for k in ("accelerator_cycles", "macs_total", "macs_on_accelerator", "samples"):
        assert a["totals"][k] == b["totals"][k]


def skip_model(seed: int = 7) -> tuple[list[Node], dict[str, np.ndarray]]:
    """A host tensor live across an accelerator program: the CPU pool's output ``t2``
    feeds conv2 on the accelerator and, after it, the CPU add (so two samples in flight
    need two host buffers for ``t2``)."""
    rng = np.random.default_rng(seed)
    consts = {"w1": rng.integers(-128, 128, (8, 3, 3, 3), dtype=np.int8),
              "w2": rng.integers(-128, 128, (8, 8, 3, 3), dtype=np.int8)}
    nodes = [
        Node(Conv2d(1, 3, 8, 8, 8, 3, 3, 1, 1, Epilogue(requant=Requant(1, 7), relu=True),
                    name="conv1"), "accelerator", {"x": "image", "w": "w1"}, "t1"),
        Node(Pool2d(1, 8, 8, 8, "max", 2, 2, 2, name="pool"), "cpu", {"x": "t1"}, "t2"),
        Node(Conv2d(1, 8, 4, 4, 8, 3, 3, 1, 1, Epilogue(requant=Requant(1, 9)),
                    name="conv2"), "accelerator", {"x": "t2", "w": "w2"}, "t3"),
        Node(Elementwise((1, 8, 4, 4), (AluStep("add", None), AluStep("rshr", 1)),
                         name="add"), "cpu", {"a": "t3", "b": "t2"}, "y"),
    ]
    return nodes, consts


@pytest.fixture(scope="module", params=["separate", "chained", "skip"])
def int8_cnn(request):
    if request.param == "skip":
        nodes, consts = skip_model()
        return (nodes, consts), build_module(nodes, TINY, constants=consts, outputs=["y"])
    chained = request.param == "chained"
    return cnn(chained, fc="cpu"), build_cnn(TINY, chained=chained, fc="cpu")


@pytest.mark.parametrize("samples", [1, 2, 3, 5])
def test_int8_batch_is_bit_exact_and_profiled_as_sequential(int8_cnn, samples):
    (nodes, consts), module = int8_cnn
    x = images(samples)
    seq, ovl, dev = _both(module, TINY, {"image": x})
    (out,) = module.outputs
    for k in range(samples):
        want = reference_run(nodes, consts, {"image": x[k]})[out]
        np.testing.assert_array_equal(ovl.outputs[out][k], want)
    assert len({ovl.outputs[out][k].tobytes() for k in range(samples)}) == samples
    np.testing.assert_array_equal(ovl.outputs[out], seq.outputs[out])
    _same_profile(seq.profile, ovl.profile)
    assert dev.clashes == 0
    # with two samples or more the device is driven from the worker thread only
    if samples > 1:
        assert dev.threads and all(t.startswith("accelerator") for t in dev.threads)
    else:
        assert dev.threads == {threading.current_thread().name}
    assert not [t for t in threading.enumerate() if t.name.startswith("accelerator")]


@pytest.fixture(scope="module")
def quantized_small_cnn():
    qg = run_quantization(import_onnx(small_cnn()), [{"x": s} for s in calib()["x"]])
    return lower(qg, CFG, targets=("vta", "cpu")).module


@pytest.mark.parametrize("samples", [2, 5])
def test_mixed_module_float_outputs_are_identical(quantized_small_cnn, samples):
    """Accelerator programs with host quantize/dequantize between them: the float
    outputs of the overlapped run are the sequential run's, bit for bit."""
    m = quantized_small_cnn
    assert m.programs and any(s.device == "cpu" for s in m.steps)
    xs = np.random.default_rng(4).standard_normal((samples, 1, 3, 16, 16)).astype(np.float32)
    seq, ovl, dev = _both(m, CFG, {"x": xs}, host=CpuDevice(threads=1))
    for n in m.outputs:
        assert ovl.outputs[n].dtype == np.float32 and np.ptp(ovl.outputs[n]) > 0
        np.testing.assert_array_equal(ovl.outputs[n], seq.outputs[n])
    _same_profile(seq.profile, ovl.profile)
    assert dev.clashes == 0


@pytest.mark.parametrize("samples", [1, 3])
def test_float_cpu_only_module_is_identical(samples):
    m = _float_module(mixed_cnn())
    xs = np.random.default_rng(6).standard_normal((samples, 1, 3, 12, 12)).astype(np.float32)
    seq, ovl, _ = _both(m, CFG, {"x": xs}, host=CpuDevice(threads=1))
    for n in m.outputs:
        np.testing.assert_array_equal(ovl.outputs[n], seq.outputs[n])
    _same_profile(seq.profile, ovl.profile)


def test_a_device_error_in_the_worker_surfaces_and_no_thread_is_left():
    module = build_cnn(TINY, chained=True, fc="cpu")
    dev = GuardedDevice(SimDevice(TINY), fail_at=3)
    ex = Executor(module, dev)
    try:
        with pytest.raises(DeviceError, match="launch 3 failed on purpose"):
            ex.run({"image": images(4)})
    finally:
        ex.close()
    assert dev.clashes == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("accelerator")]


def test_the_host_work_of_one_job_runs_while_the_others_request_is_served():
    """The request of job 0 is only answered once job 1's host part has run: sequentially
    that can never happen (the serve times out), overlapped it always does."""
    def scenario(driver) -> list[str]:
        host_done = threading.Event()
        log: list[str] = []

        def serve(req: int) -> str:
            if req == 0:
                log.append("served-after-host" if host_done.wait(2.0) else "served-alone")
            return f"r{req}"

        def job(k: int):
            def gen(slot: int):
                # two in flight: each on its own slot; one at a time: all on slot 0
                assert slot == (k if driver is run_overlapped else 0)
                if k == 1:
                    host_done.set()
                got = yield k
                return got
            return gen

        assert driver([job(0), job(1)], serve) == ["r0", "r1"]
        return log

    assert scenario(run_overlapped) == ["served-after-host"]
    assert scenario(run_sequential) == ["served-alone"]


def test_an_error_in_a_job_closes_the_other_and_joins_the_worker():
    closed: list[int] = []

    def job(k: int):
        def gen(slot: int):
            try:
                yield k
                if k == 0:
                    raise ValueError("job 0 failed on its host part")
                yield k
            finally:
                closed.append(k)
        return gen

    with pytest.raises(ValueError, match="job 0 failed"):
        run_overlapped([job(0), job(1), job(2)], lambda r: r)
    assert sorted(closed) == [0, 1]  # job 2 never started
    assert not [t for t in threading.enumerate() if t.name.startswith("accelerator")]


class WaitingDevice(GuardedDevice):
    """A launch waits (up to ``patience`` s) for a host step to start meanwhile, and
    records whether one did: only a run that overlaps host and device sees one."""

    def __init__(self, inner: Any, patience: float) -> None:
        super().__init__(inner)
        self.host_ran = threading.Event()
        self.patience = patience
        self.saw_host: list[bool] = []

    def launch(self, handle, *args, **kwargs):
        self.host_ran.clear()
        self.saw_host.append(self.host_ran.wait(self.patience))
        return super().launch(handle)


@pytest.mark.parametrize("overlap", [False, True])
def test_executor_runs_host_steps_while_a_program_is_on_the_device(overlap):
    nodes, consts = skip_model()
    module = build_module(nodes, TINY, constants=consts, outputs=["y"])
    dev = WaitingDevice(SimDevice(TINY), patience=0.5 if overlap else 0.05)
    ex = Executor(module, dev, overlap=overlap)
    run_host = ex._run_host

    def signalling(*args: Any) -> None:
        dev.host_ran.set()
        run_host(*args)

    ex._run_host = signalling
    try:
        x = images(3)
        got = ex.run({"image": x}).outputs["y"]
    finally:
        ex.close()
    for k in range(3):
        np.testing.assert_array_equal(got[k], reference_run(nodes, consts,
                                                            {"image": x[k]})["y"])
    # overlapped: a later sample's pool runs during the earlier one's conv2
    assert any(dev.saw_host) == overlap
