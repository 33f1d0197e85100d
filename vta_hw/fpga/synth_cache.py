"""A cache of Yosys synthesis reports, so ``vta hw synth`` of a configuration runs Yosys once.

A synthesis takes minutes; a design-space sweep (and its ``--synth-front``) asks for the same
configurations again.  Reports are stored as ``$VTA_CACHE_DIR/synth/<key>/report.json``
(default ``~/.cache/vta``), where the key hashes everything the netlist depends on: the
config hash, the Yosys version (``yosys -V``), the RTL sources (``verilog.rtl_version``), the
SoC and flow sources, the board and the SoC options (DRAM size, WRITE buffer, baud, DSP
policy).  Entries are written atomically (a temporary file renamed into place), so a killed
run or two concurrent ones never leave a torn entry.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from vta_hw.config import HwConfig
from vta_hw.files import write_atomic

_FPGA = Path(__file__).parent
_SOC = _FPGA.parent / "soc"


@cache
def tool_version(name: str) -> str:
    """The first line ``<tool> --version`` prints (``-V`` for Yosys), once per process: the
    build caches' keys name the exact tools."""
    from vta_hw.fpga.flow import FlowError, tool

    flag = "-V" if name == "yosys" else "--version"
    try:
        out = subprocess.run(tool(name) + [flag], capture_output=True, text=True,
                             timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise FlowError(name, f"`{name} {flag}` failed: {e}") from None
    lines = (out.stdout.strip() or out.stderr.strip()).splitlines()
    if out.returncode != 0 or not lines:
        raise FlowError(name, f"`{name} {flag}` failed (exit status {out.returncode}): "
                              f"{out.stderr.strip()[-500:]}")
    return lines[0]


def yosys_version() -> str:
    """The first line of ``yosys -V`` (version and git hash)."""
    return tool_version("yosys")


def sources_version() -> str:
    """Hash of the sources the netlist depends on besides the RTL: the SoC (``vta_hw/soc``)
    and the flow's elaboration, DSP plan and synthesis script (``flow``, ``boards``,
    ``resources``)."""
    h = hashlib.sha256()
    files = sorted(_SOC.glob("*.py")) + [_FPGA / n for n in ("flow.py", "boards.py",
                                                             "resources.py")]
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def cache_dir() -> Path:
    from vta_hw.cosim.verilator import cache_root

    return cache_root() / "synth"


def key(cfg: HwConfig, options: dict[str, Any]) -> str:
    """``<config hash>-<hash of the tool, sources and options>``."""
    from vta_hw.verilog import rtl_version

    parts = {"config": cfg.config_hash(), "yosys": yosys_version(), "rtl": rtl_version(),
             "sources": sources_version(), **options}
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    return f"{cfg.config_hash()}-{digest}"


def entry(k: str) -> Path:
    return cache_dir() / k / "report.json"


def load(k: str) -> dict[str, Any] | None:
    """The cached report of key ``k`` (``FpgaReport.to_dict``), or None."""
    try:
        return json.loads(entry(k).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def store(k: str, report: dict[str, Any]) -> Path:
    """Write the report for ``k`` atomically; returns its path."""
    path = entry(k)
    return write_atomic(path, json.dumps(report, indent=2) + "\n")


__all__ = ["tool_version", "yosys_version", "sources_version", "cache_dir", "key", "entry",
           "load", "store"]
