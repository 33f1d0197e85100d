"""The compiled module (``.vtam``): a whole quantized model as one versioned file.

A module holds everything the graph executor (:mod:`runtime.executor`) needs as *data*, so
the runtime never imports the compiler that produced it:

* the manifest (``manifest.json``): format name and version, the HwConfig (its primaries)
  and its hash, the tensor table (name, shape, dtype, role, quantization scale and zero
  point where known, logical layout), the model's input and output names, the steps in
  execution order (name, device kind ``accelerator``/``cpu``/``gpu``, the opset op
  description as JSON, operand -> tensor wiring, output tensor, MACs, the accelerator
  program that runs it), the partition (step -> device), the layout transforms at the
  device boundaries (:attr:`Module.layout_transforms`, derived from the programs' feeds
  and results and checked against them on load), the accelerator programs' metadata,
  the memory plan (:mod:`runtime.memory`: where the activation tensors live in the
  arena every program shares), and the SHA-256 of every other member;
* the constants (``arrays/NAME.npy``: weights, biases, requantization tables);
* the accelerator programs (``programs/K.bin``: a relocatable bundle image holding the
  instructions and constants, its activation tensors in the arena past it; consecutive
  accelerator ops chained into one program), each with its *feeds* (tensors copied in per
  run, with the blocked layout to pack them into) and *results* (tensors copied out,
  with the layout to unpack them from) and, per instruction, the step it belongs to.

Layouts crossing the host/accelerator boundary are :class:`opset.layout.ActLayout`
(activations) or the dense-operand view (rows as pixels), described as JSON
(:func:`layout_to_json`) and packed with numpy here (:func:`pack_host`).

The file is a zip archive written atomically (a temporary file in the target directory,
renamed into place only when complete: no half-written ``.vtam`` is ever left).  Loading
checks the format, the version, the config hash (against the stored config and, when
asked, against the config the caller runs with), every member's checksum and the
manifest's consistency, and raises one :class:`ModuleError` subclass naming what is wrong.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from opset.errors import OpsetError
from opset.layout import ActLayout, ConstLayout, WgtLayout, ceil_div
from opset.serialize import op_from_json, op_to_json
from runtime.host_ops import (
    HostOp,
    HostOpError,
    OnnxHostOp,
    host_op_from_json,
    host_op_to_json,
    is_host_json,
    is_host_op,
)
from runtime.memory import ArenaSlot, MemoryPlan, MemoryPlanError, aligned, check_plan
from vta_hw.bundle import Bundle, BundleError, Region
from vta_hw.config import ConfigError, HwConfig
from vta_hw.errors import VtaError
from vta_hw.files import atomic_path

MODULE_FORMAT = "vta-module"
MODULE_VERSION = 3  # 2: host boundary steps (runtime.host_ops); 3: zero points (epilogue
# offset, host quantize/dequantize zero_point: a reader of 2 would drop them silently),
# generic ONNX host steps (host.onnx), the memory plan (arena) and the layout transforms
DEVICE_KINDS = ("accelerator", "cpu", "gpu")
TENSOR_ROLES = ("input", "output", "const", "activation")


class ModuleError(VtaError, ValueError):
    """A compiled module is malformed, corrupt, truncated or inconsistent."""


class ModuleVersionError(ModuleError):
    """A module of another format version than this toolkit reads."""


class ModuleConfigError(ModuleError):
    """A module built for another hardware configuration than the one requested."""


# ---------------------------------------------------------------------------- host layouts
def layout_to_json(layout: Any) -> dict[str, Any]:
    """JSON of a host-boundary layout: an ActLayout (``kind: act``), an object with
    ``rows, cols, block, batch`` (the compiler's dense-operand layout, ``kind: dense``) or
    a WgtLayout (``kind: wgt``: a weight the host feeds at run time, such as the second
    operand of an activation-activation matmul) or a ConstLayout (``kind: const``:
    per-channel int32 rows the host computes at run time, a requantization table from
    dynamic scales; the feed adds ``tensors``, the module tensor of each row)."""
    if isinstance(layout, ActLayout):
        return {"kind": "act", "n": layout.n, "c": layout.c, "h": layout.h, "w": layout.w,
                "block": layout.block, "batch": layout.batch, "halo": list(layout.halo),
                "c_blocks": layout.c_blocks}
    if type(layout).__name__ == "DenseLayout":
        return {"kind": "dense", "rows": layout.rows, "cols": layout.cols,
                "block": layout.block, "batch": layout.batch}
    if isinstance(layout, WgtLayout):
        return {"kind": "wgt", "o": layout.o, "i": layout.i, "kh": layout.kh, "kw": layout.kw,
                "block_out": layout.block_out, "block_in": layout.block_in}
    if isinstance(layout, ConstLayout):
        return {"kind": "const", "rows": list(layout.rows), "channels": layout.channels,
                "block": layout.block, "batch": layout.batch}
    raise ModuleError(f"a {type(layout).__name__} cannot cross the host/accelerator boundary "
                      "(the module stores ActLayout, dense, weight and per-channel row "
                      "layouts only)")


def _const(spec: Mapping[str, Any]) -> ConstLayout | None:
    if spec.get("kind") != "const":
        return None
    return ConstLayout(tuple(str(r) for r in spec["rows"]), int(spec["channels"]),
                       int(spec["block"]), int(spec["batch"]))


def _wgt(spec: Mapping[str, Any]) -> WgtLayout | None:
    if spec.get("kind") != "wgt":
        return None
    return WgtLayout(*(int(spec[k]) for k in ("o", "i", "kh", "kw", "block_out", "block_in")))


def _act(spec: Mapping[str, Any]) -> ActLayout:
    if spec.get("kind") == "act":
        return ActLayout(int(spec["n"]), int(spec["c"]), int(spec["h"]), int(spec["w"]),
                         int(spec["block"]), int(spec["batch"]),
                         tuple(int(v) for v in spec["halo"]), int(spec["c_blocks"]))
    if spec.get("kind") == "dense":  # rows become pixels: (batch, cols, 1, ceil(rows/batch))
        b = int(spec["batch"])
        return ActLayout(b, int(spec["cols"]), 1, ceil_div(int(spec["rows"]), b),
                         int(spec["block"]), b)
    raise ModuleError(f"unknown boundary layout {spec!r}")


def layout_nbytes(spec: Mapping[str, Any]) -> int:
    fixed = _wgt(spec) or _const(spec)
    return fixed.nbytes if fixed is not None else _act(spec).nbytes


def pack_host(spec: Mapping[str, Any], x: np.ndarray, pad_value: int = 0) -> np.ndarray:
    """Logical int8 array -> the blocked bytes ``spec`` describes (what a device reads)."""
    wgt = _wgt(spec)
    if wgt is not None:
        return wgt.pack(np.asarray(x, np.int8))
    rows = _const(spec)
    if rows is not None:  # x: (rows, channels) int32, one row per name of spec["rows"]
        return rows.pack(dict(zip(rows.rows, np.asarray(x), strict=True)))
    act = _act(spec)
    if spec["kind"] == "dense":
        rows, cols, b = int(spec["rows"]), int(spec["cols"]), int(spec["batch"])
        a = np.asarray(x).reshape(rows, cols)
        full = np.zeros((act.w * b, cols), np.int8)
        full[:rows] = a
        x = np.ascontiguousarray(full.reshape(act.w, b, cols).transpose(1, 2, 0)[:, :, None, :])
    return act.pack(x, pad_value=pad_value)


def unpack_host(spec: Mapping[str, Any], data: bytes | np.ndarray) -> np.ndarray:
    """Blocked bytes -> the logical int8 array (NCHW, or (rows, cols) for dense)."""
    act = _act(spec)
    arr = np.frombuffer(bytes(data), np.int8) if isinstance(data, bytes | bytearray) else data
    nchw = act.unpack(arr)
    if spec["kind"] == "dense":
        rows = nchw[:, :, 0, :].transpose(2, 0, 1).reshape(-1, int(spec["cols"]))
        return np.ascontiguousarray(rows[:int(spec["rows"])])
    return nchw


# ---------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class TensorInfo:
    """One tensor of the model: logical shape and dtype, role, quantization parameters
    (``scale``/``zero_point``: real = scale * (q - zero_point); None where unknown) and its
    logical layout name ("NCHW", "NC", ...)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    role: str
    scale: float | None = None
    zero_point: int | None = None
    layout: str = ""

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass(frozen=True)
class Step:
    """One operator in execution order: its opset description, the device kind that runs
    it, its operands (operand name -> tensor name), its output tensor and, on the
    accelerator, the index of the program that runs it."""

    name: str
    op: Any
    device: str
    inputs: dict[str, str]
    output: str
    program: int | None = None

    @property
    def macs(self) -> int:
        return int(self.op.macs)


@dataclass(frozen=True)
class Transfer:
    """A tensor crossing the boundary of a program: bundle symbol, module tensor, its
    blocked layout (JSON, see :func:`layout_to_json`) and the pad value of a halo."""

    symbol: str
    tensor: str
    layout: dict[str, Any]
    pad_value: int = 0


@dataclass(frozen=True)
class Program:
    """A relocatable accelerator program running ``steps`` (consecutive step indices).

    bundle: its image (constants in place, fed tensors zero).  feeds / results: what a run
    copies in and out.  insn_steps: the step each instruction belongs to (for per-op cycle
    attribution from the simulator's instruction records)."""

    bundle: Bundle = field(repr=False)
    steps: tuple[int, ...]
    feeds: tuple[Transfer, ...]
    results: tuple[Transfer, ...]
    insn_steps: tuple[int, ...] = ()


@dataclass(frozen=True)
class LayoutTransform:
    """A layout conversion at a device boundary, done by the host: ``pack`` (the tensor's
    logical layout ``logical``, NCHW or NC, into program ``program``'s blocked ``layout``
    before it runs) or ``unpack`` (the reverse, after it ran); ``nbytes`` crosses to or
    from device memory.  Tensors passed between the ops of one chained program stay in
    their blocked layout and have none."""

    kind: str
    tensor: str
    program: int
    logical: str
    layout: dict[str, Any]
    nbytes: int

    def describe(self) -> str:
        lay = self.layout
        blocked = {
            "act": lambda: (f"act(c_blocks={lay['c_blocks']}, block={lay['block']}, halo="
                            f"{'x'.join(map(str, lay['halo']))})"),
            "wgt": lambda: (f"wgt(o={lay['o']}, i={lay['i']}, "
                            f"block={lay['block_out']}x{lay['block_in']})"),
            "const": lambda: (f"const(rows={'+'.join(lay['rows'])}, "
                              f"channels={lay['channels']}, block={lay['block']})"),
        }.get(lay["kind"], lambda: f"dense(block={lay['block']}, batch={lay['batch']})")()
        a, b = (self.logical, blocked) if self.kind == "pack" else (blocked, self.logical)
        side = "into" if self.kind == "pack" else "out of"
        return (f"{self.kind} {self.tensor}: {a} -> {b}, {self.nbytes} bytes {side} "
                f"program {self.program}")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "tensor": self.tensor, "program": self.program,
                "logical": self.logical, "layout": self.layout, "nbytes": self.nbytes}


