"""An NVIDIA GPU as a :class:`~runtime.device.Device`, through the CUDA driver API.

``cuda-python`` is imported lazily: constructing a :class:`GpuDevice` without it, or without a
GPU (or with one older than sm_80), raises a :class:`DeviceError` saying which; ``arch`` is
the PTX target the GPU runs.  ``load`` takes a
:class:`cpu_gpu_backends.GpuProgram` (PTX + per-step launch geometry) and loads the PTX with
``cuModuleLoadData`` (the driver JITs it for the present GPU); ``launch(handle, *buffers)``
passes the plan's inputs then its output, allocating the plan's scratch buffers once per
handle.  Launches go to the default stream and are asynchronous until ``synchronize``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from cpu_gpu_backends.ptx import GpuProgram

from .device import Buffer, Device, DeviceError, LaunchResult


def _import_driver() -> Any:
    try:
        from cuda.bindings import driver  # cuda-python >= 12.6
        return driver
    except ImportError:
        pass
    try:
        from cuda import cuda as driver  # older cuda-python layout
        return driver
    except ImportError as exc:
        raise DeviceError("GpuDevice needs cuda-python (pip install 'vta-codesign[gpu]'); "
                          "it is not installed") from exc


class GpuDevice(Device):
    """One CUDA device (``ordinal``), using its primary context."""

    name = "gpu"

    def __init__(self, ordinal: int = 0) -> None:
        self._cu = _import_driver()
        self._check(self._cu.cuInit(0), "cuInit (is an NVIDIA driver installed?)")
        count = self._check(self._cu.cuDeviceGetCount(), "cuDeviceGetCount")
        if count < 1 or ordinal >= count:
            raise DeviceError(f"GpuDevice: no CUDA GPU #{ordinal} (found {count})")
        self._dev = self._check(self._cu.cuDeviceGet(ordinal), "cuDeviceGet")
        self._ctx = self._check(self._cu.cuDevicePrimaryCtxRetain(self._dev),
                                "cuDevicePrimaryCtxRetain")
        self._check(self._cu.cuCtxSetCurrent(self._ctx), "cuCtxSetCurrent")
        self._live: dict[int, Any] = {}
        self._modules: dict[str, Any] = {}
        self.arch = self._arch()

    def _arch(self) -> str:
        """The newest PTX target (``cpu_gpu_backends.ptx.ARCHS``) this GPU runs: PTX for
        ``sm_XY`` loads on compute capability X.Y and newer (the driver JITs it)."""
        from cpu_gpu_backends.ptx import ARCHS

        attr = self._cu.CUdevice_attribute
        major = self._check(self._cu.cuDeviceGetAttribute(
            attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, self._dev), "cuDeviceGetAttribute")
        minor = self._check(self._cu.cuDeviceGetAttribute(
            attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, self._dev), "cuDeviceGetAttribute")
        cc = int(major) * 10 + int(minor)
        fits = [a for a in ARCHS if int(a[3:]) <= cc]
        if not fits:
            raise DeviceError(f"GpuDevice: compute capability {major}.{minor} is older than "
                              f"the oldest PTX target {ARCHS[0]}")
        return fits[-1]

    def _check(self, result: Any, what: str) -> Any:
        err, *rest = result if isinstance(result, tuple) else (result,)
        if int(err) != 0:
            try:
                _, name = self._cu.cuGetErrorName(err)
                msg = name.decode() if isinstance(name, bytes) else str(name)
            except Exception:  # noqa: BLE001 - best effort for the message only
                msg = str(err)
            raise DeviceError(f"GpuDevice: {what} failed: {msg}")
        if not rest:
            return None
        return rest[0] if len(rest) == 1 else tuple(rest)

    def allocate(self, nbytes: int) -> Buffer:
        if not isinstance(nbytes, int) or nbytes < 0:
            raise DeviceError(f"gpu: allocate needs a non-negative byte count, got {nbytes!r}")
        ptr = self._check(self._cu.cuMemAlloc(max(nbytes, 1)), "cuMemAlloc")
        self._live[int(ptr)] = ptr
        return Buffer(self.name, int(ptr), nbytes)

    def _ptr(self, buf: Buffer) -> Any:
        if not isinstance(buf, Buffer) or buf.device != self.name or buf.handle not in self._live:
            raise DeviceError(f"gpu: {buf!r} is not a live buffer of this device")
        return self._live[buf.handle]

    def copy_in(self, buf: Buffer, data: np.ndarray | bytes) -> None:
        host = np.frombuffer(data, np.uint8) if isinstance(data, bytes | bytearray) else \
            np.ascontiguousarray(data).view(np.uint8).reshape(-1)
        if host.size > buf.nbytes:
            raise DeviceError(f"gpu: copy_in of {host.size} bytes into a {buf.nbytes}-byte buffer")
        self._check(self._cu.cuMemcpyHtoD(self._ptr(buf), host.ctypes.data, host.size),
                    "cuMemcpyHtoD")

    def copy_out(self, buf: Buffer) -> bytes:
        host = np.empty(buf.nbytes, np.uint8)
        self._check(self._cu.cuMemcpyDtoH(host.ctypes.data, self._ptr(buf), buf.nbytes),
                    "cuMemcpyDtoH")
        return host.tobytes()

    def load(self, program: Any) -> dict:
        if not isinstance(program, GpuProgram):
            raise DeviceError(f"gpu: cannot load {type(program).__name__}; expected a "
                              "GpuProgram from cpu_gpu_backends")
        module = self._modules.get(program.ptx)  # steps of one model share one PTX module
        if module is None:
            image = np.frombuffer(program.ptx.encode() + b"\0", np.uint8)
            module = self._check(self._cu.cuModuleLoadData(image.ctypes.data),
                                 "cuModuleLoadData")
            self._modules[program.ptx] = module
        fns = {k.name: self._check(self._cu.cuModuleGetFunction(module, k.name.encode()),
                                   f"cuModuleGetFunction({k.name})")
               for k in program.plan.kernels}
        temps = {b.name: self.allocate(b.size * b.ty.itemsize)
                 for b in program.plan.buffers if b.role == "temp"}
        return {"program": program, "module": module, "functions": fns, "temps": temps}

    def launch(self, handle: Any, *args: Any, **kwargs: Any) -> LaunchResult:
        """Run every step of the loaded program; buffers are its inputs then its output."""
        plan = handle["program"].plan
        names = [b.name for b in plan.inputs] + [b.name for b in plan.outputs]
        if len(args) != len(names):
            raise DeviceError(f"gpu: {plan.name} takes buffers {names}, got {len(args)}")
        env = dict(handle["temps"])
        for n, buf in zip(names, args, strict=True):
            spec = plan.buffer(n)
            if buf.nbytes < spec.size * spec.ty.itemsize:
                raise DeviceError(f"gpu: buffer for {n!r} is too small ({buf.nbytes} bytes)")
            env[n] = buf
        t0 = time.perf_counter()
        for st in plan.steps:
            holders = [np.array([int(self._ptr(env[a]))], np.uint64) for a in st.args]
            params = np.array([h.ctypes.data for h in holders], np.uint64)
            self._check(self._cu.cuLaunchKernel(handle["functions"][st.kernel], *st.grid,
                                                *st.block, 0, 0, params.ctypes.data, 0),
                        f"cuLaunchKernel({st.kernel})")
        return LaunchResult(self.name, None, time.perf_counter() - t0)

    def synchronize(self) -> None:
        self._check(self._cu.cuCtxSynchronize(), "cuCtxSynchronize")

    def free(self, buf: Buffer) -> None:
        ptr = self._live.pop(buf.handle, None)
        if ptr is not None:
            self._check(self._cu.cuMemFree(ptr), "cuMemFree")
