"""Parse what Yosys and nextpnr-ecp5 print into one report (``report.json``).

The numbers come from the tools' own output, never from our estimate:

* **nextpnr** ``Device utilisation`` (after packing): ``TRELLIS_COMB`` (LUT4 slots, logic and
  carry and LUT RAM), ``TRELLIS_FF``, ``DP16KD``, ``MULT18X18D``, each as used/available; the
  *last* ``Max frequency for clock`` line per clock (post-route) with its target and PASS/FAIL;
* **Yosys** ``stat`` (for ``vta hw synth``, no place and route): cell counts, from which LUT4s
  are estimated as ``LUT4 + 2*CCU2C + 4*TRELLIS_DPR16X4`` (a carry cell is two LUT4s, a 16x4
  LUT RAM four); there is no Fmax before place and route.

The JSON keys ``lut4``, ``ff``, ``dp16kd``, ``mult18`` are ``{"used", "available"}``;
``fmax_mhz`` is the achieved Fmax of the accelerator clock and ``timing_met`` whether every
constrained clock met its target.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from vta_hw.errors import VtaError
from vta_hw.fpga.resources import RESOURCES, SHORT_NAMES, Device


class ReportError(VtaError):
    """A tool's output did not contain what the report needs (the message says what)."""


@dataclass(frozen=True)
class ResourceUse:
    used: int
    available: int

    @property
    def percent(self) -> float:
        return 100.0 * self.used / self.available if self.available else 0.0


@dataclass(frozen=True)
class ClockTiming:
    """Post-route timing of one clock."""

    name: str
    fmax_mhz: float
    target_mhz: float

    @property
    def met(self) -> bool:
        return self.fmax_mhz >= self.target_mhz


# ---------------------------------------------------------------------------- nextpnr
_UTIL = re.compile(r"^Info:\s+([A-Z0-9_]+):\s+(\d+)/\s*(\d+)\s+\d+%\s*$")
_FMAX = re.compile(r"^(?:Info|Warning): Max frequency for clock '([^']+)': ([0-9.]+) MHz "
                   r"\((PASS|FAIL) at ([0-9.]+) MHz\)")
_PREPACK = re.compile(r"^Info:\s+(Total LUT4s|logic LUTs|carry LUTs|RAM LUTs|RAMW LUTs|"
                      r"Total DFFs):\s+(\d+)/\s*(\d+)")
_ERROR = re.compile(r"^ERROR: (.*)$")


def parse_nextpnr_utilisation(log: str) -> dict[str, ResourceUse]:
    """The ``Device utilisation`` table (the last one in the log)."""
    out: dict[str, ResourceUse] = {}
    in_table = False
    for line in log.splitlines():
        if line.startswith("Info: Device utilisation:"):
            in_table, out = True, {}
            continue
        if in_table:
            m = _UTIL.match(line.replace("\t", " "))
            if m:
                out[m.group(1)] = ResourceUse(int(m.group(2)), int(m.group(3)))
            elif line.strip() in ("", "Info:"):
                in_table = bool(not out)
            else:
                in_table = False
    return out


def parse_nextpnr_prepack(log: str) -> dict[str, int]:
    """``Logic utilisation before packing`` (LUT4s by kind): extra detail for the report."""
    out = {}
    for line in log.splitlines():
        m = _PREPACK.match(line)
        if m:
            out[m.group(1).lower().replace(" ", "_")] = int(m.group(2))
    return out


def parse_nextpnr_fmax(log: str) -> dict[str, ClockTiming]:
    """Achieved Fmax per clock: the last report of each clock is the post-route one."""
    out: dict[str, ClockTiming] = {}
    for line in log.splitlines():
        m = _FMAX.match(line)
        if m:
            name = m.group(1).removeprefix("$glbnet$")
            out[name] = ClockTiming(name, float(m.group(2)), float(m.group(4)))
    return out


def nextpnr_errors(log: str) -> list[str]:
    return [m.group(1).strip() for line in log.splitlines() if (m := _ERROR.match(line))]


# ---------------------------------------------------------------------------- Yosys
_STAT_A = re.compile(r"^\s+(\d+)\s+(\$?[A-Za-z_][A-Za-z0-9_$]*)\s*$")  # Yosys >= 0.5x
_STAT_B = re.compile(r"^\s+(\$?[A-Za-z_][A-Za-z0-9_$]*)\s+(\d+)\s*$")  # older Yosys
_CELLS = ("LUT4", "TRELLIS_FF", "DP16KD", "PDPW16KD", "MULT18X18D", "CCU2C", "TRELLIS_DPR16X4",
          "PFUMX", "L6MUX21", "EHXPLLL", "ALU54B", "TRELLIS_IO")


def parse_yosys_stat(log: str) -> dict[str, int]:
    """Cell counts of the last ``stat`` in a Yosys log (ECP5 primitives only)."""
    starts = [m.start() for m in re.finditer(r"Printing statistics", log)]
    if not starts:
        raise ReportError("the Yosys log has no 'Printing statistics' section (did synthesis "
                          "finish?)")
    block = log[starts[-1]:]
    end = block.find("Executing CHECK pass")
    block = block[:end] if end > 0 else block
    # the per-module table comes first; the hierarchy total (if any) last -- keep the last
    counts: dict[str, int] = {}
    for line in block.splitlines():
        m = _STAT_A.match(line)
        if m:
            name, n = m.group(2), int(m.group(1))
        else:
            m = _STAT_B.match(line)
            if not m:
                continue
            name, n = m.group(1), int(m.group(2))
        if name in _CELLS:
            counts[name] = n
    if not counts:
        raise ReportError("no ECP5 cells in the Yosys statistics (was synth_ecp5 run?)")
    return counts


