"""The simulator's index helpers equal the numpy functions they replace."""

from __future__ import annotations

import numpy as np
import pytest

from vta_sim.effects import _all_distinct, _unique_inverse


@pytest.mark.parametrize("seed", range(5))
def test_unique_inverse_equals_np_unique(seed):
    rng = np.random.default_rng(seed)
    for n, bound in ((0, 1), (1, 1), (7, 3), (500, 2048), (64, 64), (3000, 40000)):
        x = rng.integers(0, bound, n, dtype=np.int64)
        u, inv = _unique_inverse(x)
        want_u, want_inv = np.unique(x, return_inverse=True)
        assert u.dtype == x.dtype and np.array_equal(u, want_u)
        assert np.array_equal(inv, want_inv.reshape(-1)) and np.array_equal(u[inv], x)
        assert _all_distinct(x) == (want_u.size == x.size)
    neg = np.array([3, -1, 3, 0])  # not buffer indices: numpy's own answer
    assert [a.tolist() for a in _unique_inverse(neg)] == [[-1, 0, 3], [2, 0, 2, 1]]
