"""Compile an operator and run it on any accelerator device: numpy in, numpy out.

The compiler turns an operator into a :class:`~compiler.CompiledOp` (instructions and a
tensor table in blocked layouts) and packs it into a :class:`~vta_hw.bundle.Bundle`; it
never runs anything.  A ``runtime`` device (``sim``, ``rtl``, ``rtl:amaranth``,
``fpga:PORT``, ``fpga:sim``, or a :class:`~runtime.device.Device` object) loads the bundle,
linking it into memory it allocated, and runs it.  This module sits above both layers and
joins them: it packs numpy operands into the op's layouts, loads, launches, copies the
output back and unpacks it.

* :func:`run_compiled` runs a compiled op once (a stand-alone bundle: every operand in the
  image, which :attr:`RunResult.bundle` keeps for ``vta sim``).
* :class:`LoadedOp` keeps an op loaded: its constants (weights, requantization tables,
  micro-op kernels) are written to the device once and every run copies in only the fed
  operands and copies out only the output.
* :func:`conv2d`, :func:`dense`, ... build the op from numpy arrays, compile it and run it.

>>> import numpy as np, vta.api
>>> x = np.random.randint(-128, 128, (1, 3, 32, 32), dtype=np.int8)   # doctest: +SKIP
>>> w = np.random.randint(-128, 128, (16, 3, 3, 3), dtype=np.int8)    # doctest: +SKIP
>>> r = vta.api.conv2d(x, w, stride=1, padding=1, shift=8, relu=True)  # doctest: +SKIP
>>> r.output.shape, r.cycles, r.result.device                          # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from compiler import CompiledOp, compile_op
from compiler.errors import LayoutError, OpError
from compiler.layout import LayoutOptions
from opset import (
    AluStep,
    Conv2d,
    Dense,
    DepthwiseConv2d,
    Elementwise,
    Epilogue,
    GlobalAvgPool,
    Pool2d,
    Requant,
)
from runtime.device import Device, LaunchResult, LoadedProgram
from runtime.devices import open_device
from vta_hw.bundle import Bundle
from vta_hw.config import DEFAULT, HwConfig

DeviceArg = str | Device


@dataclass(frozen=True)
class RunResult:
    """An operator's output (logical layout) and the launch that computed it.

    result: the device's :class:`~runtime.device.LaunchResult` (cycles, wall time, the
    simulator's statistics and record on ``sim``).  bundle: the program as loaded.
    """

    output: np.ndarray
    result: LaunchResult
    compiled: CompiledOp
    bundle: Bundle = field(repr=False)

    @property
    def cycles(self) -> int:
        assert self.result.cycles is not None
        return self.result.cycles

    @property
    def stats(self) -> Any:
        """The simulator's :class:`vta_sim.SimStats` (None on other devices)."""
        return self.result.stats


class LoadedOp:
    """A compiled operator loaded on ``device`` with ``constants`` resident.

    constants: logical arrays of the operands that stay on the device (for a conv, say,
    ``w``, ``bias``); the other operands are fed to every :meth:`run`.  The constants,
    micro-op kernels and instructions are written once, at construction.
    """

    def __init__(self, compiled: CompiledOp, device: Device,
                 constants: Mapping[str, np.ndarray]) -> None:
        operands = {s.name for s in compiled.op.inputs()}
        self.compiled = compiled
        self.device = device
        self.constants = dict(constants)
        self.fed = frozenset(operands - set(constants))
        self.bundle = compiled.bundle(constants, fed=self.fed)
        self.handle: LoadedProgram = device.load(self.bundle)

    def run(self, inputs: Mapping[str, np.ndarray]) -> RunResult:
        """Copy in the fed operands ``inputs``, launch, copy out and unpack the output."""
        if set(inputs) != self.fed:
            raise LayoutError(f"{self.compiled.op.name}: a run takes the operand(s) "
                              f"{sorted(self.fed)}, got {sorted(inputs)}")
        merged = {**self.constants, **inputs}
        for t in self.compiled.fed_tensors(self.fed):
            self.device.copy_in(self.handle.buffer(t.name),
                                np.ascontiguousarray(self.compiled.pack_tensor(t, merged)))
        return _launch(self.device, self.handle, self.compiled, self.bundle)

    def unload(self) -> None:
        """Release the program's device memory."""
        self.device.free(self.handle.image)


