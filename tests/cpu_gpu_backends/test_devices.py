"""CpuDevice and GpuDevice through the runtime's Device interface."""

from __future__ import annotations

import numpy as np
import pytest

import cpu_gpu_backends as cg
from cpu_gpu_backends.ops import gemm as gemm_ops
from cpu_gpu_backends.ops import gpu_gemm
from opset import reference as ref
from runtime.cpu_device import CpuDevice
from runtime.device import Device, DeviceError


def ref_dense(a, b, bias=None, transpose_b=False, activation=None):
    """The raw dense kernel: ``act(a @ b + bias)``, int8 accumulating exactly to int32."""
    return ref.linear(ref.dense_acc(a, b.T if transpose_b else b), bias, activation)


def ref_conv2d(x, w, bias=None, stride=(1, 1), padding=0, dilation=(1, 1), groups=1,
               activation=None):
    """The raw conv2d kernel: ``act(conv2d(x, w) + bias)`` (zero padding)."""
    return ref.linear(ref.conv2d_acc(x, w, stride, padding, 0, dilation, groups), bias,
                      activation)


def test_cpu_device_round_trip():
    dev = CpuDevice(threads=2)
    assert isinstance(dev, Device)
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (13, 21), dtype=np.int8)
    b = rng.integers(-128, 128, (21, 17), dtype=np.int8)
    handle = dev.load(gemm_ops.dense_plan(13, 21, 17, "i8"))
    bufs = [dev.allocate(a.nbytes), dev.allocate(b.nbytes), dev.allocate(13 * 17 * 4)]
    dev.copy_in(bufs[0], a)
    dev.copy_in(bufs[1], b.tobytes())
    info = dev.launch(handle, *bufs)
    dev.synchronize()
    assert info.device == "cpu" and info.cycles is None and info.wall_seconds >= 0
    out = np.frombuffer(dev.copy_out(bufs[2]), np.int32).reshape(13, 17)
    np.testing.assert_array_equal(out, ref_dense(a, b))
    for buf in bufs:
        dev.free(buf)


def test_cpu_device_errors():
    dev = CpuDevice(threads=1)
    small = dev.allocate(4)
    with pytest.raises(DeviceError, match="copy_in of 8 bytes"):
        dev.copy_in(small, b"\0" * 8)
    handle = dev.load(cg.dense(2, 2, 2))
    with pytest.raises(DeviceError, match="takes 2 input buffers"):
        dev.launch(handle, small)
    with pytest.raises(DeviceError, match="needs 16"):
        dev.launch(handle, small, small, small)
    with pytest.raises(DeviceError, match="cannot load"):
        dev.load("not a program")
    dev.free(small)
    with pytest.raises(DeviceError, match="not a live buffer"):
        dev.copy_out(small)


def _gpu_or_skip():
    from runtime.gpu_device import GpuDevice
    try:
        return GpuDevice()
    except DeviceError as exc:
        pytest.skip(f"no usable GPU: {exc}")


def test_gpu_device_without_gpu_raises_device_error():
    from runtime.gpu_device import GpuDevice
    try:
        GpuDevice()
    except DeviceError as exc:
        assert "cuda-python" in str(exc) or "GPU" in str(exc) or "cuInit" in str(exc)
    else:
        pytest.skip("a GPU is present; the no-GPU error path cannot be exercised")


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["f32", "i8"])
def test_gpu_dense_matches_numpy(dtype):
    dev = _gpu_or_skip()
    rng = np.random.default_rng(0)
    m, k, n = 70, 45, 33
    if dtype == "i8":
        a = rng.integers(-128, 128, (m, k), dtype=np.int8)
        b = rng.integers(-128, 128, (k, n), dtype=np.int8)
        out_dtype = np.int32
    else:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        out_dtype = np.float32
    prog = cg.gpu_compile(gpu_gemm.gpu_dense_plan(m, k, n, dtype))
    handle = dev.load(prog)
    ba, bb, bo = dev.allocate(a.nbytes), dev.allocate(b.nbytes), dev.allocate(m * n * 4)
    dev.copy_in(ba, a)
    dev.copy_in(bb, b)
    dev.launch(handle, ba, bb, bo)
    dev.synchronize()
    out = np.frombuffer(dev.copy_out(bo), out_dtype).reshape(m, n)
    expect = ref_dense(a, b)
    if dtype == "i8":
        np.testing.assert_array_equal(out, expect)
    else:
        np.testing.assert_allclose(out, expect, rtol=1e-4, atol=1e-4)


@pytest.mark.gpu
def test_gpu_conv_and_softmax_match_numpy():
    dev = _gpu_or_skip()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 5, 9, 9), dtype=np.float32)
    w = rng.standard_normal((7, 5, 3, 3), dtype=np.float32)
    prog = cg.gpu_conv2d(x.shape, w.shape, stride=2, padding=1)
    handle = dev.load(prog)
    bx, bw, by = dev.allocate(x.nbytes), dev.allocate(w.nbytes), dev.allocate(7 * 5 * 5 * 4)
    dev.copy_in(bx, x)
    dev.copy_in(bw, w)
    dev.launch(handle, bx, bw, by)
    dev.synchronize()
    out = np.frombuffer(dev.copy_out(by), np.float32).reshape(1, 7, 5, 5)
    np.testing.assert_allclose(out, ref_conv2d(x, w, None, (2, 2), 1), rtol=1e-4, atol=1e-4)
    from cpu_gpu_backends.ops.softmax import softmax_plan
    s = rng.standard_normal((6, 40), dtype=np.float32)
    h2 = dev.load(cg.gpu_compile(softmax_plan(s.shape)))
    bs, bo = dev.allocate(s.nbytes), dev.allocate(s.nbytes)
    dev.copy_in(bs, s)
    dev.launch(h2, bs, bo)
    dev.synchronize()
    np.testing.assert_allclose(np.frombuffer(dev.copy_out(bo), np.float32).reshape(6, 40),
                               ref.softmax(s), rtol=1e-5, atol=1e-6)
