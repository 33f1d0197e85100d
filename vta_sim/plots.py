"""Matplotlib figures: a per-module timeline of one run, a roofline of several, and their
cycles against their MACs (how far each is from the GEMM core's peak).

Both write PNG files with the Agg backend (no display needed) and return the path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vta_hw.config import HwConfig
from vta_sim.simulator import SimResult
from vta_sim.stats import MODULES, SimStats

_COLORS = {"LOAD": "#4C72B0", "STORE": "#55A868", "GEMM": "#C44E52", "ALU": "#8172B2",
           "NOP": "#BBBBBB", "FINISH": "#000000", "fetch": "#CCB974", "wait": "#F2F2F2"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def timeline(result: SimResult, path: str | Path, title: str | None = None) -> Path:
    """Horizontal bars per module: instructions colored by kind, waits in light grey."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(12, 3.2))
    rows = {m: len(MODULES) - 1 - i for i, m in enumerate(MODULES)}
    ax.broken_barh([(s, d + 1 - s) for s, d in result.fetch_records], (rows["fetch"] - 0.4, 0.8),
                   facecolors=_COLORS["fetch"])
    by_kind: dict[tuple[str, str], list[tuple[int, int]]] = {}
    waits: dict[str, list[tuple[int, int]]] = {}
    for r in result.records:
        kind = r.name.split()[0]
        by_kind.setdefault((r.module, kind), []).append((r.issue, r.retire + 1 - r.issue))
        if r.wait_token:
            waits.setdefault(r.module, []).append((r.issue - r.wait_token, r.wait_token))
    for m, spans in waits.items():
        ax.broken_barh(spans, (rows[m] - 0.4, 0.8), facecolors=_COLORS["wait"],
                       edgecolors="#DDDDDD", linewidth=0.3)
    seen = set()
    for (m, kind), spans in by_kind.items():
        label = kind if kind not in seen else None
        seen.add(kind)
        ax.broken_barh(spans, (rows[m] - 0.4, 0.8), facecolors=_COLORS.get(kind, "#999999"),
                       label=label)
    ax.set_yticks([rows[m] for m in MODULES], list(MODULES))
    ax.set_xlabel("cycle")
    ax.set_xlim(0, result.cycles)
    s = result.stats
    ax.set_title(title or f"{s.config_name}: {s.cycles} cycles, "
                 f"GEMM utilization {100 * s.utilization:.1f}%")
    ax.legend(loc="upper right", fontsize=7, ncol=6)
    fig.tight_layout()
    p = Path(path)
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p


@dataclass(frozen=True)
class RooflinePoint:
    label: str
    stats: SimStats

    @property
    def intensity(self) -> float:
        """Operations (2 per MAC) per DRAM byte moved."""
        return 2 * self.stats.macs / max(1, self.stats.dram_bytes)

    def gops(self, clock_mhz: float) -> float:
        return 2 * self.stats.macs / max(1, self.stats.cycles) * clock_mhz / 1e3


def roofline(points: Sequence[RooflinePoint], cfg: HwConfig, path: str | Path,
             title: str | None = None) -> Path:
    """Achieved GOPS against arithmetic intensity under the compute and bandwidth roofs.

    The bandwidth roof is one DRAM port (``dram_bytes_per_cycle`` at the target clock): the
    load port that streams inputs and weights.
    """
    import numpy as np

    plt = _pyplot()
    f = cfg.target_clock_mhz
    peak = cfg.peak_gops
    bw_gbs = cfg.dram_bytes_per_cycle * f / 1e3
    ai = np.logspace(-1, 4, 200)
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.loglog(ai, np.minimum(peak, bw_gbs * ai), "k-", lw=1.5,
              label=f"roof: {peak:.1f} GOPS, {bw_gbs:.2f} GB/s")
    for pt in points:
        ax.loglog(pt.intensity, pt.gops(f), "o", ms=5)
        ax.annotate(pt.label, (pt.intensity, pt.gops(f)), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.set_xlabel("arithmetic intensity (ops / DRAM byte)")
    ax.set_ylabel(f"GOPS at {f:g} MHz")
    ax.set_title(title or f"Roofline ({cfg.name})")
    ax.grid(True, which="both", lw=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    p = Path(path)
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p


def layer_cycles(points: Sequence[RooflinePoint], cfg: HwConfig, path: str | Path,
                 title: str | None = None) -> Path:
    """Cycles against MACs, one point per run or layer, on log axes, under the line of
    the GEMM core's peak (``macs_per_cycle``): a point's height above the line is the
    factor its utilization falls short of 100%, so the layers worth tuning (or a wider
    core) stand out at the top right."""
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    macs = np.array([max(1, pt.stats.macs) for pt in points], float)
    lo, hi = macs.min() / 2, macs.max() * 2
    line = np.array([lo, hi])
    ax.loglog(line, line / cfg.macs_per_cycle, "k-", lw=1.5,
              label=f"peak: {cfg.macs_per_cycle} MACs/cycle")
    for pt, m in zip(points, macs, strict=True):
        util = pt.stats.macs / max(1, pt.stats.cycles * cfg.macs_per_cycle)
        ax.loglog(m, pt.stats.cycles, "o", ms=6)
        ax.annotate(f"{pt.label} ({100 * util:.0f}%)", (m, pt.stats.cycles), fontsize=7,
                    xytext=(4, 3), textcoords="offset points")
    ax.set_xlabel("MACs")
    ax.set_ylabel("cycles")
    ax.set_title(title or f"Cycles against MACs ({cfg.name}); GEMM utilization in brackets")
    ax.grid(True, which="both", lw=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    p = Path(path)
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p
