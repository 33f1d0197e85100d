"""``compile_model``: the one import -> calibrate/quantize -> lower chain the CLI, the
tuner, the sweep and the demo share; its modes without calibration data and its stages."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import onnx
import pytest

from compiler.graph.pipeline import RANDOM_CALIB_SAMPLES, CalibrationRequired, compile_model
from tests.compiler.dse.small_cnn import small_cnn
from vta_hw.config import TINY


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("cm") / "cnn.onnx"
    onnx.save(small_cnn(), path)
    return str(path)


def test_a_float_model_without_data_is_an_error_naming_its_inputs(model_path):
    with pytest.raises(CalibrationRequired, match=r"input \[1, 8, 8, 8\]") as e:
        compile_model(model_path)
    assert tuple(e.value.graph.inputs) == ("input",)


def test_float_random_and_given_calibration(model_path):
    stages = []

    def progress(stage, text):
        stages.append((stage, text))
        return nullcontext()

    left = compile_model(model_path, uncalibrated="float", progress=progress)
    assert not left.quantized and left.samples == 0
    assert [s for s, _ in stages] == ["import", "float"] and model_path in stages[0][1]
    rnd = compile_model(model_path, uncalibrated="random", seed=3)
    assert rnd.quantized and rnd.samples == RANDOM_CALIB_SAMPLES
    x = np.random.default_rng(3).standard_normal((RANDOM_CALIB_SAMPLES, 1, 8, 8, 8))
    given = compile_model(model_path, calib={"input": x.astype(np.float32)})
    assert given.samples == RANDOM_CALIB_SAMPLES
    # seeded random samples are those samples: the same scales
    assert rnd.graph.scales == given.graph.scales


def test_a_quantized_graph_is_lowered_as_given(model_path):
    q = compile_model(model_path, uncalibrated="random").graph
    stages = []
    out = compile_model(q, TINY, targets=("vta",),
                        progress=lambda s, t: stages.append(s) or nullcontext())
    assert out.source is None and out.graph is q and stages == ["lower"]
    assert out.lowered.module.programs


def test_unknown_mode_is_refused(model_path):
    with pytest.raises(ValueError, match="uncalibrated='guess'"):
        compile_model(model_path, uncalibrated="guess")