@dataclass(frozen=True)
class Module:
    """A compiled model (see the module docstring)."""

    config: HwConfig
    tensors: dict[str, TensorInfo]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    steps: tuple[Step, ...]
    programs: tuple[Program, ...]
    constants: dict[str, np.ndarray] = field(repr=False)
    meta: dict[str, Any] = field(default_factory=dict)
    memory: MemoryPlan | None = None

    def __post_init__(self) -> None:
        check_module(self)

    @property
    def partition(self) -> dict[str, str]:
        return {s.name: s.device for s in self.steps}

    @property
    def layout_transforms(self) -> tuple[LayoutTransform, ...]:
        """Every layout conversion a run makes, in execution order: one per tensor
        crossing into a program (its feeds) or out of it (its results), none inside."""
        out = []
        for k, p in enumerate(self.programs):
            for kind, ts in (("pack", p.feeds), ("unpack", p.results)):
                out += [LayoutTransform(kind, t.tensor, k, self.tensors[t.tensor].layout,
                                        t.layout, layout_nbytes(t.layout)) for t in ts]
        return tuple(out)

    def save(self, path: str | os.PathLike) -> Path:
        return save_module(self, path)


def check_module(m: Module) -> None:
    """Raise ModuleError unless the module's parts agree with each other."""
    known = set(m.tensors)
    for name in (*m.inputs, *m.outputs):
        if name not in known:
            raise ModuleError(f"model input/output {name!r} is not in the tensor table")
    for name, arr in m.constants.items():
        t = m.tensors.get(name)
        if t is None or t.role != "const":
            raise ModuleError(f"constant {name!r} is not a const tensor of the tensor table")
        if tuple(arr.shape) != t.shape or str(arr.dtype) != t.dtype:
            raise ModuleError(f"constant {name!r}: stored {arr.dtype}{tuple(arr.shape)}, the "
                              f"tensor table says {t.dtype}{t.shape}")
    missing = sorted(n for n, t in m.tensors.items() if t.role == "const"
                     and n not in m.constants)
    if missing:
        raise ModuleError(f"const tensor(s) {missing} have no stored data")
    produced = set(m.inputs) | set(m.constants)
    for i, s in enumerate(m.steps):
        if s.device not in DEVICE_KINDS:
            raise ModuleError(f"step {s.name!r}: unknown device kind {s.device!r}; expected "
                              f"one of {DEVICE_KINDS}")
        for operand, t in s.inputs.items():
            if t not in produced:
                raise ModuleError(f"step {s.name!r} reads tensor {t!r} ({operand}) before "
                                  "any step produces it")
        if s.output not in known:
            raise ModuleError(f"step {s.name!r} writes unknown tensor {s.output!r}")
        produced.add(s.output)
        if is_host_op(s.op) and s.device == "accelerator":
            raise ModuleError(f"step {s.name!r}: host {s.op.kind} runs on the cpu, not "
                              f"{s.device!r}")
        if s.device == "gpu":
            from runtime.gpu_steps import gpu_unsupported

            why = gpu_unsupported(s.op)
            if why is not None:
                raise ModuleError(f"step {s.name!r} is on the gpu, but {why}")
        if (s.device == "accelerator") != (s.program is not None):
            raise ModuleError(f"step {s.name!r}: accelerator steps (only) name a program")
        if s.program is not None and (not 0 <= s.program < len(m.programs)
                                      or i not in m.programs[s.program].steps):
            raise ModuleError(f"step {s.name!r}: program {s.program} does not run it")
    for name in m.outputs:
        if name not in produced:
            raise ModuleError(f"model output {name!r} is never produced")
    for k, p in enumerate(m.programs):
        if p.bundle.config_hash != m.config.config_hash():
            raise ModuleConfigError(f"program {k} was built for config {p.bundle.config.name!r}"
                                    f", the module for {m.config.name!r}")
        if not p.steps or list(p.steps) != list(range(p.steps[0], p.steps[0] + len(p.steps))):
            raise ModuleError(f"program {k} must run consecutive steps, got {p.steps}")
        for t in (*p.feeds, *p.results):
            if t.symbol not in p.bundle.symbols or t.tensor not in known:
                raise ModuleError(f"program {k}: transfer {t.symbol!r} <-> {t.tensor!r} names "
                                  "an unknown symbol or tensor")
            unknown = [r for r in t.layout.get("tensors", ()) if r not in known]
            if unknown:
                raise ModuleError(f"program {k}: transfer {t.symbol!r} stacks unknown "
                                  f"tensor(s) {unknown}")
            if layout_nbytes(t.layout) != p.bundle.symbols[t.symbol].nbytes:
                raise ModuleError(f"program {k}: symbol {t.symbol!r} has "
                                  f"{p.bundle.symbols[t.symbol].nbytes} bytes, its layout "
                                  f"{layout_nbytes(t.layout)}")
        if p.insn_steps and len(p.insn_steps) != p.bundle.insn_count:
            raise ModuleError(f"program {k}: {len(p.insn_steps)} instruction owners for "
                              f"{p.bundle.insn_count} instructions")
    if m.memory is None:
        if any(p.bundle.arena_bytes for p in m.programs):
            raise ModuleError("programs address an activation arena but the module has no "
                              "memory plan")
        return
    try:
        check_plan(m.memory, [p.bundle for p in m.programs])
    except MemoryPlanError as e:
        raise ModuleError(f"memory plan: {e}") from None
    for s in m.memory.slots:
        if s.tensor not in known:
            raise ModuleError(f"memory plan: tensor {s.tensor!r} is not in the tensor table")


