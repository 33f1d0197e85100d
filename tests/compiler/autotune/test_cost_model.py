"""The rank model ranks held-out layers better than chance, ranks failures last, survives
save/load and trains from log records."""

from dataclasses import dataclass

import numpy as np
import pytest

from benchmarks.cost_model import spearman
from compiler.autotune.cost_model import RankModel, relevance
from compiler.autotune.measure import InlineRunner, MeasureResult
from compiler.autotune.workload import Workload, schedule_to_json
from opset import Conv2d, Dense
from vta_hw.config import DEFAULT, TINY

from .conftest import EP

TRAIN = (Conv2d(1, 8, 8, 8, 8, 3, 3, pad=1, epilogue=EP, name="a"),
         Conv2d(1, 16, 8, 8, 8, 1, 1, stride=2, epilogue=EP, name="b"),
         Dense(4, 32, 16, epilogue=EP, name="c"))
HELD_OUT = Conv2d(1, 8, 8, 8, 16, 3, 3, stride=2, pad=1, epilogue=EP, name="h")
SPACE = {"loop_fold": (None,)}


def sampled(op, n, seed):
    w = Workload.of(op, TINY)
    pts = w.space.restrict(**SPACE).sample(np.random.default_rng(seed), n)
    return w, InlineRunner().run(w, pts)


@pytest.fixture(scope="module")
def data():
    """Simulator measurements: 30 random schedules of each training layer, 30 held out."""
    return [sampled(op, 30, i) for i, op in enumerate(TRAIN)], sampled(HELD_OUT, 30, 9)


def test_ranks_held_out_layer_better_than_chance(data):
    train, (w, results) = data
    model = RankModel().fit(train)
    assert model.trained and model.n_rows == 90
    score = model.predict(w, [r.schedule for r in results])
    rho = spearman(-score, np.array([r.cycles for r in results]))
    assert rho > 0.5, rho


def test_failed_measurements_rank_last():
    a, b, c = (MeasureResult(None, 100), MeasureResult(None, None, "error", "x"),
               MeasureResult(None, 200))
    assert list(relevance([a, b, c])) == [1.0, 0.0, 0.5]


def test_save_load_update(data, tmp_path):
    train, (w, results) = data
    model = RankModel().fit(train[:2])
    model.save(tmp_path / "m.json")
    back = RankModel.load(tmp_path / "m.json")
    sched = [r.schedule for r in results]
    np.testing.assert_allclose(back.predict(w, sched), model.predict(w, sched))
    back.update(*train[2])  # the training data came back too
    assert back.n_rows == 90
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a saved rank model"):
        RankModel.load(tmp_path / "bad.json")


@dataclass(frozen=True)
class Rec:
    key: str
    workload: dict
    schedule: dict
    cycles: int | None
    status: str


def test_from_records_excludes_the_tuned_workload(data):
    train, (w, results) = data
    recs = [Rec(wl.key, wl.to_json(), schedule_to_json(r.schedule), r.cycles, r.status)
            for wl, rs in [*train, (w, results)] for r in rs]
    model = RankModel.from_records(recs, exclude=[w.key])
    assert model.n_rows == 90
    assert RankModel.from_records(recs).n_rows == 120


def test_untrained_model_uses_the_heuristic_prior(data):
    _, (w, results) = data
    assert not RankModel().trained
    assert np.all(np.isfinite(RankModel().predict(w, [r.schedule for r in results])))


def test_bad_input(data):
    _, (w, _) = data
    with pytest.raises(TypeError, match="MeasureResults"):
        RankModel().add(w, [42])
    with pytest.raises(TypeError, match="GemmSchedule"):
        RankModel().predict(Workload.of(HELD_OUT, DEFAULT), [object()])


def test_focus_weight_weighs_the_tuned_workload(data, tmp_path):
    """The workload last updated gets ``focus_weight`` (one weight per ranking group): the
    model changes with it, and a clone and a saved model keep it."""
    train, (w, results) = data
    sched = [r.schedule for r in results]
    plain = RankModel().fit(train[:2]).update(*train[2])
    heavy = RankModel(focus_weight=8.0).fit(train[:2]).update(*train[2])
    assert not np.allclose(plain.predict(w, sched), heavy.predict(w, sched))
    copy = heavy.clone()
    copy.retrain()
    np.testing.assert_allclose(copy.predict(w, sched), heavy.predict(w, sched))
    heavy.save(tmp_path / "m.json")
    back = RankModel.load(tmp_path / "m.json")
    back.retrain()
    np.testing.assert_allclose(back.predict(w, sched), heavy.predict(w, sched))
    with pytest.raises(ValueError, match="focus_weight=0"):
        RankModel(focus_weight=0)
