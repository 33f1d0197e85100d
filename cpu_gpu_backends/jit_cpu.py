"""JIT-compile LLVM IR for the host CPU with llvmlite, cached by a hash of the IR.

The target machine is always created from the host CPU name *and* its feature string
(without the features LLVM may pick instructions the hypervisor masks and the process dies
with SIGILL).  Optimisation uses the new pass manager at speed level 3.

Cache (the one piece of global mutable state in this package, by design): ``_ENGINES`` maps
``sha256(ir, cpu, features)`` to a live execution engine, so compiling the same kernel twice
in one process is free.  Optionally, object code is also kept on disk (``cache_dir``, or the
``VTA_CPU_KERNEL_CACHE`` environment variable): a fresh process then skips LLVM codegen.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import llvmlite.binding as llvm

from .render_llvm import RenderTarget


@dataclass(frozen=True)
class HostInfo:
    """The host CPU as LLVM sees it, and the vector width the micro-kernels use."""

    cpu: str
    features: str
    triple: str
    vector_bits: int

    @property
    def f32_lanes(self) -> int:
        return self.vector_bits // 32

    @property
    def feature_set(self) -> frozenset[str]:
        """The enabled features (``avx512vnni``, ...), parsed from ``+a,-b,...``."""
        return frozenset(f[1:] for f in self.features.split(",") if f.startswith("+"))


@cache
def _init() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()


@cache
def host_info() -> HostInfo:
    """Describe the host: 512-bit vectors when AVX-512F is usable, else 256 (AVX2) or 128."""
    _init()
    feats = llvm.get_host_cpu_features()
    flat = feats.flatten()
    on = {k for k, v in feats.items() if v}
    bits = 512 if "avx512f" in on else 256 if "avx2" in on and "fma" in on else 128
    return HostInfo(llvm.get_host_cpu_name(), flat, llvm.get_process_triple(), bits)


@cache
def _target_machine() -> llvm.TargetMachine:
    info = host_info()
    target = llvm.Target.from_triple(info.triple)
    return target.create_target_machine(cpu=info.cpu, features=info.features, opt=3,
                                        codemodel="jitdefault")


@cache
def cpu_target() -> RenderTarget:
    """Render target for this host (triple + data layout from the target machine)."""
    tm = _target_machine()
    info = host_info()
    return RenderTarget("cpu", info.triple, str(tm.target_data), info.feature_set)


_ENGINES: dict[str, llvm.ExecutionEngine] = {}
_LOCK = threading.Lock()


def ir_hash(ir: str) -> str:
    info = host_info()
    return hashlib.sha256(f"{info.cpu}\n{info.features}\n{ir}".encode()).hexdigest()


def _default_cache_dir() -> Path | None:
    env = os.environ.get("VTA_CPU_KERNEL_CACHE")
    return Path(env) if env else None


def optimize(ir: str) -> llvm.ModuleRef:
    """Parse, verify and run the O3 pipeline on ``ir``; returns the optimised module."""
    _init()
    mod = llvm.parse_assembly(ir)
    mod.verify()
    tm = _target_machine()
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    return mod


def compile_ir(ir: str, cache_dir: str | Path | None = None) -> llvm.ExecutionEngine:
    """Compile ``ir`` (or fetch it from the cache) and return a finalized engine."""
    key = ir_hash(ir)
    with _LOCK:
        ee = _ENGINES.get(key)
        if ee is not None:
            return ee
        disk = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
        obj_path = disk / f"{key}.o" if disk is not None else None
        mod = optimize(ir)
        ee = llvm.create_mcjit_compiler(mod, _target_machine())
        if obj_path is not None:
            def notify(_mod: llvm.ModuleRef, data: bytes) -> None:
                obj_path.parent.mkdir(parents=True, exist_ok=True)
                tmp = obj_path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_bytes(data)
                tmp.replace(obj_path)

            def getbuffer(_mod: llvm.ModuleRef) -> bytes | None:
                return obj_path.read_bytes() if obj_path.exists() else None

            ee.set_object_cache(notify, getbuffer)
        ee.finalize_object()
        _ENGINES[key] = ee
        return ee


def function_address(ee: llvm.ExecutionEngine, name: str) -> int:
    addr = ee.get_function_address(name)
    if not addr:
        raise RuntimeError(f"compiled module has no function {name!r}")
    return addr


def assembly(ir: str) -> str:
    """Host assembly of ``ir`` after O3 (to check which instructions the kernels reach)."""
    return _target_machine().emit_assembly(optimize(ir))


def cache_size() -> int:
    return len(_ENGINES)


def c_type(ty) -> type:  # noqa: ANN001 - a DType; kept loose to avoid an import cycle
    return {"float": ctypes.c_float, "double": ctypes.c_double, "i8": ctypes.c_int8,
            "i16": ctypes.c_int16, "i32": ctypes.c_int32, "i64": ctypes.c_int64}[ty.llvm]