def _launch(device: Device, handle: LoadedProgram, compiled: CompiledOp,
            bundle: Bundle) -> RunResult:
    result = device.launch(handle)
    done = device.synchronize()
    result = result if result is not None else done
    y = compiled.unpack_output(device.copy_out(handle.buffer("y")))
    return RunResult(y, result, compiled, bundle)


def _with_device(device: DeviceArg, cfg: HwConfig, use) -> Any:
    """``use(device)`` on ``device``, opened from its spec (and closed after) if a string."""
    if not isinstance(device, str):
        return use(device)
    dev = open_device(device, cfg)
    try:
        return use(dev)
    finally:
        close = getattr(dev, "close", None)
        if close is not None:
            close()


def run_compiled(compiled: CompiledOp, inputs: Mapping[str, np.ndarray],
                 device: DeviceArg = "sim") -> RunResult:
    """Run ``compiled`` once on ``inputs`` (logical arrays by operand name) on ``device``
    (a spec such as ``"sim"``, ``"rtl"``, ``"fpga:sim"``, or an open device, which keeps
    the program's memory only while it runs)."""
    bundle = compiled.bundle(inputs)

    def use(dev: Device) -> RunResult:
        handle = dev.load(bundle)
        try:
            return _launch(dev, handle, compiled, bundle)
        finally:
            dev.free(handle.image)

    return _with_device(device, compiled.cfg, use)


def load_compiled(compiled: CompiledOp, device: Device, constants: Mapping[str, np.ndarray]
                  ) -> LoadedOp:
    """:class:`LoadedOp` (the constants resident on ``device``, the rest fed per run)."""
    return LoadedOp(compiled, device, constants)


def run_op(op, inputs: Mapping[str, np.ndarray], cfg: HwConfig = DEFAULT, schedule=None,
           options: LayoutOptions | None = None, *, device: DeviceArg = "sim") -> RunResult:
    """Compile ``op`` for ``cfg`` and run it once on ``inputs`` (see :func:`run_compiled`)."""
    return run_compiled(compile_op(op, cfg, schedule, options), inputs, device)


# ---------------------------------------------------------------------------- numpy API
def _i8(a, what: str, layout: str | None = None) -> np.ndarray:
    """``a`` as an int8 array; with ``layout`` (e.g. "N,C,H,W") also of that rank."""
    arr = np.asarray(a)
    if arr.dtype != np.int8:
        raise OpError(f"{what} must be an int8 array, got {arr.dtype}")
    if layout is not None and arr.ndim != layout.count(",") + 1:
        raise OpError(f"{what} must have {layout.count(',') + 1} dimensions ({layout}), got "
                      f"shape {arr.shape}")
    return arr


def _requant(requant, shift, multiplier, channels: int, inputs: dict) -> Requant | None:
    if requant is not None:
        if shift is not None or multiplier is not None:
            raise OpError("give either requant=Requant(...) or shift/multiplier, not both")
        return requant
    if shift is None and multiplier is None:
        return None
    s, m = np.asarray(0 if shift is None else shift), np.asarray(1 if multiplier is None
                                                                    else multiplier)
    if s.ndim == 0 and m.ndim == 0:
        return Requant(multiplier=int(m), shift=int(s))
    inputs["multiplier"] = np.broadcast_to(m, (channels,)).astype(np.int32)
    inputs["shift"] = np.broadcast_to(s, (channels,)).astype(np.int32)
    return Requant(per_channel=True)


