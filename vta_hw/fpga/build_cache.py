"""A cache of full FPGA builds, so ``vta hw bitstream`` of a configuration places and routes
it once.

A build of even the ``tiny`` core takes minutes (nextpnr most of it), and the same build is
asked for again: a rerun of the command, the CLI test and notebook 04 in one test run.  An
entry is the directory ``$VTA_CACHE_DIR/bitstream/<key>/`` (default ``~/.cache/vta``)
holding the bitstream, ``report.json`` and the logs and reports a build leaves (``FILES``;
not the netlist and RTLIL intermediates), plus ``manifest.json`` naming each file with its
size and SHA-256.  The key is the synthesis key (``synth_cache.key``: config, Yosys, RTL,
SoC and flow sources, board, SoC options) and the nextpnr and ecppack versions, the seeds,
the parallel seed jobs (which seed of a sweep wins can depend on them), the target clock,
the device flags and whether timing may fail.

An entry is written whole or not at all (``files.atomic_dir``) and read only when every file
matches the manifest, so a killed or damaged entry is a miss, never a wrong bitstream.  A
build holds a lock on its key (``files.locked``): a second process asking for the same key
waits for the first and then reads its entry instead of building it again.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from vta_hw.config import HwConfig
from vta_hw.files import atomic_dir, locked
from vta_hw.fpga import synth_cache

MANIFEST = "manifest.json"
# what a build leaves that a user reads (relative globs); the netlist (vta_soc.json) and
# RTLIL (vta_soc.il) only feed the next stage and are the bulk of the bytes
FILES = ("vta_soc.bit", "vta_soc.svf", "vta_soc.config", "vta_soc.lpf", "report.json",
         "estimate.json", "synth.ys", "yosys.log", "nextpnr.log", "nextpnr_report.json",
         "ecppack.log", "seed-*/nextpnr.log", "seed-*/nextpnr_report.json")


def cache_dir() -> Path:
    from vta_hw.cosim.verilator import cache_root

    return cache_root() / "bitstream"


def key(cfg: HwConfig, synth_options: dict[str, Any], place: dict[str, Any]) -> str:
    """``<config hash>-<hash of the synthesis key, nextpnr, ecppack and place options>``.

    synth_options: what ``synth_cache.key`` takes (board, SoC options, DSP policy).  place:
    the place-and-route options (seeds, jobs, device flags, timing_allow_fail)."""
    parts = {"synth": synth_cache.key(cfg, synth_options),
             "nextpnr": synth_cache.tool_version("nextpnr-ecp5"),
             "ecppack": synth_cache.tool_version("ecppack"),
             "target_clock_mhz": cfg.target_clock_mhz, **place}
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    return f"{cfg.config_hash()}-{digest}"


def entry(k: str) -> Path:
    return cache_dir() / k


def lock(k: str, on_wait: Callable[[], None] | None = None) -> AbstractContextManager[None]:
    """The lock of key ``k``, held while building it (``on_wait``: called if another
    process holds it)."""
    return locked(cache_dir() / f".{k}.lock", on_wait)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _artifacts(out: Path) -> list[Path]:
    return sorted({p for pattern in FILES for p in out.glob(pattern) if p.is_file()})


def store(k: str, out: Path, report: dict[str, Any]) -> Path:
    """Copy the build in ``out`` into the entry of ``k`` (``report`` as its report.json),
    atomically; returns the entry."""
    with atomic_dir(entry(k)) as tmp:
        manifest = {}
        for src in _artifacts(out):
            rel = src.relative_to(out).as_posix()
            dst = tmp / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if rel == "report.json":
                dst.write_text(json.dumps(report, indent=2) + "\n")
            else:
                shutil.copyfile(src, dst)
            manifest[rel] = {"bytes": dst.stat().st_size, "sha256": _digest(dst)}
        if "vta_soc.bit" not in manifest or "report.json" not in manifest:
            raise ValueError(f"{out} holds no finished build (no vta_soc.bit or report.json)")
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return entry(k)


def load(k: str) -> tuple[dict[str, Any], dict[str, Path]] | None:
    """The report of key ``k`` and its files (relative name -> path in the entry), or None
    when there is no entry or any file is missing or differs from the manifest."""
    root = entry(k)
    try:
        manifest = json.loads((root / MANIFEST).read_text())
        files = {rel: root / rel for rel in manifest}
        for rel, path in files.items():
            if (path.stat().st_size != manifest[rel]["bytes"]
                    or _digest(path) != manifest[rel]["sha256"]):
                return None
        report = json.loads(files["report.json"].read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if "vta_soc.bit" not in files:
        return None
    return report, files


def restore(files: dict[str, Path], out: Path) -> None:
    """Copy an entry's files (``load``) into the output directory ``out``."""
    for rel, src in files.items():
        dst = out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)


__all__ = ["FILES", "cache_dir", "key", "entry", "lock", "store", "load", "restore"]
