"""The trained digits CNN (`compiler.frontend.digits`): deterministic, a real classifier,
and its ONNX export computes what the numpy model computes."""

import numpy as np
import pytest

from compiler.frontend import digits
from tests.compiler.graph.onnx_util import run_ort


@pytest.fixture(scope="module")
def data() -> digits.DigitsData:
    return digits.load_data()


def test_split_is_seeded_and_disjoint(data):
    again = digits.load_data()
    assert np.array_equal(again.x_test, data.x_test) and np.array_equal(again.y_test, data.y_test)
    assert len(data.x_test) == 360 and len(data.x_train) == 1797 - 360
    assert data.x_train.shape[1:] == (1, 8, 8)
    assert 0 <= data.x_train.min() <= data.x_train.max() <= 1
    train = {x.tobytes() for x in data.x_train}
    assert sum(x.tobytes() in train for x in data.x_test) < 5  # a few digits images repeat
    other = digits.load_data(seed=1)
    assert not np.array_equal(other.y_test, data.y_test)


def test_training_is_deterministic_and_learns(data):
    a = digits.train(data, epochs=2)
    b = digits.train(data, epochs=2)
    assert all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("w1", "w2", "w3", "b3"))
    assert a.accuracy(data.x_test, data.y_test) > 0.85  # two epochs already classify
    c = digits.train(data, epochs=2, seed=1)
    assert not np.array_equal(a.w1, c.w1)


def test_onnx_export_matches_the_numpy_model(data):
    net = digits.train(data, epochs=1)
    model = digits.to_onnx(net, batch=len(data.x_test))
    (ort_logits,) = run_ort(model, {"x": data.x_test})
    np.testing.assert_allclose(ort_logits, net.logits(data.x_test), rtol=1e-4, atol=1e-4)
    assert [n.name for n in model.graph.node] == ["conv1", "relu1", "conv2", "relu2",
                                                  "flatten", "fc"]


def test_bad_arguments_are_named(data):
    with pytest.raises(ValueError, match="test_size"):
        digits.load_data(test_size=0)
    with pytest.raises(ValueError, match="epochs"):
        digits.train(data, epochs=0)
