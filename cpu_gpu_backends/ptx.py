"""NVPTX backend: render the kernel IR for ``nvptx64-nvidia-cuda`` and emit PTX.

Why a subprocess: LLVM's NVPTX code generator can ``abort()`` the whole interpreter on IR it
cannot select, and a test run (or a user's compile) must never die with it.  The worker
(``python -m cpu_gpu_backends._nvptx_worker``) parses, verifies, optimises and emits PTX; a
failure comes back as a :class:`PtxError` with LLVM's message.  PTX text is cached in-process
by the hash of the IR and the architecture.

Launch geometry is data on each plan step: a ``parallel`` loop maps to a 1-D grid of 128-thread
blocks; tiled kernels (:mod:`.ops.gpu_gemm`) carry their own 2-D grid and 16 x 16 blocks.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from .backend import Backend, Stage
from .kernel_ir import Const, Kernel, idx, verify
from .ops.common import ceil_div
from .ops.plan import OpPlan, Step
from .render_llvm import NVPTX_TARGET, render_module

ARCHS = ("sm_80", "sm_86", "sm_89", "sm_90")
THREADS_1D = 128


class PtxError(RuntimeError):
    """PTX generation or assembly failed (the message carries the tool's output)."""


@dataclass(frozen=True)
class NvptxOptions:
    """arch: the SM the PTX targets (``sm_80`` and newer)."""

    arch: str = "sm_80"

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"NvptxOptions.arch must be one of {ARCHS}, got {self.arch!r}")


@dataclass(frozen=True)
class GpuProgram:
    """A plan compiled for the GPU: PTX text (one module for all its kernels) and the plan,
    whose steps carry each launch's grid and block."""

    plan: OpPlan
    ptx: str
    arch: str


_PTX_CACHE: dict[str, str] = {}


def emit_ptx(ir: str, arch: str = "sm_80", timeout: float = 120.0) -> str:
    """PTX for LLVM IR text, generated in a subprocess (cached by IR hash + arch)."""
    key = hashlib.sha256(f"{arch}\n{ir}".encode()).hexdigest()
    if key in _PTX_CACHE:
        return _PTX_CACHE[key]
    proc = subprocess.run([sys.executable, "-m", "cpu_gpu_backends._nvptx_worker", arch],
                          input=ir, capture_output=True, text=True, timeout=timeout,
                          cwd=str(Path(__file__).resolve().parent.parent))
    if proc.returncode != 0 or ".entry" not in proc.stdout:
        raise PtxError(f"NVPTX code generation failed for {arch} (exit {proc.returncode}):\n"
                       f"{proc.stderr.strip()[-2000:]}")
    _PTX_CACHE[key] = proc.stdout
    return proc.stdout


def ptxas_path() -> str | None:
    return shutil.which("ptxas")


def assemble_ptx(ptx: str, arch: str = "sm_80") -> bytes:
    """Assemble PTX with ``ptxas`` into a cubin (raises :class:`PtxError` on failure)."""
    exe = ptxas_path()
    if exe is None:
        raise PtxError("ptxas is not on PATH (install the CUDA toolkit)")
    with tempfile.TemporaryDirectory() as d:
        src, out = Path(d) / "k.ptx", Path(d) / "k.cubin"
        src.write_text(ptx)
        proc = subprocess.run([exe, f"-arch={arch}", str(src), "-o", str(out)],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise PtxError(f"ptxas -arch={arch} failed:\n{proc.stderr.strip()}")
        return out.read_bytes()


def launch_1d(kernel: Kernel) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Grid and block for a kernel whose parallel loop maps to the global thread index."""
    loop = kernel.parallel_loop
    extent = 1
    if loop is not None:
        stop = idx(loop.stop)
        if not isinstance(stop, Const):
            raise ValueError(f"{kernel.name}: parallel extent must be constant")
        extent = int(stop.value)
    block = min(THREADS_1D, extent)
    return (ceil_div(extent, block), 1, 1), (block, 1, 1)


def with_gpu_launch(plan: OpPlan) -> OpPlan:
    """Fill in 1-D launch geometry for steps whose kernels use a ``parallel`` loop."""
    steps = []
    for st in plan.steps:
        k = plan.kernel(st.kernel)
        if k.parallel_loop is not None:
            grid, block = launch_1d(k)
            st = replace(st, grid=grid, block=block)
        steps.append(st)
    return replace(plan, steps=tuple(steps))


class NvptxBackend(Backend):
    """verify -> render NVPTX LLVM IR -> PTX (subprocess)."""

    name = "nvptx"

    def __init__(self, options: NvptxOptions | None = None) -> None:
        self.options = options or NvptxOptions()

    def stages(self) -> tuple[Stage, ...]:
        return (
            ("verify", lambda ks: tuple(verify(k) for k in ks)),
            ("llvm", lambda ks: render_module(ks, NVPTX_TARGET)),
            ("ptx", lambda ir: emit_ptx(ir, self.options.arch)),
        )

    def compile(self, plan: OpPlan) -> GpuProgram:
        plan = with_gpu_launch(plan)
        ptx, _ = self.lower(plan.kernels)
        return GpuProgram(plan, ptx, self.options.arch)

    def ir(self, plan: OpPlan) -> str:
        return render_module(plan.kernels, NVPTX_TARGET)


__all__ = ["NvptxBackend", "NvptxOptions", "GpuProgram", "PtxError", "emit_ptx",
           "assemble_ptx", "ptxas_path", "with_gpu_launch", "Step"]