# ---------------------------------------------------------------------------- writing
def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(arr, order="C"), allow_pickle=False)
    return buf.getvalue()


def _op_json(op: Any) -> dict[str, Any]:
    return host_op_to_json(op) if is_host_op(op) else op_to_json(op)


def _op_from(d: Any) -> Any:
    return host_op_from_json(d) if is_host_json(d) else op_from_json(d)


def _manifest(m: Module, members: dict[str, bytes]) -> dict[str, Any]:
    return {
        "format": MODULE_FORMAT,
        "version": MODULE_VERSION,
        "config": m.config.primaries(),
        "config_hash": m.config.config_hash(),
        "tensors": [{"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "role": t.role,
                     "scale": t.scale, "zero_point": t.zero_point, "layout": t.layout}
                    for t in m.tensors.values()],
        "inputs": list(m.inputs),
        "outputs": list(m.outputs),
        "steps": [{"name": s.name, "device": s.device, "op": _op_json(s.op),
                   "inputs": dict(s.inputs), "output": s.output, "program": s.program,
                   "macs": s.macs} for s in m.steps],
        "partition": m.partition,
        "layout_transforms": [t.to_json() for t in m.layout_transforms],
        "programs": [{"file": f"programs/{k}.bin", "insn_addr": p.bundle.insn_addr,
                      "insn_count": p.bundle.insn_count, "dram_bytes": len(p.bundle.dram),
                      "arena_bytes": p.bundle.arena_bytes,
                      "symbols": {n: r.to_dict() for n, r in p.bundle.symbols.items()},
                      "meta": p.bundle.meta, "steps": list(p.steps),
                      "feeds": [_transfer_json(t) for t in p.feeds],
                      "results": [_transfer_json(t) for t in p.results],
                      "insn_steps": list(p.insn_steps)} for k, p in enumerate(m.programs)],
        "constants": {n: f"arrays/{n}.npy" for n in m.constants},
        "memory": None if m.memory is None else m.memory.to_json(),
        "checksums": {name: _sha(data) for name, data in members.items()},
        "meta": m.meta,
    }


