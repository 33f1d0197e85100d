"""The autotuner's learned cost model: an XGBoost ranking model over schedule features.

:class:`RankModel` ranks the schedules of a workload by predicted speed, so the explorer
measures the few that look fastest.  It learns from measurements, grouped by workload
(``rank:pairwise``: only pairs within a workload count, so layers of very different sizes
train one model without their absolute cycles mattering), and is retrained from scratch as
measurements arrive (a few hundred rows: a fraction of a second).

Features: :func:`compiler.schedule.features.feature_matrix` (loop extents, tiles, SRAM
fill, DRAM bytes and transfers, micro-ops, the heuristic's cost), plus the config's shape
(block sizes, DRAM bandwidth and latency, buffer depths) so that one model transfers across
HwConfigs.  The lowering's exact estimate (the ``estimated_cycles`` feature) is left at 0
unless an estimator is given: it costs about as much as a measurement on the simulator,
and a search prices thousands of candidates.

Labels: ``fastest / cycles`` within the workload (1 for its fastest schedule); a failed
measurement gets 0, below every successful one (ranked last).

Transfer: :meth:`RankModel.from_records` trains on the records of a tuning log (other
layers, other configs) and starts a search with that knowledge; the search then adds the
new workload's measurements and retrains.  Before any training, :meth:`predict` ranks by
the negated ``cost_model`` feature (the default heuristic's estimate), a sensible prior.

XGBoost's OpenMP threads spin-wait on a loaded machine (NOTES.md): ``nthread=1`` and
``OMP_WAIT_POLICY=passive`` (set before the import unless the caller chose), and
``inplace_predict`` in the search loop.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compiler.autotune.measure import MeasureResult
from compiler.autotune.workload import Workload, schedule_from_json, schedule_to_json
from compiler.schedule.features import FEATURE_NAMES, feature_matrix
from compiler.schedule.heuristic import Estimator
from compiler.schedule.space import Schedule

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
import xgboost as xgb  # noqa: E402

CONFIG_FEATURES = ("cfg_block_in", "cfg_block_out", "cfg_dram_bytes_per_cycle",
                   "cfg_dram_latency", "cfg_inp_buff", "cfg_wgt_buff", "cfg_acc_buff")
ALL_FEATURES = FEATURE_NAMES + CONFIG_FEATURES
_COST = FEATURE_NAMES.index("cost_model")
PARAMS = {"objective": "rank:pairwise", "eta": 0.3, "max_depth": 6, "min_child_weight": 1,
          "subsample": 1.0, "nthread": 1, "verbosity": 0}
ROUNDS = 60
FORMAT = "vta-rank-model/1"


def _no_estimate(op, schedule, cfg, options) -> int:
    return 0


def schedule_features(workload: Workload, schedules: Sequence[Schedule],
                      estimate: Estimator | None = None) -> np.ndarray:
    """One row of :data:`ALL_FEATURES` per schedule (float32)."""
    x = feature_matrix(workload.op, workload.cfg, list(schedules), workload.options,
                       estimate=estimate or _no_estimate)
    c = workload.cfg
    cfg_row = np.array([c.block_in, c.block_out, c.dram_bytes_per_cycle, c.dram_latency,
                        c.inp_buff_depth, c.wgt_buff_depth, c.acc_buff_depth], float)
    return np.hstack([x, np.broadcast_to(cfg_row, (len(x), len(cfg_row)))]).astype(np.float32)


def relevance(results: Sequence[MeasureResult]) -> np.ndarray:
    """Ranking labels of one workload's results: fastest/cycles (1 = the fastest), 0 for a
    failed measurement."""
    ok = [r.cycles for r in results if r.ok and r.cycles]
    best = min(ok) if ok else 1
    return np.array([best / r.cycles if r.ok and r.cycles else 0.0 for r in results],
                    np.float32)


@dataclass
class _Group:
    """One workload's training rows (features computed once)."""

    workload: Workload
    x: np.ndarray
    results: list[MeasureResult]