def yosys_lut4_estimate(cells: dict[str, int]) -> int:
    return (cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0)
            + 4 * cells.get("TRELLIS_DPR16X4", 0))


# ---------------------------------------------------------------------------- the report
@dataclass(frozen=True)
class FpgaReport:
    """What a build produced.

    kind: "bitstream" (numbers after place and route) or "synth" (Yosys only: resources
    estimated from cells, no timing).
    """

    kind: str
    board: str
    device: str
    config_name: str
    config_hash: str
    macs_per_cycle: int
    target_clock_mhz: float
    pll_mhz: float
    dram_bytes: int
    resources: dict[str, ResourceUse]
    clocks: tuple[ClockTiming, ...] = ()
    stage_seconds: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def fmax_mhz(self) -> float | None:
        """Achieved Fmax of the accelerator clock (the slowest constrained clock)."""
        return min((c.fmax_mhz for c in self.clocks), default=None)

    @property
    def timing_met(self) -> bool | None:
        return all(c.met for c in self.clocks) if self.clocks else None

    @property
    def peak_gops(self) -> float | None:
        """2 x MACs x Fmax: int8 GOP/s if the core ran at its achieved Fmax."""
        f = self.fmax_mhz
        return None if f is None else 2 * self.macs_per_cycle * f / 1e3

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "board": self.board, "device": self.device,
                             "config": self.config_name, "config_hash": self.config_hash}
        for r in RESOURCES:
            d[r] = asdict(self.resources[r])
        d.update(
            fmax_mhz=self.fmax_mhz, timing_met=self.timing_met,
            target_clock_mhz=self.target_clock_mhz, pll_mhz=self.pll_mhz,
            clocks={c.name: {"fmax_mhz": c.fmax_mhz, "target_mhz": c.target_mhz,
                             "met": c.met} for c in self.clocks},
            macs_per_cycle=self.macs_per_cycle, peak_gops=self.peak_gops,
            dram_bytes=self.dram_bytes, stage_seconds=self.stage_seconds,
            wall_seconds=round(sum(self.stage_seconds.values()), 2), details=self.details)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FpgaReport:
        """The report :meth:`to_dict` wrote (a cached synthesis, a stored ``report.json``)."""
        try:
            return cls(kind=d["kind"], board=d["board"], device=d["device"],
                       config_name=d["config"], config_hash=d["config_hash"],
                       macs_per_cycle=d["macs_per_cycle"],
                       target_clock_mhz=d["target_clock_mhz"], pll_mhz=d["pll_mhz"],
                       dram_bytes=d["dram_bytes"],
                       resources={r: ResourceUse(**d[r]) for r in RESOURCES},
                       clocks=tuple(ClockTiming(name, c["fmax_mhz"], c["target_mhz"])
                                    for name, c in d["clocks"].items()),
                       stage_seconds=dict(d["stage_seconds"]), details=dict(d["details"]))
        except (KeyError, TypeError, AttributeError) as e:
            raise ReportError(f"not a report.json written by the flow: {type(e).__name__} "
                              f"{e}") from None

    def table(self) -> str:
        """A human-readable summary (what ``vta hw bitstream`` prints)."""
        title = "after place and route" if self.kind == "bitstream" else "Yosys estimate"
        lines = [f"{self.config_name} ({self.config_hash}) on {self.board} / {self.device}, "
                 f"{title}:",
                 f"  {'resource':<12}{'used':>9}{'available':>11}{'%':>7}"]
        names = SHORT_NAMES
        for r in RESOURCES:
            u = self.resources[r]
            lines.append(f"  {names[r]:<12}{u.used:>9}{u.available:>11}{u.percent:>6.1f}%")
        for c in self.clocks:
            lines.append(f"  clock {c.name}: Fmax {c.fmax_mhz:.2f} MHz, target "
                         f"{c.target_mhz:.2f} MHz: {'met' if c.met else 'NOT met'}")
        if self.peak_gops is not None:
            lines.append(f"  peak {self.peak_gops:.1f} GOP/s at Fmax "
                         f"({self.macs_per_cycle} MACs/cycle)")
        if self.stage_seconds:
            lines.append("  stages: " + ", ".join(f"{k} {v:.1f} s"
                                                 for k, v in self.stage_seconds.items()))
        return "\n".join(lines)


def resources_from_nextpnr(log: str) -> dict[str, ResourceUse]:
    util = parse_nextpnr_utilisation(log)
    names = {"lut4": "TRELLIS_COMB", "ff": "TRELLIS_FF", "dp16kd": "DP16KD",
             "mult18": "MULT18X18D"}
    missing = [v for v in names.values() if v not in util]
    if missing:
        raise ReportError(f"nextpnr's utilisation table lacks {missing} (log format changed?)")
    return {k: util[v] for k, v in names.items()}


def resources_from_yosys(cells: dict[str, int], device: Device) -> dict[str, ResourceUse]:
    return {"lut4": ResourceUse(yosys_lut4_estimate(cells), device.lut4),
            "ff": ResourceUse(cells.get("TRELLIS_FF", 0), device.ff),
            "dp16kd": ResourceUse(cells.get("DP16KD", 0) + cells.get("PDPW16KD", 0),
                                  device.dp16kd),
            "mult18": ResourceUse(cells.get("MULT18X18D", 0), device.mult18)}


__all__ = ["FpgaReport", "ResourceUse", "ClockTiming", "ReportError",
           "parse_nextpnr_utilisation", "parse_nextpnr_prepack", "parse_nextpnr_fmax",
           "nextpnr_errors", "parse_yosys_stat", "yosys_lut4_estimate",
           "resources_from_nextpnr", "resources_from_yosys"]
