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

def _save(plt, fig, path: str | Path, dpi: int) -> Path:
    """Lay out, write and close ``fig`` (closed: a sweep draws many and pyplot keeps every
    open figure)."""
    fig.tight_layout()
    p = Path(path)
    fig.savefig(p, dpi=dpi)
    plt.close(fig)
    return p


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
    return _save(plt, fig, path, dpi=110)


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
    return _save(plt, fig, path, dpi=110)


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
    return _save(plt, fig, path, dpi=110)


_RESOURCE_LABELS = {"lut4": "LUT4", "ff": "flip-flops", "dp16kd": "DP16KD block RAM",
                    "mult18": "MULT18X18D DSP"}


def pareto_scatter(points: Sequence[tuple[str, float, dict[str, int], bool]],
                   fronts: dict[str, list[str]], capacity: dict[str, int | None],
                   path: str | Path, *, chosen: str | None = None,
                   title: str | None = None) -> Path:
    """A design-space sweep: latency against each resource, one panel per resource.

    points: ``(name, latency_ms, {resource: used}, fits)``; fitting points are filled
    circles, points that do not fit the device red crosses, each resource's Pareto front
    (``fronts``: names, fastest first) a step line, the device's capacity a dashed line and
    the chosen point a star."""
    from matplotlib.ticker import FuncFormatter

    plt = _pyplot()
    res = list(fronts)
    fig, axes = plt.subplots(1, len(res), figsize=(4.2 * len(res), 4.0), squeeze=False)
    by_name = {p[0]: p for p in points}
    for ax, r in zip(axes[0], res, strict=True):
        fit = [p for p in points if p[3]]
        out = [p for p in points if not p[3]]
        ax.scatter([p[2][r] for p in fit], [p[1] for p in fit], s=22, c="#4C72B0",
                   label="fits")
        if out:
            ax.scatter([p[2][r] for p in out], [p[1] for p in out], s=30, c="#C44E52",
                       marker="x", label="does not fit")
        front = sorted((by_name[n] for n in fronts[r] if n in by_name),
                       key=lambda p: (p[2][r], p[1]))
        if front:
            xs = [p[2][r] for p in front]
            ys = [p[1] for p in front]
            ax.step(xs, ys, where="post", color="#55A868", lw=1.5, label="Pareto front")
            ax.scatter(xs, ys, s=40, facecolors="none", edgecolors="#55A868")
        if chosen in by_name:
            c = by_name[chosen]
            ax.scatter([c[2][r]], [c[1]], s=160, marker="*", c="#DD8452", zorder=5,
                       label=f"chosen ({chosen})")
        if capacity.get(r):
            ax.axvline(capacity[r], color="k", ls="--", lw=1, label="device capacity")
        ax.set_xlabel(_RESOURCE_LABELS.get(r, r))
        ax.set_ylabel("latency (ms)")
        if not points:
            ax.text(0.5, 0.5, "no point compiled", ha="center", transform=ax.transAxes)
        else:
            ax.set_yscale("log")
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)
        ax.tick_params(axis="y", which="minor", labelsize=6)
        ax.grid(True, which="both", lw=0.3)
    if points:
        axes[0][0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return _save(plt, fig, path, dpi=100)


def layer_utilization(layers: Sequence[tuple[str, float, int]], path: str | Path, *,
                      title: str | None = None) -> Path:
    """GEMM utilization per accelerator layer (``(name, utilization, cycles)``), bars in
    model order, each labelled with its share of the cycles: the layers where a point
    loses its peak."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(layers) + 2), 4.0))
    total = max(1, sum(c for _, _, c in layers))
    xs = range(len(layers))
    ax.bar(xs, [100 * u for _, u, _ in layers], color="#4C72B0")
    for x, (_, u, c) in zip(xs, layers, strict=True):
        ax.annotate(f"{100 * c / total:.0f}%", (x, 100 * u), ha="center", fontsize=6,
                    xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(list(xs), [n for n, _, _ in layers], rotation=70, fontsize=7)
    ax.set_ylabel("GEMM utilization (%); labels: share of cycles")
    ax.set_ylim(0, 110)
    ax.set_title(title or "Per-layer GEMM utilization")
    ax.grid(True, axis="y", lw=0.3)
    return _save(plt, fig, path, dpi=100)