class RankModel:
    """XGBoost ``rank:pairwise`` over schedule features, groups = workloads (module
    docstring).  :meth:`predict` returns scores, higher = predicted faster.

    estimate: the estimator for the ``estimated_cycles`` feature (None: the feature is 0).
    rounds: boosting rounds per (re)training.  seed: XGBoost's seed.  focus_weight: the
    weight of the group of the workload last passed to :meth:`update` (the one being tuned)
    against 1 for every other group (transferred data); XGBoost's ranking objectives take
    one weight per query group."""

    def __init__(self, estimate: Estimator | None = None, rounds: int = ROUNDS, seed: int = 0,
                 focus_weight: float = 1.0):
        if not focus_weight > 0:
            raise ValueError(f"focus_weight={focus_weight!r}: expected a positive number")
        self.estimate = estimate
        self.rounds = rounds
        self.seed = seed
        self.focus_weight = float(focus_weight)
        self._focus: str | None = None
        self._groups: dict[str, _Group] = {}
        self._booster: xgb.Booster | None = None

    # ---------------------------------------------------------------- training data
    @property
    def trained(self) -> bool:
        return self._booster is not None

    @property
    def n_rows(self) -> int:
        return sum(len(g.results) for g in self._groups.values())

    def clone(self) -> RankModel:
        """An independent copy (same data and booster): a transfer model can start many
        searches without one search's measurements leaking into the next."""
        m = RankModel(self.estimate, self.rounds, self.seed, self.focus_weight)
        m._focus = self._focus
        m._groups = {k: _Group(g.workload, g.x, list(g.results)) for k, g in self._groups.items()}
        m._booster = None if self._booster is None else self._booster.copy()
        return m

    def add(self, workload: Workload, results: Iterable[MeasureResult]) -> None:
        """Record ``results`` of ``workload`` as training data (no retraining)."""
        results = list(results)
        for r in results:
            if not isinstance(r, MeasureResult):
                raise TypeError(f"training data are MeasureResults, got {type(r).__name__}")
        if not results:
            return
        x = schedule_features(workload, [r.schedule for r in results], self.estimate)
        g = self._groups.get(workload.key)
        if g is None:
            self._groups[workload.key] = _Group(workload, x, results)
        else:
            g.x = np.vstack([g.x, x])
            g.results.extend(results)

    def fit(self, data: Iterable[tuple[Workload, Iterable[MeasureResult]]]) -> RankModel:
        """Add every (workload, results) pair and train."""
        for workload, results in data:
            self.add(workload, results)
        self.retrain()
        return self

    def update(self, workload: Workload, results: Iterable[MeasureResult]) -> RankModel:
        """Add new measurements of ``workload`` (now the focus: ``focus_weight``) and
        retrain."""
        self._focus = workload.key
        self.add(workload, results)
        self.retrain()
        return self

    def retrain(self) -> None:
        """Train afresh on all data; groups with fewer than two distinct labels teach a
        pairwise ranker nothing and are left out (no group left: untrained)."""
        xs, ys, sizes, weights = [], [], [], []
        for key, g in self._groups.items():
            y = relevance(g.results)
            if len(np.unique(y)) < 2:
                continue
            xs.append(g.x)
            ys.append(y)
            sizes.append(len(y))
            weights.append(self.focus_weight if key == self._focus else 1.0)
        if not xs:
            self._booster = None
            return
        d = xgb.DMatrix(np.vstack(xs), label=np.concatenate(ys), feature_names=list(ALL_FEATURES))
        d.set_group(sizes)
        if len(set(weights)) > 1:
            d.set_weight(np.array(weights))
        self._booster = xgb.train({**PARAMS, "seed": self.seed}, d, num_boost_round=self.rounds)

    # ---------------------------------------------------------------- prediction
    def predict(self, workload: Workload, schedules: Sequence[Schedule]) -> np.ndarray:
        """Scores of ``schedules`` (higher = predicted faster); comparable within one call."""
        return self.predict_features(schedule_features(workload, schedules, self.estimate))

    def predict_features(self, x: np.ndarray) -> np.ndarray:
        """Scores of precomputed :func:`schedule_features` rows (the explorer keeps them)."""
        if len(x) == 0:
            return np.zeros(0)
        if self._booster is None:
            return -x[:, _COST].astype(float)  # the heuristic's estimate as the prior
        return np.asarray(self._booster.inplace_predict(x), float)

    # ---------------------------------------------------------------- transfer, persistence
    @classmethod
    def from_records(cls, records: Any, exclude: Iterable[str] = (),
                     estimate: Estimator | None = None, rounds: int = ROUNDS,
                     seed: int = 0) -> RankModel:
        """A model trained on tuning-log records (a ``TuningLog``, anything with
        ``records()``, or an iterable of records with ``workload`` (JSON dict), ``schedule``
        (a Schedule or its JSON), ``cycles`` and ``status``), leaving out the workload keys in
        ``exclude`` (the one about to be tuned, to measure transfer honestly)."""
        if hasattr(records, "records"):
            records = records.records()
        skip = set(exclude)
        by_key: dict[str, tuple[Workload, list[MeasureResult]]] = {}
        for rec in records:
            wl = rec.workload if isinstance(rec.workload, Workload) else \
                Workload.from_json(rec.workload)
            if wl.key in skip:
                continue
            s = rec.schedule if not isinstance(rec.schedule, dict) else \
                schedule_from_json(rec.schedule)
            r = MeasureResult(s, rec.cycles, rec.status, getattr(rec, "error", ""),
                              getattr(rec, "seconds", 0.0))
            by_key.setdefault(wl.key, (wl, []))[1].append(r)
        return cls(estimate, rounds, seed).fit(by_key.values())

    from_log = from_records

    def save(self, path: str | Path) -> None:
        """JSON: the training data (workloads and results, so a loaded model can be
        updated) and the booster."""
        groups = [{"workload": g.workload.to_json(),
                   "results": [{"schedule": schedule_to_json(r.schedule), "cycles": r.cycles,
                                "status": r.status} for r in g.results]}
                  for g in self._groups.values()]
        booster = None if self._booster is None else \
            base64.b64encode(bytes(self._booster.save_raw("ubj"))).decode()
        Path(path).write_text(json.dumps({"format": FORMAT, "rounds": self.rounds,
                                          "seed": self.seed, "focus_weight": self.focus_weight,
                                          "focus": self._focus, "features": list(ALL_FEATURES),
                                          "groups": groups, "booster": booster}))

    @classmethod
    def load(cls, path: str | Path, estimate: Estimator | None = None) -> RankModel:
        """The model :meth:`save` wrote (``estimate`` as when it was trained)."""
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"{path}: not a saved rank model ({e})") from e
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"{path}: not a saved rank model (format {FORMAT!r} expected)")
        if d["features"] != list(ALL_FEATURES):
            raise ValueError(f"{path}: saved with other features; retrain it")
        m = cls(estimate, d["rounds"], d["seed"], d.get("focus_weight", 1.0))
        m._focus = d.get("focus")
        for g in d["groups"]:
            m.add(Workload.from_json(g["workload"]),
                  [MeasureResult(schedule_from_json(r["schedule"]), r["cycles"], r["status"])
                   for r in g["results"]])
        if d["booster"] is not None:
            m._booster = xgb.Booster(params={"nthread": 1})
            m._booster.load_model(bytearray(base64.b64decode(d["booster"])))
        return m


__all__ = ["RankModel", "schedule_features", "relevance", "ALL_FEATURES", "CONFIG_FEATURES"]
