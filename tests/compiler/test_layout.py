"""Host-side packing: round trips and the exact blocked element order."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.errors import LayoutError
from compiler.layout import (
    ConstLayout,
    DenseLayout,
    DepthwiseWgtLayout,
    Im2colLayout,
    WgtLayout,
)
from opset.layout import ActLayout


def i8(rng, *shape):
    return rng.integers(-128, 128, shape, dtype=np.int8)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 5), c=st.integers(1, 40), h=st.integers(1, 7), w=st.integers(1, 7),
       block=st.sampled_from([4, 8, 16]), batch=st.sampled_from([1, 2]),
       halo=st.tuples(st.integers(0, 2), st.integers(0, 2)), pad=st.integers(-128, 127))
def test_act_round_trip_and_order(n, c, h, w, block, batch, halo, pad):
    rng = np.random.default_rng(c * 31 + h)
    lay = ActLayout(n, c, h, w, block, batch, halo)
    x = i8(rng, n, c, h, w)
    b = lay.pack(x, pad)
    assert b.shape == lay.shape and b.nbytes == lay.nbytes
    np.testing.assert_array_equal(lay.unpack(b), x)
    flat = b.reshape(lay.elems, batch, block)
    ni, ci, y, xx = n - 1, c - 1, h - 1, 0
    e = flat[lay.offset(ni // batch, ci // block, y, xx)]
    assert e[ni % batch, ci % block] == x[ni, ci, y, xx]
    if halo[0]:
        assert flat[lay.offset(0, 0, -1, 0)][0, 0] == pad


def test_channel_padding_is_zero():
    lay = ActLayout(1, 3, 2, 2, 16, 1)
    b = lay.pack(np.ones((1, 3, 2, 2), np.int8))
    assert lay.c_blocks == 1 and b[..., 3:].sum() == 0 and b[..., :3].sum() == 12


def test_dense_rows_are_pixels():
    rng = np.random.default_rng(0)
    lay = DenseLayout(5, 20, 8, 2)
    x = i8(rng, 5, 20)
    b = lay.pack(x)
    np.testing.assert_array_equal(lay.unpack(b), x)
    assert lay.act.w == 3  # ceil(5 / 2) pixels of two rows each
    assert b[0, 1, 0, 2, 0, 3] == x[4, 8 + 3]  # row 4 = pixel 2, lane 0; channel block 1


def test_weights_block_order():
    rng = np.random.default_rng(1)
    lay = WgtLayout(20, 9, 3, 2, 16, 8)
    w = i8(rng, 20, 9, 3, 2)
    b = lay.pack(w)
    assert b.shape == (2, 2, 3, 2, 16, 8)
    assert b[1, 1, 2, 1, 3, 0] == w[16 + 3, 8, 2, 1]
    assert b[1, 1, 2, 1, 4, 0] == 0  # output channel 20 is padding
    dense = WgtLayout(7, 5, 1, 1, 4, 4)
    w2 = i8(rng, 7, 5)
    np.testing.assert_array_equal(dense.pack(w2), dense.pack(w2.reshape(7, 5, 1, 1)))


def test_depthwise_weights_are_block_diagonal():
    rng = np.random.default_rng(2)
    lay = DepthwiseWgtLayout(20, 3, 3, 16, 8)
    w = i8(rng, 20, 1, 3, 3)
    b = lay.pack(w)
    assert b.shape == (2, 2, 3, 3, 16, 8)
    for j in range(2):
        for q in range(2):
            m = b[j, q, 1, 2]
            for o in range(16):
                for i in range(8):
                    ch = j * 16 + o
                    want = w[ch, 0, 1, 2] if (o == q * 8 + i and ch < 20) else 0
                    assert m[o, i] == want
    with pytest.raises(LayoutError, match="multiple"):
        DepthwiseWgtLayout(4, 3, 3, 8, 16)


def test_im2col_patches():
    rng = np.random.default_rng(3)
    lay = Im2colLayout(1, 3, 9, 8, 3, 2, (2, 1), (1, 1), 16, 1)
    x = i8(rng, 1, 3, 9, 8)
    b = lay.pack(x, pad_value=-5)
    patches = lay.act.unpack(b)  # (1, 3*3*2, ho, wo)
    assert patches.shape == (1, 18, lay.ho, lay.wo)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-5)
    for ci, u, v, i, j in [(0, 0, 0, 0, 0), (2, 2, 1, 4, 7), (1, 1, 0, 2, 3)]:
        assert patches[0, (ci * 3 + u) * 2 + v, i, j] == xp[0, ci, i * 2 + u, j + v]


def test_consts_replicated_over_lanes():
    lay = ConstLayout(("bias", "shift"), 20, 16, 2)
    b = lay.pack({"bias": np.arange(20, dtype=np.int32), "shift": np.full(20, 3, np.int32)})
    assert b.shape == (4, 2, 16)
    assert b[1, 1, 3] == 19 and b[1, 0, 4] == 0 and b[lay.row_offset("shift"), 0, 0] == 3
    with pytest.raises(LayoutError, match="missing"):
        lay.pack({"bias": np.zeros(20, np.int32)})


def test_layout_errors():
    lay = ActLayout(1, 3, 4, 4, 16, 1)
    with pytest.raises(LayoutError, match="expected shape"):
        lay.pack(np.zeros((1, 3, 4, 5), np.int8))
    with pytest.raises(LayoutError, match="int8 range"):
        lay.pack(np.full((1, 3, 4, 4), 300))
    with pytest.raises(LayoutError, match="values"):
        lay.unpack(np.zeros(7, np.int8))
