"""The cost-model benchmark's code path on a tiny instance (six ops, one model with two ops
free, ``tiny`` only): it runs, prints its tables and a well-formed summary line.  The
quality figures themselves are timing-dependent and belong to the benchmark, not to a test;
what is deterministic is checked: the accelerator estimates are the simulated cycles to
within 1%, and every assignment enumerated was measured."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_cost_model_benchmark_quick():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cost_model.py"),
                           "--quick", "--runs", "1"], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    m = re.fullmatch(r"cost_model: acc_spearman=([-\d.]+) acc_mare=([\d.]+) "
                     r"cpu_spearman=([-\d.]+|nan) cpu_mare=([\d.]+) within_5pct=(\d+)/(\d+) "
                     r"partition_vs_best=([\d.]+) beats_both=(\d+)/(\d+)", lines[-1])
    assert m, lines[-1]
    assert float(m.group(2)) < 0.01  # estimated cycles against the simulator's
    assert m.group(6) == m.group(9) == "1"  # one (model, config)
    assert float(m.group(7)) >= 1.0  # chosen / best, best includes the chosen
    acc = [x for x in lines if x.startswith("vta    tiny")]
    assert [x.split()[2] for x in acc] == ["conv1x1", "conv_stem", "dense_b8", "maxpool",
                                           "relu", "fc_bias"]
    assert all(int(x.split()[3]) > 100 for x in acc)
    row = next(x for x in lines if x.startswith("small_cnn "))
    assert row.split()[2] == "4"  # 2 free ops: every one of the 4 assignments measured


def test_measure_costs_returns_the_figures_hetero_reports():
    """``measure_costs`` (what benchmarks/hetero.py calls): the per-op part alone, on the
    cached calibration -- rank correlations per device, the table, the summary line."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.cost_model import measure_costs

    r = measure_costs(True, runs=1, cached=True, part="ops")
    assert r["cost_rank_corr_acc"] == 1.0  # the estimates are the simulated cycles' order
    assert -1.0 <= r["cost_rank_corr_cpu"] <= 1.0
    assert r["partition_vs_best"] is None  # the graphs part was not run
    assert r["table"].splitlines()[0].startswith("1. per-op estimates")
    assert r["summary"].startswith("cost_model: acc_spearman=1.000 acc_mare=")
