"""Spread a model's trial budget over its tuning tasks: more trials where more is to gain.

Tuning every layer of a model with the same number of trials wastes most of them: the
default heuristic is already within a few per cent of the optimum on many layers, and a
layer that runs once in a model matters less than one shape that four layers share.  So
:func:`allocate` gives each task a minimum and spreads the rest in proportion to what
tuning it could save in the *model's* cycles::

    score = layers * reachable
    reachable = (default - sampled) + UNSEEN * (sampled - bound)

* ``default``: the lowering's estimate (``compiler.pipeline.estimate_cycles``, within
  ~0.05% of the simulator) of the default schedule (``compiler.api.default_schedule``);
* ``sampled``: the best estimate over a small random sample of the schedule space: ``sample``
  points whose tiles fit are ranked with the heuristic's closed-form cost
  (``compiler.schedule.heuristic.gemm_cost``, microseconds each) and the ``refine`` cheapest
  legal ones are estimated by the lowering (the expensive step: a random point with small
  tiles lowers to a program of thousands of instructions, so estimating uniform samples
  costs seconds each on big layers).  Never above ``default``;
* ``bound``: a roofline -- the GEMM (ALU) iterations the operator needs at one per cycle
  against the bytes it must move at least once (inputs, weights, outputs) at the DRAM's
  bytes per cycle; no schedule beats it;
* ``UNSEEN``: the share of the gap between the sample's best and the roofline counted as
  reachable by a search the sample did not do.  On the ResNet-style layers measured while
  writing this the sample rarely beat the default (the heuristic is good), so this term is
  what tells a layer at 96% of its roofline (little to gain) from one at 60%.

Everything is deterministic: each task's sample is drawn from a generator seeded by the
``seed`` and the task's workload key, so the same tasks get the same trials in any order.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from compiler.api import default_schedule
from compiler.autotune.workload import ALU_OPS, GEMM_OPS, Workload
from compiler.errors import ScheduleError
from compiler.pipeline import estimate_cycles
from compiler.schedule.heuristic import gemm_cost
from compiler.schedule.space import alu_blocks, gemm_geometry
from opset import Elementwise, Pool2d
from vta_hw.config import HwConfig

UNSEEN = 0.5
"""Share of the gap between the sampled best and the roofline counted as reachable."""


class TaskLike(Protocol):
    """What :func:`allocate` reads of a task (``compiler.autotune.tasks.Task``)."""

    workload: Workload
    layers: tuple[str, ...]


@dataclass(frozen=True)
class Headroom:
    """What one workload could gain: cycles of its default schedule, of the best schedule of
    a small sample, and the roofline bound (lowering estimates, module docstring)."""

    default_cycles: int
    sampled_cycles: int
    bound_cycles: int

    @property
    def reachable(self) -> float:
        """Cycles per layer a search may save (module docstring); never negative."""
        sampled = min(self.sampled_cycles, self.default_cycles)
        gap = max(0, sampled - self.bound_cycles)
        return float(self.default_cycles - sampled) + UNSEEN * gap

    @property
    def efficiency(self) -> float:
        """The roofline bound over the default's cycles (1.0: nothing left to gain)."""
        return self.bound_cycles / max(1, self.default_cycles)


def _bytes(spec) -> int:
    return math.prod(spec.shape) * np.dtype(spec.dtype).itemsize


def roofline_cycles(op, cfg: HwConfig, options=None) -> int:
    """A lower bound on any schedule's cycles for ``op``: the larger of the compute floor
    (GEMM iterations of the blocked operator, or ALU passes over its blocks, one per cycle)
    and the DRAM floor (every input, weight and output byte moved once, loads and stores
    each at ``cfg.dram_bytes_per_cycle``)."""
    if isinstance(op, GEMM_OPS):
        g = gemm_geometry(op, cfg, options)
        red = g.red if g.depthwise else g.cib
        compute = g.nb * g.cob * g.ho * g.wo * red * g.kh * g.kw
    elif isinstance(op, ALU_OPS):
        nb, cb, h, w = alu_blocks(op, cfg)
        # passes per block: one per step, one per window tap, one per input block
        per_block = (len(op.steps) if isinstance(op, Elementwise)
                     else op.kh * op.kw if isinstance(op, Pool2d) else 1)
        compute = nb * cb * h * w * per_block
    else:
        raise ScheduleError(f"no roofline for {type(op).__name__}")
    bw = cfg.dram_bytes_per_cycle
    load = sum(_bytes(s) for s in op.inputs()) / bw
    store = _bytes(op.output()) / bw
    return max(1, math.ceil(max(compute, load, store)))