def _gemm_epilogue(bias, requant, shift, multiplier, relu, clip, residual, channels,
                   inputs, offset=0) -> Epilogue:
    rq = _requant(requant, shift, multiplier, channels, inputs)
    if bias is not None:
        inputs["bias"] = np.asarray(bias).astype(np.int32)
    if residual is not None:
        inputs["residual"] = _i8(residual, "residual")
    return Epilogue(bias=bias is not None, requant=rq, residual=residual is not None,
                    relu=relu, clip=None if clip is None else tuple(clip), offset=int(offset))


def conv2d(x, w, bias=None, *, stride=1, padding=0, shift=None, multiplier=None, requant=None,
           relu=False, clip=None, residual=None, pad_value=0, offset=0,
           cfg: HwConfig = DEFAULT, schedule=None, options: LayoutOptions | None = None,
           device: DeviceArg = "sim") -> RunResult:
    """Quantized conv2d on the simulated accelerator: x (N,C,H,W) int8, w (O,C,KH,KW) int8.

    bias: int32 (O,).  shift / multiplier: scalars (per-tensor) or (O,) arrays
    (per-channel) for ``rshr(x * multiplier, shift)``; or ``requant=Requant(...)``.
    relu, clip=(lo, hi), residual (N,O,Ho,Wo) int8, offset (the output zero point): see
    :class:`~opset.Epilogue`.  pad_value: what padding reads (the input zero point).
    """
    x, w = _i8(x, "conv2d: x", "N,C,H,W"), _i8(w, "conv2d: w", "O,C,KH,KW")
    inputs = {"x": x, "w": w}
    ep = _gemm_epilogue(bias, requant, shift, multiplier, relu, clip, residual, w.shape[0],
                        inputs, offset)
    n, c, h, wd = x.shape
    o, c2, kh, kw = w.shape
    if c2 != c:
        raise OpError(f"conv2d: weights have {c2} input channels, x has {c}")
    op = Conv2d(n, c, h, wd, o, kh, kw, stride, padding, ep, pad_value)
    return run_op(op, inputs, cfg, schedule, options, device=device)


def depthwise_conv2d(x, w, bias=None, *, stride=1, padding=0, shift=None, multiplier=None,
                     requant=None, relu=False, clip=None, residual=None, pad_value=0,
                     offset=0, cfg: HwConfig = DEFAULT, schedule=None,
                     options: LayoutOptions | None = None, device: DeviceArg = "sim"
                     ) -> RunResult:
    """Depthwise conv2d: x (N,C,H,W) int8, w (C,1,KH,KW) int8; epilogue as conv2d."""
    x, w = _i8(x, "depthwise_conv2d: x", "N,C,H,W"), _i8(w, "depthwise_conv2d: w", "C,1,KH,KW")
    inputs = {"x": x, "w": w}
    ep = _gemm_epilogue(bias, requant, shift, multiplier, relu, clip, residual, w.shape[0],
                        inputs, offset)
    n, c, h, wd = x.shape
    op = DepthwiseConv2d(n, c, h, wd, w.shape[2], w.shape[3], stride, padding, ep, pad_value)
    return run_op(op, inputs, cfg, schedule, options, device=device)


def dense(x, w, bias=None, *, shift=None, multiplier=None, requant=None, relu=False, clip=None,
          residual=None, offset=0, cfg: HwConfig = DEFAULT, schedule=None,
          device: DeviceArg = "sim") -> RunResult:
    """Dense layer: x (N,I) int8, w (O,I) int8 -> (N,O) int8; epilogue as conv2d."""
    x, w = _i8(x, "dense: x", "N,I"), _i8(w, "dense: w", "O,I")
    inputs = {"x": x, "w": w}
    ep = _gemm_epilogue(bias, requant, shift, multiplier, relu, clip, residual, w.shape[0],
                        inputs, offset)
    if x.shape[1] != w.shape[1]:
        raise OpError(f"dense: weights have {w.shape[1]} inputs, x has {x.shape[1]}")
    return run_op(Dense(x.shape[0], x.shape[1], w.shape[0], ep), inputs, cfg, schedule,
                  device=device)