def _transfer_json(t: Transfer) -> dict[str, Any]:
    return {"symbol": t.symbol, "tensor": t.tensor, "layout": t.layout,
            "pad_value": t.pad_value}


def save_module(m: Module, path: str | os.PathLike) -> Path:
    """Write ``m`` to ``path`` atomically (temporary file + rename in the same directory)."""
    p = Path(path)
    members = {f"arrays/{n}.npy": _npy(a) for n, a in m.constants.items()}
    members.update({f"programs/{k}.bin": prog.bundle.dram for k, prog in enumerate(m.programs)})
    manifest = json.dumps(_manifest(m, members), indent=1).encode()
    with atomic_path(p) as tmp, open(tmp, "wb") as f:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("manifest.json", manifest)
            for name, data in members.items():
                # weights barely compress (int8: not at all, fp32: ~7%) and deflating
                # them costs seconds on a ResNet-50; programs are mostly zero padding
                z.writestr(name, data, compress_type=zipfile.ZIP_STORED
                           if name.startswith("arrays/") else zipfile.ZIP_DEFLATED)
        f.flush()
        os.fsync(f.fileno())
    return p


# ---------------------------------------------------------------------------- reading
def read_manifest(path: str | os.PathLike) -> dict[str, Any] | None:
    """The manifest of a zip artifact at ``path`` (a module's or a bundle's), or None when
    the file is not a readable zip with a JSON object as ``manifest.json``: how ``vta run``
    tells a module from a bundle by content."""
    try:
        with zipfile.ZipFile(path) as z:
            d = json.loads(z.read("manifest.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError, zlib.error,
            NotImplementedError):
        return None
    return d if isinstance(d, dict) else None


def is_module(path: str | os.PathLike) -> bool:
    d = read_manifest(path)
    return d is not None and d.get("format") == MODULE_FORMAT


def load_module(path: str | os.PathLike, config: HwConfig | None = None) -> Module:
    """Read and validate a module; ``config``: the configuration the caller will run it
    with (ModuleConfigError when the module was built for another)."""
    p = Path(path)
    if p.is_dir():
        raise ModuleError(f"module {str(p)!r} is a directory, not a .vtam file")
    if not p.is_file():
        raise ModuleError(f"module {str(p)!r} does not exist")
    try:
        with zipfile.ZipFile(p) as z:
            members = {n: z.read(n) for n in z.namelist()}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error,
            NotImplementedError) as e:
        raise ModuleError(f"{p}: not a readable compiled module (corrupt or truncated: "
                          f"{str(e) or type(e).__name__})") from None
    try:
        d = json.loads(members.pop("manifest.json"))
    except KeyError:
        raise ModuleError(f"{p}: not a compiled module (no manifest.json)") from None
    except ValueError as e:
        raise ModuleError(f"{p}: the manifest is not valid JSON ({e})") from None
    if not isinstance(d, dict) or d.get("format") != MODULE_FORMAT:
        fmt = d.get("format") if isinstance(d, dict) else None
        raise ModuleError(f"{p}: not a compiled module (format {fmt!r}, expected "
                          f"{MODULE_FORMAT!r})")
    if d.get("version") != MODULE_VERSION:
        raise ModuleVersionError(f"{p}: module format version {d.get('version')!r} is not "
                                 f"supported (this toolkit reads version {MODULE_VERSION}); "
                                 "recompile the model")
    try:
        return _from_manifest(p, d, members, config)
    except ModuleError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OpsetError,
            BundleError) as e:
        raise ModuleError(f"{p}: malformed module manifest ({type(e).__name__}: {e})") from None


