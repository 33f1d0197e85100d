"""Tuning curves (``compiler.autotune.curves``): best-so-far per task, the model's cycles as
tasks are tuned in turn, and the plot (a real PNG, drawn with Agg)."""

from __future__ import annotations

import numpy as np
import pytest

from compiler.autotune.curves import best_so_far, model_curve, plot_curves


def test_best_so_far_is_a_running_minimum_that_skips_failures():
    got = best_so_far([500, None, 450, 470, None, 300])
    assert got.tolist() == [500, 500, 450, 450, 450, 300]
    assert np.isnan(best_so_far([None, 10])[0]) and best_so_far([None, 10])[1] == 10
    assert best_so_far([None, 700, 400], start=600).tolist() == [600, 600, 400]
    assert best_so_far([]).tolist() == []


def test_model_curve_adds_tasks_in_turn_weighted_by_layers():
    # task a (one layer, default 100): 100, 90, 95; task b (two layers, default 50): 50, 40
    curve = model_curve([[100, 90, 95], [50, None, 40]], defaults=[100, 50], weights=[1, 2])
    before_b = 2 * 50
    assert curve.tolist() == [100 + before_b, 90 + before_b, 90 + before_b,
                              90 + 100, 90 + 100, 90 + 80]
    assert model_curve([[7]], [9]).tolist() == [7]
    # a task whose search never beats its default counts the default
    assert model_curve([[120, 130]], [100]).tolist() == [100, 100]


def test_model_curve_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="2 histories, 1 defaults"):
        model_curve([[1], [2]], [1])


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml")])
def test_plot_curves_writes_the_format_of_its_extension(tmp_path, suffix, magic):
    curves = {"model-guided": model_curve([[100, 80, 70], [60, 50]], [100, 60]),
              "random": model_curve([[100, 95, 90], [60, 58]], [100, 60])}
    panels = {"conv1": {"model-guided": best_so_far([100, 80, 70]),
                        "random": best_so_far([100, 95, 90])},
              "conv2": {"model-guided": best_so_far([60, 50]), "random": best_so_far([60, 58])}}
    out = plot_curves(curves, tmp_path / f"c{suffix}", title="t", panels=panels)
    data = out.read_bytes()
    assert data.startswith(magic) and len(data) > 5000
    assert plot_curves(curves, tmp_path / f"alone{suffix}").read_bytes().startswith(magic)