def _nchw(a: np.ndarray) -> tuple[int, int, int, int]:
    if a.ndim > 4 or a.ndim == 0:
        raise OpError(f"element-wise operands need 1 to 4 dims, got shape {a.shape}")
    return tuple(a.shape) + (1,) * (4 - a.ndim)  # type: ignore[return-value]


def elementwise(a, steps, b=None, *, cfg: HwConfig = DEFAULT, schedule=None,
                device: DeviceArg = "sim") -> RunResult:
    """``steps`` (AluStep or (op, operand) pairs; operand None = ``b``) applied to ``a``."""
    a = _i8(a, "a")
    st = tuple(s if isinstance(s, AluStep) else AluStep(*s) for s in steps)
    op = Elementwise(_nchw(a), st)
    inputs = {"a": a.reshape(op.shape)}
    if op.binary:
        if b is None:
            raise OpError("a step uses the tensor operand b, but b was not given")
        b = _i8(b, "b")
        if b.shape != a.shape:
            raise OpError(f"b has shape {b.shape}, a has {a.shape} (no broadcasting)")
        inputs["b"] = b.reshape(op.shape)
    r = run_op(op, inputs, cfg, schedule, device=device)
    return replace(r, output=r.output.reshape(a.shape))


def add(a, b, **kw) -> RunResult:
    return elementwise(a, [("add", None)], b, **kw)


def mul(a, b, **kw) -> RunResult:
    return elementwise(a, [("mul", None)], b, **kw)


def minimum(a, b, **kw) -> RunResult:
    return elementwise(a, [("min", None)], b, **kw)


def maximum(a, b, **kw) -> RunResult:
    return elementwise(a, [("max", None)], b, **kw)


def shift_right(a, s: int, *, rounding: bool = True, **kw) -> RunResult:
    return elementwise(a, [("rshr" if rounding else "shr", s)], **kw)


def relu(a, **kw) -> RunResult:
    return elementwise(a, [("max", 0)], **kw)


def clip(a, lo: int, hi: int, **kw) -> RunResult:
    return elementwise(a, [("max", lo), ("min", hi)], **kw)


def max_pool2d(x, kernel, stride=None, padding=0, *, cfg: HwConfig = DEFAULT,
               schedule=None, device: DeviceArg = "sim") -> RunResult:
    return _pool(x, "max", kernel, stride, padding, cfg, schedule, device)


def avg_pool2d(x, kernel, stride=None, padding=0, *, cfg: HwConfig = DEFAULT,
               schedule=None, device: DeviceArg = "sim") -> RunResult:
    return _pool(x, "avg", kernel, stride, padding, cfg, schedule, device)


def _pool(x, kind, kernel, stride, padding, cfg, schedule, device) -> RunResult:
    x = _i8(x, f"{kind}_pool2d: x", "N,C,H,W")
    k = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    op = Pool2d(*x.shape, kind, k[0], k[1], stride if stride is not None else k, padding)
    return run_op(op, {"x": x}, cfg, schedule, device=device)


def global_avg_pool2d(x, *, cfg: HwConfig = DEFAULT, schedule=None,
                      device: DeviceArg = "sim") -> RunResult:
    x = _i8(x, "global_avg_pool2d: x", "N,C,H,W")
    return run_op(GlobalAvgPool(*x.shape), {"x": x}, cfg, schedule, device=device)


__all__ = ["RunResult", "LoadedOp", "run_compiled", "load_compiled", "run_op", "conv2d",
           "depthwise_conv2d", "dense", "elementwise", "add", "mul", "minimum", "maximum",
           "shift_right", "relu", "clip", "max_pool2d", "avg_pool2d", "global_avg_pool2d",
           "DeviceArg"]
