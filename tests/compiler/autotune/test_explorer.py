"""Explorers propose only legal, unmeasured, distinct members of the space they search."""

import numpy as np
import pytest

from compiler.autotune.cost_model import RankModel
from compiler.autotune.explorer import (
    GridExplorer,
    ModelGuidedExplorer,
    RandomExplorer,
    make_explorer,
)


def drain(explorer, space, batch=16, limit=10_000, measured=None):
    """Propose until the explorer runs dry; every batch legal, new and distinct."""
    measured = dict(measured or {})
    while len(measured) < limit:
        got = explorer.propose(batch, measured)
        assert len(got) == len(set(got)) <= batch
        for s in got:
            assert s not in measured, s
            assert space.is_legal(s), space.violation(s)
            measured[s] = None
        if len(got) < batch:
            return measured
    return measured


@pytest.mark.parametrize("name", ["random", "grid", "model"])
def test_explorer_covers_the_space_once(conv_tiny, small_space, name):
    members = list(small_space)
    before = dict.fromkeys(members[::7])  # measured earlier (a resumed log)
    ex = make_explorer(name, conv_tiny, seed=3, space=small_space)
    measured = drain(ex, small_space, measured=before)
    assert set(measured) == set(members)  # every member, none twice, nothing else
    assert ex.propose(4, measured) == []


def test_random_explorer_is_seeded(small_space):
    a = RandomExplorer(small_space, seed=1).propose(8, {})
    assert a == RandomExplorer(small_space, seed=1).propose(8, {})
    assert a != RandomExplorer(small_space, seed=2).propose(8, {})


def test_grid_explorer_follows_index_order(small_space):
    got = GridExplorer(small_space).propose(5, {})
    assert [small_space.index(s) for s in got] == sorted(small_space.index(s) for s in got)
    assert got == list(small_space)[:5]


def test_model_guided_takes_the_models_favourites(conv_tiny, small_space):
    # untrained: the heuristic's cost as the prior; epsilon 0 -> exactly the top scores
    ex = ModelGuidedExplorer(conv_tiny, RankModel(), seed=0, space=small_space, epsilon=0.0)
    members = list(small_space)
    scores = ex.scores(members)
    got = ex.propose(6, {})
    best = sorted(scores, reverse=True)[5]
    assert all(ex.scores([s])[0] >= best for s in got)


def test_annealing_on_a_space_too_big_to_enumerate(conv_tiny):
    space = conv_tiny.space  # 214,272 points: simulated annealing, not enumeration
    ex = ModelGuidedExplorer(conv_tiny, RankModel(), seed=0, chains=8, steps=10)
    assert ex.members is None
    measured = dict.fromkeys(space.sample(np.random.default_rng(0), 20))
    for _ in range(2):
        got = ex.propose(8, measured)
        assert len(got) == 8 == len(set(got))
        for s in got:
            assert s not in measured and space.is_legal(s)
            measured[s] = None


def test_bad_input(conv_tiny, small_space):
    with pytest.raises(ValueError, match="unknown explorer 'best'"):
        make_explorer("best", conv_tiny)
    with pytest.raises(ValueError, match="n must be a non-negative int"):
        RandomExplorer(small_space).propose(-1, {})
    with pytest.raises(ValueError, match="epsilon"):
        ModelGuidedExplorer(conv_tiny, RankModel(), space=small_space, epsilon=2)
    with pytest.raises(ValueError, match="no such axis"):
        small_space.restrict(tile_q=(1,))
    with pytest.raises(ValueError, match="not among"):
        small_space.restrict(virtual_threads=(9,))
