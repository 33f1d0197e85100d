"""Explorers: which schedules of a workload to measure next.

One interface, :class:`Explorer`: ``propose(n, measured)`` returns up to ``n`` distinct legal
members of the space that are not in ``measured`` (fewer only when the space has no more).

* :class:`ModelGuidedExplorer`: the cost model's favourites.  On a space small enough to
  enumerate (at most :data:`ENUMERATE_LIMIT` points in its box) it scores every unmeasured
  member; on a bigger one it runs simulated annealing over the space's points (parallel
  chains, each step changes one axis to another of its values, a move the model scores
  lower is taken with probability ``exp(delta / T)``, ``T`` falling to 0), keeping the
  best-scored unmeasured points it visits.  A fraction ``epsilon`` of every batch is drawn
  at random instead, so a wrong model cannot keep the search away from what it misjudges.
* :class:`RandomExplorer`: uniform draws without replacement (the baseline of TVM's VTA
  tutorial).
* :class:`GridExplorer`: the legal members in the space's index order.

:func:`make_explorer` builds one by name.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Protocol

import numpy as np

from compiler.autotune.cost_model import RankModel, schedule_features
from compiler.autotune.workload import Workload
from compiler.schedule.candidates import ScheduleSpace
from compiler.schedule.space import Schedule

ENUMERATE_LIMIT = 20_000
EXPLORERS = ("model", "random", "grid")


class Explorer(Protocol):
    """Proposes the next schedules to measure (module docstring)."""

    def propose(self, n: int, measured: Collection[Schedule]) -> list[Schedule]: ...


def _check_n(n: int) -> None:
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"propose: n must be a non-negative int, got {n!r}")


def enumerable(space: ScheduleSpace) -> bool:
    """Whether ``space`` is small enough to list its members (:data:`ENUMERATE_LIMIT`)."""
    return space.size <= ENUMERATE_LIMIT


class RandomExplorer:
    """Uniform random legal members, never one already measured.  Enumerable spaces are
    shuffled once (sampling without replacement); bigger ones are sampled by rejection."""

    def __init__(self, space: ScheduleSpace, seed: int = 0,
                 members: Sequence[Schedule] | None = None):
        self.space = space
        self.rng = np.random.default_rng(seed)
        if members is None and enumerable(space):
            members = list(space)
        self._order: list[Schedule] | None = None
        if members is not None:
            perm = self.rng.permutation(len(members))
            self._order = [members[i] for i in perm]
        self._next = 0

    def propose(self, n: int, measured: Collection[Schedule]) -> list[Schedule]:
        _check_n(n)
        out: dict[Schedule, None] = {}
        if self._order is not None:
            while len(out) < n and self._next < len(self._order):
                s = self._order[self._next]
                self._next += 1
                if s not in measured:
                    out[s] = None
            return list(out)
        for _ in range(20):  # rejection: give up on a space (almost) fully measured
            for s in self.space.sample(self.rng, 2 * n):
                if s not in measured and len(out) < n:
                    out[s] = None
            if len(out) >= n:
                break
        return list(out)


class GridExplorer:
    """The legal members in index order (first axis slowest), skipping measured ones."""

    def __init__(self, space: ScheduleSpace):
        self.space = space
        self._it: Iterator[Schedule] = iter(space)

    def propose(self, n: int, measured: Collection[Schedule]) -> list[Schedule]:
        _check_n(n)
        out: list[Schedule] = []
        while len(out) < n:
            s = next(self._it, None)
            if s is None:
                break
            if s not in measured:
                out.append(s)
        return out


class ModelGuidedExplorer:
    """The cost model's best-scored unmeasured members, ``epsilon`` of each batch random
    (module docstring).  ``model`` is read at every :meth:`propose` (the tuner retrains it
    between batches).  chains, steps: simulated annealing's parallel chains and steps per
    proposal (spaces too big to enumerate)."""

    def __init__(self, workload: Workload, model: RankModel, seed: int = 0,
                 space: ScheduleSpace | None = None, epsilon: float = 0.1,
                 members: Sequence[Schedule] | None = None, chains: int = 48,
                 steps: int = 60):
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}")
        self.workload = workload
        self.space = space if space is not None else workload.space
        self.model = model
        self.epsilon = epsilon
        self.chains, self.steps = chains, steps
        self.rng = np.random.default_rng(seed)
        if members is None and enumerable(self.space):
            members = list(self.space)
        self.members = None if members is None else list(members)
        self._random = RandomExplorer(self.space, seed + 1, self.members)
        self._features: dict[Schedule, np.ndarray] = {}
        self._legal: dict[Schedule, bool] = {}

    # ---------------------------------------------------------------- scoring
    def _rows(self, schedules: Sequence[Schedule]) -> np.ndarray:
        new = [s for s in dict.fromkeys(schedules) if s not in self._features]
        if new:
            for s, row in zip(new, schedule_features(self.workload, new, self.model.estimate),
                              strict=True):
                self._features[s] = row
        return np.array([self._features[s] for s in schedules])

    def scores(self, schedules: Sequence[Schedule]) -> np.ndarray:
        """The model's scores of ``schedules`` (higher = predicted faster)."""
        return self.model.predict_features(self._rows(schedules))

    def _is_legal(self, s: Schedule) -> bool:
        ok = self._legal.get(s)
        if ok is None:
            ok = self._legal[s] = self.space.is_legal(s)
        return ok

    # ---------------------------------------------------------------- proposing
    def propose(self, n: int, measured: Collection[Schedule]) -> list[Schedule]:
        _check_n(n)
        n_random = int(self.rng.binomial(n, self.epsilon)) if n else 0
        ranked = self._ranked(measured, n)
        out = dict.fromkeys(ranked[:n - n_random])
        # the random share; and whatever the model's ranking could not fill
        for s in self._random.propose(n - len(out), set(measured) | set(out)):
            if len(out) >= n:
                break
            out[s] = None
        for s in ranked[n - n_random:]:  # the random draws ran out: the model's next
            if len(out) >= n:
                break
            out.setdefault(s, None)
        return list(out)[:n]

    def _ranked(self, measured: Collection[Schedule], n: int) -> list[Schedule]:
        """Unmeasured members, best-scored first (at least ``n`` where the space has them)."""
        if self.members is not None:
            todo = [s for s in self.members if s not in measured]
            if not todo:
                return []
            order = np.argsort(-self.scores(todo), kind="stable")
            return [todo[i] for i in order]
        return self._anneal(measured, n)

    def _anneal(self, measured: Collection[Schedule], n: int) -> list[Schedule]:
        sp = self.space
        # start from the fastest measured points and random members
        starts = []
        if isinstance(measured, Mapping):  # schedule -> MeasureResult: the fastest first
            done = [(r.cycles, i, s) for i, (s, r) in enumerate(measured.items())
                    if getattr(r, "ok", False) and self._is_legal(s)]
            starts = [s for _, _, s in sorted(done)[:self.chains // 2]]
        starts += sp.sample(self.rng, self.chains - len(starts))
        if not starts:
            return []
        coords = np.array([sp.coords(sp.index(s)) for s in starts])
        cur = list(starts)
        cur_score = self.scores(cur)
        seen: dict[Schedule, float] = {s: float(v) for s, v in zip(cur, cur_score, strict=True)
                                       if s not in measured}
        lens = np.array([len(a) for a in sp.axes])
        scale = float(np.std(cur_score)) or 1.0
        for step in range(self.steps):
            temp = scale * (1.0 - step / self.steps)
            cand_coords = coords.copy()
            axis = self.rng.integers(len(lens), size=len(cur))
            cand_coords[np.arange(len(cur)), axis] = self.rng.integers(lens[axis])
            cand = [sp.from_coords(tuple(int(c) for c in row)) for row in cand_coords]
            legal = [self._is_legal(s) for s in cand]
            idx = [i for i, ok_ in enumerate(legal) if ok_]
            if not idx:
                continue
            new_score = self.scores([cand[i] for i in idx])
            for i, v in zip(idx, new_score, strict=True):
                s = cand[i]
                if s not in measured:
                    seen[s] = float(v)
                delta = v - cur_score[i]
                if delta >= 0 or (temp > 0 and self.rng.random() < math.exp(delta / temp)):
                    cur[i], cur_score[i], coords[i] = s, v, cand_coords[i]
        ranked = sorted(seen, key=lambda s: -seen[s])
        return ranked[:max(n, 1) * 4]


def make_explorer(name: str, workload: Workload, seed: int = 0, model: RankModel | None = None,
                  *, space: ScheduleSpace | None = None,
                  members: Sequence[Schedule] | None = None) -> Explorer:
    """``model`` (model-guided: ``model`` or a fresh :class:`RankModel`), ``random`` or
    ``grid`` over ``space`` (default: the workload's whole space); ``members``: the space's
    legal members when the caller already listed them."""
    space = space if space is not None else workload.space
    if name == "model":
        return ModelGuidedExplorer(workload, model if model is not None else RankModel(), seed,
                                   space, members=members)
    if name == "random":
        return RandomExplorer(space, seed, members)
    if name == "grid":
        return GridExplorer(space)
    raise ValueError(f"unknown explorer {name!r}; choose one of {EXPLORERS}")


__all__ = ["Explorer", "ModelGuidedExplorer", "RandomExplorer", "GridExplorer",
           "make_explorer", "EXPLORERS", "ENUMERATE_LIMIT", "enumerable"]
