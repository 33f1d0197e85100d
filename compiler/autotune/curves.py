"""Tuning curves: the best cycles found against the trials spent, and their plot.

A search is judged by how fast its best-so-far falls.  :func:`best_so_far` turns one task's
measurements (cycles in the order they were measured, None for a failed one) into that
curve; :func:`model_curve` joins the tasks of a model, tuned one after another, into the
model's cycles (each task's best so far times the layers that share it, the default until
its turn) against the trials spent on all of them; :func:`plot_curves` draws curves of
several searches (model-guided against random) on the same budget.  The first two are pure
functions of the histories, so they are tested without tuning anything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def best_so_far(cycles: Sequence[int | None], start: float | None = None) -> np.ndarray:
    """Running minimum of ``cycles`` (float; a failed measurement, None, keeps the best
    before it).  Before the first success the curve holds ``start`` (NaN when None)."""
    c = np.array([np.inf if v is None else float(v) for v in cycles], dtype=float)
    if start is not None:
        c = np.minimum(c, float(start))
    out = np.minimum.accumulate(c) if len(c) else c
    out[np.isinf(out)] = np.nan if start is None else float(start)
    return out


def model_curve(histories: Sequence[Sequence[int | None]], defaults: Sequence[float],
                weights: Sequence[float] | None = None) -> np.ndarray:
    """The model's cycles after each trial when its tasks are tuned in turn.

    histories: each task's measured cycles in order (None: failed); defaults: each task's
    cycles before its turn (its default schedule's); weights: layers per task (default 1).
    Entry ``t`` is ``sum(weight_k * best_k)`` after ``t + 1`` trials in all, where a task
    not yet started counts its default and a started one its best so far (never above its
    default)."""
    n = len(histories)
    if len(defaults) != n or (weights is not None and len(weights) != n):
        raise ValueError(f"{n} histories, {len(defaults)} defaults and "
                         f"{n if weights is None else len(weights)} weights")
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    current = w * np.asarray(defaults, dtype=float)
    total = float(current.sum())
    out = []
    for k, h in enumerate(histories):
        for best in best_so_far(h, start=defaults[k]):
            total += w[k] * best - current[k]
            current[k] = w[k] * best
            out.append(total)
    return np.array(out, dtype=float)


def plot_curves(curves: Mapping[str, np.ndarray], path: str | os.PathLike, *,
                title: str = "", ylabel: str = "cycles",
                panels: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> Path:
    """Draw each of ``curves`` (label -> values per trial) against trials, in one panel;
    ``panels`` (name -> curves) adds one small panel each (per layer).  The format follows
    ``path``'s extension (Agg: no display needed).  Writes ``path`` directly: the CLI
    writes through ``vta.outputs`` (a staging file renamed into place)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = dict(panels or {})
    cols = min(3, len(panels)) if panels else 1
    rows = 1 + (-(-len(panels) // cols) if panels else 0)
    fig = plt.figure(figsize=(4.2 * max(cols, 2), 3.4 + 2.6 * (rows - 1)))
    grid = fig.add_gridspec(rows, cols, height_ratios=[1.3] + [1] * (rows - 1))
    main = fig.add_subplot(grid[0, :])
    _draw(main, curves, ylabel)
    main.set_title(title)
    main.legend(loc="upper right", fontsize=8)
    for i, (name, sub) in enumerate(panels.items()):
        ax = fig.add_subplot(grid[1 + i // cols, i % cols])
        _draw(ax, sub, "")
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    p = Path(path)
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p


_STYLES = ["-", "--", ":", "-."]


def _draw(ax, curves: Mapping[str, np.ndarray], ylabel: str) -> None:
    for i, (label, ys) in enumerate(curves.items()):
        ys = np.asarray(ys, dtype=float)
        # dashed after solid: curves that coincide (both searches at the default) stay visible
        ax.step(np.arange(1, len(ys) + 1), ys, where="post", label=label,
                linestyle=_STYLES[i % len(_STYLES)])
    ax.set_xlabel("trials")
    ax.xaxis.get_major_locator().set_params(integer=True)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


__all__ = ["best_so_far", "model_curve", "plot_curves"]