def task_rng(workload: Workload, seed: int) -> np.random.Generator:
    """A generator that depends only on ``seed`` and the workload's key (order-free)."""
    digest = hashlib.sha256(workload.key.encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def _sampled_best(workload: Workload, rng: np.random.Generator, sample: int,
                  refine: int) -> int | None:
    """The best lowering estimate over ``refine`` legal members of a random sample (module
    docstring); None when the sample holds no legal member."""
    space = workload.space
    op, cfg, options = workload.op, workload.cfg, workload.options
    if refine < 1 or sample < 1:
        return None
    if isinstance(op, GEMM_OPS):
        heads = np.argwhere(space.fits)
        if not len(heads):
            return None
        tails = space.axes[space.fits.ndim:]
        draws = {}
        for _ in range(sample):
            head = tuple(int(c) for c in heads[rng.integers(len(heads))])
            tail = tuple(int(rng.integers(len(a))) for a in tails)
            s = space.from_coords(head + tail)
            draws.setdefault(s, gemm_cost(op, s, cfg, options))
        ranked = sorted(draws, key=lambda s: (draws[s], space.index(s)))
        legal = []
        for s in ranked:
            if space.is_legal(s):
                legal.append(s)
                if len(legal) == refine:
                    break
    else:  # ALU spaces are small; their legal members are cheap to draw
        legal = space.sample(rng, refine)
    if not legal:
        return None
    return min(estimate_cycles(op, s, cfg, options) for s in legal)


def headroom(workload: Workload, *, sample: int = 64, refine: int = 1,
             seed: int = 0) -> Headroom:
    """The :class:`Headroom` of ``workload`` (module docstring)."""
    op, cfg, options = workload.op, workload.cfg, workload.options
    d = estimate_cycles(op, default_schedule(op, cfg, options), cfg, options)
    best = _sampled_best(workload, task_rng(workload, seed), sample, refine)
    return Headroom(int(d), int(d if best is None else min(best, d)),
                    roofline_cycles(op, cfg, options))


def space_cap(workload: Workload) -> int:
    """An upper bound on the legal members of the workload's space, cheap to compute (the
    points whose tiles fit times the choices of the other axes; exact for ALU spaces)."""
    space = workload.space
    tails = space.axes[space.fits.ndim:]
    return int(np.count_nonzero(space.fits)) * math.prod(len(a) for a in tails)


def spread(weights: Sequence[float], total: int, *, minimum: int = 1,
           caps: Sequence[int] | None = None) -> list[int]:
    """Split ``total`` trials: each task first gets ``minimum`` (less when ``total`` cannot
    give every task that many), the rest goes in proportion to ``weights`` (equally when
    they are all zero), no task above its cap; largest remainders round, ties to the
    earlier task.  The sum is ``total`` unless every task reaches its cap."""
    n = len(weights)
    if total < 0 or minimum < 0:
        raise ValueError(f"total ({total}) and minimum ({minimum}) must not be negative")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise ValueError(f"weights must be finite and non-negative, got {list(weights)}")
    if n == 0:
        return []
    cap = [int(c) for c in caps] if caps is not None else [total] * n
    if len(cap) != n:
        raise ValueError(f"{len(cap)} caps for {n} tasks")
    floor = min(minimum, total // n)
    out = [min(floor, c) for c in cap]
    rest = total - sum(out)
    w = [float(x) for x in weights]
    if not any(w):
        w = [1.0] * n
    open_ = [i for i in range(n) if out[i] < cap[i]]
    while rest > 0 and open_:
        # proportional shares of what is left among the tasks below their caps; a task whose
        # share passes its cap is filled to it and the rest shared again
        wsum = sum(w[i] for i in open_)
        share = {i: (rest * w[i] / wsum if wsum else rest / len(open_)) for i in open_}
        full = [i for i in open_ if out[i] + share[i] >= cap[i]]
        if full:
            for i in full:
                rest -= cap[i] - out[i]
                out[i] = cap[i]
            open_ = [i for i in open_ if i not in full]
            continue
        whole = {i: math.floor(share[i]) for i in open_}
        for i in open_:
            out[i] += whole[i]
        left = rest - sum(whole.values())
        by_remainder = sorted(open_, key=lambda i: (-(share[i] - whole[i]), i))
        for i in by_remainder[:left]:
            out[i] += 1
        rest = 0
    return out


def allocate(tasks: Sequence[TaskLike], total_trials: int, *, minimum: int = 4,
             sample: int = 64, refine: int = 1, seed: int = 0,
             headrooms: Sequence[Headroom] | None = None) -> list[int]:
    """Trials per task (same order as ``tasks``) summing to ``total_trials`` (less only when
    every space is smaller): ``minimum`` each, the rest by ``layers * reachable`` (module
    docstring).  ``headrooms`` skips the estimates (one per task, as :func:`headroom`
    gives them)."""
    if total_trials < 1:
        raise ValueError(f"total_trials must be at least 1, got {total_trials}")
    if headrooms is None:
        headrooms = [headroom(t.workload, sample=sample, refine=refine, seed=seed)
                     for t in tasks]
    if len(headrooms) != len(tasks):
        raise ValueError(f"{len(headrooms)} headrooms for {len(tasks)} tasks")
    # spread in key order, so that ties fall the same way whatever order the tasks come in
    order = sorted(range(len(tasks)), key=lambda i: tasks[i].workload.key)
    weights = [max(1, len(tasks[i].layers)) * headrooms[i].reachable for i in order]
    caps = [space_cap(tasks[i].workload) for i in order]
    trials = spread(weights, total_trials, minimum=minimum, caps=caps)
    out = [0] * len(tasks)
    for i, n in zip(order, trials, strict=True):
        out[i] = n
    return out


__all__ = ["Headroom", "TaskLike", "UNSEEN", "allocate", "headroom", "roofline_cycles",
           "space_cap", "spread", "task_rng"]