def _from_manifest(p: Path, d: dict[str, Any], members: dict[str, bytes],
                   want: HwConfig | None) -> Module:
    try:
        cfg = HwConfig.from_dict(d["config"])
    except (ConfigError, TypeError, KeyError) as e:
        raise ModuleError(f"{p}: the module's config is invalid: {e}") from None
    if d.get("config_hash") != cfg.config_hash():
        raise ModuleConfigError(f"{p}: stored config hash {d.get('config_hash')!r} does not "
                                f"match its config (hash {cfg.config_hash()}); the module is "
                                "corrupt or was edited")
    if want is not None and want.config_hash() != cfg.config_hash():
        raise ModuleConfigError(f"{p}: the module was compiled for config {cfg.name!r} (hash "
                                f"{cfg.config_hash()}), but {want.name!r} (hash "
                                f"{want.config_hash()}) was requested")
    sums = d["checksums"]
    if set(sums) != set(members):
        raise ModuleError(f"{p}: members {sorted(set(members) ^ set(sums))} are missing or "
                          "unlisted (truncated or edited module)")
    for name, data in members.items():
        if _sha(data) != sums[name]:
            raise ModuleError(f"{p}: member {name!r} fails its checksum (corrupt module)")
    constants = {}
    for n, f in d["constants"].items():
        arr = np.load(io.BytesIO(members[f]), allow_pickle=False)
        constants[str(n)] = arr
    tensors = {}
    for t in d["tensors"]:
        zp = t.get("zero_point")
        tensors[t["name"]] = TensorInfo(str(t["name"]), tuple(int(v) for v in t["shape"]),
                                        str(np.dtype(t["dtype"])), str(t["role"]),
                                        None if t.get("scale") is None else float(t["scale"]),
                                        None if zp is None else int(zp), str(t.get("layout", "")))
        if tensors[t["name"]].role not in TENSOR_ROLES:
            raise ModuleError(f"{p}: tensor {t['name']!r} has unknown role {t['role']!r}")
    steps = tuple(Step(str(s["name"]), _op_from(s["op"]), str(s["device"]),
                       {str(k): str(v) for k, v in s["inputs"].items()}, str(s["output"]),
                       None if s.get("program") is None else int(s["program"]))
                  for s in d["steps"])
    programs = []
    for pj in d["programs"]:
        bundle = Bundle(config=cfg, dram=members[pj["file"]], insn_addr=int(pj["insn_addr"]),
                        insn_count=int(pj["insn_count"]),
                        symbols={k: Region.from_dict(v) for k, v in pj["symbols"].items()},
                        meta=dict(pj.get("meta", {})),
                        arena_bytes=int(pj.get("arena_bytes", 0)))
        if len(bundle.dram) != int(pj["dram_bytes"]):
            raise ModuleError(f"{p}: {pj['file']} has {len(bundle.dram)} bytes, the manifest "
                              f"says {pj['dram_bytes']}")
        programs.append(Program(bundle, tuple(int(i) for i in pj["steps"]),
                                tuple(_transfer(t) for t in pj["feeds"]),
                                tuple(_transfer(t) for t in pj["results"]),
                                tuple(int(i) for i in pj.get("insn_steps", ()))))
    memory = None if d.get("memory") is None else MemoryPlan.from_json(d["memory"])
    m = Module(cfg, tensors, tuple(d["inputs"]), tuple(d["outputs"]), steps, tuple(programs),
               constants, dict(d.get("meta", {})), memory)
    if d.get("partition") != m.partition:
        raise ModuleError(f"{p}: the stored partition does not match the steps' devices")
    if d.get("layout_transforms") != [t.to_json() for t in m.layout_transforms]:
        raise ModuleError(f"{p}: the stored layout transforms do not match the programs' "
                          "feeds and results")
    return m


def _transfer(t: dict[str, Any]) -> Transfer:
    return Transfer(str(t["symbol"]), str(t["tensor"]), dict(t["layout"]),
                    int(t.get("pad_value", 0)))


__all__ = ["Module", "HostOp", "OnnxHostOp", "HostOpError", "is_host_op", "LayoutTransform",
           "MemoryPlan", "ArenaSlot", "aligned", "Step", "TensorInfo", "Program", "Transfer",
           "ModuleError", "ModuleVersionError", "ModuleConfigError", "save_module",
           "load_module", "is_module", "read_manifest", "pack_host", "unpack_host",
           "layout_to_json", "layout_nbytes", "MODULE_FORMAT", "MODULE_VERSION", "DEVICE_KINDS"]
