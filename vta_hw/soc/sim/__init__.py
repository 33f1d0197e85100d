"""Verilator model of the whole SoC, talking the host protocol over a byte pipe.

``build(cfg, opts)`` compiles ``SocCore`` (``vta_soc.v``, emitted by Amaranth) with
``harness.cpp`` into one executable per (config, SoC options, sources), cached under
``$VTA_CACHE_DIR/soc_verilator`` (default ``~/.cache/vta``).  ``SocSimProcess`` starts it: bytes
written to it arrive at the SoC's UART RX pin, bytes the SoC transmits come back -- exactly
what a serial port to a board would carry.  The runtime wraps it as
``runtime.fpga_device.SimulatedSocTransport``.
"""

from __future__ import annotations

import hashlib
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

from vta_hw.config import HwConfig
from vta_hw.soc.errors import SocError

HARNESS = Path(__file__).with_name("harness.cpp")
EXE = "vta_soc_sim"
TOP = "vta_soc"
_SOC_DIR = Path(__file__).resolve().parent.parent


class SocSimError(SocError):
    """The SoC simulation could not be built or died."""


def sources_version() -> str:
    """Hash of everything the model is built from: core RTL, SoC gateware, harness."""
    from vta_hw.verilog import rtl_version

    h = hashlib.sha256(rtl_version().encode())
    for f in sorted(_SOC_DIR.glob("*.py")) + [HARNESS]:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def build_dir(cfg: HwConfig, opts) -> Path:
    from vta_hw.cosim.verilator import cache_root

    key = hashlib.sha256(opts.key().encode()).hexdigest()[:8]
    return cache_root() / "soc_verilator" / f"{cfg.config_hash()}-{key}-{sources_version()}"


def is_built(cfg: HwConfig, opts=None) -> bool:
    """Whether :func:`build` would return at once (the model is in the cache)."""
    from vta_hw.soc.soc import SocOptions

    return (build_dir(cfg, opts or SocOptions()) / EXE).exists()


def build(cfg: HwConfig, opts=None, *, verbose: bool = False) -> Path:
    """Path of the SoC model executable for ``cfg``; built (about 20-60 s) unless cached."""
    from vta_hw.cosim.verilator import build_model
    from vta_hw.soc.soc import SocOptions, sim_soc

    opts = opts or SocOptions()

    def sources(tmp: Path) -> list[str]:
        from amaranth.back import verilog

        (tmp / f"{TOP}.v").write_text(verilog.convert(sim_soc(cfg, opts), name=TOP,
                                                      emit_src=False))
        shutil.copy(HARNESS, tmp / HARNESS.name)
        return [f"{TOP}.v", HARNESS.name]

    return build_model(build_dir(cfg, opts), EXE, TOP, sources, timeout=1800,
                       error=SocSimError, what=f"{cfg.name!r} SoC model", verbose=verbose)


class SocSimProcess:
    """A running SoC model: ``write`` bytes to its UART, ``read`` what it sends back."""

    def __init__(self, cfg: HwConfig, opts=None):
        from vta_hw.soc.soc import SocOptions

        self.opts = opts or SocOptions()
        exe = build(cfg, self.opts)
        self.proc = subprocess.Popen([str(exe), "--divisor", str(self.opts.sim_divisor)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, bufsize=0)
        self._fd = self.proc.stdout.fileno()
        os.set_blocking(self._fd, False)

    def write(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise SocSimError(f"the SoC model exited: {self._stderr()}") from None

    def read(self, n: int, timeout: float) -> bytes:
        """Up to ``n`` bytes; fewer only when ``timeout`` seconds pass without all of them."""
        out = bytearray()
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([self._fd], [], [], left)
            if not r:
                break
            chunk = os.read(self._fd, n - len(out))
            if not chunk:
                raise SocSimError(f"the SoC model exited: {self._stderr()}")
            out += chunk
        return bytes(out)

    def discard_input(self) -> None:
        """Drop bytes already sent by the SoC and not yet read."""
        while select.select([self._fd], [], [], 0)[0]:
            if not os.read(self._fd, 65536):
                break

    def _stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        return (self.proc.stderr.read() or b"").decode(errors="replace").strip()[-2000:]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()


__all__ = ["build", "build_dir", "SocSimProcess", "SocSimError", "sources_version"]
